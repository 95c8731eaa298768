import time

import pandas as pd
import pytest

from spndl.data.records import DataError
from spndl.report.job_times import write_job_times
from spndl.training.stopwatch import Stopwatch

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(root, rel, seconds, cpu, rss=100.0):
    p = root / "logs/benchmarks" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(HEADER + f"{seconds}\t0:00:{int(seconds):02d}\t{rss}\t1\t1\t1\t0\t0\t90\t{cpu}\n")
    return p


def test_job_times_names_each_rule_and_job_and_sums_each_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = [_bench(tmp_path, "synth.tsv", 60.0, 110.0),
             _bench(tmp_path, "train/ckplus/spndl/fold0/seed0.tsv", 30.0, 29.0, rss=900.0),
             _bench(tmp_path, "train/oulu/spl/fold1/seed2.tsv", 50.0, 49.0),
             _bench(tmp_path, "fig7.tsv", 10.0, 9.0)]
    summary = write_job_times([p.relative_to(tmp_path) for p in paths], tmp_path / "out")
    jobs = pd.read_csv(tmp_path / "out/job_times.csv")
    assert jobs[["rule", "job"]].fillna("").values.tolist() == [
        ["synth", ""], ["train", "ckplus/spndl/fold0/seed0"], ["train", "oulu/spl/fold1/seed2"], ["fig7", ""]]
    assert jobs["max_rss_mb"].tolist() == [100.0, 900.0, 100.0, 100.0]
    train = summary.set_index("rule").loc["train"]
    assert train["jobs"] == 2 and train["seconds"] == 80.0 and train["longest_s"] == 50.0
    assert train["share"] == pytest.approx(80 / 150) and summary["share"].sum() == pytest.approx(1)
    assert summary["rule"].tolist() == ["train", "synth", "fig7"]  # by summed seconds
    md = (tmp_path / "out/job_times.md").read_text()
    assert "| train | 2 | 80.0 | 50.0 | 78.0 | 53.3 |" in md and "4 jobs, 150 job-seconds" in md


def test_a_file_that_is_not_a_benchmark_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "logs/benchmarks/train/x.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("seconds\n3\n")
    with pytest.raises(DataError, match=r"logs/benchmarks/train/x.tsv: not a Snakemake benchmark file"):
        write_job_times([bad.relative_to(tmp_path)], tmp_path / "out")
    assert not (tmp_path / "out/job_times.csv").exists()


def test_the_stopwatch_adds_up_each_part(monkeypatch):
    sw = Stopwatch()
    for _ in range(3):
        with sw.part("steps"):
            time.sleep(0.01)
    with sw.part("checkpoints"):
        pass
    rows = {r["part"]: r for r in sw.table()}
    assert list(rows) == ["steps", "checkpoints"] and rows["steps"]["calls"] == 3
    assert 0.03 <= rows["steps"]["seconds"] < 1 and rows["checkpoints"]["seconds"] < 0.01
