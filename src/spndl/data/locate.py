"""Find a dataset's folders when copies nest them one level deeper than the owners' zips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spndl.data.records import DataError


def find_dir(root: Path, names: tuple[str, ...], max_depth: int = 3,
             accept: Callable[[Path], bool] = lambda d: True) -> Path | None:
    """The shallowest folder under ``root`` whose name is one of ``names`` and that ``accept``s
    (breadth first): ``Landmarks/Landmarks/S005`` finds the inner folder when ``accept`` asks
    for subject folders."""
    level = [root]
    for _ in range(max_depth + 1):
        hits = sorted(d for d in level if d.name in names and d != root and accept(d))
        if hits:
            return hits[0]
        level = [p for d in sorted(level) for p in sorted(d.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return None


def require_dir(root: Path, names: tuple[str, ...], what: str,
                accept: Callable[[Path], bool] = lambda d: True) -> Path:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    d = find_dir(root, names, accept=accept)
    if d is None:
        raise DataError(f"{root}: no {what} folder ({' or '.join(names)}) within 3 levels")
    return d
