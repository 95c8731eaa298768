"""Tables 1-4 in the paper's layout: the paper's value, the reproduced mean +- std over runs, the difference.

Rows the paper quotes for other methods are carried as 'reported in the paper'
with their reference, in a section of their own; nothing is recomputed for
them. Each table states what its numbers were computed on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from spndl.data.records import DataError
from spndl.data.registry import DATASETS
from spndl.ownership import output_files
from spndl.report.claims import MIN_RUNS, claims_markdown, claims_table, compare
from spndl.report.runkey import run_key
from spndl.report.paper import ABLATION, ABLATION_DATASETS, TABLES, extra_tables

DATASET_NAMES = {name: s.title for name, s in DATASETS.items()}


FINAL_FILES = ("history.csv", "predictions.csv")   # besides metrics.json, in a run folder and a snapshot


def collect(run_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per run: dataset, variant, fold, seed, accuracy and what the run was computed on."""
    rows, seen = [], {}
    for d in run_dirs:
        path = Path(d) / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: run has no metrics (not finished?)")
        for name in FINAL_FILES:  # a run whose last write failed half-way is not a finished run
            if not (Path(d) / name).is_file():
                raise DataError(f"{Path(d) / name}: missing beside its metrics.json; the run's final files are "
                                "incomplete (run its spndl train again)")
        try:
            m = json.loads(path.read_text())
            # Checked before anything is built from them: they become folder names in publish.
            k = run_key(m["dataset"], m["variant"], m["fold"], m["seed"], str(path))
            key = (k.dataset, k.variant, k.fold, k.seed)
            row = {"dataset": k.dataset, "variant": k.variant, "fold": k.fold, "seed": k.seed,
                   "accuracy": m["accuracy"], "n_test": m["n_test"], "n_train": m["n_train"],
                   "synthetic": m["synthetic"],
                   "data_checksum": m["data_checksum"], "image_size": m["image_size"],
                   "epochs": m["epochs"], "steps": m["steps"], "weights": m["weights"],
                   "weights_sha256": m.get("weights_sha256", ""),
                   "n_folds": m["n_folds"], "numerics": m.get("numerics", "not recorded"),
                   "max_steps": m.get("max_steps"), "run": str(d)}
        except DataError:
            raise  # a field that run_key refused, named by it
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            why = "truncated or not JSON" if isinstance(e, ValueError) else (
                f"no field {e}" if isinstance(e, KeyError) else "not a JSON object")
            raise DataError(f"{path}: not the metrics of a finished run of spndl train ({why})") from None
        # One run given twice (or a copy of it) would count as two runs: a std of 0 and an
        # interval from nothing. A run is its dataset, variant, fold, seed and settings (the
        # evidence's control is an NDF run with another reference setting, not a copy).
        ident = (*key, _settings_of(Path(d)))
        if ident in seen:
            raise DataError(f"{path}: the same run ({', '.join(map(str, key))}, same settings) as {seen[ident]}; "
                            "give each run once")
        seen[ident] = path
        rows.append(row)
    return pd.DataFrame(rows)


def _settings_of(run: Path) -> str:
    """The settings of a run (its config.yaml's ``config``) as one comparable string; the
    folder itself where they cannot be read, so that only a run given twice matches."""
    try:
        record = yaml.safe_load((run / "config.yaml").read_text())
        return json.dumps(record["config"], sort_keys=True)
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
        return str(run.resolve())


