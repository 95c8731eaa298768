import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from spndl.config import ConfigError, load_config
from spndl.data.records import DataError
from spndl.inference.features import export_features
from spndl.training.train import RunError, train
from spndl.training.runlock import LOCK

FAST = ["data.size=32", "train.epochs=4", "train.batch_size=16", "spl.step=0.25", "spl.paces=3"]


def _cfg(*extra):
    return load_config([], [*FAST, *extra])


def _quiet(_):
    pass


def _metrics(run):
    return json.loads((run / "metrics.json").read_text())


def _history(run):
    return pd.read_csv(run / "history.csv").drop(columns="seconds")


def test_run_folder_holds_every_record(prepared, tmp_path):
    _, data = prepared["ckplus"]
    run = tmp_path / "run"
    m = train(data, "spndl", 1, run, _cfg(), log=_quiet)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    info = json.loads((data / "dataset.json").read_text())
    assert cfg["data_checksum"] == info["checksum"] and cfg["config"]["train"]["epochs"] == 4
    assert cfg["code"]["source_sha256"] and cfg["synthetic"] is True
    assert 0 <= m["accuracy"] <= 1 and m["n_test"] == len(pd.read_csv(run / "predictions.csv"))
    h = pd.read_csv(run / "history.csv")
    # One warm-up epoch on all samples (pace 0, nothing scored), then a pace per epoch.
    assert h["epoch"].tolist() == [1, 2, 3, 4] and h["pace"].tolist() == [0, 1, 2, 3]
    assert h["selected"].iloc[0] == len(pd.read_csv(data / "manifest.csv").query("fold != 1"))
    assert np.isclose(h["test_accuracy"].iloc[-1], m["accuracy"])
    # The optimiser steps: near-equal batches of at most 16 over each epoch's selected samples.
    assert m["steps"] == sum(math.ceil(n / 16) for n in h["selected"]) and m["seed"] == 0
    sel = pd.read_csv(run / "spl_selection.csv")
    manifest = pd.read_csv(data / "manifest.csv")
    train_part = manifest[manifest["fold"] != 1]
    assert len(sel) == 3 * len(train_part)
    for pace, frac in ((1, 0.5), (2, 0.75), (3, 1.0)):
        p = sel[sel["pace"] == pace]
        for _label, rows in p.groupby("label"):
            assert rows["selected"].sum() == math.ceil(frac * len(rows))
            if not rows["selected"].all():
                assert rows[rows["selected"]]["loss"].max() <= rows[~rows["selected"]]["loss"].min()
        assert h.loc[h["pace"] == pace, "selected"].iloc[0] == p["selected"].sum()
    preds = pd.read_csv(run / "predictions.csv")
    probs = preds[[c for c in preds.columns if c.startswith("prob_")]].to_numpy()
    assert probs.shape[1] == 7 and np.allclose(probs.sum(1), 1, atol=1e-5)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "epoch", "pace", "rng"} <= set(ck) and ck["epoch"] == 4
    assert ck["optimizer"] is None  # a finished run keeps no optimizer state


@pytest.mark.slow
def test_same_seed_same_numbers_and_another_seed_differs(prepared, tmp_path):
    _, data = prepared["ckplus"]
    a = train(data, "ndf", 0, tmp_path / "a", _cfg(), log=_quiet)
    b = train(data, "ndf", 0, tmp_path / "b", _cfg(), log=_quiet)
    assert a == b
    pd.testing.assert_frame_equal(_history(tmp_path / "a"), _history(tmp_path / "b"))
    train(data, "ndf", 0, tmp_path / "c", _cfg("seed=1"), log=_quiet)
    assert not _history(tmp_path / "a").equals(_history(tmp_path / "c"))


