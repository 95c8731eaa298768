"""The HTML report's front page (``snakemake --report``): this configuration first.

It opens with the configuration that built the report, its claims and Tables 1-4 against
the paper's numbers (and the published snapshot's, for comparison), and only then the
published snapshot's claims, labelled as the snapshot's. Columns are few and cells short:
the page shares its width with Snakemake's rule graph.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spndl.data.registry import DATASETS
from spndl.report.compare import Results, claim_rows, table_rows, with_interval

INTRO = ("spndl regenerates Tables 1-4 and Figures 4-8 of *Self-Paced Neutral Expression-Disentangled Learning "
         "for Facial Expression Recognition*.")


def _cell(text) -> str:
    text = "-" if text is None or (not isinstance(text, str) and pd.isna(text)) or text == "" else str(text)
    # RST inline markup taken literally.
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`")


def list_table(header: list[str], rows: list[list[str]], widths: list[int] | None = None) -> str:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *rows]:
        cells = [_cell(c) for c in row]
        lines += [f"   * - {cells[0]}", *[f"     - {c}" for c in cells[1:]]]
    return "\n".join(lines) + "\n"


def _claims(r: Results) -> list[list[str]]:
    rows = []
    for c in claim_rows(r).to_dict("records"):
        paper = "none" if pd.isna(c["paper_difference"]) else f"{c['paper_difference']:+.1f}"
        rows.append([f"{c['claim']} ({c['better']} > {c['worse']})", DATASETS[c["dataset"]].title, paper,
                     with_interval(c["this_reproduced_difference"], c["this_ci_low"], c["this_ci_high"],
                                   c["this_n_runs"], sign=True), c["this_verdict"],
                     _text(c.get("this_budget"))])  # a verdict holds under its budget (docs/results.md)
    return rows


def _text(x) -> str:
    return "" if x is None or pd.isna(x) else str(x)


def front_page(this: Results, record: dict, snapshot: Results | None) -> str:
    """The page's RST: this configuration (``record``: its configuration.yaml), then the snapshot."""
    name = record["name"]
    synthetic = this.synthetic
    parts = [INTRO, "",
             f"**This report: configuration {name}** (preset ``{record['preset']}``, data source "
             f"``{record['source']}``; runs in ``runs/{name}``, tables in ``results/{name}/tables``)."
             + (" Its numbers come from SYNTHETIC data (``spndl synth``), not from the real datasets: they show the "
                "implementation at work, and the paper's numbers beside them are not comparable."
                if synthetic else " Its numbers come from the real datasets.")
             + (f" **{this.bound}**: its runs stopped at that bound, so its numbers test the pipeline, not the "
                "method." if this.bound else ""), "",
             f"**Its claims** ({this.data} data): the paired difference in accuracy points, better minus worse, "
             "with its 95% interval and number of runs; the verdict uses Holm's adjusted p (Claims in the side "
             "bar has p, the Bayesian test and the steps).", "",
             list_table(["Claim", "Dataset", "Paper", f"{name} [95%] (runs)", "Verdict", "Budget"], _claims(this),
                        [34, 10, 7, 21, 14, 14]), "",
             "**Tables 1-4 against the paper**: accuracy (%), the mean over runs with its 95% interval and "
             "number of runs" + (", beside the published snapshot's (SYNTHETIC data)." if snapshot else "."), ""]
    header = ["Table", "Dataset", "Row", "Paper", f"{name} ({this.data})"]
    header += ["Snapshot (SYNTHETIC)"] if snapshot is not None else []
    rows = []
    for r in table_rows(this, snapshot).to_dict("records"):
        cells = [r["table"], DATASETS[r["dataset"]].title, r["row"], f"{r['paper']:.2f}",
                 with_interval(r["this_mean"], r["this_ci_low"], r["this_ci_high"], r["this_runs"])]
        if snapshot is not None:
            cells.append(with_interval(r["other_mean"], r["other_ci_low"], r["other_ci_high"], r["other_runs"]))
        rows.append(cells)
    parts += [list_table(header, rows, [6, 12, 30, 8, 22, 22][:len(header)]), ""]
    if snapshot is not None:
        parts += [f"**The published snapshot's claims** (``results/{snapshot.label}``, not this run): computed on "
                  "SYNTHETIC data by preset ``synthetic_full``, checkable with ``spndl verify "
                  f"results/{snapshot.label}``; the same columns as above.", "",
                  list_table(["Claim", "Dataset", "Paper", "Snapshot [95%] (runs)", "Verdict", "Budget"],
                             _claims(snapshot), [34, 10, 7, 21, 14, 14]), ""]
    parts += ["Per-fold learning curves are under Figures; ``spndl compare results/NAME --with results/OTHER`` "
              "sets two configurations side by side.", ""]
    # Snakemake renders the page as a Jinja template: nothing in the tables is template syntax.
    return "{% raw %}\n" + "\n".join(parts) + "\n{% endraw %}\n"


def write_front_page(this_dir: str | Path, record_path: str | Path, snapshot_dir: str | Path | None,
                     out: str | Path) -> None:
    from spndl.configuration import read_record
    from spndl.ownership import write_output_text
    from spndl.report.compare import load_results

    record = read_record(Path(record_path))
    this = load_results(this_dir, record.get("name"))
    snapshot = load_results(snapshot_dir) if snapshot_dir is not None else None
    write_output_text(Path(out), front_page(this, record, snapshot))
