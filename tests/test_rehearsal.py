"""workflow/rehearsal.yaml over workflow/real-data.yaml: the paper preset's DAG on the synthetic
archives, each run bounded; the two overlays cannot drift apart."""

import re
import subprocess
import sys
from pathlib import Path

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
    assert "train.max_steps=1" in r.stdout and "model.weights=none" in r.stdout and "runs/rehearsal/rafdb/baseline/split/seed0" in r.stdout
    # The rehearsal's data lie apart from data/, where a user's real data (the same keys) go.
    assert "--out rehearsal/data/raw/ckplus" in r.stdout and " data/raw/" not in r.stdout
