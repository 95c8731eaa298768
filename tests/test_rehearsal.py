"""workflow/rehearsal.yaml over workflow/real-data.yaml: the paper preset's DAG on the synthetic
archives, each run bounded; the two overlays cannot drift apart."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from spndl.configuration import flatten

REPO = Path(__file__).resolve().parents[1]


def test_the_rehearsal_changes_only_the_sources_the_name_and_the_work_bound():
    real = flatten(yaml.safe_load((REPO / "workflow/real-data.yaml").read_text()))
    rehearsal = flatten(yaml.safe_load((REPO / "workflow/rehearsal.yaml").read_text()))
    changed = {k for k in rehearsal if real.get(k) != rehearsal[k]}
    # The work bound, and the two host settings without which 103 runs cannot fit an hour on a CPU
    # (native numerics) or start offline (no ImageNet file).
    assert changed == {"name", "data.dir", "presets.paper.config.train.max_steps", "presets.paper.config.train.cpu_isa",
                       "presets.paper.config.model.weights",
                       *(f"data.real.{d}.sources" for d in ("ckplus", "oulu", "rafdb"))}, changed


def test_a_dry_run_plans_the_archives_acquisition_and_every_bounded_run(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                        str(tmp_path), "--configfile", str(REPO / "workflow/real-data.yaml"),
                        str(REPO / "workflow/rehearsal.yaml"), "-n", "-p"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", r.stdout.split("Job stats:")[1],
                                                                 re.M)}
    assert counts["rehearsal_archives"] == 1 and counts["acquire"] == 3 and counts["train"] == 103
    assert "train.max_steps=1" in r.stdout and "model.weights=none" in r.stdout
    assert "runs/rehearsal/rafdb/baseline/split/seed0" in r.stdout
    # The rehearsal's data lie apart from data/, where a user's real data (the same keys) go.
    assert "--out rehearsal/data/raw/ckplus" in r.stdout and " data/raw/" not in r.stdout


@pytest.mark.slow
def test_a_reduced_rehearsal_runs_from_the_archives_to_bounded_tables(tmp_path):
    """The rehearsal's path, reduced to CI's size: CK+ written as its owners ship it, acquired with
    data.source real, checked and prepared at 224 px, one fold of SPNDL and SPNDL without neutral
    images (one backbone on pairs, two on targets) bounded to two steps of eight pairs, then the
    tables, figures, front page and benchmarks/rehearsal.py."""
    archives = tmp_path / "archives"
    subprocess.run([sys.executable, "-m", "spndl.cli", "synth", "--out", str(tmp_path / "tree"), "--size", "tiny",
                    "--datasets", "ckplus", "--archives", str(archives)], check=True, capture_output=True,
                   timeout=600)
    reduced = tmp_path / "reduced.yaml"
    reduced.write_text(yaml.safe_dump({
        "datasets": ["ckplus"], "variants": {"ckplus": ["spndl", "spndl_wo_neutral"]},  # one model of each kind
        "data": {"real": {"ckplus": {"sources": [str(archives / "ckplus" / f"{z}.zip") for z in
                                                 ("cohn-kanade-images", "Emotion_labels", "Landmarks")]}},
                 "allow_deviation": ["ckplus"]},   # the tiny size's counts are not the paper's
        "presets": {"paper": {"folds": [0], "config": {"train": {"max_steps": 2, "batch_size": 8}}}}}))
    configs = [str(REPO / "workflow/real-data.yaml"), str(REPO / "workflow/rehearsal.yaml"), str(reduced)]
    wd = tmp_path / "wd"
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(wd),
                        "--profile", str(REPO / "workflow/profiles/default"), "--configfile", *configs],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert not (wd / "data").exists()  # the rehearsal's data stay under rehearsal/data
    prepared = next((wd / "rehearsal/data/prepared").glob("real-224px-*/ckplus"))
    assert json.loads((prepared / "dataset.json").read_text())["size"] == 224
    runs = sorted((wd / "runs/rehearsal/ckplus").glob("*/fold0/seed0"))
    assert [p.parts[-3] for p in runs] == ["spndl", "spndl_wo_neutral"]
    for run in runs:
        m = json.loads((run / "metrics.json").read_text())
        assert m["max_steps"] == 2 and "not a result" in m["rehearsal"] and m["synthetic"]
        assert m["image_size"] == 224
    tables = wd / "results/rehearsal/tables"
    for name in ("table1.md", "table4.md", "claims.md"):  # CK+ only: Table 3 (RAF-DB) says "not run"
        text = (tables / name).read_text()
        assert "REHEARSAL, NOT A RESULT" in text and "SYNTHETIC" in text, name
    assert "REHEARSAL, NOT A RESULT" in (wd / "results/rehearsal/report/front.rst").read_text()
    assert pd.read_csv(wd / "results/rehearsal/metrics/curves_per_fold.csv")["max_steps"].eq(2).all()
    assert (wd / "results/rehearsal/figures/fig4_confusion.png").stat().st_size > 0
    b = subprocess.run([sys.executable, str(REPO / "benchmarks/rehearsal.py"), "--directory", str(wd),
                        "--configfile", *configs], capture_output=True, text=True, timeout=600)
    assert b.returncode == 0, b.stderr[-3000:]
    for stage in ("acquire ckplus", "check_data ckplus", "prepare ckplus", "train ckplus spndl", "tables",
                  "disk used", "rehearsal/data/prepared", "24000"):
        assert stage in b.stdout, (stage, b.stdout)
