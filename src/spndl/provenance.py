"""The code version a result was computed with: package version, git commit, and a source digest."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from spndl import __version__

PACKAGE = Path(__file__).resolve().parent


def source_digest() -> str:
    """sha256 over the package's .py files and the C source of its GEMM (spndl.runtime.kernels):
    identifies the code even outside a git checkout."""
    h = hashlib.sha256()
    for p in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.c")]):
        h.update(str(p.relative_to(PACKAGE)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=PACKAGE, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def code_version() -> dict:
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", str(PACKAGE))) if commit else None
    return {"spndl": __version__, "git_commit": commit, "git_dirty": dirty, "source_sha256": source_digest()}
