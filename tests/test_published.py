"""The published snapshot committed in results/synthetic_full: its files, its tables rebuilt
from its run records, and one CK+ run trained again bit for bit (spndl verify)."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "results" / "synthetic_full"


def _verify(*args):
    return subprocess.run([sys.executable, "-m", "spndl", "verify", str(SNAPSHOT), *args], capture_output=True,
                          text=True, timeout=1200)


def test_the_committed_snapshot_rebuilds_to_the_same_tables_and_claims():
    r = _verify()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "files, tables and claims: identical" in r.stdout


def test_every_claim_of_the_snapshot_has_its_test():
    claims = pd.read_csv(SNAPSHOT / "tables" / "claims.csv")
    folds = claims[claims["dataset"].isin(["ckplus", "oulu"])]
    assert len(folds) == 14 and (folds["n_runs"] >= 10).all()
    assert folds[["p_value", "p_holm", "p_better", "p_equivalent", "p_worse"]].notna().all().all()
    assert folds["verdict"].isin(["reproduced", "contradicted", "not significant"]).all()
    assert folds["bayes_verdict"].isin(["better", "practically equivalent", "worse", "undecided"]).all()
    raf = claims[claims["dataset"] == "rafdb"]
    assert len(raf) == 2 and raf["p_value"].notna().all() and (raf["n_runs"] >= 3).all()


@pytest.mark.slow
def test_a_ckplus_run_of_the_snapshot_retrains_bit_for_bit(tmp_path):
    meta = json.loads((SNAPSHOT / "snapshot.json").read_text())
    run = "ckplus/baseline/fold0/seed0"
    assert run in meta["runs"]
    r = _verify("--retrain", run, "--work", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "run" / "predictions.csv").read_bytes() == \
        (SNAPSHOT / "runs" / run / "predictions.csv").read_bytes()
