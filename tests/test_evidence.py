"""The NDF evidence's comparison: paired by fold, with the corrected resampled t-test."""

import math

import pandas as pd
import pytest
from scipy import stats

from spndl.report.evidence import paired


def _folds(ndf, baseline):
    rows = [{"dataset": "ckplus", "arm": arm, "variant": "ndf" if arm != "baseline" else arm, "fold": k,
             "seed": 0, "accuracy": acc, "n_test": 10, "n_train": 90}
            for arm, accs in (("ndf", ndf), ("baseline", baseline)) for k, acc in enumerate(accs)]
    return pd.DataFrame(rows)


def test_the_difference_is_paired_by_fold_with_the_corrected_interval():
    # Differences of 2, 4 and 6 points: mean 4, variance 4, corrected by 1/3 + 10/90.
    r = paired(_folds([0.52, 0.64, 0.76], [0.50, 0.60, 0.70]), "ckplus", "ndf", "baseline")
    se = math.sqrt((1 / 3 + 10 / 90) * 4)
    assert r["runs"] == 3 and r["difference"] == pytest.approx(4.0)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((4 - stats.t.ppf(0.975, 2) * se,
                                                         4 + stats.t.ppf(0.975, 2) * se))
    assert r["p"] == pytest.approx(2 * stats.t.sf(4 / se, 2))
    assert r["p_sign_flip"] == pytest.approx(2 / 8)  # all three positive: 2 of the 8 sign patterns
    # A fold one arm lacks is left out of the pairing, not compared unpaired.
    r = paired(_folds([0.52, 0.64, 0.76, 0.9], [0.50, 0.60, 0.70]), "ckplus", "ndf", "baseline")
    assert r["runs"] == 3 and r["difference"] == pytest.approx(4.0)


def test_fewer_than_three_folds_give_no_interval_and_no_p():
    r = paired(_folds([0.6, 0.7], [0.5, 0.5]), "ckplus", "ndf", "baseline")
    assert r["difference"] == pytest.approx(15.0) and pd.isna(r["ci_low"]) and pd.isna(r["p"])
    assert paired(_folds([0.6], [0.5]), "ckplus", "ndf", "ndf_other_subject") == {}
