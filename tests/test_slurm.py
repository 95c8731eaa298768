"""A small pipeline through a real one-node Slurm (.ci/slurm-up: two fake GPUs, no accounting)
with the cluster profile, workflow/profiles/slurm.

The tiny preset on RAF-DB alone, one seed: every kind of job (synthesis and preparation,
training, tables, figures) in a DAG of three training jobs. The whole DAG, every table and
figure, is tests/test_pipeline.py's; this one is about what goes to Slurm and what does not."""

import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from spndl.params import JOB_DEFAULTS

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "workflow/tests/params-tiny.yaml"
CLUSTER = REPO / "workflow/profiles/slurm/cluster.yaml"
CFG = "tiny-synthetic"  # the configuration's folders: runs/CFG, results/CFG


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """SLURM_CONF of a one-node Slurm started for these tests, stopped after them."""
    if os.geteuid() != 0:
        pytest.skip("a one-node Slurm needs root to start (.ci/slurm-up)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("the Slurm executor is not installed (pip install -e '.[slurm]')")
    state = tmp_path_factory.mktemp("slurm")
    up = subprocess.run([str(REPO / ".ci/slurm-up"), str(state)], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        pytest.skip(f"no Slurm on this machine: .ci/slurm-up failed: {(up.stderr or up.stdout)[-1500:]}")
    yield str(state / "slurm.conf")
    subprocess.run([str(REPO / ".ci/slurm-down"), str(state)], timeout=120)


def _snakemake(wd, env, *args):
    small = wd / "small.yaml"
    small.write_text("datasets: [rafdb]\npresets:\n  tiny:\n    seeds: [0]\n")
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(wd),
            "--profile", str(REPO / "workflow/profiles/slurm"), "--configfile", str(TINY), str(CLUSTER), str(small),
            # This cluster has no accounting: squeue reports job states, and there is no account.
            "--slurm-status-command", "squeue", "--slurm-no-account",
            "--slurm-init-seconds-before-status-checks", "5", *args]


def _watch_a_training_job(env, found: dict, stop: threading.Event):
    """Slurm's record of the first training job seen running (scontrol show job)."""
    while not stop.is_set():
        q = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True, env=env)
        for line in q.stdout.splitlines():
            jobid, _, comment = line.partition(" ")
            if comment.startswith("rule_train"):
                found["job"] = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True,
                                              env=env).stdout
                return
        time.sleep(1)


@pytest.fixture(scope="module")
def cluster_run(slurm, tmp_path_factory):
    wd = tmp_path_factory.mktemp("slurm-run")
    env = {**os.environ, "SLURM_CONF": slurm}
    found, stop = {}, threading.Event()
    watcher = threading.Thread(target=_watch_a_training_job, args=(env, found, stop), daemon=True)
    watcher.start()
    t0 = time.monotonic()
    r = subprocess.run(_snakemake(wd, env, "--verbose"), capture_output=True, text=True, env=env, timeout=3000,
                       cwd=REPO)
    seconds = time.monotonic() - t0
    stop.set()
    watcher.join(30)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    print(f"\nthe small pipeline through Slurm took {seconds:.0f} s; a training job as Slurm recorded it:\n"
          f"{found.get('job', '(none seen running)')}")
    return wd, env, r.stdout + r.stderr, found


def test_a_pipeline_runs_through_slurm_with_one_gpu_per_training_job(cluster_run):
    wd, _, log, found = cluster_run
    runs = sorted(p.parent.relative_to(wd / "runs" / CFG).as_posix()
                  for p in wd.glob(f"runs/{CFG}/*/*/*/*/metrics.json"))
    assert runs == [f"rafdb/{v}/split/seed0" for v in ("baseline", "ndf_wo_neutral", "spndl_wo_neutral")]
    for name in ("table1", "table2", "table3", "table4"):
        for ext in ("md", "csv", "tex"):
            assert (wd / f"results/{CFG}/tables/{name}.{ext}").stat().st_size > 0
    assert len(pd.read_csv(wd / f"results/{CFG}/tables/per_fold.csv")) == 3
    assert (wd / f"results/{CFG}/tables/claims.md").is_file()
    # RAF-DB's figures: Figs. 5 and 7 are Oulu-CASIA's.
    figs = sorted(p.name for p in (wd / f"results/{CFG}/figures").glob("*.png"))
    assert figs == ["curves_per_fold.png", "fig4_confusion.png", "fig6_losses.png", "fig8_excluded.png"]
    # Every training job went to Slurm asking for one GPU, the preset's time and memory (the
    # tiny preset has no `jobs`: the defaults); the tables and most figures ran on the submit host.
    want = JOB_DEFAULTS["train"]
    calls = re.findall(r"sbatch call: (.*)", log)
    train = [c for c in calls if "rule_train" in c]
    assert len(train) == 3, calls[:3]
    # Synthesis and preparation are cluster jobs too (no GPU); the rest ran here.
    assert any("rule_prepare" in c for c in calls) and not any("--gpus" in c for c in calls if "rule_train" not in c)
    assert all(f"-t {want['runtime_min']} --mem {want['mem_mb']} " in c and "--gpus=1" in c for c in train), train[0]
    # The data check and Fig. 8 grow with the data: cluster jobs (compute.on_submit_host: acquisition alone).
    assert any("rule_check_data" in c for c in calls) and any("rule_fig8" in c for c in calls)
    assert not any(f"rule_{r}" in c for c in calls for r in ("tables", "fig4", "fig6", "curves", "front_page"))
    job = found.get("job", "")
    assert "gres/gpu=1" in job or "gres:gpu:1" in job, found
    assert f"mem={want['mem_mb']}M" in job and f"TimeLimit=00:{want['runtime_min']}:00" in job


def test_a_second_run_through_slurm_has_nothing_to_do(cluster_run):
    wd, env, _, _ = cluster_run
    r = subprocess.run(_snakemake(wd, env, "-n"), capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]
