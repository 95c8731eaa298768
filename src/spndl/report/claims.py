"""The paper's claims, each tested on the runs both of its variants share.

A claim says one variant beats another on a dataset (Tables 1-4, sections
4.3-4.4). Its verdict comes from a paired test, never from two bare means:

- cross-validated datasets: the per-fold differences, the corrected resampled
  t-test (Nadeau and Bengio; the folds' training sets overlap) and the exact
  sign-flip p;
- a dataset with one split (RAF-DB): McNemar's exact test on the paired test
  predictions, their discordant pairs pooled over the runs.

The claims of one dataset form one family: each verdict uses the Holm-adjusted
p (spndl.report.stats.holm), and the table gives the raw p beside it. Verdicts:
``reproduced`` (the paper's sign, adjusted p < 0.05), ``contradicted`` (the
opposite sign, adjusted p < 0.05), ``not significant``, ``too few runs`` (fewer
than three paired runs: no p is printed, whatever the means say).

Beside it, on the cross-validated datasets, the Bayesian correlated t-test
(spndl.report.stats.bayes_correlated_t) with a ROPE of +-1 accuracy point gives
P(better), P(equivalent) and P(worse), and a second verdict from them: ``better``,
``practically equivalent`` or ``worse`` where one of the three exceeds 0.95,
``undecided`` otherwise. The two answer different questions: the p-value whether
the difference is zero, the ROPE whether it is large enough to matter; a
"not significant" claim may be "undecided" (too noisy to say) or "practically
equivalent" (a difference, if any, under a point).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spndl.report.paper import ABLATION, TABLES
from spndl.report.stats import ROPE, bayes_correlated_t, corrected_resampled_t, holm, mcnemar_exact, sign_flip_p

ALPHA = 0.05
MIN_RUNS = 3
BAYES_DECIDES = 0.95  # a Bayesian verdict needs one of the three probabilities above this
# (claim, dataset, better, worse, where the paper makes it)
CLAIMS = [
    *[(text, ds, better, worse, where) for ds in ("ckplus", "oulu") for text, better, worse, where in (
        ("NDFs improve on the baseline", "ndf", "baseline", "Table 4"),
        ("SPL improves on the baseline", "spl", "baseline", "Table 4"),
        ("SPL added to NDFs improves on NDFs", "spndl", "ndf", "Table 4"),
        ("NDFs added to SPL improve on SPL", "spndl", "spl", "Table 4"),
        ("SPNDL improves on the baseline", "spndl", "baseline", "Tables 1-2"),
        ("SPNDL without neutral images improves on the baseline", "spndl_wo_neutral", "baseline",
         "Tables 1-2, section 4.3"),
        ("SPNDL with neutral images beats SPNDL without them", "spndl", "spndl_wo_neutral", "section 4.3"),
    )],
    ("SPNDL without neutral images improves on the baseline", "rafdb", "spndl_wo_neutral", "baseline", "Table 3"),
    ("SPL improves NDFs without neutral images", "rafdb", "spndl_wo_neutral", "ndf_wo_neutral",
     "section 4.4, Fig. 6 (losses only)"),
]
COLUMNS = ["claim", "dataset", "better", "worse", "source", "paper_difference", "reproduced_difference",
           "ci_low", "ci_high", "p_value", "p_holm", "p_sign_flip", "test", "n_runs", "steps_ratio", "verdict",
           "rope", "p_better", "p_equivalent", "p_worse", "bayes_verdict", "budget"]


def budget(per_fold: pd.DataFrame, dataset: str, variants: tuple[str, ...]) -> str:
    """The training budget behind a comparison: image size, epochs and, where a variant uses SPL,
    how its epochs fall into the warm-up and the paces (read from a run's history.csv). A verdict
    holds under this budget only (docs/results.md: one epoch per pace is not the paper's)."""
    from spndl.variants import VARIANTS

    d = per_fold[(per_fold["dataset"] == dataset) & per_fold["variant"].isin(variants)]
    if d.empty or not {"image_size", "epochs"} <= set(d.columns):
        return ""  # a table of accuracies alone (built by hand): no budget to state
    text = f"{int(d['image_size'].max())} px, {int(d['epochs'].max())} epochs"
    spl = d[[VARIANTS[v][1] for v in d["variant"]]]
    if len(spl) and "run" in spl:
        h = pd.read_csv(Path(spl["run"].iloc[0]) / "history.csv")
        per_pace = h[h["pace"] > 0].groupby("pace").size()
        warm = int((h["pace"] == 0).sum())
        paces = (f"{per_pace.iloc[0]} per pace" if per_pace.nunique() == 1
                 else f"{per_pace.min()}-{per_pace.max()} per pace")
        text += f" ({warm} warm-up, {paces})" if warm else f" ({paces})"
    return text


def paper_accuracy(dataset: str, variant: str) -> float:
    """The paper's accuracy (%) of ``variant`` on ``dataset``; NaN where it gives none."""
    for table in TABLES.values():
        if table["dataset"] == dataset:
            for _method, _setting, value, _ref, v in table["rows"]:
                if v == variant:
                    return value
    for _ndf, _spl, v, paper in ABLATION:
        if v == variant and dataset in paper:
            return paper[dataset]
    return np.nan


def verdict(paper_difference: float, difference: float, p: float, n_runs: int) -> str:
    if n_runs < MIN_RUNS or np.isnan(p):
        return "too few runs"
    if p >= ALPHA:
        return "not significant"
    expected = 1.0 if np.isnan(paper_difference) else np.sign(paper_difference)  # a claim says 'better'
    return "reproduced" if np.sign(difference) == expected else "contradicted"


def _pair(a: pd.DataFrame, b: pd.DataFrame, split: bool) -> pd.DataFrame:
    """The runs of two variants side by side, matched by fold (cross-validation) and seed."""
    key = [c for c in (("seed",) if split else ("fold", "seed")) if c in a.columns]
    if not key:  # one split and no seeds: the one run of each
        a, b, key = a.assign(run_key=0), b.assign(run_key=0), ["run_key"]
    return a.merge(b, on=key, suffixes=("_a", "_b"))


def bayes_verdict(p_better: float, p_equivalent: float, p_worse: float) -> str:
    if np.isnan(p_better):
        return ""
    for p, name in ((p_better, "better"), (p_equivalent, "practically equivalent"), (p_worse, "worse")):
        if p > BAYES_DECIDES:
            return name
    return "undecided"


def _fold_test(both: pd.DataFrame) -> dict:
    diffs = (both["accuracy_a"] - both["accuracy_b"]).to_numpy() * 100
    t = corrected_resampled_t(diffs, both["n_test_a"].mean(), both["n_train_a"].mean())
    # baycomp's layout: `runs` repetitions of the k folds (each seed one repetition); a
    # repetition missing a fold leaves the correlation undefined, and no probabilities.
    runs = both.groupby("fold").size()
    reps = int(runs.iloc[0]) if runs.nunique() == 1 else 0
    bayes = (bayes_correlated_t(both["accuracy_b"].to_numpy() * 100, both["accuracy_a"].to_numpy() * 100, runs=reps)
             if reps and len(runs) >= 2 else bayes_correlated_t([], []))
    return {"reproduced_difference": t["mean"], "ci_low": t["ci_low"], "ci_high": t["ci_high"],
            "p_value": t["p"], "p_sign_flip": sign_flip_p(diffs), "n_runs": t["n"],
            "test": "corrected resampled t-test (Nadeau-Bengio)", "rope": ROPE, **bayes}


def _split_test(both: pd.DataFrame) -> dict:
    diffs = ((both["accuracy_a"] - both["accuracy_b"]) * 100).tolist()
    out = {"reproduced_difference": float(np.mean(diffs)) if diffs else np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "p_value": np.nan, "p_sign_flip": np.nan, "n_runs": len(diffs),
           "test": "McNemar exact, discordant pairs pooled over runs"}
    if len(diffs) < MIN_RUNS:
        return out  # no test from fewer runs: the predictions need not be read
    only_a = only_b = 0
    for r in both.itertuples():
        pa = pd.read_csv(Path(r.run_a) / "predictions.csv").set_index("sample_id")
        pb = pd.read_csv(Path(r.run_b) / "predictions.csv").set_index("sample_id").loc[pa.index]
        m = mcnemar_exact(pa["prediction"] == pa["label"], pb["prediction"] == pb["label"])
        only_a, only_b = only_a + m["only_a"], only_b + m["only_b"]
    pooled = mcnemar_exact([True] * only_a + [False] * only_b, [False] * only_a + [True] * only_b)
    return {**out, "p_value": pooled["p"]}


def compare(per_fold: pd.DataFrame, dataset: str, better: str, worse: str) -> dict | None:
    """``better`` minus ``worse`` on ``dataset`` over the runs both share (``per_fold``: one row
    per run, as ``tables.collect`` gives it): the mean difference in accuracy points and, from
    three paired runs on, its interval and p; None where either variant has no run."""
    a = per_fold[(per_fold["dataset"] == dataset) & (per_fold["variant"] == better)]
    b = per_fold[(per_fold["dataset"] == dataset) & (per_fold["variant"] == worse)]
    if a.empty or b.empty:
        return None
    split = a["fold"].isna().all()
    both = _pair(a, b, split)
    got = (_split_test if split else _fold_test)(both)
    # SPL trains its early paces on part of the data: with equal epochs it takes fewer optimiser
    # steps than a variant without SPL. The ratio says by how much (1.0: the same).
    got["steps_ratio"] = (float(both["steps_a"].sum() / both["steps_b"].sum())
                          if {"steps_a", "steps_b"} <= set(both.columns) and len(both) else np.nan)
    if got["n_runs"] < MIN_RUNS:  # no p-value, interval or probabilities from fewer runs
        got.update(ci_low=np.nan, ci_high=np.nan, p_value=np.nan, p_sign_flip=np.nan, p_better=np.nan,
                   p_equivalent=np.nan, p_worse=np.nan)
    return got


def claims_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per claim whose dataset and both variants were run. The claims of a dataset
    are one family of Holm's adjustment; the verdict uses the adjusted p."""
    rows = []
    for text, ds, better, worse, where in CLAIMS:
        got = compare(per_fold, ds, better, worse)
        if got is None:
            continue
        paper = paper_accuracy(ds, better) - paper_accuracy(ds, worse)
        rows.append({"claim": text, "dataset": ds, "better": better, "worse": worse, "source": where,
                     "paper_difference": paper, "rope": np.nan, "p_better": np.nan, "p_equivalent": np.nan,
                     "p_worse": np.nan, **got, "budget": budget(per_fold, ds, (better, worse))})
    table = pd.DataFrame(rows, columns=COLUMNS)
    for _ds, family in table.groupby("dataset", sort=False):
        table.loc[family.index, "p_holm"] = holm(family["p_value"].to_numpy(float))
    table["verdict"] = [verdict(r.paper_difference, r.reproduced_difference, r.p_holm, r.n_runs)
                        for r in table.itertuples()]
    table["bayes_verdict"] = [bayes_verdict(r.p_better, r.p_equivalent, r.p_worse) for r in table.itertuples()]
    return table


VERDICTS = {
    "reproduced": "the paper's sign, Holm-adjusted p < 0.05",
    "contradicted": "the opposite sign, Holm-adjusted p < 0.05",
    "not significant": "Holm-adjusted p >= 0.05: these runs cannot tell the two variants apart",
    "too few runs": f"fewer than {MIN_RUNS} paired runs: no test is made, whatever the means say",
}


def _steps(ratio) -> str:
    return "" if pd.isna(ratio) else f"{ratio:.0%}"


def _num(x, sign=False) -> str:
    return "" if pd.isna(x) else f"{x:{'+' if sign else ''}.2f}"


def _probs(r) -> str:
    if pd.isna(r.p_better):
        return ""
    return f"{r.p_better:.2f} / {r.p_equivalent:.2f} / {r.p_worse:.2f}"


def claims_markdown(table: pd.DataFrame, notes: list[str]) -> str:
    lines = ["# The paper's claims, tested", "", *notes, "",
             "Differences are accuracy points, better minus worse, over the runs both variants share. "
             "p: the test's, then Holm-adjusted over the dataset's claims (the verdict's). "
             f"P(better / equivalent / worse): the Bayesian correlated t-test, ROPE +-{ROPE:g} point.", "",
             "| Claim | Dataset | Paper | Reproduced [95% interval] | p (Holm) | Test | Runs | Steps | Verdict "
             "| P(better / equivalent / worse) | Bayesian verdict | Budget |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- | --- |"]
    for r in table.itertuples():
        interval = f" [{_num(r.ci_low, True)}, {_num(r.ci_high, True)}]" if not pd.isna(r.ci_low) else ""
        p = "too few runs to test" if r.verdict == "too few runs" else f"{r.p_value:.3g} ({r.p_holm:.3g})"
        lines.append(f"| {r.claim} ({r.better} > {r.worse}; {r.source}) | {r.dataset} | "
                     f"{_num(r.paper_difference, True) or 'no number'} | {_num(r.reproduced_difference, True)}"
                     f"{interval} | {p} | {r.test} | {r.n_runs} | {_steps(r.steps_ratio)} | **{r.verdict}** | "
                     f"{_probs(r)} | {r.bayes_verdict} | {r.budget} |")
    lines += ["", "Verdicts:", *[f"- **{k}**: {v}." for k, v in VERDICTS.items()], "",
              f"Bayesian verdicts: **better**, **practically equivalent** or **worse** where that probability "
              f"exceeds {BAYES_DECIDES:g}, **undecided** otherwise; none on a single split (RAF-DB).", "",
              "Steps: the optimiser updates of the better-claimed variant's runs as a share of the other's. "
              "With the same epochs, SPL's paces train on 50-100% of the samples, so SPL runs take fewer "
              "steps; where the share is not 100%, the two were not given equal optimisation "
              "(spl.pace_epochs and train.epochs set it)."]
    return "\n".join(lines) + "\n"
