"""The cross-host check: the tiny configuration's training of one variant per reference mode
must give exactly the numbers stored in tests/golden/cpu.json, on whatever x86-64 host runs
it (CI runs on different hosts over time). The default CPU numerics (spndl.runtime.numerics, avx2)
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

from spndl.runtime.numerics import NumericsError, check_isa, environment, host_flags, host_model

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


@pytest.mark.slow
@pytest.mark.skipif(_supported() is not None, reason=f"no AVX2: {_supported()}")
def test_the_tiny_training_gives_the_stored_numbers_on_this_host(prepared, tmp_path):
    golden = json.loads(GOLDEN.read_text())
    here = record(prepared["ckplus"][1], tmp_path)
    where = (f"on {host_model()} "
             f"(flags: {' '.join(sorted(f for f in host_flags() if f.startswith(('avx', 'fma', 'amx'))))})")
    # The data first: a difference there is synth's or prepare's, not training's.
    assert here["data_checksum"] == golden["data_checksum"], (
        f"the tiny synthetic CK+ prepared {where} differs from the golden data: synth or prepare "
        "is not host-independent")
    for v in VARIANTS:
        assert here["runs"][v] == golden["runs"][v], f"{v} {where} differs from tests/golden/cpu.json"


# The shortened golden, for emulated processors (QEMU's user mode runs a tiny epoch about
# 200 times slower): one training step of every variant, then its logits on a few test
# samples in eval mode (and SPL's scores of a few training samples), so that each variant's
# forward pass, backward pass and Adam step are covered, to the last bit.
STEPS = Path(__file__).parent / "golden" / "steps.json"
STEP_SETTINGS = ["train.batch_size=8", "seed=0"]


def _sha(t) -> str:
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()


def steps_record(prepared: Path) -> dict:
    """Each variant's numbers after one training step on CK+ fold 0, in this process (which
    must have been started under the default's numerics: see the top of this file)."""
    import torch
    import torch.nn.functional as F

    from spndl.config import load_config
    from spndl.data.prepared import load_prepared
    from spndl.runtime.numerics import apply, describe
    from spndl.training.train import set_up, train_epoch
    from spndl.variants import VARIANTS as ALL

    got = apply("avx2", 1)
    data = load_prepared(prepared)
    out = {"data_checksum": data.checksum, "runs": {}}
    for v in ALL:
        cfg = load_config([], STEP_SETTINGS)
        job = set_up(data, v, 0, cfg, torch.device("cpu"))
        perm = torch.randperm(len(job.train_labels), generator=job.g_order)[:cfg.train.batch_size]
        loss_sum, correct = train_epoch(job.model, job.opt, job.batches, job.train_part, perm, cfg, job.g_aug)
        params = hashlib.sha256()
        for name, t in job.model.state_dict().items():
            params.update(name.encode() + t.contiguous().numpy().tobytes())
        job.model.eval()
        rec = {"train_loss_sum": float(loss_sum).hex(), "correct": correct, "parameters_sha256": params.hexdigest()}
        parts = {"test_logits_sha256": job.test_part}
        if ALL[v][1]:  # SPL's scores (eq. 10) of training samples, as a pace's selection computes them
            parts["spl_scores_sha256"] = job.train_part
        with torch.no_grad():
            for key, part in parts.items():
                t, r, y = job.batches.get(part, torch.arange(4))
                logits = job.model(job.batches.normalise(t), job.batches.normalise(r))
                rec[key] = _sha(F.cross_entropy(logits, y, reduction="none") if key.startswith("spl") else logits)
        out["runs"][v] = rec
    out["numerics"] = describe("avx2", {**got, "adam": "fused"})
    return out


def _prepare_tiny(tmp: Path) -> Path:
    from spndl.data.prepare import prepare
    from spndl.synth import generate

    root = generate(tmp / "synth" / "tiny", seed=0, size="tiny")  # the same data as conftest's fixtures
    prepare("ckplus", root / "ckplus", tmp / "prepared" / "ckplus", size=32)
    return tmp / "prepared" / "ckplus"


@pytest.mark.skipif(_supported() is not None, reason=f"no AVX2: {_supported()}")
def test_two_steps_of_every_variant_give_the_stored_bits_on_this_host(prepared):
    """The shortened golden, here; under QEMU: ``python tests/test_golden.py --check-steps DATA``."""
    r = subprocess.run([sys.executable, __file__, "--steps-json", str(prepared["ckplus"][1])],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    here, golden = json.loads(r.stdout.strip().splitlines()[-1]), json.loads(STEPS.read_text())
    assert here["data_checksum"] == golden["data_checksum"]
    for v, want in golden["runs"].items():
        assert here["runs"][v] == want, f"{v} on {host_model()} differs from tests/golden/steps.json"


USAGE = """usage: python tests/test_golden.py --write            rewrite tests/golden/cpu.json and steps.json
       python tests/test_golden.py --write-steps      rewrite tests/golden/steps.json only
       python tests/test_golden.py --prepare DIR      write the tiny prepared CK+ into DIR (for --check-steps)
       python tests/test_golden.py --check-steps DATA compare two steps of every variant with steps.json
       python tests/test_golden.py --steps-json DATA  print them as JSON"""

if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--write"]:
        with tempfile.TemporaryDirectory() as tmp:
            data = _prepare_tiny(Path(tmp))
            rec = record(data, Path(tmp) / "runs")
            steps = steps_record(data)
        rec["written_on"] = steps["written_on"] = host_model()
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(rec, indent=2) + "\n")
        STEPS.write_text(json.dumps(steps, indent=2) + "\n")
        print(f"wrote {GOLDEN} and {STEPS}")
    elif args == ["--write-steps"]:
        with tempfile.TemporaryDirectory() as tmp:
            steps = steps_record(_prepare_tiny(Path(tmp)))
        steps["written_on"] = host_model()
        STEPS.write_text(json.dumps(steps, indent=2) + "\n")
        print(f"wrote {STEPS}")
    elif len(args) == 2 and args[0] == "--prepare":
        print(_prepare_tiny(Path(args[1])))
    elif len(args) == 2 and args[0] == "--steps-json":
        print(json.dumps(steps_record(Path(args[1]))))
    elif len(args) == 2 and args[0] == "--check-steps":
        golden, here = json.loads(STEPS.read_text()), steps_record(Path(args[1]))
        bad = [v for v in golden["runs"] if here["runs"].get(v) != golden["runs"][v]]
        if here["data_checksum"] != golden["data_checksum"]:
            bad.insert(0, "the prepared data")
        import numpy as np
        import torch

        from spndl.runtime import _sgemm

        # CPUID's view, which an emulator changes (its /proc/cpuinfo may still be the host's).
        features = np._core._multiarray_umath.__cpu_features__
        flags = " ".join(f for f in ("AVX2", "FMA3", "AVX512F", "AVX512_SKX") if features.get(f))
        print(f"CPUID: {_sgemm.cpu_brand()} (numpy sees {flags}; ATen {torch.backends.cpu.get_cpu_capability()}): "
              + (f"DIFFERS: {', '.join(bad)}" if bad else
              f"all {len(golden['runs'])} variants identical to tests/golden/steps.json"))
        sys.exit(1 if bad else 0)
    else:
        sys.exit(USAGE)
