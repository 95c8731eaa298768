"""Atomic file writes, temporary names, and content checksums (what may be replaced: spndl.ownership).

Every output is written to a temporary sibling and renamed into place, so an
interrupted or failed step never leaves a half-written file behind. The
temporary names carry the writer's host and process id
(``.NAME.HOST-PID.XXXXXXXX.tmp``), so that the leftovers of a killed process
can be told from a live writer's files and removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable, Iterator

# What .gitignore and .dvcignore exclude: every temporary name this module makes.
TEMP_PATTERN = ".*.tmp"
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0])[:20] or "host"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)\.[^.]+\.tmp$")


class OutputError(OSError):
    """An output that may not or could not be written; the message names the path and why."""


def temp_prefix(path: Path) -> str:
    """The start of a temporary name beside ``path``: ``.NAME.HOST-PID.``"""
    return f".{path.name}.{_HOST}-{os.getpid()}."


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one of this module's temporary names."""
    return bool(_TEMP.match(name))


def remove_stale_temporaries(folder: str | os.PathLike, log: Callable[[str], None] | None = None) -> list[Path]:
    """Remove this module's temporary files and folders in ``folder`` whose writer on this
    host is no longer running (a killed run's leftovers); returns what was removed.

    Only names of the exact temporary pattern are touched; a live writer's files, another
    host's (shared filesystems) and anything else are left alone."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TEMP.match(p.name)
        if not m or m["host"] != _HOST or _pid_alive(int(m["pid"])):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
        if log:
            log(f"removed {p}: left by a process that no longer runs")
    return removed


def write_failed(path: Path, e: BaseException) -> OutputError:
    """A write that failed for lack of room (or a quota, or a file-size limit), named by its output."""
    try:
        free = shutil.disk_usage(path.parent).free
        where = f"; {free / 2**20:.0f} MiB free on that disk"
    except OSError:
        where = ""
    if isinstance(e, OSError) and e.errno:
        why = os.strerror(e.errno)
    else:  # torch's writer reports a short write as text ('unexpected pos ...')
        why = "the write failed: " + (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()
    return OutputError(f"{path}: could not be written ({why}{where}); nothing was replaced")


# Errors that mean the disk (or a limit on it) refused the bytes, not a bug; numpy reports a
# short write as an OSError without errno ('N requested and M written').
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, None}


_swept: set[Path] = set()


@contextlib.contextmanager
def naming_write_failures(path: Path) -> Iterator[None]:
    """A write to ``path`` refused by the disk becomes one ``OutputError`` naming ``path``."""
    try:
        yield
    except OSError as e:
        if e.errno in _NO_ROOM and not isinstance(e, OutputError):
            raise write_failed(path, e) from None
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The file gets the user's normal permissions (umask), not mkstemp's 0600. A write
    that fails for lack of room is an ``OutputError`` naming ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent not in _swept:  # once per folder and process: a run writes some files every epoch
        remove_stale_temporaries(path.parent)
        _swept.add(path.parent)
    tmp = _temp_beside(path)
    try:
        with naming_write_failures(path):
            yield tmp
        _move_into_place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _temp_beside(path: Path) -> Path:
    """An empty temporary file in ``path``'s folder (same file system: the rename is atomic),
    named so that ``remove_stale_temporaries`` knows it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _move_into_place(tmp: Path, path: Path) -> None:
    os.chmod(tmp, 0o666 & ~current_umask())  # the user's permissions, not mkstemp's 0600
    os.replace(tmp, path)


@contextlib.contextmanager
def staged_files() -> Iterator[Callable[[str | os.PathLike, Callable[[Path], None]], None]]:
    """Several files, whole or not at all: ``stage(path, write)`` has ``write`` fill a temporary
    file beside ``path``; all are renamed into place, in the order staged, only when the block
    ends without an error. A failure half-way (a full disk on the last file) replaces nothing.
    Stage last the file whose presence marks the whole as done (a run's metrics.json)."""
    staged: list[tuple[Path, Path]] = []

    def stage(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
        path = Path(path)
        tmp = _temp_beside(path)
        staged.append((path, tmp))
        with naming_write_failures(path):
            write(tmp)

    try:
        yield stage
        for path, tmp in staged:
            _move_into_place(tmp, path)
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def has_record(folder: Path, name: str, *keys: str) -> bool:
    """Whether ``folder`` holds the JSON record ``name`` with ``keys``: how a command
    recognises its own earlier output (prepare's dataset.json, acquire's record)."""
    try:
        record = json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and all(k in record for k in keys)


def sha256_file(path: str | os.PathLike, h: "hashlib._Hash | None" = None) -> str:
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_files(paths: list[Path], extra: bytes = b"") -> str:
    """One digest over several files, in the given order, names included, then ``extra``."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode() + b"\0")
        sha256_file(p, h)
    h.update(extra)
    return h.hexdigest()
