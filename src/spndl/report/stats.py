"""Tests for comparing two methods on the same runs (folds, seeds), from scipy.stats.

k-fold cross-validation: the folds' training sets overlap, so their accuracy
differences are correlated and the plain paired t-test is too liberal. The
corrected resampled t-test (Nadeau and Bengio, 2003) inflates the variance of the
mean difference from 1/J to 1/J + n_test/n_train. The exact sign-flip permutation
test makes no normality assumption. One split (RAF-DB): McNemar's exact test on
the two methods' paired test predictions.

Across the claims of one dataset, Holm's step-down adjustment keeps the chance of
any false "reproduced" or "contradicted" at 5 %. Beside the p-values, the Bayesian
correlated t-test (Benavoli et al. 2017, baycomp) gives the probabilities that a
difference lies below, inside or above a region of practical equivalence (ROPE),
so that a claim can be found practically equivalent, which no p-value says.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

ROPE = 1.0  # accuracy points: differences smaller than this are practically equivalent


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


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given; NaN stays NaN and
    is not counted in the family. The i-th smallest of m p-values is multiplied by m - i + 1
    (i from 1), the running maximum keeps the order, and nothing exceeds 1."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    if not m:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def bayes_correlated_t(worse, better, runs: int = 1, rope: float = ROPE) -> dict:
    """The Bayesian correlated t-test of ``better - worse`` (paired scores in accuracy points,
    one per fold and seed: ``runs`` repetitions of the k-fold cross-validation) with a ROPE of
    +-``rope``: P(worse) that better - worse < -rope, P(equivalent) inside, P(better) above.
    baycomp's CorrelatedTTest: a Student posterior with the correlation of k-fold
    cross-validation, rho = 1/k (the same variance as the corrected resampled t-test's, with
    n_test/n_train = 1/(k-1)). NaN with fewer than two runs."""
    x, y = np.asarray(worse, float), np.asarray(better, float)
    nan = {"p_worse": math.nan, "p_equivalent": math.nan, "p_better": math.nan}
    if len(x) < 2 or len(x) % runs or len(x) // runs < 2:
        return nan
    import baycomp  # imported here: only the tables need it, and it imports matplotlib

    p_worse, p_equivalent, p_better = baycomp.CorrelatedTTest(x, y, rope=rope, runs=runs).probs()
    return {"p_worse": float(p_worse), "p_equivalent": float(p_equivalent), "p_better": float(p_better)}
