"""The claims table's verdicts on constructed runs: the paper's sign with p < .05, the opposite
sign, no significance, and too few runs."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spndl.report.claims import claims_table, paper_accuracy, verdict
from spndl.report.stats import mcnemar_exact


def _folds(dataset, gains, base=0.80, n_test=98, n_train=883):
    rows = []
    for k, g in enumerate(gains):
        rows.append({"dataset": dataset, "variant": "baseline", "fold": k, "accuracy": base, "run": ""})
        rows.append({"dataset": dataset, "variant": "ndf", "fold": k, "accuracy": base + g, "run": ""})
    return pd.DataFrame(rows).assign(n_test=n_test, n_train=n_train)


def _claim(table, better="ndf", worse="baseline"):
    return table[(table["better"] == better) & (table["worse"] == worse)].iloc[0]


@pytest.mark.parametrize("gains, want", [
    ([0.03, 0.04, 0.02, 0.03, 0.05, 0.03, 0.04, 0.02, 0.03, 0.04], "reproduced"),
    ([-0.03, -0.04, -0.02, -0.03, -0.05, -0.03, -0.04, -0.02, -0.03, -0.04], "contradicted"),
    ([0.03, -0.04, 0.02, -0.03, 0.05, -0.03, 0.04, -0.02, 0.01, -0.02], "not significant"),
    ([0.05, 0.06], "too few runs"),
])
def test_verdicts_of_constructed_fold_results(gains, want):
    c = _claim(claims_table(_folds("ckplus", gains)))
    assert c["verdict"] == want
    assert c["paper_difference"] == pytest.approx(99.29 - 97.55)  # Table 4, CK+
    assert c["reproduced_difference"] == pytest.approx(np.mean(gains) * 100)
    assert c["n_runs"] == len(gains)
    if want == "too few runs":
        assert pd.isna(c["p_value"]) and pd.isna(c["ci_low"])
    else:
        d = np.array(gains) * 100
        se = np.sqrt((1 / len(d) + 98 / 883) * d.var(ddof=1))
        assert c["p_value"] == pytest.approx(2 * stats.t.sf(abs(d.mean()) / se, len(d) - 1))


def test_only_claims_whose_variants_ran_are_listed():
    table = claims_table(_folds("oulu", [0.01, 0.02, 0.03]))
    assert list(table["dataset"]) == ["oulu"] and list(table["better"]) == ["ndf"]


def _raf_run(tmp_path, name, correct):
    run = tmp_path / name
    run.mkdir()
    labels = np.zeros(len(correct), int)
    pd.DataFrame({"sample_id": [f"test_{i:05d}" for i in range(len(correct))], "label": labels,
                  "prediction": np.where(correct, 0, 1)}).to_csv(run / "predictions.csv", index=False)
    return str(run)


def test_one_split_uses_mcnemar_pooled_over_seeds(tmp_path):
    rng = np.random.default_rng(0)
    rows, only_a, only_b = [], 0, 0
    for seed in range(3):
        a, b = rng.random(200) < 0.8, rng.random(200) < 0.7
        m = mcnemar_exact(a, b)
        only_a, only_b = only_a + m["only_a"], only_b + m["only_b"]
        for variant, correct in (("spndl_wo_neutral", a), ("baseline", b)):
            rows.append({"dataset": "rafdb", "variant": variant, "fold": np.nan, "seed": seed,
                         "accuracy": correct.mean(), "n_test": 200, "n_train": 800,
                         "run": _raf_run(tmp_path, f"{variant}{seed}", correct)})
    c = _claim(claims_table(pd.DataFrame(rows)), "spndl_wo_neutral", "baseline")
    assert c["n_runs"] == 3 and c["test"].startswith("McNemar")
    assert c["p_value"] == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert c["verdict"] == ("reproduced" if c["p_value"] < 0.05 else "not significant")
    assert c["paper_difference"] == pytest.approx(89.08 - 87.13)


def test_verdict_rules():
    assert verdict(1.7, 2.0, 0.01, 10) == "reproduced"
    assert verdict(1.7, -2.0, 0.01, 10) == "contradicted"
    assert verdict(1.7, 2.0, 0.2, 10) == "not significant"
    assert verdict(1.7, 2.0, 0.001, 2) == "too few runs"
    assert verdict(np.nan, 1.0, 0.01, 5) == "reproduced"  # no number in the paper: the claim says 'better'
    assert np.isnan(paper_accuracy("rafdb", "ndf_wo_neutral")) and paper_accuracy("oulu", "spl") == 88.33


def _all_claims(dataset, gains_by_variant, base=0.80, n_test=98, n_train=883):
    rows = []
    for variant, gains in gains_by_variant.items():
        for k, g in enumerate(gains):
            rows.append({"dataset": dataset, "variant": variant, "fold": k, "accuracy": base + g, "run": ""})
    return pd.DataFrame(rows).assign(n_test=n_test, n_train=n_train)


def test_verdicts_use_holms_adjustment_over_the_datasets_claims():
    rng = np.random.default_rng(5)
    noise = lambda s: rng.normal(0, s, 10)  # noqa: E731
    table = claims_table(_all_claims("ckplus", {
        "baseline": np.zeros(10), "ndf": 0.02 + noise(0.02), "spl": noise(0.03),
        "spndl": 0.03 + noise(0.01), "spndl_wo_neutral": 0.01 + noise(0.03)}))
    assert len(table) == 7
    from spndl.report.stats import holm
    assert table["p_holm"].to_numpy() == pytest.approx(holm(table["p_value"].to_numpy()))
    for r in table.itertuples():
        assert r.p_holm >= r.p_value
        assert r.verdict == verdict(r.paper_difference, r.reproduced_difference, r.p_holm, r.n_runs)
    # A claim significant alone but not after the adjustment keeps "not significant".
    assert ((table["p_value"] < 0.05) & (table["p_holm"] >= 0.05)).sum() == \
        (((table["p_value"] < 0.05) & (table["verdict"] == "not significant"))).sum()


def test_a_claim_with_a_negligible_difference_is_practically_equivalent():
    gains = [0.001, -0.001, 0.002, 0.0, -0.002, 0.001, 0.0, -0.001, 0.001, 0.0]  # within 0.2 points
    c = _claim(claims_table(_folds("oulu", gains)))
    assert c["verdict"] == "not significant"
    assert c["bayes_verdict"] == "practically equivalent" and c["p_equivalent"] > 0.95
    assert c["rope"] == 1.0
    big = _claim(claims_table(_folds("oulu", [0.03, 0.04, 0.02, 0.03, 0.05, 0.03, 0.04, 0.02, 0.03, 0.04])))
    assert big["bayes_verdict"] == "better" and big["p_better"] > 0.95
