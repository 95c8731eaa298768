import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spndl.report.tables import write_tables


def _run(root, dataset, variant, fold, acc, synthetic=True, seed=0):
    d = root / dataset / variant / (f"fold{fold}" if fold is not None else "split") / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "dataset": dataset, "variant": variant, "fold": fold, "seed": seed, "accuracy": acc, "n_test": 30,
        "n_train": 270, "synthetic": synthetic, "data_checksum": "ab" * 32, "image_size": 32, "epochs": 12,
        "steps": 72 if variant.startswith(("spl", "spndl")) else 100,
        "weights": "none", "n_folds": 10 if fold is not None else None}))
    pd.DataFrame({"epoch": [1, 2], "pace": [1, 2], "train_loss": [1.5, 1.0],
                  "test_accuracy": [acc / 2, acc]}).to_csv(d / "history.csv", index=False)
    (d / "predictions.csv").write_text("sample_id,label,prediction\n")
    return d


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    dirs, accs = [], {}
    for ds in ("ckplus", "oulu"):
        for v in ("baseline", "spl", "ndf", "spndl", "spndl_wo_neutral"):
            a = rng.uniform(0.3, 0.9, 3)
            accs[(ds, v)] = a
            dirs += [_run(tmp_path, ds, v, k, float(x)) for k, x in enumerate(a)]
    for v in ("baseline", "ndf_wo_neutral", "spndl_wo_neutral"):
        accs[("rafdb", v)] = np.array([0.5])
        dirs.append(_run(tmp_path, "rafdb", v, None, 0.5))
    return dirs, accs


def test_reproduced_numbers_are_the_fold_means_beside_the_papers(runs, tmp_path):
    dirs, accs = runs
    write_tables(dirs, tmp_path / "t")
    t1 = pd.read_csv(tmp_path / "t/table1.csv")
    spndl = t1[t1["method"] == "SPNDL"].iloc[0]
    assert spndl["paper"] == 99.69 and spndl["source"] == "reproduced"
    assert np.isclose(spndl["reproduced_mean"], accs[("ckplus", "spndl")].mean() * 100)
    assert np.isclose(spndl["reproduced_std"], accs[("ckplus", "spndl")].std(ddof=1) * 100)
    # Synthetic accuracy minus the paper's real-data number would compare unlike things.
    assert pd.isna(spndl["difference"]) and t1.loc[t1["source"] == "reproduced", "difference"].isna().all()
    a = accs[("ckplus", "spndl")] * 100
    half = stats.t.ppf(0.975, 2) * a.std(ddof=1) / np.sqrt(3)
    assert np.allclose([spndl["reproduced_ci_low"], spndl["reproduced_ci_high"]], [a.mean() - half, a.mean() + half])
    quoted = t1[t1["source"] == "reported in the paper"]
    assert {"STM-E", "DTAGN", "PPDN", "DeRL", "DDL", "FDRL", "HRL"} == set(quoted["method"])
    assert quoted["reproduced_mean"].isna().all()
    md = (tmp_path / "t/table1.md").read_text()
    assert "SYNTHETIC data" in md and "32 px, 12 epochs, folds 0, 1, 2 of 10, seed 0," in md
    assert "| not comparable | 3 |" in md and "SYNTHETIC accuracy is not comparable" in md
    assert "not comparable" in (tmp_path / "t/table4.md").read_text()
    assert md.index("paper vs reproduced") < md.index("Reported in the paper")
    t4 = pd.read_csv(tmp_path / "t/table4.csv")
    assert t4["variant"].tolist() == ["baseline", "spl", "ndf", "spndl"]
    assert np.isclose(t4.loc[1, "oulu_reproduced_mean"], accs[("oulu", "spl")].mean() * 100)
    # Each ablation row's paired difference to the baseline, fold by fold, with the corrected test's p.
    d = (accs[("oulu", "spl")] - accs[("oulu", "baseline")]) * 100
    se = np.sqrt((1 / 3 + 30 / 270) * d.var(ddof=1))
    assert np.isclose(t4.loc[1, "oulu_vs_baseline"], d.mean())
    assert np.isclose(t4.loc[1, "oulu_vs_baseline_p"], 2 * stats.t.sf(abs(d.mean()) / se, 2))
    assert pd.isna(t4.loc[0, "oulu_vs_baseline"])  # the baseline row itself
    claims = pd.read_csv(tmp_path / "t/claims.csv")
    ndf = claims[(claims["dataset"] == "oulu") & (claims["better"] == "ndf") & (claims["worse"] == "baseline")].iloc[0]
    assert ndf["n_runs"] == 3 and ndf["verdict"] in ("reproduced", "contradicted", "not significant")
    # SPL's runs took 72% of the baseline's optimiser steps, and the claims table says so.
    spl = claims[(claims["dataset"] == "oulu") & (claims["better"] == "spl") & (claims["worse"] == "baseline")]
    assert spl["steps_ratio"].tolist() == [0.72] and ndf["steps_ratio"] == 1.0
    assert "| 72% |" in (tmp_path / "t/claims.md").read_text()
    assert t4.loc[1, "oulu_vs_baseline_steps"] == 0.72 and t4.loc[2, "oulu_vs_baseline_steps"] == 1.0
    assert "72% of its steps" in (tmp_path / "t/table4.md").read_text()
    raf = claims[claims["dataset"] == "rafdb"]
    assert (raf["verdict"] == "too few runs").all() and raf["p_value"].isna().all()  # one run of each
    assert "too few runs to test" in (tmp_path / "t/claims.md").read_text()
    headline = json.loads((tmp_path / "t/headline.json").read_text())
    assert np.isclose(headline["oulu"]["ndf"]["accuracy_mean"], accs[("oulu", "ndf")].mean() * 100, atol=1e-4)
    curve = pd.read_csv(tmp_path / "t/curve_test_accuracy.csv")
    assert curve["epoch"].tolist() == [1, 2]
    assert np.isclose(curve.loc[1, "ckplus/spl"], accs[("ckplus", "spl")].mean())
    per_fold = pd.read_csv(tmp_path / "t/per_fold.csv")
    assert len(per_fold) == len(dirs)
    for name in ("table1", "table2", "table3", "table4"):
        assert (tmp_path / f"t/{name}.tex").read_text().count(r"\begin{tabular}") == 1


