"""The three pace scorers (spl.scorer, spndl.training.scoring) on a model with BatchNorm."""

import numpy as np
import pandas as pd
import pytest
import torch

from spndl.config import ConfigError, load_config
from spndl.data.prepared import load_prepared
from spndl.evaluation import predict
from spndl.training.scoring import score
from spndl.training.train import set_up, train

FAST = ["data.size=32", "train.epochs=4", "train.batch_size=16", "spl.step=0.25", "spl.paces=3"]


def _job(prepared, variant="spndl", *extra):
    _, data = prepared["ckplus"]
    cfg = load_config([], [*FAST, *extra])
    return set_up(load_prepared(data), variant, 0, cfg, torch.device("cpu")), cfg


def _stats(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_eval_is_the_test_sets_view_and_leaves_the_model_alone(prepared):
    job, cfg = _job(prepared)
    before = _stats(job.model)
    losses = score(job.model, job.batches, job.train_part, "eval", 1, 16, 256, False)
    expected = predict(job.model, job.batches, job.train_part, 256, False)[0].numpy()
    assert np.array_equal(losses, expected) and _same(before, _stats(job.model))


def test_batch_scoring_normalises_by_the_batch_and_keeps_the_running_statistics(prepared):
    job, _ = _job(prepared)
    before = _stats(job.model)
    a = score(job.model, job.batches, job.train_part, "batch", 1, 16, 256, False)
    assert _same(before, _stats(job.model))  # the test evaluation that follows sees the same model
    # Not the eval-mode losses: a fresh model's running statistics are 0 and 1, its batches' are not.
    assert not np.allclose(a, score(job.model, job.batches, job.train_part, "eval", 1, 16, 256, False))
    # Its batches come in the seeded order: the same seed, the same losses; another, other batches.
    assert np.array_equal(a, score(job.model, job.batches, job.train_part, "batch", 1, 16, 256, False))
    assert not np.array_equal(a, score(job.model, job.batches, job.train_part, "batch", 2, 16, 256, False))
    assert len(a) == len(job.train_labels) and np.isfinite(a).all()


def test_refresh_bn_sets_the_running_statistics_to_the_training_parts(prepared):
    job, _ = _job(prepared)
    bn1 = job.model.backbone.bn1
    seen = []
    hook = job.model.backbone.conv1.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    # One batch of the whole part: the refreshed mean is that batch's channel mean (target and
    # reference in one batch, eqs. 4-6).
    n = len(job.train_labels)
    score(job.model, job.batches, job.train_part, "refresh_bn", 1, n, 256, False)
    hook.remove()
    conv_out = seen[0]
    assert conv_out.shape[0] == 2 * n
    assert torch.allclose(bn1.running_mean, conv_out.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn1.running_var, conv_out.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
    assert bn1.momentum == 0.1  # the training steps' momentum is back


def test_an_unknown_scorer_is_refused_by_name(prepared):
    job, _ = _job(prepared)
    with pytest.raises(ValueError, match="spl.scorer: 'median' is invalid; expected one of eval, refresh_bn, batch"):
        score(job.model, job.batches, job.train_part, "median", 1, 16, 256, False)
    with pytest.raises(ConfigError, match="spl.scorer: 'median' is invalid"):
        load_config([], ["spl.scorer=median"])


def test_runs_with_the_other_scorers_select_otherwise_repeatably_and_record_it(prepared, tmp_path):
    _, data = prepared["ckplus"]
    assert load_config([], FAST).spl.scorer == "eval"  # the paper's letter stays the default
    runs = {"eval": "eval", "refresh_bn": "refresh_bn", "batch": "batch", "batch-again": "batch"}
    metrics = {k: train(data, "spndl", 1, tmp_path / k, load_config([], [*FAST, f"spl.scorer={s}"]), log=lambda _: None)
               for k, s in runs.items()}
    sel = {k: pd.read_csv(tmp_path / k / "spl_selection.csv") for k in runs}
    for k in ("refresh_bn", "batch"):
        assert not np.allclose(sel["eval"]["loss"], sel[k]["loss"])
        assert (tmp_path / k / "config.yaml").read_text().count(f"scorer: {k}") == 1
    # Seeded: the same settings, the same selection and numbers.
    assert sel["batch"].equals(sel["batch-again"])
    assert metrics["batch"]["accuracy"] == metrics["batch-again"]["accuracy"]