@pytest.mark.slow
@pytest.mark.parametrize("variant, stop", [("spndl", 1), ("spndl_wo_neutral", 2)])
def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(prepared, tmp_path, variant, stop):
    _, data = prepared["ckplus"]
    full = train(data, variant, 2, tmp_path / "full", _cfg(), log=_quiet)

    def interrupt(epoch):
        if epoch == stop:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a checkpoint every epoch: the cut run has one of epoch `stop`
        train(data, variant, 2, tmp_path / "cut", _cfg("train.checkpoint_every_s=0"), on_epoch_end=interrupt,
              log=_quiet)
    assert not (tmp_path / "cut/metrics.json").exists()
    assert torch.load(tmp_path / "cut/checkpoint.pt", weights_only=True)["epoch"] == stop
    lines = []
    resumed = train(data, variant, 2, tmp_path / "cut", _cfg(), log=lines.append)
    assert lines[0].startswith("resuming") and f"epoch {stop + 1}" in lines[0]
    assert resumed == full
    pd.testing.assert_frame_equal(_history(tmp_path / "cut"), _history(tmp_path / "full"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cut/spl_selection.csv"),
                                  pd.read_csv(tmp_path / "full/spl_selection.csv"))


def test_resume_refuses_a_checkpoint_of_other_settings_unless_told_to_restart(prepared, tmp_path):
    _, data = prepared["ckplus"]
    train(data, "baseline", 0, tmp_path / "r", _cfg("train.epochs=1"), log=_quiet)
    with pytest.raises(RunError, match="other settings"):
        train(data, "baseline", 0, tmp_path / "r", _cfg("train.epochs=2"), log=_quiet)
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file() and p.name != LOCK}
    lines = []
    m = train(data, "baseline", 0, tmp_path / "r", _cfg("train.epochs=2"), log=lines.append, restart_on_change=True)
    assert "starting over" in lines[0] and m["epochs"] == 2
    # Said what changed, and kept the old run's files, never removed them.
    assert "config.train.epochs: 1 -> 2" in lines[0] and "superseded/1" in lines[0]
    kept = tmp_path / "r/superseded/1"
    assert {p.name: p.read_bytes() for p in kept.iterdir() if p.is_file()} == before
    assert m == train(data, "baseline", 0, tmp_path / "fresh", _cfg("train.epochs=2"), log=_quiet)


def test_rafdb_runs_without_neutral_and_refuses_the_neutral_variants(prepared, tmp_path):
    _, data = prepared["rafdb"]
    m = train(data, "ndf_wo_neutral", None, tmp_path / "raf", _cfg("train.epochs=1"), log=_quiet)
    assert m["n_test"] == (pd.read_csv(data / "manifest.csv")["split"] == "test").sum()
    with pytest.raises(DataError, match="needs a neutral reference"):
        train(data, "ndf", None, tmp_path / "x", _cfg(), log=_quiet)
    with pytest.raises(DataError, match="official train/test split"):
        train(data, "baseline", 3, tmp_path / "y", _cfg(), log=_quiet)


def test_other_subject_control_pairs_no_target_with_its_own_subject(prepared):
    from spndl.data.prepared import load_prepared, other_subject_references

    _, path = prepared["ckplus"]
    data = load_prepared(path)
    rows = np.arange(len(data.manifest))
    refs = other_subject_references(data, rows, np.random.default_rng(0))
    subject_of_ref = dict(zip(data.manifest["reference_index"], data.manifest["subject"]))
    assert all(subject_of_ref[r] != s for r, s in zip(refs, data.manifest["subject"]))


@pytest.mark.slow
def test_features_export_gives_the_ndf_of_each_training_sample(prepared, tmp_path):
    _, data = prepared["oulu"]
    train(data, "spndl", 0, tmp_path / "run", _cfg("train.pace_checkpoints=true"), log=_quiet)
    assert sorted(p.name for p in (tmp_path / "run/paces").iterdir()) == ["pace1.pt", "pace2.pt", "pace3.pt"]
    export_features(tmp_path / "run/paces/pace2.pt", data, tmp_path / "f.npz")
    f = np.load(tmp_path / "f.npz")
    sel = pd.read_csv(tmp_path / "run/spl_selection.csv")
    p2 = sel[sel["pace"] == 2]
    assert f["features"].shape == (len(p2), 512)
    assert f["sample_id"].tolist() == p2["sample_id"].tolist()
    # The pace-2 snapshot is the model that scored pace 2: same losses as the selection file.
    np.testing.assert_allclose(f["loss"], p2["loss"].to_numpy(), rtol=1e-4, atol=1e-5)


