"""Read and write PyTorch files (checkpoints, weights) with errors that name the file.

``torch.load`` runs with ``weights_only=True``: a file whose pickle asks for anything
but tensors and plain containers is refused, as a file from elsewhere may carry code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from spndl.fsutil import atomic_path, write_failed


class CheckpointError(ValueError):
    """A PyTorch file that cannot be used; the message names it and says why."""


def load(path: str | os.PathLike, what: str = "checkpoint") -> object:
    """The object in the PyTorch file ``path``, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found")
    with open(path, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip (PK..), older versions a pickle (protocol byte 0x80 first).
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise CheckpointError(f"{path}: not a PyTorch {what} (it starts with {head!r}, not a torch.save file)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            raise CheckpointError(f"{path}: {what} refused: it asks to run code or build objects other than "
                                  "tensors (torch.load weights_only); use a file saved with torch.save of a "
                                  "state dict") from None
        raise CheckpointError(f"{path}: not a PyTorch {what} ({e})") from None
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: unreadable {what}, truncated or not a PyTorch file ({first})") from None


def load_run_checkpoint(path: str | os.PathLike, keys: tuple[str, ...] = ("settings", "model")) -> dict:
    """The checkpoint ``path`` that spndl train wrote, with at least ``keys`` (the training loop
    needs "epoch" too; a finished run's user needs only the settings and the weights)."""
    ck = load(path)
    if not isinstance(ck, dict) or not set(keys) <= set(ck):
        names = ", ".join(keys[:-1]) + f" and {keys[-1]}" if len(keys) > 1 else keys[0]
        raise CheckpointError(f"{path}: not a checkpoint of spndl train (no {names})")
    return ck


def save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary sibling, renamed into place; a failed write (a full
    disk shows as torch's 'unexpected pos') names the file and leaves the old one."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:
            raise write_failed(path, e) from None
