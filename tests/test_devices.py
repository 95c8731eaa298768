import multiprocessing as mp
import time

import pytest

from spndl.runtime.devices import device_slots, lease_device, lease_slot, node_lock_dir, own_device, under_scheduler


def _hold(n, lock_dir, hold, q):
    with lease_slot(n, lock_dir) as k:
        q.put(("got", k, time.monotonic()))
        time.sleep(hold)
    q.put(("released", k, time.monotonic()))


def _hold_device(n_cuda, lock_dir, jobs_per_device, env, hold, q):
    with lease_device(n_cuda, lock_dir, jobs_per_device, env=env, host="node1") as device:
        q.put(("got", device, time.monotonic()))
        time.sleep(hold)
    q.put(("released", device, time.monotonic()))


def _concurrent_devices(n_jobs, n_cuda, lock_dir, jobs_per_device, env, hold=1.5):
    """The devices that ``n_jobs`` jobs started together hold at the same time."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hold_device, args=(n_cuda, lock_dir, jobs_per_device, env, hold, q))
             for _ in range(n_jobs)]
    for p in procs:
        p.start()
    events = [q.get(timeout=60) for _ in range(2 * n_jobs)]
    for p in procs:
        p.join(60)
    got = [e for e in events if e[0] == "got"]
    assert max(t for _, _, t in got) < min(t for e, _, t in events if e == "released"), "not concurrent"
    return sorted(d for _, d, _ in got)


def _start(n_jobs, n_slots, lock_dir, hold):
    """Spawn jobs that each hold a slot for ``hold`` seconds; returns (processes, event queue)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(n_slots, lock_dir, hold, q)) for _ in range(n_jobs)]
    for p in procs:
        p.start()
    return procs, q


def test_two_concurrent_jobs_get_distinct_slots(tmp_path):
    procs, q = _start(2, 2, tmp_path, 1.5)
    events = [q.get(timeout=60) for _ in range(4)]
    for p in procs:
        p.join(60)
    got = [e for e in events if e[0] == "got"]
    assert sorted(k for _, k, _ in got) == [0, 1]
    # Both held their slot at the same time.
    assert max(t for _, _, t in got) < min(t for e, _, t in events if e == "released")


def test_a_third_job_waits_for_a_free_slot(tmp_path):
    (first,), q = _start(1, 1, tmp_path, 1.0)
    assert q.get(timeout=60)[0] == "got"
    t0 = time.monotonic()
    with lease_slot(1, tmp_path) as k:
        waited = time.monotonic() - t0
    first.join(60)
    assert k == 0 and waited > 0.3


def test_a_killed_job_frees_its_slot(tmp_path):
    (p,), q = _start(1, 1, tmp_path, 60)
    assert q.get(timeout=60)[0] == "got"
    p.kill()
    p.join(10)
    with lease_slot(1, tmp_path, timeout=5) as k:
        assert k == 0


def test_scheduler_detection():
    assert under_scheduler({"CUDA_VISIBLE_DEVICES": "3", "SLURM_JOB_ID": "42"})
    assert not under_scheduler({"CUDA_VISIBLE_DEVICES": "3"})
    assert not under_scheduler({"SLURM_JOB_ID": "42"})


def test_two_jobs_in_a_two_gpu_allocation_lease_different_devices(tmp_path):
    """salloc --gpus=2 and the local executor: Slurm's variables are set, both GPUs are visible."""
    env = {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "0,1"}
    assert not own_device(env)
    assert _concurrent_devices(2, 2, tmp_path, 1, env) == ["cuda:0", "cuda:1"]


def test_two_jobs_per_device_share_one_gpu_and_spread_first(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "3"}
    assert _concurrent_devices(2, 1, tmp_path / "a", 2, env) == ["cuda:0", "cuda:0"]
    # With two GPUs and two jobs each, the first two jobs go to different GPUs.
    assert device_slots(["0", "1"], 2) == ["gpu0.job0", "gpu1.job0", "gpu0.job1", "gpu1.job1"]
    assert _concurrent_devices(4, 2, tmp_path / "b", 2, {}) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]


def test_a_job_given_exactly_its_gpu_by_the_scheduler_uses_it_without_a_lease(tmp_path):
    env = {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "GPU-5f3c"}
    assert own_device(env) and not own_device(env, jobs_per_device=2)
    with lease_device(1, tmp_path, env=env, host="node1") as device:
        assert device == "cuda:0"
    assert not (tmp_path / "node1").exists()  # nothing leased
    # Two GPUs' worth of jobs on one node: the lock names are the physical devices.
    with lease_device(1, tmp_path, 2, env=env, host="node1") as device:
        assert device == "cuda:0" and [p.name for p in (tmp_path / "node1").iterdir()] == ["gpuGPU-5f3c.job0.lock"]


def test_the_lock_folder_differs_between_hosts(tmp_path):
    assert node_lock_dir(tmp_path, "node1") != node_lock_dir(tmp_path, "node2")
    assert node_lock_dir(tmp_path, "gpu/01").parent == tmp_path  # a host name never leaves the folder


def test_zero_slots_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        with lease_slot(0, tmp_path):
            pass


@pytest.fixture
def torch_flags():
    """torch's global determinism flags, restored after the test."""
    import torch

    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic)
    yield torch
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[1:]


def test_cuda_deterministic_reaches_torchs_flags_and_the_record(torch_flags):
    from spndl.runtime.devices import CUBLAS_WORKSPACE, set_determinism

    torch = torch_flags
    env: dict = {}
    record = set_determinism("cuda", True, env)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert env["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE == ":4096:8"
    assert record == {"deterministic_algorithms": True, "cudnn_benchmark": False, "cudnn_deterministic": True,
                      "cublas_workspace_config": ":4096:8"}
    # A workspace setting the user chose is kept.
    assert set_determinism("cuda", True, {"CUBLAS_WORKSPACE_CONFIG": ":16:8"})["cublas_workspace_config"] == ":16:8"
    # Off (the default): cuDNN autotunes and nothing is forced.
    env = {}
    record = set_determinism("cuda", False, env)
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    assert "CUBLAS_WORKSPACE_CONFIG" not in env and record["cudnn_benchmark"] is True
    # The CPU is deterministic whatever the setting.
    assert set_determinism("cpu", False, {}) == {"deterministic_algorithms": True}
    assert torch.are_deterministic_algorithms_enabled()


def test_a_run_records_its_determinism_setting(tmp_path):
    import yaml

    from spndl.config import config_from_dict
    from spndl.data.prepare import prepare
    from spndl.synth import generate
    from spndl.training.train import train

    generate(tmp_path / "raw", seed=0, size="tiny", datasets=("ckplus",))
    prepare("ckplus", tmp_path / "raw/ckplus", tmp_path / "prep", size=32)
    cfg = config_from_dict({"train": {"epochs": 1, "batch_size": 16, "cuda_deterministic": True}})
    train(tmp_path / "prep", "baseline", 0, tmp_path / "run", cfg, log=lambda s: None)
    record = yaml.safe_load((tmp_path / "run/config.yaml").read_text())
    assert record["config"]["train"]["cuda_deterministic"] is True
    assert record["cpu_numerics"]["determinism"] == {"deterministic_algorithms": True}