def test_pace_one_is_scored_after_the_warm_up_not_by_an_untrained_pair_of_networks(prepared, tmp_path):
    """Without the warm-up, f(x) - f'(x) starts exactly zero (f' is a copy of f): every loss of
    a class would tie and pace 1 would be the first half of each class in manifest order."""
    _, data = prepared["ckplus"]
    run = tmp_path / "wo"
    train(data, "spndl_wo_neutral", 0, run, _cfg(), log=_quiet)
    sel = pd.read_csv(run / "spl_selection.csv")
    first = sel[sel["pace"] == 1]
    assert set(sel["pace"]) == {1, 2, 3}  # the warm-up (pace 0) scores nothing
    in_order = []
    for label, rows in first.groupby("label"):
        if len(rows) < 4:
            continue
        assert rows["loss"].nunique() > 1, label
        in_order.append(rows["selected"].tolist() == (np.arange(len(rows)) < math.ceil(0.5 * len(rows))).tolist())
    assert not all(in_order)  # chosen by loss: not the first half of every class in manifest order


@pytest.mark.slow
def test_equal_losses_are_broken_by_seeded_keys_not_manifest_order(prepared, tmp_path):
    _, data = prepared["ckplus"]
    cfg = _cfg("spl.warmup_epochs=0")  # the paper's letter: the untrained pair ties within each class
    train(data, "spndl_wo_neutral", 0, tmp_path / "a", cfg, log=_quiet)
    first = pd.read_csv(tmp_path / "a/spl_selection.csv").query("pace == 1")
    assert (first.groupby("label")["loss"].nunique() == 1).all()  # the ties the warm-up avoids
    orders = [rows["selected"].tolist() for _, rows in first.groupby("label") if len(rows) >= 4]
    assert any(o != sorted(o, reverse=True) for o in orders)  # not the first half of each class
    train(data, "spndl_wo_neutral", 0, tmp_path / "b", cfg, log=_quiet)
    assert first.equals(pd.read_csv(tmp_path / "b/spl_selection.csv").query("pace == 1"))  # and repeatable


def test_fused_adam_is_a_setting_that_reaches_the_optimiser(prepared, tmp_path):
    from spndl.data.prepared import load_prepared
    from spndl.training.train import set_up

    _, data = prepared["ckplus"]
    cpu = torch.device("cpu")
    # null: fused on the CPU under a host-independent cpu_isa, unfused under native.
    default = set_up(load_prepared(data), "baseline", 0, _cfg(), cpu)
    native = set_up(load_prepared(data), "baseline", 0, _cfg("train.cpu_isa=native"), cpu)
    chosen = set_up(load_prepared(data), "baseline", 0, _cfg("train.cpu_isa=native", "train.fused_adam=true"), cpu)
    assert default.opt.defaults["fused"] is True and not native.opt.defaults["fused"]
    assert chosen.opt.defaults["fused"] is True
    m = train(data, "baseline", 0, tmp_path / "f", _cfg("train.epochs=2"), log=_quiet)
    assert 0 <= m["accuracy"] <= 1
    record = yaml.safe_load((tmp_path / "f/config.yaml").read_text())
    assert record["config"]["train"]["fused_adam"] is None and record["cpu_numerics"]["adam"] == "fused"
    assert "fused Adam" in m["numerics"]
    # Unfused Adam under a host-independent cpu_isa would be recorded as host-independent
    # while it is not (spndl.runtime.numerics.adam_fused): refused, naming the run and the way out.
    with pytest.raises(RunError, match="fused_adam=false with train.cpu_isa=avx2.*cpu_isa native"):
        train(data, "baseline", 0, tmp_path / "g", _cfg("train.fused_adam=false"), log=_quiet)
    assert not (tmp_path / "g" / "config.yaml").exists()
    with pytest.raises(ConfigError, match="train.fused_adam"):
        _cfg("train.fused_adam=often")