def test_a_dataset_left_out_drops_its_rows(runs, tmp_path):
    dirs, _ = runs
    kept = [d for d in dirs if "oulu" not in str(d)]
    write_tables(kept, tmp_path / "t")
    t2 = pd.read_csv(tmp_path / "t/table2.csv")
    assert (t2["source"] == "reported in the paper").all()
    assert "not run" in (tmp_path / "t/table2.md").read_text()
    t4 = pd.read_csv(tmp_path / "t/table4.csv")
    assert not any(c.startswith("oulu") for c in t4.columns)


def test_a_variant_left_out_leaves_its_ablation_cells_empty(runs, tmp_path):
    dirs, accs = runs
    write_tables([d for d in dirs if d.parent.parent.name != "spl"], tmp_path / "t")
    t4 = pd.read_csv(tmp_path / "t/table4.csv")
    assert t4.loc[t4["variant"] == "spl", ["ckplus_reproduced_mean", "oulu_difference"]].isna().all().all()
    assert t4.loc[t4["variant"] == "ndf", "ckplus_reproduced_mean"].notna().all()
    row = next(ln for ln in (tmp_path / "t/table4.md").read_text().splitlines() if ln.startswith("| no | yes |"))
    assert row == "| no | yes | 99.08 |  ±  |  |  | 88.33 |  ±  |  |  |"


