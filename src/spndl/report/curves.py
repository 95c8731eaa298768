"""Per-fold learning curves: test accuracy and training loss per epoch, one line per run (fold
and seed), one panel per dataset and variant, SPL's pace changes marked.

The means over runs (curve_*.csv, `dvc plots`) hide a fold that diverges or a pace that
costs accuracy; one line per fold shows both. Drawn from ``curves_per_fold.csv``
(spndl.report.tables.fold_curves).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from spndl.data.records import DataError  # noqa: E402
from spndl.data.registry import DATASETS  # noqa: E402
from spndl.ownership import output_file  # noqa: E402
from spndl.report.tables import bound_note  # noqa: E402

COLUMNS = ("series", "run", "synthetic", "epoch", "pace", "pace_start", "train_loss", "test_accuracy")
PANELS = (("test_accuracy", "test accuracy (%)", 100.0), ("train_loss", "training loss", 1.0))


def read_curves(path: str | Path) -> pd.DataFrame:
    """curves_per_fold.csv, checked for the columns the figure draws and at least one epoch."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable ({' '.join(str(e).split())})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing or df.empty:
        raise DataError(f"{path}: not a curves_per_fold.csv of spndl tables "
                        f"({'no column ' + ', '.join(missing) if missing else 'no rows'})")
    return df


def draw_fold_curves(curves: pd.DataFrame, out: str | Path, title: str = "") -> None:
    """One row of panels per dataset and measure, one column per variant; a line per run and a
    dotted vertical line where SPL starts a new pace."""
    series = list(dict.fromkeys(curves["series"]))
    datasets = [d for d in DATASETS if any(s.startswith(f"{d}/") for s in series)]
    width = max(sum(s.startswith(f"{d}/") for s in series) for d in datasets)
    fig, axes = plt.subplots(2 * len(datasets), width, figsize=(3.2 * width, 2.4 * 2 * len(datasets)),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_visible(False)
    for i, d in enumerate(datasets):
        for j, s in enumerate(x for x in series if x.startswith(f"{d}/")):
            part = curves[curves["series"] == s]
            for k, (column, label, scale) in enumerate(PANELS):
                ax = axes[2 * i + k, j]
                ax.set_visible(True)
                for run, r in part.groupby("run", sort=True):
                    ax.plot(r["epoch"], r[column] * scale, lw=1, label=run)
                for epoch in sorted(set(part.loc[part["pace_start"] == 1, "epoch"])):
                    ax.axvline(epoch - 0.5, color="grey", ls=":", lw=0.8)
                ax.set_title(f"{DATASETS[d].title}, {s.split('/', 1)[1]}", fontsize=9)
                ax.set_ylabel(label, fontsize=8)
                ax.set_xlabel("epoch", fontsize=8)
                ax.tick_params(labelsize=7)
                ax.grid(alpha=0.3)
        first = axes[2 * i, 0]
        if first.get_legend_handles_labels()[1] and len(first.get_legend_handles_labels()[1]) <= 12:
            first.legend(fontsize=6, ncols=2)
    data = "SYNTHETIC data (spndl synth)" if curves["synthetic"].all() else "real data"
    bound = bound_note(curves["max_steps"]) if "max_steps" in curves else ""
    fig.suptitle(f"Per-fold learning curves, {data}{' - ' + title if title else ''}; dotted: a new SPL pace"
                 + (f"\n{bound}" if bound else ""), fontsize=10)
    with output_file(out) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