def test_the_gpu_path_runs_on_the_cpu_channels_last_and_bf16(prepared, tmp_path, monkeypatch):
    """The branches a CUDA run takes (channels_last, bf16 autocast), taken on the CPU where torch
    allows the same calls, so that CI runs their logic: a run trains and scores through them."""
    import torch

    from spndl.data.prepared import load_prepared
    from spndl.evaluation import autocast
    from spndl.runtime import devices
    from spndl.training.train import set_up

    _, data = prepared["ckplus"]
    cpu = torch.device("cpu")
    fp32 = set_up(load_prepared(data), "spndl", 0, _cfg("train.cpu_isa=native"), cpu)
    assert not fp32.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(devices, "GPU_PATH_ON_CPU", True)
    job = set_up(load_prepared(data), "spndl", 0, _cfg("train.cpu_isa=native"), cpu)
    assert job.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    t, r, _ = job.batches.get(job.train_part, torch.arange(4))
    with autocast(cpu, True):
        assert job.model(job.batches.normalise(t), job.batches.normalise(r)).dtype == torch.bfloat16
    with autocast(cpu, False):  # train.amp false: full precision on the GPU path too
        assert job.model(job.batches.normalise(t), job.batches.normalise(r)).dtype == torch.float32
    m = train(data, "spndl", 0, tmp_path / "gpu-path", _cfg("train.cpu_isa=native"), log=_quiet)
    plain = train(data, "spndl", 0, tmp_path / "plain-path", _cfg("train.cpu_isa=native", "train.amp=false"),
                  log=_quiet)
    assert m["epochs"] == plain["epochs"] and 0 <= m["accuracy"] <= 1
    # bf16 forward passes change the numbers: the autocast branch was taken in training and scoring.
    assert pd.read_csv(tmp_path / "gpu-path/history.csv")["train_loss"].tolist() != \
        pd.read_csv(tmp_path / "plain-path/history.csv")["train_loss"].tolist()


def test_the_work_bound_caps_steps_and_evaluation_and_every_table_states_it(prepared, tmp_path):
    """train.max_steps, a rehearsal's bound: the run ends at its Nth optimiser step, scores and
    evaluates at most N evaluation batches, records the bound, and the tables say it is no result."""
    from spndl.report.tables import write_tables

    _, data = prepared["ckplus"]
    # Two steps of 16: the warm-up epoch (81 pairs less a test fold: 5 batches) is cut after two.
    cfg = _cfg("train.max_steps=2", "train.eval_batch_size=8")
    m = train(data, "spndl", 0, tmp_path / "bounded", cfg, log=_quiet)
    assert m["steps"] == 2 and m["epochs"] == 1 and m["max_steps"] == 2 and "not a result" in m["rehearsal"]
    assert m["n_test"] == min(16, train(data, "spndl", 0, tmp_path / "full", _cfg(), log=_quiet)["n_test"])
    assert len(pd.read_csv(tmp_path / "bounded/predictions.csv")) == m["n_test"]
    # Again: nothing to train, the outputs rewritten the same.
    lines = []
    assert train(data, "spndl", 0, tmp_path / "bounded", cfg, log=lines.append) == m
    assert "has run its 2 steps (train.max_steps)" in lines[0]
    # SPL's scoring at a pace start covers the first 7 x 8 training samples only: the rest count as hardest.
    # Seven steps of 16: the warm-up's five, then pace 1's first two.
    wide = _cfg("train.max_steps=7", "train.eval_batch_size=8")
    m = train(data, "spl", 0, tmp_path / "spl", wide, log=_quiet)
    sel = pd.read_csv(tmp_path / "spl/spl_selection.csv")
    assert m["steps"] == 7 and m["epochs"] == 2 and (sel["pace"] == 1).any()
    first = sel[sel["pace"] == sel["pace"].min()]
    assert np.isfinite(first["loss"]).sum() == 56 and np.isinf(first["loss"]).sum() == len(first) - 56
    tables = write_tables([tmp_path / "bounded", tmp_path / "full"], tmp_path / "tables")
    bound = "REHEARSAL, NOT A RESULT: at most 2 optimiser step(s) per run (train.max_steps), and as many evaluation"
    assert bound in (tmp_path / "tables/table1.md").read_text()
    assert "max_steps" in pd.read_csv(tmp_path / "tables/per_fold.csv").columns and len(tables["table1"])
    write_tables([tmp_path / "full"], tmp_path / "real")
    assert "REHEARSAL" not in (tmp_path / "real/table1.md").read_text()
    assert "max_steps" not in pd.read_csv(tmp_path / "real/per_fold.csv").columns
