"""Mini-batches for training and evaluation: the parts of a fold as index tensors, and
uint8 images held on the device, gathered, scaled and normalised as tensors.

The images are decoded once by ``spndl prepare``; here they are resized once to the
run's size and stay uint8 on the device for the whole run, so a batch costs an index
gather and a few elementwise operations (no DataLoader, no PIL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from spndl.config import Config
from spndl.data.prepared import Prepared, other_subject_references
from spndl.seeding import stream_seed

# torchvision's ImageNet statistics, used for every weight choice so inputs are comparable.
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)



@dataclass
class Part:
    """The tensors of one part (train or test), gathered from the stored images by index."""

    rows: np.ndarray          # manifest rows
    target: torch.Tensor      # long indices into the image tensor
    reference: torch.Tensor | None
    labels: torch.Tensor


def head(part: Part, n: int) -> Part:
    """The first ``n`` samples of ``part`` (a rehearsal's bounded evaluation, train.max_steps)."""
    ref = None if part.reference is None else part.reference[:n]
    return Part(part.rows[:n], part.target[:n], ref, part.labels[:n])


def n_batches(n: int, batch_size: int) -> int:
    """Batches of one epoch over ``n`` samples: near-equal ones of at most ``batch_size``, so
    that no trailing batch of one is left, which BatchNorm cannot normalise. Each is one
    optimiser step."""
    return math.ceil(n / batch_size)


def run_steps(history: list[dict], batch_size: int, max_steps: int | None = None) -> int:
    """Optimiser steps of the epochs in ``history`` (their selections' batches), each epoch's
    cut to what ``max_steps`` (train.max_steps, a rehearsal's bound) left of the run's."""
    done = 0
    for h in history:
        steps = n_batches(h["selected"], batch_size)
        done += steps if max_steps is None else min(steps, max_steps - done)
    return done


def resize_images(images: np.ndarray, size: int | None) -> torch.Tensor:
    """uint8 (N, 3, S, S) as a tensor, resized once (antialiased) if ``size`` differs."""
    x = torch.from_numpy(images)
    if size is None or size == x.shape[-1]:
        return x
    out = torch.empty((len(x), 3, size, size), dtype=torch.uint8)
    for i in range(0, len(x), 512):
        chunk = F.interpolate(x[i:i + 512].float(), size=(size, size), mode="bilinear", antialias=True)
        out[i:i + 512] = chunk.round().clamp(0, 255).to(torch.uint8)
    return out


class Batches:
    """Gather, normalise and augment mini-batches from uint8 images held on the device."""

    def __init__(self, images: torch.Tensor, device: torch.device, use_reference: bool):
        self.images = images.to(device)
        self.device = device
        self.use_reference = use_reference
        self.mean, self.std = MEAN.to(device), STD.to(device)

    def get(self, part: Part, idx: torch.Tensor):
        def load(ix):
            return (self.images[ix].float() / 255.0)

        t = load(part.target[idx])
        r = load(part.reference[idx]) if self.use_reference and part.reference is not None else None
        return t, r, part.labels[idx]

    def normalise(self, x):
        return None if x is None else (x - self.mean) / self.std


def make_part(data: Prepared, rows: np.ndarray, device, reference_mode: str, cfg: Config, fold: int, name: str,
              pool_rows: np.ndarray | None = None) -> Part:
    """Index tensors of a part. ``pool_rows``: where the other-subject control draws references."""
    m = data.manifest.iloc[rows]
    ref = None
    if reference_mode == "neutral":
        if cfg.data.reference == "other_subject":
            rng = np.random.default_rng(stream_seed(cfg.seed, fold, "pairing") + (name == "test"))
            ref_idx = other_subject_references(data, rows, rng, pool_rows)
        else:
            ref_idx = m["reference_index"].to_numpy()
        ref = torch.tensor(np.array(ref_idx), dtype=torch.long, device=device)
    return Part(rows, torch.tensor(m["target_index"].to_numpy(copy=True), dtype=torch.long, device=device), ref,
                torch.tensor(m["label"].to_numpy(copy=True), dtype=torch.long, device=device))


def build_parts(data: Prepared, train_rows: np.ndarray, test_rows: np.ndarray, device: torch.device,
                reference_mode: str, cfg: Config, fold_key: int) -> tuple[Batches, Part, Part]:
    """The run's images on the device and its training and test parts."""
    batches = Batches(resize_images(data.images, cfg.data.size), device, reference_mode == "neutral")
    # The control never feeds test images into training; a test target may borrow any other
    # subject's neutral frame, since a test fold can hold a single subject.
    train_part = make_part(data, train_rows, device, reference_mode, cfg, fold_key, "train")
    test_part = make_part(data, test_rows, device, reference_mode, cfg, fold_key, "test",
                          pool_rows=np.arange(len(data.manifest)))
    return batches, train_part, test_part
