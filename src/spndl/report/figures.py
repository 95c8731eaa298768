"""Figures 4-8, drawn from run folders with matplotlib; every title says what the data are."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from spndl.data.prepared import load_prepared  # noqa: E402
from spndl.data.records import DataError  # noqa: E402
from spndl.data.registry import DATASETS  # noqa: E402
from spndl.ownership import output_file  # noqa: E402
from spndl.report.runkey import run_key  # noqa: E402
from spndl.report.tables import DATASET_NAMES, bound_note  # noqa: E402

SHORT = {"neutral": "Ne", "happy": "Ha", "sadness": "Sa", "surprise": "Su", "fear": "Fe", "disgust": "Di",
         "anger": "An", "contempt": "Co"}


METRIC_FIELDS = ("dataset", "variant", "fold", "seed", "synthetic", "epochs", "classes", "confusion_matrix")


def run_metrics(run: Path) -> dict:
    """A run's metrics.json, checked: a figure from a cut or edited record would be a wrong figure."""
    path = Path(run) / "metrics.json"
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "missing; not a finished run of spndl train") from None
    except ValueError:
        raise DataError(path, "truncated or not JSON; not the metrics of a finished run") from None
    missing = [k for k in METRIC_FIELDS if not isinstance(m, dict) or k not in m]
    if missing:
        raise DataError(path, f"no field {', '.join(missing)}; not the metrics of a finished run")
    run_key(m["dataset"], m["variant"], m["fold"], m["seed"], str(path))
    if not isinstance(m["epochs"], int) or isinstance(m["epochs"], bool) or m["epochs"] < 1:
        raise DataError(path, f"epochs {m['epochs']!r} is not a whole number >= 1")
    return m