def summarise(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (n-1) and the 95% t interval of the mean of accuracy in %, over the
    runs (folds x seeds), per dataset and variant (no interval from one run)."""
    g = per_fold.groupby(["dataset", "variant"])["accuracy"]
    out = pd.DataFrame({"mean": g.mean() * 100, "std": g.std(ddof=1).fillna(0.0) * 100, "runs": g.count()})
    n = out["runs"].to_numpy()
    half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * out["std"].to_numpy() / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    return out.assign(ci_low=out["mean"] - half, ci_high=out["mean"] + half)


def weights_note(d: pd.DataFrame) -> str:
    """The starting weights of a dataset's rows, each with its file's sha256; where variants differ
    (model.weights_wo_neutral), which variants started from which."""
    sha = d["weights_sha256"].fillna("").astype(str) if "weights_sha256" in d else pd.Series("", index=d.index)
    kinds = {}
    for w, h, v in zip(d["weights"], sha, d["variant"]):
        kinds.setdefault(f"{w} (sha256 {h})" if h else str(w), []).append(v)
    if len(kinds) == 1:
        return next(iter(kinds))
    return "; ".join(f"{k} for {', '.join(dict.fromkeys(vs))}" for k, vs in sorted(kinds.items()))


def provenance(per_fold: pd.DataFrame, dataset: str) -> str:
    d = per_fold[per_fold["dataset"] == dataset]
    if d.empty:
        return f"{DATASET_NAMES[dataset]}: not run (left out of params)."
    what = ("SYNTHETIC data generated by `spndl synth`, in the layout of " + DATASET_NAMES[dataset]
            + " (not the real dataset)") if d["synthetic"].all() else (
        f"{'the real ' if DATASETS[dataset].expected else ''}{DATASET_NAMES[dataset]} "
        f"(prepared data sha256 {', '.join(sorted(set(d['data_checksum'])))[:16]}...)")
    folds = sorted(set(d["fold"].dropna().astype(int)))
    split = (f"folds {', '.join(map(str, folds))} of {int(d['n_folds'].iloc[0])}" if folds
             else "the official train/test split")
    seeds = sorted(set(d["seed"].astype(int)))
    bound = bound_note(d["max_steps"]) if "max_steps" in d else ""
    rehearsal = f"{bound}, and as many evaluation batches. " if bound else ""
    return (f"{rehearsal}Computed on {what}; {int(d['image_size'].iloc[0])} px, {int(d['epochs'].max())} epochs, "
            f"{split}, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, "
            f"weights: {weights_note(d)}; numerics: {'; '.join(sorted(set(d['numerics'])))}. "
            "Accuracy is the last epoch's.")


def data_notes(check_files: list[str | Path] = (), prepared_dirs: list[str | Path] = ()) -> dict[str, str]:
    """Per real dataset, a note where its data differ from the paper's counts: in the
    check-data report (the pipeline gets this far only where params allows it), or after
    preparation (faces the detector did not find are excluded)."""
    notes: dict[str, list[str]] = {}
    for f in check_files:
        r = json.loads(Path(f).read_text())
        if r["deviations"] and not r["synthetic"]:
            notes.setdefault(r["dataset"], []).append(
                f"The {DATASET_NAMES[r['dataset']]} copy used here does not match the paper's counts "
                f"(allowed by data.allow_deviation in params.yaml): " + "; ".join(r["deviations"])
                + f"; {len(r['anomalies'])} anomalies listed in {f}.")
    for d in prepared_dirs:
        info = json.loads((Path(d) / "dataset.json").read_text())
        ds, c = info["dataset"], info["counts"]
        e = DATASETS[ds].expected
        if not e:
            continue  # the paper reports no counts for it (custom)
        paper = e["samples"] if "samples" in e else e["train"] + e["test"]
        if not info["synthetic"] and c["samples"] != paper:
            notes.setdefault(ds, []).append(
                f"{c['samples']} {DATASET_NAMES[ds]} samples were prepared, the paper has {paper}; "
                f"{c['exclusions']} exclusions are listed in {Path(d) / 'exclusions.csv'}.")
    return {ds: " ".join(v) for ds, v in notes.items()}


def _fmt(x, nd=2, sign=False):
    return "" if pd.isna(x) else f"{x:{'+' if sign else ''}.{nd}f}"


def _diff(x) -> str:
    """A reproduced row's difference from the paper, or why it has none (synthetic data)."""
    return _fmt(x, sign=True) or NOT_COMPARABLE


NOT_COMPARABLE = "not comparable"   # a difference between synthetic and real-data accuracy


def synthetic_datasets(per_fold: pd.DataFrame) -> set[str]:
    """The datasets whose runs are all on synthetic data: their accuracy minus the paper's
    real-data number means nothing, so the tables give no such difference."""
    return {ds for ds, g in per_fold.groupby("dataset") if g["synthetic"].all()}


def paper_table(name: str, summary: pd.DataFrame, synthetic: set[str] = frozenset()) -> pd.DataFrame:
    spec = TABLES[name]
    rows = []
    for method, setting, value, ref, variant in spec["rows"]:
        row = {"method": method, "setting": setting, "reference": ref, "paper": value}
        if variant is None:
            row.update(source="reported in the paper", reproduced_mean=None, reproduced_std=None,
                       reproduced_ci_low=None, reproduced_ci_high=None, difference=None, runs=None)
        else:
            key = (spec["dataset"], variant)
            if key not in summary.index:
                continue  # dataset or variant left out of params: no reproduced row
            s = summary.loc[key]
            row.update(source="reproduced", reproduced_mean=s["mean"], reproduced_std=s["std"],
                       reproduced_ci_low=s["ci_low"], reproduced_ci_high=s["ci_high"],
                       difference=None if spec["dataset"] in synthetic else s["mean"] - value,
                       runs=int(s["runs"]))
        rows.append(row)
    return pd.DataFrame(rows)


def ablation_table(summary: pd.DataFrame, per_fold: pd.DataFrame | None = None,
                   synthetic: set[str] = frozenset()) -> pd.DataFrame:
    """Table 4: the paper's and the reproduced accuracy of each row, and (given the runs) each
    row's paired difference to the baseline with its 95% interval and p (claims.compare)."""
    rows = []
    run = {ds for ds, _ in summary.index}
    for ndf, spl, variant, paper in ABLATION:
        row = {"NDFs": "yes" if ndf else "no", "SPL": "yes" if spl else "no", "variant": variant}
        for ds in ABLATION_DATASETS:
            if ds not in run:
                continue  # dataset left out of params
            s = summary.loc[(ds, variant)] if (ds, variant) in summary.index else None
            row[f"{ds}_paper"] = paper[ds]
            row[f"{ds}_reproduced_mean"] = None if s is None else s["mean"]
            row[f"{ds}_reproduced_std"] = None if s is None else s["std"]
            row[f"{ds}_difference"] = None if s is None or ds in synthetic else s["mean"] - paper[ds]
            vs = compare(per_fold, ds, variant, "baseline") if per_fold is not None and variant != "baseline" else None
            row[f"{ds}_vs_baseline"] = None if vs is None else vs["reproduced_difference"]
            row[f"{ds}_vs_baseline_ci_low"] = None if vs is None else vs["ci_low"]
            row[f"{ds}_vs_baseline_ci_high"] = None if vs is None else vs["ci_high"]
            row[f"{ds}_vs_baseline_p"] = None if vs is None else vs["p_value"]
            row[f"{ds}_vs_baseline_steps"] = None if vs is None else vs["steps_ratio"]
        rows.append(row)
    return pd.DataFrame(rows)


def dataset_table(dataset: str, summary: pd.DataFrame) -> pd.DataFrame:
    """A dataset the paper does not report: each variant's reproduced accuracy, nothing beside it."""
    rows = [{"variant": v, "reproduced_mean": s["mean"], "reproduced_std": s["std"], "runs": int(s["runs"])}
            for (ds, v), s in summary.iterrows() if ds == dataset]
    return pd.DataFrame(rows, columns=["variant", "reproduced_mean", "reproduced_std", "runs"])


def _md_dataset(title, df, notes) -> str:
    lines = [f"# {title}", "", *notes, "", "| Variant | Accuracy (mean ± std) | Runs |", "| --- | ---: | ---: |"]
    lines += [f"| {r.variant} | {r.reproduced_mean:.2f} ± {r.reproduced_std:.2f} | {r.runs} |"
              for r in df.itertuples()]
    return "\n".join(lines) + "\n"


def _interval(low, high) -> str:
    return "one run" if pd.isna(low) else f"[{low:.2f}, {high:.2f}]"


def _md_paper(title, df, notes) -> str:
    lines = [f"# {title}", "", *notes, ""]
    rep = df[df["source"] == "reproduced"]
    lines += ["## This paper's methods: paper vs reproduced", "",
              "| Method | Setting | Paper | Reproduced (mean ± std) | 95% interval | Difference | Runs |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.method} | {r.setting} | {r.paper:.2f} | {r.reproduced_mean:.2f} ± {r.reproduced_std:.2f} | "
              f"{_interval(r.reproduced_ci_low, r.reproduced_ci_high)} | {_diff(r.difference)} | {int(r.runs)} |"
              for r in rep.itertuples()] or ["| (no runs) | | | | | | |"]
    other = df[df["source"] != "reproduced"]
    lines += ["", "## Reported in the paper (other methods, quoted, not recomputed)", "",
              "| Method | Setting | Accuracy | Reference |", "| --- | --- | ---: | --- |"]
    lines += [f"| {r.method} | {r.setting} | {r.paper:.2f} | {r.reference} |" for r in other.itertuples()]
    return "\n".join(lines) + "\n"


def _tex_paper(title, df, notes) -> str:
    out = [f"% {title}", *[f"% {n}" for n in notes], r"\begin{tabular}{llrrr}", r"\toprule",
           r"Method & Setting & Paper & Reproduced & Diff. \\", r"\midrule"]
    for r in df[df["source"] == "reproduced"].itertuples():
        out.append(f"{r.method} & {r.setting} & {r.paper:.2f} & ${r.reproduced_mean:.2f} \\pm {r.reproduced_std:.2f}$ "
                   f"& {_fmt(r.difference, sign=True) or 'n/c'} \\\\")
    out += [r"\midrule", r"\multicolumn{5}{l}{\emph{Reported in the paper, not recomputed}} \\"]
    for r in df[df["source"] != "reproduced"].itertuples():
        out.append(f"{r.method} {r.reference} & {r.setting} & {r.paper:.2f} & -- & -- \\\\")
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"


def _md_ablation(df, notes) -> str:
    ds = [d for d in ABLATION_DATASETS if f"{d}_paper" in df.columns]
    head = "| NDFs | SPL | " + " | ".join(f"{DATASET_NAMES[d]} paper | {DATASET_NAMES[d]} reproduced | diff. | "
                                          f"{DATASET_NAMES[d]} vs baseline [95%], p" for d in ds) + " |"
    lines = ["# Table 4: ablation of NDFs and SPL, accuracy (%)", "", *notes,
             "'vs baseline': the paired difference to the baseline over the runs both share, its 95% interval "
             f"and the corrected resampled t-test's p (given where at least {MIN_RUNS} runs pair up; claims.md has the "
             "verdicts); "
             "'N% of its steps': the row's optimiser updates as a share of the baseline's (SPL's early paces "
             "train on part of the samples).",
             "", head, "| --- | --- |" + " ---: | ---: | ---: | ---: |" * len(ds)]
    for r in df.to_dict("records"):
        cells = [f"{r[f'{d}_paper']:.2f} | {_fmt(r[f'{d}_reproduced_mean'])} ± {_fmt(r[f'{d}_reproduced_std'])} | "
                 f"{_diff(r[f'{d}_difference']) if not pd.isna(r[f'{d}_reproduced_mean']) else ''} | {_vs(r, d)}"
                 for d in ds]
        lines.append(f"| {r['NDFs']} | {r['SPL']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _vs(r: dict, d: str) -> str:
    diff = r.get(f"{d}_vs_baseline")
    if diff is None or pd.isna(diff):
        return ""
    p, steps = r[f"{d}_vs_baseline_p"], r.get(f"{d}_vs_baseline_steps")
    # Said where the row had fewer (or more) optimiser steps than the baseline: SPL's paces.
    unequal = "" if steps is None or pd.isna(steps) or round(steps, 2) == 1 else f"; {steps:.0%} of its steps"
    if p is None or pd.isna(p):
        return f"{diff:+.2f} (too few runs to test{unequal})"
    return (f"{diff:+.2f} [{r[f'{d}_vs_baseline_ci_low']:+.2f}, {r[f'{d}_vs_baseline_ci_high']:+.2f}], "
            f"p {p:.3g}{unequal}")


def _tex_ablation(df) -> str:
    ds = [d for d in ABLATION_DATASETS if f"{d}_paper" in df.columns]
    out = [r"\begin{tabular}{ll" + "rr" * len(ds) + "}", r"\toprule",
           "NDFs & SPL & " + " & ".join(f"{DATASET_NAMES[d]} paper & reproduced" for d in ds) + r" \\", r"\midrule"]
    for r in df.to_dict("records"):
        cells = [f"{r[f'{d}_paper']:.2f} & ${_fmt(r[f'{d}_reproduced_mean'])} \\pm {_fmt(r[f'{d}_reproduced_std'])}$"
                 for d in ds]
        out.append(f"{r['NDFs']} & {r['SPL']} & " + " & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"


def headline(summary: pd.DataFrame) -> str:
    """The headline accuracies (%) as nested JSON, for `dvc metrics show`."""
    data: dict = {}
    for (ds, variant), s in summary.iterrows():
        data.setdefault(ds, {})[variant] = {"accuracy_mean": round(float(s["mean"]), 4),
                                            "accuracy_std": round(float(s["std"]), 4), "runs": int(s["runs"])}
    return json.dumps(data, indent=2) + "\n"


def mean_curves(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per-epoch train loss and test accuracy, averaged over runs (folds and seeds), one column per
    dataset/variant (for `dvc plots show`), from every run's history (``fold_curves``), by file name."""
    return {f"curve_{col}.csv": curves.groupby(["epoch", "series"])[col].mean().unstack("series").reset_index()
            for col in ("train_loss", "test_accuracy")}


FOLD_CURVES = "curves_per_fold.csv"


def bound_note(bounds) -> str:
    """A rehearsal's work bound (train.max_steps of its runs) as every figure states it; '' where
    no run had one (None or NaN)."""
    bounds = [int(b) for b in bounds if b is not None and not pd.isna(b)]
    return (f"REHEARSAL, NOT A RESULT: at most {max(bounds)} optimiser step(s) per run (train.max_steps)"
            if bounds else "")


def fold_curves(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Every run's history in one long table: series (dataset/variant), run (fold and seed),
    epoch, pace, whether a new pace starts there, train loss and test accuracy (the per-fold
    learning curves of the report and `dvc plots`)."""
    rows = []
    for r in per_fold.itertuples():
        h = pd.read_csv(Path(r.run) / "history.csv")
        fold = "split" if pd.isna(r.fold) else f"fold{int(r.fold)}"
        # The first epoch starts the run, not a change of pace.
        starts = h["pace"].ne(h["pace"].shift()) & (h.index > 0)
        rows.append(pd.DataFrame({"series": f"{r.dataset}/{r.variant}", "run": f"{fold}/seed{int(r.seed)}",
                                  "synthetic": bool(r.synthetic),
                                  "epoch": h["epoch"], "pace": h["pace"], "pace_start": starts.astype(int),
                                  "train_loss": h["train_loss"], "test_accuracy": h["test_accuracy"]}))
        bound = getattr(r, "max_steps", None)
        if bound is not None and not pd.isna(bound):  # a rehearsal's, stated by the figure
            rows[-1]["max_steps"] = int(bound)
    return pd.concat(rows, ignore_index=True)


def write_tables(run_dirs: list[str | Path], out: str | Path, metrics_out: str | Path | None = None,
                 checks: list[str | Path] = (), prepared: list[str | Path] = ()) -> dict[str, pd.DataFrame]:
    """Write per_fold.csv, table{1,2,3,4}.{md,csv,tex} and, for a dataset the paper does not
    report, table_<name>.{md,csv} under ``out``, and headline.json, curve_*.csv (means over runs)
    and curves_per_fold.csv under ``metrics_out`` (default: ``out``). ``checks`` are the datasets'
    check-data reports and ``prepared`` the prepared folders: where a real dataset's counts
    differ from the paper's, the tables say so."""
    out = Path(out)
    deviating = data_notes(list(checks), list(prepared))
    metrics_out = out if metrics_out is None else Path(metrics_out)
    files: dict[Path, pd.DataFrame | str] = {}  # built whole before anything is written
    per_fold = collect(run_dirs)
    # The bound's column only where a run has one: the tables of real runs keep their columns.
    unbounded = ["max_steps"] if per_fold["max_steps"].isna().all() else []
    files[out / "per_fold.csv"] = per_fold.drop(columns=["run", *unbounded])
    summary = summarise(per_fold)
    synthetic = synthetic_datasets(per_fold)
    files[metrics_out / "headline.json"] = headline(summary)
    curves = fold_curves(per_fold)  # each run's history.csv, read once for both files
    files |= {metrics_out / name: df for name, df in mean_curves(curves).items()}
    files[metrics_out / FOLD_CURVES] = curves
    tables = {}
    for name, spec in TABLES.items():
        df = paper_table(name, summary, synthetic)
        notes = [provenance(per_fold, spec["dataset"]),
                 *([deviating[spec["dataset"]]] if spec["dataset"] in deviating else []),
                 "Std is over the runs (n-1); the 95% interval is the t interval of the mean. Difference = "
                 "reproduced mean - paper" + (", given only for real data: SYNTHETIC accuracy is not comparable "
                                              "with the paper's" if spec["dataset"] in synthetic else "")
                 + "; whether a difference between methods holds is in claims.md."]
        tables[name] = df
        title = f"Table {name[-1]}: {spec['title']}"
        files |= {out / f"{name}.csv": df, out / f"{name}.md": _md_paper(title, df, notes),
                  out / f"{name}.tex": _tex_paper(title, df, notes)}
    for name in extra_tables(sorted(set(per_fold["dataset"]))):
        ds = name.removeprefix("table_")
        df = tables[name] = dataset_table(ds, summary)
        notes = [provenance(per_fold, ds), *([deviating[ds]] if ds in deviating else []),
                 "The paper reports no result on this dataset. Std is over the runs (n-1)."]
        files |= {out / f"{name}.csv": df,
                  out / f"{name}.md": _md_dataset(f"{DATASET_NAMES[ds]}: accuracy (%) per variant", df, notes)}
    claims = tables["claims"] = claims_table(per_fold)
    notes = [provenance(per_fold, d) for d in sorted(set(claims["dataset"]))]
    files |= {out / "claims.csv": claims,
              out / "claims.md": claims_markdown(claims, notes + [deviating[d] for d in sorted(deviating)])}
    df = ablation_table(summary, per_fold, synthetic)
    tables["table4"] = df
    notes = [provenance(per_fold, d) for d in ABLATION_DATASETS] + [deviating[d] for d in ABLATION_DATASETS
                                                                     if d in deviating]
    if synthetic & set(ABLATION_DATASETS):
        notes.append("'diff.': reproduced mean - paper, given only for real data: SYNTHETIC accuracy is not "
                     "comparable with the paper's.")
    files |= {out / "table4.csv": df, out / "table4.md": _md_ablation(df, notes),
              out / "table4.tex": "\n".join(f"% {n}" for n in notes) + "\n" + _tex_ablation(df)}
    with output_files() as stage:  # whole or not at all: an error leaves the old tables as they were
        for path, content in files.items():
            stage(path, _writer(content))
    return tables


def _writer(content: pd.DataFrame | str):
    if isinstance(content, str):
        return lambda tmp: tmp.write_text(content)
    return lambda tmp: content.to_csv(tmp, index=False)
