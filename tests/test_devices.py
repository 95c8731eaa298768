import multiprocessing as mp
import time

import pytest

from spndl.devices import lease_slot, under_scheduler


def _hold(n, lock_dir, hold, q):
    with lease_slot(n, lock_dir) as k:
        q.put(("got", k, time.monotonic()))
        time.sleep(hold)
    q.put(("released", k, time.monotonic()))


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


def test_zero_slots_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        with lease_slot(0, tmp_path):
            pass
