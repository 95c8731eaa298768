"""workflow/real-data.yaml, the real-data quickstart's overlay: it plans the paper's DAG on the
licensed data once its paths name files (placeholders here), with nothing in params.yaml edited."""

import re
import subprocess
import sys

import yaml
from overlays import OVERLAY, REPO, placeholder_overlay


def test_the_overlay_is_the_paper_preset_on_the_real_data():
    overlay = yaml.safe_load(OVERLAY.read_text())
    assert overlay["preset"] == "paper" and overlay["data"]["source"] == "real"
    assert set(overlay["data"]["real"]) == set(overlay["datasets"]) == {"ckplus", "oulu", "rafdb"}
    assert overlay["data"]["allow_deviation"] == []


def test_a_dry_run_with_placeholder_paths_plans_the_papers_dag(tmp_path):
    overlay = placeholder_overlay(tmp_path)
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                        str(tmp_path / "wd"), "--configfile", str(overlay), "-n"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", r.stdout.split("Job stats:")[1],
                                                                 re.M)}
    assert counts["acquire"] == counts["check_data"] == counts["prepare"] == 3
    assert counts["train"] == 103 and "synth" not in counts
    assert "runs/paper-real/ckplus/spndl/fold9/seed0/metrics.json" in r.stdout
    assert "results/paper-real/tables/table1.md" in r.stdout
