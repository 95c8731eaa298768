"""Batch augmentation on tensors (section 4.2): a random horizontal flip or Gaussian noise,
the same operation applied to a target and its reference.

Runs on whatever device the batch is on. Every call draws the same amount of
randomness whatever is chosen, so the stream stays aligned across resumes.
"""

from __future__ import annotations

import torch

from spndl.config import AugmentConfig


def augment_pair(target: torch.Tensor, reference: torch.Tensor | None, cfg: AugmentConfig,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Augment float images (B, 3, H, W); each pair gets one operation or none."""
    b, dev = target.shape[0], target.device
    if not cfg.ops or cfg.prob <= 0:
        return target, reference
    apply = torch.rand(b, generator=gen, device=dev) < cfg.prob
    op = torch.randint(len(cfg.ops), (b,), generator=gen, device=dev)
    noise = torch.randn(target.shape, generator=gen, device=dev, dtype=target.dtype) * cfg.noise_std
    flip = (apply & (op == cfg.ops.index("flip")) if "flip" in cfg.ops else torch.zeros_like(apply))
    add = (apply & (op == cfg.ops.index("noise")) if "noise" in cfg.ops else torch.zeros_like(apply))
    flip, add = flip.view(-1, 1, 1, 1), add.view(-1, 1, 1, 1).to(target.dtype)

    def one(x):
        return torch.where(flip, x.flip(-1), x) + noise * add

    return one(target), (one(reference) if reference is not None else None)
