"""Tests for comparing two methods on the same runs (folds, seeds), from scipy.stats.

k-fold cross-validation: the folds' training sets overlap, so their accuracy
differences are correlated and the plain paired t-test is too liberal. The
corrected resampled t-test (Nadeau and Bengio, 2003) inflates the variance of the
mean difference from 1/J to 1/J + n_test/n_train. The exact sign-flip permutation
test makes no normality assumption. One split (RAF-DB): McNemar's exact test on
the two methods' paired test predictions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def corrected_resampled_t(diffs, n_test: float, n_train: float, level: float = 0.95) -> dict:
    """Mean of the paired differences ``diffs`` (J runs), its ``level`` interval and the
    two-sided p of the corrected resampled t-test with J-1 degrees of freedom. ``n_test``
    and ``n_train`` are the sizes of a run's test and training parts (their means over the
    runs). With fewer than two differences the interval and p are NaN."""
    d = np.asarray(diffs, float)
    j = len(d)
    out = {"n": j, "mean": float(d.mean()) if j else math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "p": math.nan}
    if j < 2:
        return out
    se = math.sqrt((1 / j + n_test / n_train) * d.var(ddof=1))
    if se == 0:  # every run differs by the same amount: no spread to test against
        out.update(ci_low=out["mean"], ci_high=out["mean"], p=1.0 if out["mean"] == 0 else 0.0)
        return out
    dist = stats.t(df=j - 1, loc=out["mean"], scale=se)
    low, high = dist.interval(level)
    out.update(ci_low=float(low), ci_high=float(high),
               p=float(2 * stats.t.sf(abs(out["mean"]) / se, df=j - 1)))
    return out


def sign_flip_p(diffs) -> float:
    """Exact two-sided p of the mean difference under random sign flips (the paired
    permutation test); NaN with fewer than two differences."""
    d = np.asarray(diffs, float)
    if len(d) < 2:
        return math.nan
    if not d.any():
        return 1.0
    res = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                 alternative="two-sided")
    return float(res.pvalue)


def mcnemar_exact(correct_a, correct_b) -> dict:
    """McNemar's exact test on paired predictions of one test set: ``correct_a`` and
    ``correct_b`` say per sample whether each method was right. The two-sided p is the
    binomial test of the discordant pairs (scipy.stats.binomtest)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired predictions of different lengths: {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p": p}
