"""Class-wise self-paced sample selection (eqs. 9-12, section 3.4 and 4.4).

With the model fixed, eq. 9 is minimised by v_{k,i} = 1 iff l_{k,i} < lambda_k
(eq. 12). The paper sets each lambda_k so that a scheduled *fraction* of
class k is kept: 50% at pace 1, 10% more at each later pace, all samples at
the last (6 paces). Choosing lambda_k this way is the same as keeping the
lowest-loss samples of each class.

Rounding: class k keeps ceil(fraction * n_k) samples, so no class with
samples is ever left empty and the last pace keeps everything. Ties in loss
are broken by sample order, so the selection is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class SPLSchedule:
    start: float = 0.5   # fraction of each class at pace 1 (section 3.4)
    step: float = 0.1    # added at each later pace
    paces: int = 6       # 0.5, 0.6, ..., 1.0

    def __post_init__(self):
        # Each setting is named, since the config checks report these messages as they are.
        if not 0 < self.start <= 1:
            raise ValueError(f"spl.start: {self.start!r} is invalid; expected a fraction in (0, 1]")
        if not (self.step >= 0 and math.isfinite(self.step)):
            raise ValueError(f"spl.step: {self.step!r} is invalid; expected a finite number >= 0")
        if self.paces < 1:
            raise ValueError(f"spl.paces: {self.paces!r} is invalid; expected an integer >= 1")
        if self.fraction(self.paces) < 1.0:
            raise ValueError(f"spl: the schedule {self} never reaches all samples: the last pace keeps "
                             f"{self.fraction(self.paces):.2f}")

    def fraction(self, pace: int) -> float:
        """Fraction kept at ``pace`` (1-based); rounded to 1e-9 so 0.5 + 5 * 0.1 is exactly 1."""
        return min(1.0, round(self.start + self.step * (pace - 1), 9))


def n_keep(fraction: float, n: int) -> int:
    return min(n, math.ceil(round(fraction * n, 9)))


def select_easy(losses: np.ndarray, labels: np.ndarray, fraction: float) -> tuple[np.ndarray, dict[int, float]]:
    """Boolean mask of the ceil(fraction * n_k) lowest-loss samples of every class k,
    and each class's threshold lambda_k (the largest kept loss)."""
    losses, labels = np.asarray(losses, float), np.asarray(labels)
    keep = np.zeros(len(losses), bool)
    lambdas = {}
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        m = n_keep(fraction, len(idx))
        order = idx[np.argsort(losses[idx], kind="stable")]
        keep[order[:m]] = True
        lambdas[int(k)] = float(losses[order[m - 1]]) if m else -math.inf
    return keep, lambdas


def epochs_per_pace(epochs: int, paces: int) -> list[int]:
    """Divide the epochs among the paces as evenly as possible; earlier paces take the remainder."""
    if epochs < paces:
        raise ValueError(f"{epochs} epochs cannot be divided among {paces} SPL paces (one epoch each at least)")
    base, extra = divmod(epochs, paces)
    return [base + (p < extra) for p in range(paces)]
