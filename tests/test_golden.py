"""The cross-host check: the tiny configuration's training of one variant per reference mode
must give exactly the numbers stored in tests/golden/cpu.json, on whatever x86-64 host runs
it (CI runs on different hosts over time). The default CPU numerics (spndl.numerics, avx2)
are what make that possible; a host without AVX2 cannot run them and skips.

Regenerate the stored numbers (after a change that is meant to change them) with
``python tests/test_golden.py --write``, and say why in the commit.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from spndl.numerics import NumericsError, check_isa, environment, host_flags, host_model

if __name__ == "__main__":  # the numerics of the default, before numpy and OpenCV start
    os.environ.update(environment("avx2", 1))

import pytest  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "cpu.json"
# One variant per reference mode (none, neutral, learned), CK+ fold 0, a few epochs.
VARIANTS = ("baseline", "ndf", "ndf_wo_neutral")
SETTINGS = ["train.epochs=3", "train.batch_size=16", "seed=0"]
METRICS = ("accuracy", "n_test", "n_train", "steps", "per_class_accuracy", "confusion_matrix", "best_epoch",
           "best_epoch_test_accuracy")


def train_cli(prepared: Path, variant: str, out: Path, *sets: str) -> subprocess.CompletedProcess:
    """``spndl train`` in its own process, started as a user starts it (spndl.launch)."""
    args = [sys.executable, "-m", "spndl", "train", "--data", str(prepared), "--variant", variant, "--fold", "0",
            "--out", str(out)]
    for s in (*SETTINGS, *sets):
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=900)


def record(prepared: Path, work: Path) -> dict:
    """The numbers the golden file holds, computed here."""
    out = {"data_checksum": None, "runs": {}}
    for v in VARIANTS:
        r = train_cli(prepared, v, work / v)
        if r.returncode:
            raise RuntimeError(f"spndl train {v} failed:\n{r.stderr}")
        m = json.loads((work / v / "metrics.json").read_text())
        out["data_checksum"] = m["data_checksum"]
        # Each epoch's training loss, to the last bit: where a host differs, the first epoch
        # that differs says how early (the first step's numbers, or an amplified last bit).
        with open(work / v / "history.csv", newline="") as f:
            losses = [float(row["train_loss"]) for row in csv.DictReader(f)]
        out["runs"][v] = {**{k: m[k] for k in METRICS}, "train_loss_by_epoch": losses,
                          "predictions_sha256": hashlib.sha256((work / v / "predictions.csv").read_bytes()).hexdigest()}
    return out


def _supported() -> str | None:
    try:
        check_isa("avx2")
    except NumericsError as e:
        return str(e)
    return None


@pytest.mark.skipif(_supported() is not None, reason=f"no AVX2: {_supported()}")
def test_the_tiny_training_gives_the_stored_numbers_on_this_host(prepared, tmp_path):
    golden = json.loads(GOLDEN.read_text())
    here = record(prepared["ckplus"][1], tmp_path)
    where = f"on {host_model()} (flags: {' '.join(sorted(f for f in host_flags() if f.startswith(('avx', 'fma', 'amx'))))})"
    # The data first: a difference there is synth's or prepare's, not training's.
    assert here["data_checksum"] == golden["data_checksum"], (
        f"the tiny synthetic CK+ prepared {where} differs from the golden data: synth or prepare "
        "is not host-independent")
    for v in VARIANTS:
        assert here["runs"][v] == golden["runs"][v], f"{v} {where} differs from tests/golden/cpu.json"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write  (rewrites tests/golden/cpu.json)")
    from spndl.data.prepare import prepare
    from spndl.synth import generate

    with tempfile.TemporaryDirectory() as tmp:  # the same data as conftest's fixtures
        root = generate(Path(tmp) / "synth" / "tiny", seed=0, size="tiny")
        prepare("ckplus", root / "ckplus", Path(tmp) / "prepared" / "ckplus", size=32)
        rec = record(Path(tmp) / "prepared" / "ckplus", Path(tmp) / "runs")
    rec["written_on"] = host_model()
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"wrote {GOLDEN}")
