"""Find a dataset's folders when copies nest them one level deeper than the owners' zips."""

from __future__ import annotations

from pathlib import Path

from spndl.data.records import DataError


def find_dir(root: Path, names: tuple[str, ...], max_depth: int = 3) -> Path | None:
    """The shallowest folder under ``root`` whose name is one of ``names`` (breadth first)."""
    level = [root]
    for _ in range(max_depth + 1):
        nxt = []
        for d in sorted(level):
            if d.name in names and d != root:
                return d
            nxt.extend(p for p in sorted(d.iterdir()) if p.is_dir() and not p.name.startswith("."))
        hits = [d for d in nxt if d.name in names]
        if hits:
            return sorted(hits)[0]
        level = nxt
    return None


def require_dir(root: Path, names: tuple[str, ...], what: str) -> Path:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    d = find_dir(root, names)
    if d is None:
        raise DataError(f"{root}: no {what} folder ({' or '.join(names)}) within 3 levels")
    return d
