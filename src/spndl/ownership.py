"""What spndl wrote, and the one rule for replacing it.

Every output folder spndl writes (a synthetic tree, an acquired tree, a prepared folder)
carries a record, ``.spndl-outputs.json``, of every file and folder in it with each
file's size. A single output file (a check-data report, exported features, predictions,
an ONNX graph) is listed in the record of the folder it lies in. The rule, for every
command:

- an output folder is replaced only when it is of the command's own kind and everything
  in it is in its record, unchanged in size; the first path that is not (a user's notes,
  a run trained into it, an edited file) is named and nothing is touched;
- an output file is replaced only when its folder's record lists it, unchanged in size,
  or with ``--force``; ``--force`` never deletes a folder spndl did not write.

Sizes, not checksums: a user's edit changes a file's size far more often than not, and
reading a prepared RAF-DB (2 GB) again only to refuse would cost more than it saves.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from spndl.fsutil import (OutputError, atomic_path, current_umask, is_temporary, naming_write_failures,
                          remove_stale_temporaries, staged_files, temp_prefix)

RECORD = ".spndl-outputs.json"


def _walk(folder: Path, top: Path | None = None) -> Iterator[tuple[str, int | None]]:
    """(relative path, size or None for a folder) of everything under ``folder``, in name
    order, each folder before what it holds; the record itself and this module's
    temporaries at the top are left out. Links are listed, never followed."""
    top = folder if top is None else top
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if folder == top and (p.name == RECORD or is_temporary(p.name)):
            continue
        rel = p.relative_to(top).as_posix()
        if p.is_dir() and not p.is_symlink():
            yield rel, None
            yield from _walk(p, top)
        else:
            yield rel, p.lstat().st_size


def _entries(text: str) -> dict | None:
    """A record's entries (relative path -> size, None for a folder), or None if ``text`` is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    entries = record.get("entries") if isinstance(record, dict) else None
    return entries if isinstance(entries, dict) else None


def _read(folder: Path) -> dict | None:
    """``folder``'s record's entries, or None without one."""
    try:
        return _entries((folder / RECORD).read_text())
    except OSError:
        return None


def record_folder(folder: str | os.PathLike) -> None:
    """Record everything now in ``folder`` as spndl's (called on a finished output before it
    is renamed into place)."""
    folder = Path(folder)
    text = json.dumps({"written_by": "spndl", "entries": dict(_walk(folder))}, indent=0) + "\n"
    (folder / RECORD).write_text(text)


def foreign_path(folder: str | os.PathLike) -> Path | None:
    """The first path in ``folder`` that its record does not list as spndl's, unchanged in
    size; the record itself when there is none; None when everything is spndl's."""
    folder = Path(folder)
    entries = _read(folder)
    if entries is None:
        return folder / RECORD
    for rel, size in _walk(folder):
        if rel not in entries or entries[rel] != size:
            return folder / rel
    return None


def check_output_dir(path: str | os.PathLike, is_own: Callable[[Path], bool], what: str,
                     inputs: tuple[str | os.PathLike, ...] = ()) -> None:
    """Refuse to write ``path`` unless it is absent, an empty folder, or an earlier output of
    this command (``is_own``: the kind, e.g. 'a prepared folder, marked by its dataset.json')
    that holds nothing but what its record lists; and refuse an output that is, holds or lies
    inside one of ``inputs``."""
    path = Path(path)
    out = path.resolve()
    for src in inputs:
        src = Path(src).resolve()
        if out == src or out.is_relative_to(src) or src.is_relative_to(out):
            raise OutputError(f"{path}: the output would replace or lie inside the input {src}; "
                              "choose an output folder outside it")
    if not (path.exists() or path.is_symlink()):
        return
    if not path.is_dir() or path.is_symlink():
        raise OutputError(f"{path}: exists and is not a folder; refusing to replace it")
    if not any(p for p in path.iterdir() if not is_temporary(p.name)):
        return
    if not is_own(path):
        raise OutputError(f"{path}: folder is not empty and is not {what}; refusing to replace "
                          "what spndl did not write (choose another --out or empty it)")
    first = foreign_path(path)
    if first is not None:
        why = ("has no record of what spndl wrote in it (written by an older spndl?)"
               if first.name == RECORD and first.parent == path else "was not written by spndl, or was changed since")
        raise OutputError(f"{first}: {why}; refusing to replace {path}, which holds it "
                          "(move it out, or choose another --out)")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, is_own: Callable[[Path], bool], what: str,
               inputs: tuple[str | os.PathLike, ...] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only on success, with
    its record of what spndl wrote.

    ``path`` must pass ``check_output_dir`` (checked before and again just before the swap),
    so a user's folder, or a user's file inside an earlier output, is never replaced; a
    killed writer's leftovers beside it are removed."""
    path = Path(path)
    check_output_dir(path, is_own, what, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's 0700 would outlive the rename
    old = None
    try:
        with naming_write_failures(path):
            yield tmp
            record_folder(tmp)
        check_output_dir(path, is_own, what)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
    finally:
        # Ctrl-C between the two renames: the old folder goes back; after them, it goes.
        if old is not None and not path.exists() and (old / path.name).exists():
            os.replace(old / path.name, path)
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _locked_record(folder: Path) -> Iterator[dict]:
    """The entries of ``folder``'s record, read and written back under an exclusive lock, so
    that two commands writing files into one folder (the pipeline's figures) keep both."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / RECORD, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        entries = _entries(f.read()) or {}
        yield entries
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"written_by": "spndl", "entries": entries}, indent=0) + "\n")
        f.flush()


def is_own_file(path: str | os.PathLike) -> bool:
    """Whether the record of ``path``'s folder lists it as spndl's, unchanged in size."""
    path = Path(path)
    entries = _read(path.parent) or {}
    try:
        return path.is_file() and not path.is_symlink() and entries.get(path.name) == path.stat().st_size
    except OSError:
        return False


def check_output_file(path: str | os.PathLike, force: bool = False) -> None:
    """Refuse to write the file ``path`` where something spndl did not write is in the way:
    a folder, always; a file, unless spndl's record lists it or ``force``."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"{path}: is a folder; give a file name (nothing was written)")
    if (path.exists() or path.is_symlink()) and not force and not is_own_file(path):
        raise OutputError(f"{path}: exists and was not written by spndl, or was changed since; "
                          "refusing to overwrite it (--force replaces it)")


@contextlib.contextmanager
def output_file(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """``atomic_path`` for a command's output file: checked by ``check_output_file`` first,
    then listed in its folder's record once it is in place."""
    path = Path(path)
    check_output_file(path, force)
    with atomic_path(path) as tmp:
        yield tmp
    with _locked_record(path.parent) as entries:
        entries[path.name] = path.stat().st_size


@contextlib.contextmanager
def output_files(force: bool = False) -> Iterator[Callable[[str | os.PathLike, Callable[[Path], None]], None]]:
    """``fsutil.staged_files`` for a command's output files: each checked like ``output_file``
    before it is staged, and listed in its folder's record once all are in place."""
    paths: list[Path] = []
    with staged_files() as stage_file:
        def stage(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
            check_output_file(path, force)
            paths.append(Path(path))
            stage_file(path, write)

        yield stage
    for path in paths:
        with _locked_record(path.parent) as entries:
            entries[path.name] = path.stat().st_size


def write_output_text(path: str | os.PathLike, text: str, force: bool = False) -> None:
    with output_file(path, force) as tmp:
        tmp.write_text(text)
