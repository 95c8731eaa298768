"""benchmarks/spl_scorers.py without training: its arms, and its analysis of run records whose
selections are written by hand, so that every contrast it prints is known in advance."""

import argparse
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import spl_scorers as bench  # noqa: E402

IDS = [f"train_{i:05d}" for i in range(8)]
MISLABELLED = {IDS[0], IDS[1]}
DEGRADED = {IDS[2]}
CLEAN = [i for i in IDS if i not in MISLABELLED | DEGRADED]


def test_an_arm_is_a_name_and_its_settings():
    assert bench.parse_arm("warmup3=spl.warmup_epochs=3 train.epochs=15") == \
        ("warmup3", ["spl.warmup_epochs=3", "train.epochs=15"])
    for bad in ("eval=spl.warmup_epochs=3",  # a scorer's name: its folder would mix two arms
                "warmup3", "warmup3=", "3x=spl.warmup_epochs=3", "../x=spl.warmup_epochs=3"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected NAME=KEY=VALUE"):
            bench.parse_arm(bad)


def test_the_plan_gives_each_arm_its_folder_and_settings():
    arms = {"eval": ["spl.scorer=eval"], "warmup3": ["spl.warmup_epochs=3", "train.epochs=15"]}
    jobs = bench.plan({"ckplus": "p/ckplus", "rafdb": "p/rafdb"}, [0, 1], [7], arms)
    assert [j["name"] for j in jobs] == [
        "ckplus/eval/fold0/seed0", "ckplus/warmup3/fold0/seed0", "ckplus/eval/fold1/seed0",
        "ckplus/warmup3/fold1/seed0", "rafdb/eval/split/seed7", "rafdb/warmup3/split/seed7"]
    assert jobs[1]["settings"] == ["spl.warmup_epochs=3", "train.epochs=15"] and jobs[1]["fold"] == 0
    assert jobs[4]["fold"] is None and jobs[4]["seed"] == 7


def _truth(root: Path) -> Path:
    lines = ["dataset,subject,sequence,image,true_label,written_label,peak_intensity,degraded"]
    for i in IDS:
        written = "anger" if i in MISLABELLED else "happiness"
        lines.append(f"rafdb,{i},{i},{i}.jpg,happiness,{written},1.0,{'blur' if i in DEGRADED else ''}")
    (root / "synth_truth.csv").write_text("\n".join(lines) + "\n")
    return root


def _run(out: Path, name: str, left_out: set[str], accuracy: float, cpu: float) -> None:
    run = out / "runs" / name
    run.mkdir(parents=True)
    rows = ["pace,sample_id,label,loss,selected"]
    rows += [f"1,{i},0,1.0,{i not in left_out}" for i in IDS]
    rows += [f"2,{i},0,1.0,True" for i in IDS]  # the last pace keeps all: not counted
    (run / "spl_selection.csv").write_text("\n".join(rows) + "\n")
    (run / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
    (run / "cpu_seconds.txt").write_text(f"{cpu} {cpu}\n")


def test_the_analysis_prints_the_contrasts_and_their_paired_differences(tmp_path, capsys):
    arms = {"eval": ["spl.scorer=eval"], "warm": ["spl.warmup_epochs=3"]}
    jobs = bench.plan({"rafdb": "unused"}, [], [0, 1], arms)
    # eval leaves clean samples out (2 of 5, then 1 of 5); warm leaves the mislabelled out (2 of 2, then 1 of 2)
    _run(tmp_path, "rafdb/eval/split/seed0", {CLEAN[0], CLEAN[1]}, 0.50, 10.0)
    _run(tmp_path, "rafdb/eval/split/seed1", {CLEAN[0]}, 0.40, 10.0)
    _run(tmp_path, "rafdb/warm/split/seed0", MISLABELLED, 0.55, 12.0)
    _run(tmp_path, "rafdb/warm/split/seed1", {IDS[0]}, 0.60, 11.0)
    bench.analyse(tmp_path, jobs, bench.truth_table(_truth(tmp_path)))
    text = capsys.readouterr().out
    per_run = text.split("per run; paired difference")[1].split("Last epoch")[0]
    mislabelled = next(line for line in per_run.splitlines() if "mislabelled" in line)
    degraded = next(line for line in per_run.splitlines() if "degraded" in line)
    # mislabelled: eval 0 - 40 and 0 - 20 points; warm 100 - 0 and 50 - 0: differences +140 and +70
    assert "-30.0 [" in mislabelled and "+75.0 [" in mislabelled and "+105.0 [" in mislabelled
    # paired t over two runs, then Holm over the two rows (both p 0.205): 0.410
    assert " 0.205 " in mislabelled and mislabelled.rstrip().endswith("0.410")
    # degraded (never left out): eval -40 and -20, warm 0 and 0: differences +40 and +20
    assert "+30.0 [" in degraded
    accuracy = text.split("Last epoch")[1]
    warm = next(line for line in accuracy.splitlines() if " warm " in line)
    # +5 and +20 points; CPU ratios 1.2 and 1.1, median 1.15
    assert "+12.5 [" in warm and "1.15" in warm
    assert "pooled over the datasets: warm minus eval +12.5" in text
