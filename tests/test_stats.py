"""The comparison tests against scipy.stats computed by hand on made-up fold results."""

import math

import numpy as np
import pytest
from scipy import stats

from spndl.stats import corrected_resampled_t, mcnemar_exact, sign_flip_p


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
