"""The comparison tests against scipy.stats computed by hand on made-up fold results."""

import math

import numpy as np
import pytest
from scipy import stats

from spndl.report.stats import bayes_correlated_t, corrected_resampled_t, holm, mcnemar_exact, sign_flip_p


def test_the_corrected_t_test_inflates_the_variance_by_the_test_to_train_ratio():
    diffs = np.array([2.0, 3.0, 1.5, 2.5, 2.0, 3.5, 1.0, 2.5, 3.0, 2.0])  # 10 folds, accuracy points
    n_test, n_train = 98.0, 883.0                                        # CK+: 981 pairs in 10 folds
    r = corrected_resampled_t(diffs, n_test, n_train)
    se = math.sqrt((1 / 10 + n_test / n_train) * diffs.var(ddof=1))
    assert r["mean"] == pytest.approx(diffs.mean())
    assert r["p"] == pytest.approx(2 * stats.t.sf(diffs.mean() / se, 9))
    half = stats.t.ppf(0.975, 9) * se
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((diffs.mean() - half, diffs.mean() + half))


def test_where_the_plain_t_test_calls_significance_and_the_corrected_one_does_not():
    # Five folds with a small, noisy gain, and a large test share (n_test/n_train = 0.25).
    diffs = np.array([2.0, 0.0, 2.5, 1.0, 1.5])
    plain = stats.ttest_1samp(diffs, 0.0).pvalue
    r = corrected_resampled_t(diffs, n_test=200, n_train=800)
    assert plain < 0.05 < r["p"]
    assert r["ci_low"] < 0 < r["ci_high"]


def test_too_few_runs_give_no_p_and_equal_differences_no_spread():
    r = corrected_resampled_t([3.0], 10, 90)
    assert r["n"] == 1 and r["mean"] == 3.0 and math.isnan(r["p"]) and math.isnan(r["ci_low"])
    assert corrected_resampled_t([2.0, 2.0, 2.0], 10, 90)["p"] == 0.0
    assert corrected_resampled_t([0.0, 0.0], 10, 90)["p"] == 1.0


def test_the_sign_flip_p_is_exact():
    # 5 positive differences: of the 2^5 sign patterns only all-plus and all-minus are as extreme.
    assert sign_flip_p([1.0, 2.0, 0.5, 1.5, 3.0]) == pytest.approx(2 / 32)
    diffs = [1.0, -2.0, 0.5, 1.5]
    signs = np.array(np.meshgrid(*[[-1, 1]] * 4)).reshape(4, -1).T
    means = (signs * np.array(diffs)).mean(1)
    assert sign_flip_p(diffs) == pytest.approx(np.mean(np.abs(means) >= abs(np.mean(diffs)) - 1e-12))
    assert sign_flip_p([0.0, 0.0]) == 1.0 and math.isnan(sign_flip_p([2.0]))


def test_mcnemar_counts_the_discordant_pairs():
    a = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0], bool)
    b = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0], bool)
    r = mcnemar_exact(a, b)
    assert (r["only_a"], r["only_b"]) == (6, 1)
    assert r["p"] == pytest.approx(stats.binomtest(6, 7, 0.5).pvalue)
    assert mcnemar_exact(a, a)["p"] == 1.0
    with pytest.raises(ValueError, match="different lengths"):
        mcnemar_exact(a, b[:-1])


def test_holm_against_a_hand_computation():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (the
    # running maximum keeps the order); the untested claim is no member of the family.
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    got = holm(p)
    assert got[[0, 1, 2, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(got[3])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02])          # a family of one: unchanged
    assert np.isnan(holm([np.nan, np.nan])).all()


def test_holm_is_never_below_the_raw_p_and_never_reorders():
    p = np.random.default_rng(3).random(7) ** 3
    adj = holm(p)
    assert (adj >= p).all()
    order = np.argsort(p)
    assert (np.diff(adj[order]) >= 0).all()


def _posterior(x, y, rope, runs):
    """Benavoli et al. (2017) by hand: a Student posterior of y - x with n - 1 degrees of
    freedom and the variance inflated by 1/n + rho/(1 - rho), rho = 1/k for k folds."""
    d = np.asarray(y, float) - np.asarray(x, float)
    n, k = len(d), len(d) / runs
    scale = math.sqrt(d.var(ddof=1) * (1 / n + (1 / k) / (1 - 1 / k)))
    t = stats.t(n - 1, loc=d.mean(), scale=scale)
    return t.cdf(-rope), t.cdf(rope) - t.cdf(-rope), t.sf(rope)


@pytest.mark.parametrize("shift, runs", [(2.5, 1), (0.1, 1), (-3.0, 1), (1.0, 3)])
def test_bayesian_correlated_t_against_a_hand_computation(shift, runs):
    rng = np.random.default_rng(7)
    worse = rng.normal(80, 4, 10 * runs)
    better = worse + shift + rng.normal(0, 1.5, 10 * runs)
    got = bayes_correlated_t(worse, better, runs=runs, rope=1.0)
    want = _posterior(worse, better, 1.0, runs)
    assert (got["p_worse"], got["p_equivalent"], got["p_better"]) == pytest.approx(want, abs=1e-12)
    assert sum(got.values()) == pytest.approx(1.0)


def test_bayesian_correlated_t_names_equivalence_and_direction():
    rng = np.random.default_rng(1)
    worse = rng.normal(80, 4, 30)
    same = bayes_correlated_t(worse, worse + rng.normal(0, 0.2, 30), runs=3)
    assert same["p_equivalent"] > 0.95            # a difference well inside +-1 point
    gain = bayes_correlated_t(worse, worse + 5 + rng.normal(0, 0.5, 30), runs=3)
    assert gain["p_better"] > 0.95 and gain["p_worse"] < 0.01
    assert np.isnan(bayes_correlated_t([80.0], [81.0])["p_better"])   # one run: no posterior
