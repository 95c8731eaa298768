"""Training jobs' share of the gpu resource: from params, or from the machine where it says auto."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from spndl.params import gpu_per_job

REPO = Path(__file__).resolve().parents[1]


def test_gpu_per_job_follows_params_and_the_driver_listing(tmp_path):
    gpus = tmp_path / "gpus"
    assert gpu_per_job({}, str(gpus)) == 0                                  # no driver: no GPU
    gpus.mkdir()
    assert gpu_per_job({"compute": {"gpu_per_job": "auto"}}, str(gpus)) == 0  # a driver that lists none
    (gpus / "0000:17:00.0").mkdir()
    assert gpu_per_job({"compute": {"gpu_per_job": "auto"}}, str(gpus)) == 1
    assert gpu_per_job({"compute": {"gpu_per_job": 0}}, str(gpus)) == 0     # params win over the machine
    assert gpu_per_job({"compute": {"gpu_per_job": 1}}, str(tmp_path / "none")) == 1  # a submit host


def test_job_requests_follow_the_preset_and_grow_with_the_attempt():
    import yaml

    from spndl.params import JOB_DEFAULTS, job_resources

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert job_resources(params, "train") == {"runtime": 20, "mem_mb": 3000, "cpus_per_task": 1}
    paper = {**params, "preset": "paper"}
    assert job_resources(paper, "train", attempt=3) == {"runtime": 720, "mem_mb": 72000, "cpus_per_task": 4}
    tiny = {"preset": "tiny", "presets": {"tiny": {}}}
    assert job_resources(tiny, "prepare", 2)["runtime"] == 2 * JOB_DEFAULTS["prepare"]["runtime_min"]


@pytest.mark.slow
def test_a_submit_host_without_a_gpu_still_asks_one_per_training_job_under_the_slurm_profile(tmp_path):
    """The GPU request is the setting's (workflow/profiles/slurm/cluster.yaml), not the machine's."""
    assert gpu_per_job({"compute": {"gpu_per_job": "auto"}}) == 0, "this test needs a machine without a GPU"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
           "--configfile", str(REPO / "workflow/tests/params-tiny.yaml"),
           str(REPO / "workflow/profiles/slurm/cluster.yaml")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    train = re.findall(r"rule train:\n(?:    .*\n)*?    resources: (.*)", out)
    assert len(train) == 26 and all("gpu=1" in r.split(", ") for r in train), train[:2]
