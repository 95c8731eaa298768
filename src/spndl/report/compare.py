"""One configuration's results beside the paper's numbers and another configuration's.

A results folder is any folder with ``tables/per_fold.csv`` and ``tables/claims.csv``: a
configuration's (``results/NAME``) or a published snapshot's (``results/synthetic_full``).
Each row of Tables 1-4 gets the paper's accuracy and, from each folder, the mean over its
runs with the 95% t interval and the number of runs (spndl.report.tables.summarise); each
claim gets the paper's difference and, from each folder, the paired difference with its
interval and verdict (spndl.report.claims). Nothing is recomputed beyond the means: the
intervals are the tables' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spndl.data.records import DataError
from spndl.data.registry import DATASETS
from spndl.report.paper import ABLATION, ABLATION_DATASETS, TABLES
from spndl.report.tables import bound_note, summarise

PER_FOLD_COLUMNS = ("dataset", "variant", "fold", "seed", "accuracy", "synthetic")
CLAIM_COLUMNS = ("claim", "dataset", "better", "worse", "paper_difference", "reproduced_difference", "ci_low",
                 "ci_high", "n_runs", "verdict")


@dataclass
class Results:
    """A results folder's runs and claims, and what to call it."""

    label: str
    per_fold: pd.DataFrame
    claims: pd.DataFrame

    @property
    def synthetic(self) -> bool:
        return bool(self.per_fold["synthetic"].all())

    @property
    def bound(self) -> str:
        """A rehearsal's work bound (per_fold.csv's max_steps column, present only when bounded)."""
        return bound_note(self.per_fold["max_steps"]) if "max_steps" in self.per_fold else ""

    @property
    def data(self) -> str:
        """What its numbers come from, as a column header says it."""
        return ("SYNTHETIC" if self.synthetic else "real") + (", REHEARSAL" if self.bound else "")


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable ({' '.join(str(e).split())}); give a results folder "
                        "(results/NAME or a snapshot) whose tables are built") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: not a table of spndl tables (no column {', '.join(missing)})")
    return df


def load_results(folder: str | Path, label: str | None = None) -> Results:
    folder = Path(folder)
    per_fold = _read(folder / "tables" / "per_fold.csv", PER_FOLD_COLUMNS)
    if per_fold.empty:
        raise DataError(f"{folder / 'tables' / 'per_fold.csv'}: no runs")
    claims = _read(folder / "tables" / "claims.csv", CLAIM_COLUMNS)
    return Results(label or folder.name, per_fold, claims)


def _rows() -> list[tuple[str, str, str, float, str]]:
    """(table, dataset, row name, paper's accuracy, variant) of every reproduced row of Tables 1-4."""
    rows = [(name[-1], spec["dataset"], method, value, variant)
            for name, spec in TABLES.items() for method, _, value, _, variant in spec["rows"] if variant]
    rows += [("4", d, f"NDFs {'yes' if ndf else 'no'}, SPL {'yes' if spl else 'no'} ({variant})", paper[d], variant)
             for d in ABLATION_DATASETS for ndf, spl, variant, paper in ABLATION]
    return rows


def table_rows(this: Results, other: Results | None = None) -> pd.DataFrame:
    """One row per reproduced row of Tables 1-4 that ``this`` ran: the paper's accuracy, and each
    folder's mean, 95% interval and runs."""
    sums = {"this": summarise(this.per_fold)}
    if other is not None:
        sums["other"] = summarise(other.per_fold)
    out = []
    for table, dataset, row, paper, variant in _rows():
        if (dataset, variant) not in sums["this"].index:
            continue
        rec = {"table": table, "dataset": dataset, "row": row, "variant": variant, "paper": paper}
        for who, s in sums.items():
            hit = s.loc[(dataset, variant)] if (dataset, variant) in s.index else None
            for k in ("mean", "ci_low", "ci_high", "runs"):
                rec[f"{who}_{k}"] = None if hit is None else hit[k]
        out.append(rec)
    return pd.DataFrame(out)


