"""One writer per run folder.

Two ``spndl train`` on one ``--out`` would each write their own epochs, and the folder
would end with one run's config.yaml beside the other's checkpoint and metrics. A run
therefore holds an exclusive, non-blocking ``flock`` on ``RUN/.spndl-run.lock`` from
before it reads the folder until it has written its last file. The kernel drops the lock
of a process that dies, killed or not (as it does the GPU slots of spndl.runtime.devices), so a
crashed run never blocks the next one; the file, which names the holder's host and pid,
stays behind in a run folder (one holding only it counts as empty), and is removed with
the folder it made when a run fails before writing anything.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from spndl.runtime.locks import held_by, release, try_lock

LOCK = ".spndl-run.lock"


class RunBusy(OSError):
    """The run folder is being written by another process; the message names it."""


@contextlib.contextmanager
def holding(folder: str | os.PathLike) -> Iterator[None]:
    """Hold ``folder``'s run lock for the block, or fail at once naming the holder."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    f = try_lock(folder / LOCK)
    if f is None:
        raise RunBusy(f"{folder}: another spndl train is writing this run folder ({held_by(folder / LOCK)}); "
                      "wait for it to end, or choose another --out")
    try:
        yield
    finally:
        # A run that wrote nothing (bad data, a refused setting) leaves nothing: not the lock
        # file, nor the folder if it made it. Removed while still held, so no other run can
        # have taken the folder in between.
        if {p.name for p in folder.iterdir()} == {LOCK}:
            (folder / LOCK).unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        release(f)
