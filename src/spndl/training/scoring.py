"""The losses that choose a pace's samples: l_{k,i} of eqs. 10-12 under "the current model".

The paper says no more than that, and with BatchNorm "the current model" has two faces:
training mode normalises by the batch, evaluation mode by running statistics that lag the
weights (momentum 0.1: one warm-up epoch at the paper's batch of 128 is 7-8 optimiser steps
on a CK+ fold (about 883 training pairs) and 11 on an Oulu-CASIA fold (1296), after which
31-48 % of the statistics (0.9^11 to 0.9^7) are still the initial weights'). ``spl.scorer``
picks one (docs/method.md, "What scores a pace", gives the measurement behind the default):

- ``eval``: evaluation mode with the running statistics as they are (the paper's letter,
  and the test set's view of the model).
- ``refresh_bn``: the running statistics first re-estimated over the whole training part
  (an equal-weight average over its batches, PyTorch's ``momentum=None``), then evaluation
  mode. The refreshed statistics stay: they are also what the next test evaluation uses.
- ``batch``: training-mode BatchNorm, each loss normalised by the statistics of its scoring
  batch, as in a training step; the running statistics are left as they were.

``refresh_bn`` and ``batch`` see the training part in a seeded random order in batches of
``train.batch_size``: batches in manifest order would hold one subject or one class each,
and their statistics would then carry the label. Target and reference stay in one batch,
so BatchNorm normalises them jointly (eqs. 4-6) in every scorer.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spndl.batching import Batches, Part, n_batches
from spndl.evaluation import autocast, predict
from spndl.spl import SCORERS


def _norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _batched(order: torch.Tensor, batch_size: int, device: torch.device):
    yield from torch.tensor_split(order.to(device), n_batches(len(order), batch_size))


@contextlib.contextmanager
def _kept_statistics(model: nn.Module):
    """Training-mode BatchNorm without a trace: the running statistics come back as they were."""
    saved = [(m, {k: v.clone() for k, v in m.named_buffers(recurse=False)}) for m in _norms(model)]
    try:
        yield
    finally:
        for m, bufs in saved:
            for k, v in bufs.items():
                getattr(m, k).copy_(v)


@torch.no_grad()
def refresh_statistics(model: nn.Module, batches: Batches, part: Part, order: torch.Tensor,
                       batch_size: int, amp: bool) -> None:
    """Re-estimate every BatchNorm's running mean and variance over ``part`` (in ``order``)."""
    norms = _norms(model)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every batch counts the same
    model.train()
    try:
        for idx in _batched(order, batch_size, batches.device):
            t, r, _ = batches.get(part, idx)
            with autocast(batches.device, amp):
                model.features(batches.normalise(t), batches.normalise(r))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


@torch.no_grad()
def _batch_mode_losses(model: nn.Module, batches: Batches, part: Part, order: torch.Tensor,
                       batch_size: int, amp: bool) -> torch.Tensor:
    losses = torch.empty(len(order))
    model.train()
    with _kept_statistics(model):
        for idx in _batched(order, batch_size, batches.device):
            t, r, y = batches.get(part, idx)
            with autocast(batches.device, amp):
                logits = model(batches.normalise(t), batches.normalise(r))
            losses[idx.cpu()] = F.cross_entropy(logits.float(), y, reduction="none").cpu()
    return losses


def score(model: nn.Module, batches: Batches, part: Part, scorer: str, seed: int, batch_size: int,
          eval_batch_size: int, amp: bool) -> np.ndarray:
    """Each sample's loss under the current model, by ``scorer``; ``seed`` orders the batches
    of ``refresh_bn`` and ``batch`` (train.py passes a stream of the run's seed, fold and pace)."""
    if scorer not in SCORERS:
        raise ValueError(f"spl.scorer: {scorer!r} is invalid; expected one of {', '.join(SCORERS)}")
    n = len(part.labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if scorer == "batch":
        return _batch_mode_losses(model, batches, part, order, batch_size, amp).numpy()
    if scorer == "refresh_bn":
        refresh_statistics(model, batches, part, order, batch_size, amp)
    return predict(model, batches, part, eval_batch_size, amp)[0].numpy()