def claim_rows(this: Results, other: Results | None = None) -> pd.DataFrame:
    """One row per claim of ``this``: the paper's difference, and each folder's paired
    difference, interval, runs and verdict."""
    keys = ["claim", "dataset", "better", "worse"]
    keep = ["reproduced_difference", "ci_low", "ci_high", "n_runs", "verdict"]
    keep += ["budget"] if "budget" in this.claims.columns else []  # tables written before it had none
    t = this.claims[keys + ["paper_difference"] + keep].rename(columns={k: f"this_{k}" for k in keep})
    if other is not None:
        o = other.claims[keys + [k for k in keep if k in other.claims.columns]]
        o = o.rename(columns={k: f"other_{k}" for k in keep})
        t = t.merge(o, on=keys, how="left")
    return t


def _num(x, sign: bool = False) -> str:
    return "" if x is None or pd.isna(x) else f"{x:{'+' if sign else ''}.2f}"


def with_interval(mean, low, high, runs=None, sign: bool = False) -> str:
    """'mean [low, high]' (n runs); '-' where the folder has no such row; no interval from one run."""
    if mean is None or pd.isna(mean):
        return "-"
    text = _num(mean, sign) + ("" if low is None or pd.isna(low) else f" [{_num(low, sign)}, {_num(high, sign)}]")
    return text + ("" if runs is None or pd.isna(runs) else f" ({int(runs)})")


def compare_markdown(this: Results, other: Results | None = None) -> str:
    """Tables 1-4 and the claims, this folder beside the paper and ``other``, as markdown."""
    cols = [f"{this.label} ({this.data}) [95%] (runs)"] + (
        [f"{other.label} ({other.data}) [95%] (runs)"] if other is not None else [])
    t = table_rows(this, other)
    lines = [f"# {this.label} against the paper" + (f" and {other.label}" if other is not None else ""), "",
             "Accuracy (%): the mean over runs with the 95% t interval of the mean and the number of runs. "
             "Claims: the paired difference in points (better - worse) with its 95% interval, runs, and the "
             "verdict from Holm's adjusted p (claims.md says how)."
             + (" Numbers from SYNTHETIC data show the implementation at work, not the paper's results; the "
                "paper's are on the real datasets and are not comparable to them."
                if this.synthetic or (other is not None and other.synthetic) else ""), "",
             "## Tables 1-4", "", "| Table | Dataset | Row | Paper | " + " | ".join(cols) + " |",
             "| --- | --- | --- | ---: |" + " ---: |" * len(cols)]
    for r in t.to_dict("records"):
        cells = [with_interval(r[f"{w}_mean"], r[f"{w}_ci_low"], r[f"{w}_ci_high"], r[f"{w}_runs"])
                 for w in ("this", "other") if f"{w}_mean" in r]
        lines.append(f"| {r['table']} | {DATASETS[r['dataset']].title} | {r['row']} | {r['paper']:.2f} | "
                     + " | ".join(cells) + " |")
    c = claim_rows(this, other)
    lines += ["", "## Claims", "", "| Claim | Dataset | Paper | " + " | ".join(f"{x} | verdict" for x in cols) + " |",
              "| --- | --- | ---: |" + " ---: | --- |" * len(cols)]
    for r in c.to_dict("records"):
        cells = []
        for w in ("this", "other"):
            if f"{w}_verdict" not in r:
                continue
            cells += [with_interval(r[f"{w}_reproduced_difference"], r[f"{w}_ci_low"], r[f"{w}_ci_high"],
                                    r[f"{w}_n_runs"], sign=True),
                      r[f"{w}_verdict"] if isinstance(r[f"{w}_verdict"], str) else "-"]
        paper = "none" if pd.isna(r["paper_difference"]) else _num(r["paper_difference"], True)
        lines.append(f"| {r['claim']} ({r['better']} > {r['worse']}) | {DATASETS[r['dataset']].title} | {paper} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
