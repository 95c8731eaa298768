"""Give each concurrent training job its own GPU.

Snakemake's ``--resources gpu=N`` caps how many GPU jobs run at once but does
not say *which* GPU a job should use. Each job therefore leases one of N slots
through an exclusive, non-blocking ``flock`` on ``<lock_dir>/slot<k>.lock``;
the lock is released when the job ends, even if it is killed, because the
kernel drops a dead process's locks. Under a cluster scheduler (Slurm, PBS,
LSF, or ``SPNDL_TRUST_CUDA_VISIBLE_DEVICES=1``) the scheduler has already set
``CUDA_VISIBLE_DEVICES`` for the job, and that is trusted as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

SCHEDULER_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "SPNDL_TRUST_CUDA_VISIBLE_DEVICES")


def under_scheduler(env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    return "CUDA_VISIBLE_DEVICES" in env and any(env.get(v) for v in SCHEDULER_VARS)


@contextlib.contextmanager
def lease_slot(n_slots: int, lock_dir: str | Path, timeout: float = 3600.0, poll: float = 0.2) -> Iterator[int]:
    """Hold one of ``n_slots`` slots for the duration of the block; yields its index."""
    if n_slots < 1:
        raise ValueError(f"need at least one slot, got {n_slots}")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for k in range(n_slots):
            f = open(lock_dir / f"slot{k}.lock", "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            try:
                f.seek(0)
                f.truncate()
                f.write(f"{os.getpid()}\n")
                f.flush()
                yield k
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
                f.close()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{lock_dir}: all {n_slots} device slots stayed busy for {timeout:.0f} s")
        time.sleep(poll)


@contextlib.contextmanager
def training_device(requested: str, n_gpus: int | None, lock_dir: str | Path) -> Iterator[str]:
    """The device a training job should use.

    ``requested`` is the ``train.device`` setting. With ``auto`` and GPUs present
    (and no scheduler), a slot is leased and ``cuda:<slot>`` returned; on a
    machine without a GPU, ``cpu``.
    """
    if requested != "auto":
        yield requested
        return
    import torch

    if not torch.cuda.is_available():
        yield "cpu"
        return
    if under_scheduler():
        yield "cuda:0"  # the scheduler's CUDA_VISIBLE_DEVICES already names this job's GPU
        return
    n = n_gpus or torch.cuda.device_count()
    with lease_slot(n, lock_dir) as k:
        yield f"cuda:{k}"
