"""Class-wise self-paced sample selection (eqs. 9-12, section 3.4 and 4.4).

With the model fixed, eq. 9 is minimised by v_{k,i} = 1 iff l_{k,i} < lambda_k
(eq. 12). The paper sets each lambda_k so that a scheduled *fraction* of
class k is kept: 50% at pace 1, 10% more at each later pace, all samples at
the last (6 paces). Choosing lambda_k this way is the same as keeping the
lowest-loss samples of each class.

Rounding: class k keeps ceil(fraction * n_k) samples, so no class with
samples is ever left empty and the last pace keeps everything. Ties in loss
are broken by a seeded random key per sample (never by manifest order, which
would keep whole subjects or file-name ranges out), so the selection is
deterministic and unbiased.

Two choices the paper leaves open (docs/method.md, "Deviations from the paper"):

- ``warmup_epochs`` (default 1): epochs on all training samples before pace 1
  is scored. Scoring with the initial weights would select by a random
  classifier head (even over ImageNet features), and for the variants without
  neutral images f(x) - f'(x) starts exactly zero, so every loss in a class ties.
  0 keeps the paper's letter. Warm-up epochs are pace 0 in history.csv.
- ``pace_epochs``: the epochs of each pace; empty divides the epochs after the
  warm-up equally (earlier paces take the remainder), a list gives them as they
  are (e.g. a last pace of one epoch, to match Fig. 6's reading that all
  RAF-DB samples are in at epoch 150 of 150).
- ``scorer`` (default eval): which face of a BatchNorm model scores the samples
  (spndl.training.scoring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCORERS = ("eval", "refresh_bn", "batch")  # spl.scorer: how a pace is scored (spndl.training.scoring)


@dataclass
class SPLSchedule:
    start: float = 0.5   # fraction of each class at pace 1 (section 3.4)
    step: float = 0.1    # added at each later pace
    paces: int = 6       # 0.5, 0.6, ..., 1.0
    warmup_epochs: int = 1             # epochs on all samples before pace 1 is scored (module docstring)
    pace_epochs: tuple[int, ...] = ()  # epochs of each pace; empty: the rest divided equally
    scorer: str = "eval"               # how the current model scores a pace (spndl.training.scoring)

    def __post_init__(self):
        # Each setting is named, since the config checks report these messages as they are.
        if not 0 < self.start <= 1:
            raise ValueError(f"spl.start: {self.start!r} is invalid; expected a fraction in (0, 1]")
        if not (self.step >= 0 and math.isfinite(self.step)):
            raise ValueError(f"spl.step: {self.step!r} is invalid; expected a finite number >= 0")
        if self.paces < 1:
            raise ValueError(f"spl.paces: {self.paces!r} is invalid; expected an integer >= 1")
        if self.warmup_epochs < 0:
            raise ValueError(f"spl.warmup_epochs: {self.warmup_epochs!r} is invalid; expected an integer >= 0")
        self.pace_epochs = tuple(self.pace_epochs)
        if self.pace_epochs and (len(self.pace_epochs) != self.paces or min(self.pace_epochs) < 1):
            raise ValueError(f"spl.pace_epochs: {list(self.pace_epochs)} is invalid; expected {self.paces} "
                             "integers >= 1 (one per pace), or [] for an equal split")
        if self.scorer not in SCORERS:
            raise ValueError(f"spl.scorer: {self.scorer!r} is invalid; expected one of {', '.join(SCORERS)}")
        if self.fraction(self.paces) < 1.0:
            raise ValueError(f"spl: the schedule {self} never reaches all samples: the last pace keeps "
                             f"{self.fraction(self.paces):.2f}")

    def fraction(self, pace: int) -> float:
        """Fraction kept at ``pace`` (1-based); rounded to 1e-9 so 0.5 + 5 * 0.1 is exactly 1."""
        return min(1.0, round(self.start + self.step * (pace - 1), 9))


def n_keep(fraction: float, n: int) -> int:
    return min(n, math.ceil(round(fraction * n, 9)))


def select_easy(losses: np.ndarray, labels: np.ndarray, fraction: float,
                tie_keys: np.ndarray | None = None) -> tuple[np.ndarray, dict[int, float]]:
    """Boolean mask of the ceil(fraction * n_k) lowest-loss samples of every class k,
    and each class's threshold lambda_k (the largest kept loss). Equal losses are ordered
    by ``tie_keys`` (training passes seeded random keys); without them, by position."""
    losses, labels = np.asarray(losses, float), np.asarray(labels)
    ties = np.arange(len(losses)) if tie_keys is None else np.asarray(tie_keys)
    keep = np.zeros(len(losses), bool)
    lambdas = {}
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        m = n_keep(fraction, len(idx))
        order = idx[np.lexsort((ties[idx], losses[idx]))]  # by loss, then by tie key
        keep[order[:m]] = True
        lambdas[int(k)] = float(losses[order[m - 1]]) if m else -math.inf
    return keep, lambdas


def epochs_per_pace(epochs: int, paces: int, warmup: int = 0) -> list[int]:
    """Divide the epochs among the paces as evenly as possible; earlier paces take the remainder."""
    if epochs < paces:
        after = f" after {warmup} warm-up epoch(s)" if warmup else ""
        raise ValueError(f"{epochs} epochs{after} cannot be divided among {paces} SPL paces (one epoch each at least)")
    base, extra = divmod(epochs, paces)
    return [base + (p < extra) for p in range(paces)]


def epoch_plan(epochs: int, schedule: SPLSchedule) -> list[int]:
    """The pace of every epoch: 0 for the warm-up, then 1..paces, by ``pace_epochs`` or an
    equal split of the rest; a ValueError when the epochs do not cover the plan."""
    rest = epochs - schedule.warmup_epochs
    if schedule.pace_epochs:
        if sum(schedule.pace_epochs) != rest:
            raise ValueError(f"spl.pace_epochs {list(schedule.pace_epochs)} add up to {sum(schedule.pace_epochs)} "
                             f"epochs, but {epochs} epochs less {schedule.warmup_epochs} of warm-up leave {rest}")
        per_pace = list(schedule.pace_epochs)
    else:
        per_pace = epochs_per_pace(rest, schedule.paces, schedule.warmup_epochs)
    return [0] * schedule.warmup_epochs + [p + 1 for p, n in enumerate(per_pace) for _ in range(n)]
