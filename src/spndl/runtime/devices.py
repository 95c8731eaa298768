"""Give each concurrent training job its own GPU (or its share of one).

Snakemake's ``--resources gpu=N`` caps how many GPU jobs run at once but does
not say *which* GPU a job should use. Each job therefore leases a slot through
an exclusive, non-blocking ``flock`` on a lock file named after the physical
device (the entry of ``CUDA_VISIBLE_DEVICES``, or its index) and the share of
it (``--jobs-per-device``: several small jobs on one large GPU); the lock is
released when the job ends, even if it is killed, because the kernel drops a
dead process's locks. The lock files live in a folder per host, so that jobs on
two nodes of a cluster sharing the repository's filesystem never share slots.

A scheduler's ``CUDA_VISIBLE_DEVICES`` is trusted as it is only where it gives
the job exactly one device and one job per device (Slurm's ``--gpus=1``): then
there is nothing to choose. Inside an allocation of several GPUs (``salloc
--gpus=2`` with the local executor) the jobs lease among the visible devices.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from spndl.runtime.locks import release, try_lock


class DeviceError(RuntimeError):
    """A device that is not one, or that this machine does not have."""


# The GPU path's choices (channels_last, bf16 autocast) on the CPU as well: for the tests, so that
# the branches a CUDA run takes are run where there is no GPU. Never set in a run.
GPU_PATH_ON_CPU = False


def gpu_path(device) -> bool:
    """Whether a run on ``device`` takes the GPU path: channels_last and bf16 autocast (train.amp)."""
    return device.type == "cuda" or (GPU_PATH_ON_CPU and device.type == "cpu")


def pick_device(spec: str):
    """The torch.device ``spec`` names (auto, cpu, cuda, cuda:N), checked against this machine."""
    import torch  # here: the slot leasing below runs in processes that never load torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"device {spec!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {spec!r}: spndl runs on cpu or cuda (auto picks), not {dev.type}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {spec}: CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


SCHEDULER_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "SPNDL_TRUST_CUDA_VISIBLE_DEVICES")


def under_scheduler(env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    return "CUDA_VISIBLE_DEVICES" in env and any(env.get(v) for v in SCHEDULER_VARS)


def visible_devices(n_cuda: int, env: dict | None = None) -> list[str]:
    """The physical names of the devices this process sees as cuda:0..n-1: the entries of
    CUDA_VISIBLE_DEVICES (indices or UUIDs), else the indices."""
    names = _listed(os.environ if env is None else env)
    return names[:n_cuda] if names else [str(k) for k in range(n_cuda)]


def _listed(env: dict) -> list[str]:
    return [d.strip() for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]


def device_slots(devices: list[str], jobs_per_device: int = 1) -> list[str]:
    """Lock names of the slots: each device once per job it may hold, devices first, so that
    jobs spread over the devices before two share one. Slot k runs on cuda:(k % n)."""
    if jobs_per_device < 1:
        raise ValueError(f"jobs per device must be >= 1, got {jobs_per_device}")
    return [f"gpu{_safe(d)}.job{j}" for j in range(jobs_per_device) for d in devices]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def node_lock_dir(lock_dir: str | Path, host: str | None = None) -> Path:
    """The lock folder of this host: a shared filesystem must not give two nodes one set of slots."""
    return Path(lock_dir) / _safe(host or socket.gethostname())


@contextlib.contextmanager
def lease_slot(slots: int | list[str], lock_dir: str | Path, timeout: float = 3600.0,
               poll: float = 0.2) -> Iterator[int]:
    """Hold one of ``slots`` (a count, or lock names) for the duration of the block; yields its index."""
    names = [f"slot{k}" for k in range(slots)] if isinstance(slots, int) else list(slots)
    if not names:
        raise ValueError(f"need at least one slot, got {slots!r}")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for k, name in enumerate(names):
            f = try_lock(lock_dir / f"{name}.lock")
            if f is None:
                continue
            try:
                yield k
            finally:
                release(f)
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{lock_dir}: all {len(names)} device slots stayed busy for {timeout:.0f} s")
        time.sleep(poll)


def own_device(env: dict | None = None, jobs_per_device: int = 1) -> bool:
    """Whether a scheduler gave this job exactly its device: one visible GPU, one job on it."""
    env = os.environ if env is None else env
    return under_scheduler(env) and jobs_per_device == 1 and len(_listed(env)) == 1


@contextlib.contextmanager
def lease_device(n_cuda: int, lock_dir: str | Path, jobs_per_device: int = 1, env: dict | None = None,
                 host: str | None = None) -> Iterator[str]:
    """The CUDA device of one job among ``n_cuda`` visible ones: ``cuda:0`` where the scheduler
    gave the job exactly its device, else a leased slot's (per host, per physical device)."""
    if own_device(env, jobs_per_device):
        yield "cuda:0"
        return
    devices = visible_devices(n_cuda, env)
    with lease_slot(device_slots(devices, jobs_per_device), node_lock_dir(lock_dir, host)) as k:
        yield f"cuda:{k % len(devices)}"


@contextlib.contextmanager
def training_device(requested: str, n_gpus: int | None, lock_dir: str | Path,
                    jobs_per_device: int = 1) -> Iterator[str]:
    """The device a training job should use.

    ``requested`` is the ``train.device`` setting. With ``auto`` and GPUs present, the
    job's device from ``lease_device`` (``n_gpus``: how many of the visible GPUs to share,
    default all); on a machine without a GPU, ``cpu``.
    """
    if requested != "auto":
        yield requested
        return
    import torch

    if not torch.cuda.is_available():
        yield "cpu"
        return
    with lease_device(n_gpus or torch.cuda.device_count(), lock_dir, jobs_per_device) as device:
        yield device


CUBLAS_WORKSPACE = ":4096:8"  # one of the two settings PyTorch's reproducibility notes give cuBLAS


def set_determinism(device_type: str, cuda_deterministic: bool, env: dict | None = None) -> dict:
    """torch's flags for a run on ``device_type``, and what was set, for the run's record.

    CPU: deterministic algorithms always (the numbers are spndl.runtime.numerics' business).
    CUDA, ``cuda_deterministic``: deterministic algorithms (an op without one fails rather than
    varies), cuBLAS's fixed workspace (set before the first cuBLAS call, in ``env``; one the user
    set is kept), cuDNN without autotuning and with its deterministic algorithms. CUDA without
    it: cuDNN autotunes (``benchmark``), so runs may differ in the last bits."""
    import torch

    env = os.environ if env is None else env
    deterministic = device_type == "cpu" or cuda_deterministic
    torch.use_deterministic_algorithms(deterministic)
    record = {"deterministic_algorithms": deterministic}
    if device_type == "cuda":
        if cuda_deterministic:
            env.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.backends.cudnn.benchmark = not cuda_deterministic
        torch.backends.cudnn.deterministic = cuda_deterministic
        record.update(cudnn_benchmark=not cuda_deterministic, cudnn_deterministic=cuda_deterministic,
                      cublas_workspace_config=env.get("CUBLAS_WORKSPACE_CONFIG"))
    return record

