"""An exclusive, non-blocking ``flock`` on a file that names its holder.

Shared by the GPU slots (spndl.runtime.devices) and the run folders (spndl.training.runlock). The kernel
drops the lock of a process that ends, killed or not, so a crash never leaves one held.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO


def holder() -> str:
    """This process, as a lock file names it."""
    return f"host {socket.gethostname()} pid {os.getpid()}"


def try_lock(path: Path) -> IO[str] | None:
    """The open lock file, held and naming this process; None if another process holds it."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(holder() + "\n")
    f.flush()
    return f


def release(f: IO[str]) -> None:
    fcntl.flock(f, fcntl.LOCK_UN)
    f.close()


def held_by(path: Path) -> str:
    """Who the lock file says holds it."""
    try:
        return path.read_text().strip() or "a process that has not yet written its name"
    except OSError:
        return "a process that could not be named"
