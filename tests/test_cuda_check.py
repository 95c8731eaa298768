"""benchmarks/cuda_check.py without a GPU: its CPU-only mode and the estimate's arithmetic, so
that a new dataset or setting cannot break the GPU script unseen."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import cuda_check  # noqa: E402


def test_the_cpu_only_mode_prints_the_papers_runs_and_counts():
    r = subprocess.run([sys.executable, str(REPO / "benchmarks/cuda_check.py"), "--cpu-only"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "224 px" in lines[0]
    rows = {ln.split()[0]: ln.split() for ln in lines[2:5]}
    # CK+ 981 pairs and Oulu-CASIA 1440 over 10 folds, RAF-DB 12271 + 3068: 50 + 50 + 3 jobs.
    assert rows["ckplus"][1:10] == ["883", "98", "10", "1", "250", "128", "7", "50", "baseline,"]
    assert rows["oulu"][1:9] == ["1296", "144", "10", "1", "250", "128", "11", "50"]
    assert rows["rafdb"][1:9] == ["12271", "3068", "1", "1", "150", "128", "96", "3"]
    assert "all: 103 training jobs" in r.stdout


def test_a_dataset_the_paper_does_not_report_is_left_out_and_seeds_count(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["datasets"] = ["ckplus", "custom"]
    params["presets"]["paper"]["seeds"] = [0, 1]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    runs = cuda_check.paper_runs(path)
    assert list(runs) == ["ckplus"] and runs["ckplus"]["jobs"] == 100
    ck = runs["ckplus"]
    rates = {v: {"train_pairs_per_s": ck["train"], "eval_pairs_per_s": ck["test"]} for v in ck["variants"]}
    # Each job: 250 epochs of one second of training and one of evaluation.
    assert cuda_check.paper_hours(rates, runs)["ckplus"] == pytest.approx(100 * 250 * 2 / 3600)


def test_the_repeat_check_finds_identical_bits_where_the_numbers_are_fixed(prepared, tmp_path):
    """Section 6's comparison, run on the CPU (whose runs repeat bit for bit): its logic is tested
    here, its GPU figures come from a GPU."""
    _, data = prepared["ckplus"]
    settings = {"train": {"device": "cpu", "epochs": 3, "batch_size": 16, "cuda_deterministic": True},
                "spl": {"paces": 2, "step": 0.5}}
    r = cuda_check.repeat_runs(data, tmp_path, settings)
    assert r["identical"] and r["accuracy"][0] == r["accuracy"][1]