def run_history(run: Path, columns: tuple[str, ...], m: dict | None = None) -> pd.DataFrame:
    """A run's history.csv with ``columns``, one row for each of the epochs its metrics.json
    (``m``, read here if not given) counts, finite: a history cut short would draw a curve
    with a piece missing."""
    path = Path(run) / "history.csv"
    try:
        h = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(path, "missing; not a finished run of spndl train") from None
    except (ValueError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        raise DataError(path, f"unreadable as a table ({' '.join(str(e).split())})") from None
    missing = [c for c in ("epoch", "pace", *columns) if c not in h.columns]
    if missing:
        raise DataError(path, f"no column {', '.join(missing)}; not the history of spndl train")
    n = (m or run_metrics(run))["epochs"]
    if h["epoch"].tolist() != list(range(1, n + 1)):
        raise DataError(path, f"holds epochs {_epochs(h)} where its metrics.json counts {n} (1-{n}): cut short "
                        "or edited")
    values = pd.to_numeric(h[list(columns)].stack(), errors="coerce")
    if not np.isfinite(values.to_numpy(float)).all():
        raise DataError(path, f"a value of {', '.join(columns)} is missing or not a finite number")
    return h


def _epochs(h: pd.DataFrame) -> str:
    e = h["epoch"].tolist()
    return "none" if not e else f"{e[0]}-{e[-1]} ({len(e)} rows)"


def _same_epochs(runs: dict[str, tuple[Path, dict, pd.DataFrame]]) -> None:
    """Curves drawn on one axis must cover the same epochs (``runs``: name -> folder, metrics, history)."""
    if any(m.get("max_steps") for _, m, _ in runs.values()):
        return  # a rehearsal's bound stops runs at different epochs; its figures say so (_tag)
    (first, (p0, _, h0)), *rest = runs.items()
    for name, (p, _, h) in rest:
        if len(h) != len(h0):
            raise DataError(Path(p) / "history.csv", f"{name} has {len(h)} epochs where {first} "
                            f"({Path(p0) / 'history.csv'}) has {len(h0)}; a figure compares runs of the same epochs")


def _tag(metrics: list[dict]) -> str:
    """What the figure's runs are: synthetic or real data and, on its own line, a rehearsal's bound."""
    data = "SYNTHETIC data" if all(m["synthetic"] for m in metrics) else "real data"
    bound = bound_note(m.get("max_steps") for m in metrics)
    return data + (f"\n{bound}" if bound else "")


def _save(fig, out: str | Path) -> None:
    with output_file(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _finish_line_plot(fig, ax, xlabel: str, ylabel: str, title: str, out: str | Path) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, out)


def fig4_confusion(runs_by_dataset: dict[str, list[Path]], out: str | Path) -> None:
    """Confusion matrices summed over folds, row-normalised, one panel per dataset."""
    names = [d for d in DATASETS if runs_by_dataset.get(d)]
    fig, axes = plt.subplots(1, len(names), figsize=(5.4 * len(names), 5.0), squeeze=False, layout="constrained")
    every = []
    for ax, ds in zip(axes[0], names):
        ms = [run_metrics(r) for r in runs_by_dataset[ds]]
        every += ms
        cm = np.sum([m["confusion_matrix"] for m in ms], axis=0)
        classes = ms[0]["classes"]
        rate = cm / np.maximum(cm.sum(1, keepdims=True), 1) * 100
        ax.imshow(rate, cmap="Blues", vmin=0, vmax=100)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{rate[i, j]:.0f}\n({cm[i, j]})", ha="center", va="center", fontsize=7,
                        color="white" if rate[i, j] > 60 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        folds = "split" if ms[0]["fold"] is None else f"{len(ms)} folds summed"
        ax.set_title(f"{DATASET_NAMES[ds]}: {ms[0]['variant']} ({folds})")
    fig.suptitle(f"Fig. 4: confusion matrices, % of each true class (count) — {_tag(every)}")
    _save(fig, out)


def pace_spans(history: pd.DataFrame) -> dict[int, tuple[int, int]]:
    """The first and last epoch of each pace of a run's checked history (``run_history``);
    pace 0 is SPL's warm-up."""
    g = history.groupby("pace")["epoch"]
    return {int(p): (int(a), int(b)) for p, a, b in zip(g.min().index, g.min(), g.max())}


def _mark_paces(ax, spans: dict[int, tuple[int, int]]) -> None:
    """Shade the warm-up and draw a dotted line where each pace after it starts, labelled."""
    if 0 in spans:
        ax.axvspan(spans[0][0] - 0.5, spans[0][1] + 0.5, color="grey", alpha=0.12, lw=0, label="warm-up (all samples)")
    for pace, (first, _) in spans.items():
        if pace > 0:
            ax.axvline(first - 0.5, color="grey", ls=":", lw=0.8)
            ax.text(first - 0.4, 0.02, f"pace {pace}", transform=ax.get_xaxis_transform(), fontsize=7,
                    va="bottom", rotation=90, color="grey")


def fig5_paces(spl: Path, spndl: Path, baseline: Path, ndf: Path, out: str | Path) -> None:
    """Test accuracy epoch by epoch of SPL with and without NDFs, of the baseline and of NDF;
    the SPL runs' pace ends are marked, and dotted lines show where each pace starts."""
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    runs = ((spl, "SPL (no NDF)", "-"), (spndl, "SPL + NDF (SPNDL)", "-"),
            (baseline, "baseline", "--"), (ndf, "NDF only", ":"))
    metrics = {label: run_metrics(run) for run, label, _ in runs}
    hist = {label: (run, metrics[label], run_history(run, ("test_accuracy",), metrics[label]))
            for run, label, _ in runs}
    _same_epochs(hist)
    for _, label, style in runs:
        h = hist[label][2]
        line, = ax.plot(h["epoch"], h["test_accuracy"] * 100, style, label=label)
        if h["pace"].nunique() > 1:  # an SPL run: a marker at the last epoch of each pace
            ends = h[h["pace"] > 0].groupby("pace").tail(1)
            ax.plot(ends["epoch"], ends["test_accuracy"] * 100, "o", color=line.get_color(), ms=4)
    _mark_paces(ax, pace_spans(hist["SPL + NDF (SPNDL)"][2]))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    m = metrics["SPL + NDF (SPNDL)"]
    _finish_line_plot(fig, ax, "epoch (dots: end of an SPL pace)", "test accuracy (%)",
                      f"Fig. 5: {DATASET_NAMES[m['dataset']]} fold {m['fold']} — "
                      f"{_tag(list(metrics.values()))}", out)


def fig6_losses(with_spl: Path, without_spl: Path, out: str | Path) -> None:
    """Training loss per epoch with and without SPL; the dotted lines mark pace starts."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    m1, m0 = run_metrics(with_spl), run_metrics(without_spl)
    h1 = run_history(with_spl, ("train_loss",), m1)
    h0 = run_history(without_spl, ("train_loss",), m0)
    _same_epochs({"the run with SPL": (with_spl, m1, h1), "the run without SPL": (without_spl, m0, h0)})
    ax.plot(h1["epoch"], h1["train_loss"], label=f"with SPL ({m1['variant']})")
    ax.plot(h0["epoch"], h0["train_loss"], label=f"without SPL ({m0['variant']})")
    _mark_paces(ax, pace_spans(h1))
    _finish_line_plot(fig, ax, "epoch", "training loss (mean cross-entropy)",
                      f"Fig. 6: {DATASET_NAMES[m1['dataset']]} — {_tag([m1, m0])}", out)


def fig7_tsne(features: dict[int, Path], selection: Path, classes: tuple[str, ...], out: str | Path,
              metrics: dict, seed: int = 0) -> None:
    """t-SNE of the NDFs of two classes at two paces; samples excluded at that pace are circled."""
    sel = pd.read_csv(selection)
    fig, axes = plt.subplots(1, len(features), figsize=(5.4 * len(features), 4.8), squeeze=False)
    for ax, (pace, path) in zip(axes[0], sorted(features.items())):
        f = np.load(path)
        label_names = np.array(json.loads(str(f["classes"])))[f["label"]]
        keep = np.isin(label_names, classes)
        s = sel[sel["pace"] == pace].set_index("sample_id")["selected"]
        excluded = ~s.loc[f["sample_id"][keep]].to_numpy().astype(bool)
        x = f["features"][keep]
        emb = TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3)), init="pca",
                   random_state=seed).fit_transform(x)
        for c, colour in zip(classes, ("tab:orange", "tab:green")):
            m = label_names[keep] == c
            ax.scatter(emb[m, 0], emb[m, 1], s=14, color=colour, label=c)
        ax.scatter(emb[excluded, 0], emb[excluded, 1], s=90, facecolors="none", edgecolors="black",
                   linewidths=1.0, label="excluded at this pace")
        ax.set_title(f"pace {pace}: {excluded.sum()} of {len(x)} excluded")
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 7: NDFs of {' and '.join(classes)} during SPL — {_tag([metrics])}")
    _save(fig, out)


def not_reached(metrics: dict, what: str, out: str | Path) -> None:
    """A bounded run's stand-in for a figure it never reached (train.max_steps stopped it first):
    a panel that says so, never a figure drawn from other data."""
    fig, ax = plt.subplots(figsize=(7.2, 2.4))
    ax.axis("off")
    ax.text(0.5, 0.5, f"Not drawn: {what}.\n{DATASET_NAMES[metrics['dataset']]}, {metrics['variant']}, "
            f"stopped after {metrics['max_steps']} optimiser step(s).", ha="center", va="center", fontsize=10,
            wrap=True)
    fig.suptitle(_tag([metrics]), fontsize=10)
    _save(fig, out)


def fig8_excluded(run: Path, data_dir: Path, out: str | Path, per_pace: int = 6, seed: int = 0) -> None:
    """Randomly chosen samples excluded at each pace before the last, with label and loss;
    each row names its pace's epochs (after the warm-up, which scores nothing)."""
    m = run_metrics(run)
    sel = pd.read_csv(Path(run) / "spl_selection.csv", keep_default_na=False)
    paces = sorted(p for p in sel["pace"].unique() if not sel[sel["pace"] == p]["selected"].all())
    if not paces and m.get("max_steps"):
        not_reached(m, "Fig. 8 shows the samples SPL excluded at each pace, and the run scored no pace", out)
        return
    data = load_prepared(data_dir)
    spans = pace_spans(run_history(run, (), m))
    index = data.manifest.set_index("sample_id")["target_index"]
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(max(1, len(paces)), per_pace, figsize=(1.6 * per_pace, 1.9 * max(1, len(paces))),
                             squeeze=False)
    for row, pace in zip(axes, paces or [None]):
        ex = sel[(sel["pace"] == pace) & (~sel["selected"].astype(bool))] if pace else sel.iloc[:0]
        pick = ex.iloc[np.sort(rng.choice(len(ex), min(per_pace, len(ex)), replace=False))] if len(ex) else ex
        for ax in row:
            ax.axis("off")
        for ax, r in zip(row, pick.itertuples()):
            ax.imshow(data.images[index[r.sample_id]].transpose(1, 2, 0))
            ax.set_title(f"{SHORT.get(data.classes[r.label], data.classes[r.label])} {r.loss:.2f}", fontsize=8)
        if pace:
            first, last = spans.get(pace, (0, 0))
            row[0].text(-0.15, 0.5, f"pace {pace}\nepochs {first}-{last}", transform=row[0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=8)
    warm = f", after {spans[0][1]} warm-up epoch(s)" if 0 in spans else ""
    fig.suptitle(f"Fig. 8: excluded samples (label, loss){warm}, {DATASET_NAMES[m['dataset']]} — "
                 f"{_tag([m])}", fontsize=10)
    _save(fig, out)