def test_an_unfinished_run_is_an_error(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(FileNotFoundError, match="no metrics"):
        write_tables([tmp_path / "r"], tmp_path / "t")


def test_an_allowed_deviation_from_the_papers_counts_is_stated_under_the_tables(runs, tmp_path):
    from spndl.data.check import CheckReport

    dirs, _ = runs
    checks = []
    for ds, synthetic in (("oulu", False), ("ckplus", True), ("rafdb", False)):
        devs = ["sequences: found 479, paper 480", "samples: found 1437, paper 1440"] if ds != "rafdb" else []
        r = CheckReport(ds, "/data/" + ds, "original", synthetic, {}, {}, devs,
                        [{"path": "P003/Fear", "reason": "missing sequence", "sequence": "P003/Fear", "label": "fear"}],
                        allowed=bool(devs))
        checks.append(tmp_path / f"{ds}.json")
        checks[-1].write_text(json.dumps(r.to_dict()))
    prepared = tmp_path / "prepared/rafdb"
    prepared.mkdir(parents=True)
    (prepared / "dataset.json").write_text(json.dumps(
        {"dataset": "rafdb", "synthetic": False, "counts": {"samples": 15330, "exclusions": 9}}))
    write_tables(dirs, tmp_path / "t", checks=checks, prepared=[prepared])
    t2, t4 = (tmp_path / "t/table2.md").read_text(), (tmp_path / "t/table4.md").read_text()
    assert (f"15330 RAF-DB samples were prepared, the paper has 15339; 9 exclusions are listed in "
            f"{prepared / 'exclusions.csv'}.") in (tmp_path / "t/table3.md").read_text()
    note = ("The Oulu-CASIA copy used here does not match the paper's counts (allowed by data.allow_deviation "
            "in params.yaml): sequences: found 479, paper 480; samples: found 1437, paper 1440; 1 anomalies")
    assert note in t2 and note in t4 and note in (tmp_path / "t/table4.tex").read_text()
    # A synthetic tree (the tables already say SYNTHETIC) and a matching one get no such note.
    assert "does not match the paper's counts" not in (tmp_path / "t/table1.md").read_text()
    assert "does not match the paper's counts" not in (tmp_path / "t/table3.md").read_text()


def test_runs_are_paired_by_fold_and_seed(tmp_path):
    """Two seeds of two folds are four paired runs; a seed only one variant ran is left out."""
    accs = {("baseline", 0, 0): 0.50, ("baseline", 0, 1): 0.60, ("baseline", 1, 0): 0.70, ("baseline", 1, 1): 0.55,
            ("ndf", 0, 0): 0.52, ("ndf", 0, 1): 0.64, ("ndf", 1, 0): 0.76, ("ndf", 1, 1): 0.63, ("ndf", 1, 2): 0.1}
    dirs = [_run(tmp_path, "ckplus", v, fold, acc, seed=seed) for (v, fold, seed), acc in accs.items()]
    write_tables(dirs, tmp_path / "t")
    per_fold = pd.read_csv(tmp_path / "t/per_fold.csv")
    assert sorted(zip(per_fold["variant"], per_fold["fold"], per_fold["seed"])) == sorted(accs)
    claims = pd.read_csv(tmp_path / "t/claims.csv")
    ndf = claims[(claims["better"] == "ndf") & (claims["worse"] == "baseline")].iloc[0]
    # Differences 2, 4, 6, 8 points: the run of seed 2 has no baseline to pair with.
    assert ndf["n_runs"] == 4 and np.isclose(ndf["reproduced_difference"], 5.0)
    assert "seeds 0, 1, 2" in (tmp_path / "t/table1.md").read_text()


def test_real_runs_keep_their_difference_from_the_paper(runs, tmp_path):
    """On real data the paper's number and the reproduced one measure the same thing: the
    Difference column stays, in Tables 1-3 and in Table 4."""
    dirs, accs = runs
    for d in dirs:
        m = json.loads((d / "metrics.json").read_text())
        (d / "metrics.json").write_text(json.dumps({**m, "synthetic": False}))
    write_tables(dirs, tmp_path / "t")
    t1 = pd.read_csv(tmp_path / "t/table1.csv")
    spndl = t1[t1["method"] == "SPNDL"].iloc[0]
    assert np.isclose(spndl["difference"], spndl["reproduced_mean"] - 99.69)
    assert "not comparable" not in (tmp_path / "t/table1.md").read_text()
    t4 = pd.read_csv(tmp_path / "t/table4.csv")
    assert np.isclose(t4.loc[1, "oulu_difference"], t4.loc[1, "oulu_reproduced_mean"] - t4.loc[1, "oulu_paper"])
