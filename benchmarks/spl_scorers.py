"""Which scorer should choose SPL's paces (spl.scorer, spndl.training.scoring)? Measured on
synthetic data whose truth is known (``synth_truth.csv``: each sample's true label, its
degraded frames, its peak intensity).

For every arm it trains the SPL variant of each dataset (spndl on CK+ and Oulu-CASIA,
spndl_wo_neutral on RAF-DB) on the same folds or seeds, then prints the figures below. An arm
is a scorer (``--scorers``: ``spl.scorer`` set to it) or any other settings (``--arm``), e.g.
a warm-up long enough in optimiser steps for BatchNorm's running statistics (momentum 0.1)
to forget their start: ``--arm 'warmup3=spl.warmup_epochs=3 train.epochs=15'`` keeps two
epochs per pace.

- per pace and kind of flaw (mislabelled, degraded, subtle: the lowest quarter of peak
  intensity), how many points more often the arm leaves the flawed samples out than the
  clean ones: the mean over runs with its 95 % t-interval (an arm that tells flawed
  from clean leaves them out more often: a positive contrast);
- the last epoch's test accuracy, mean with its 95 % t-interval, and its paired difference
  from ``eval`` (t-interval and paired t-test over the same folds and seeds);
- the cost: each run's process CPU seconds, as a ratio to ``eval``'s on the same run.

    python benchmarks/spl_scorers.py --synth data/raw/synthetic-medium-seed0 \\
        --data ckplus=data/prepared/.../ckplus --data oulu=... --data rafdb=... \\
        --folds 0 1 2 3 4 --seeds 0 1 2 --out benchmarks/records/spl-scorers

The runs go under ``--out/runs`` (a rerun skips the finished ones); ``--jobs`` runs that
many at once, one thread each. ``--analyse-only`` prints from the runs already there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from spndl.report.stats import holm
from spndl.training.scoring import SCORERS

VARIANT = {"ckplus": "spndl", "oulu": "spndl", "rafdb": "spndl_wo_neutral"}


REFERENCE = "eval"  # the paper's letter: every other arm is paired with it


def plan(data: dict[str, str], folds: list[int], seeds: list[int], arms: dict[str, list[str]]) -> list[dict]:
    jobs = []
    for ds, path in data.items():
        units = [("split", s) for s in seeds] if ds == "rafdb" else [(f, 0) for f in folds]
        for unit, seed in units:
            for arm, settings in arms.items():
                name = f"{ds}/{arm}/{'split' if unit == 'split' else f'fold{unit}'}/seed{seed}"
                jobs.append({"dataset": ds, "arm": arm, "settings": settings,
                             "fold": None if unit == "split" else unit, "seed": seed, "data": path, "name": name})
    return jobs


def parse_arm(text: str) -> tuple[str, list[str]]:
    """``NAME=KEY=VALUE KEY=VALUE ...`` -> (NAME, ["KEY=VALUE", ...])."""
    name, _, settings = text.partition("=")
    if not name.isidentifier() or name in SCORERS or "=" not in settings:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=KEY=VALUE [KEY=VALUE ...], NAME a new "
                                         f"identifier (not a scorer's name: {', '.join(SCORERS)})")
    return name, settings.split()


def run_one(job: dict, out: Path, settings: list[str]) -> None:
    run = out / "runs" / job["name"]
    if (run / "metrics.json").exists() and (run / "cpu_seconds.txt").exists():
        return
    cmd = [sys.executable, "-m", "spndl", "train", "--data", job["data"], "--variant", VARIANT[job["dataset"]],
           "--out", str(run), "--preset", "synthetic_full",
           "--set", f"seed={job['seed']}", "--set", "train.cpu_threads=1", "--restart-on-change"]
    cmd += [] if job["fold"] is None else ["--fold", str(job["fold"])]
    for s in [*settings, *job["settings"]]:  # the arm's own last: they win
        cmd += ["--set", s]
    t0 = time.perf_counter()
    # The child's own CPU time (os.wait4): getrusage(RUSAGE_CHILDREN) would mix the runs side by side.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{run}: spndl train failed:\n{err[-2000:]}")
    (run / "cpu_seconds.txt").write_text(f"{usage.ru_utime + usage.ru_stime:.2f} {time.perf_counter() - t0:.2f}\n")


def truth_table(synth: Path) -> pd.DataFrame:
    t = pd.read_csv(synth / "synth_truth.csv", keep_default_na=False)
    t["subtle"] = False
    for _, g in t.groupby("dataset"):
        t.loc[g.index, "subtle"] = g["peak_intensity"] < g["peak_intensity"].quantile(0.25)
    t["mislabelled"] = (t["written_label"] != "") & (t["true_label"] != t["written_label"])
    return t


def flaws(sel: pd.DataFrame, truth: pd.DataFrame, ds: str) -> pd.DataFrame:
    """Each selection row with its sample's flaws. CK+ and Oulu-CASIA samples are frames of a
    sequence (degraded frame by frame); RAF-DB's are images."""
    t = truth[truth["dataset"] == ds]
    if ds == "rafdb":
        m = sel.merge(t.rename(columns={"subject": "sample_id"}), on="sample_id", validate="many_to_one")
        m["degraded"] = m["degraded"] != ""
        return m
    parts = sel["sample_id"].str.rsplit("_", n=1, expand=True)
    seq = parts[0].str.replace("_", "/", n=1)
    frame = parts[1].astype(int)
    m = sel.assign(sequence=seq, frame=frame).merge(t, on="sequence", validate="many_to_one")
    bad = [{int(x.split(":")[0]) for x in d.split(";") if x} for d in m["degraded"]]
    m["degraded"] = [f in b for f, b in zip(m["frame"], bad)]
    return m


def ci(x) -> str:
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return f"{x.mean():+.1f}"
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{x.mean():+.1f} [{x.mean() - h:+.1f}, {x.mean() + h:+.1f}]"


def analyse(out: Path, jobs: list[dict], truth: pd.DataFrame) -> None:
    arms = list(dict.fromkeys(j["arm"] for j in jobs))
    others = [a for a in arms if a != REFERENCE]
    contrast, final = [], []
    for job in jobs:
        run = out / "runs" / job["name"]
        if not (run / "metrics.json").exists():
            continue
        unit = job["name"].split("/")[2]
        metrics = json.loads((run / "metrics.json").read_text())
        cpu, wall = map(float, (run / "cpu_seconds.txt").read_text().split())
        final.append({"dataset": job["dataset"], "arm": job["arm"], "unit": f"{unit}/{job['seed']}",
                      "accuracy": 100 * metrics["accuracy"], "cpu_s": cpu})
        m = flaws(pd.read_csv(run / "spl_selection.csv", keep_default_na=False), truth, job["dataset"])
        m["left_out"] = ~m["selected"].astype(bool)
        clean = ~(m["mislabelled"] | m["degraded"] | m["subtle"])
        for pace, g in m[~m.groupby("pace")["selected"].transform("all")].groupby("pace"):  # not the last
            base = g.loc[clean[g.index], "left_out"].mean()
            for kind in ("mislabelled", "degraded", "subtle"):
                if g[kind].any():
                    points = 100 * (g.loc[g[kind], "left_out"].mean() - base)
                    contrast.append({"dataset": job["dataset"], "arm": job["arm"],
                                     "unit": f"{unit}/{job['seed']}", "pace": pace, "kind": kind,
                                     "n": int(g[kind].sum()), "points": points})
    c, f = pd.DataFrame(contrast), pd.DataFrame(final)
    print("Left out more often than the clean samples (points; mean over runs [95 % t-interval]):")
    for ds, g in c.groupby("dataset", sort=False):
        tab = g.groupby(["kind", "pace", "arm"])["points"].apply(ci).unstack("arm")
        n = g.groupby(["kind"])["n"].mean().round(1).to_dict()
        print(f"\n{ds} ({VARIANT[ds]}; flawed training samples per run: {n})")
        print(tab[[a for a in arms if a in tab.columns]].to_string())
    # One number per run and kind: the contrast averaged over the paces that leave samples out,
    # paired with eval's on the same fold or seed.
    per_run = c.groupby(["dataset", "kind", "unit", "arm"])["points"].mean().unstack("arm")
    print(f"\nThe same averaged over the paces, per run; paired difference from {REFERENCE} [95 % t-interval], "
          "paired t p and, over an arm's rows, Holm's adjusted p:")
    rows = []
    for (ds, kind), g in per_run.groupby(level=["dataset", "kind"], sort=False):
        row = {"dataset": ds, "kind": kind, "runs": len(g), REFERENCE: ci(g[REFERENCE])}
        for a in [a for a in others if a in g.columns]:
            row[a] = ci(g[a])
            row[f"{a} minus {REFERENCE}"] = ci(g[a] - g[REFERENCE])
            row[f"{a} p"] = stats.ttest_rel(g[a], g[REFERENCE]).pvalue if len(g) > 1 else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    for a in [a for a in others if f"{a} p" in table.columns]:
        # eight rows (dataset x flaw) per arm: one interval in eight misses 0 by chance alone
        table[f"{a} Holm p"] = holm(table[f"{a} p"].to_numpy())
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\nLast epoch's test accuracy (%), mean [95 % t-interval]; paired difference from {REFERENCE}:")
    rows = []
    for (ds, a), g in f.groupby(["dataset", "arm"], sort=False):
        ref = f[(f["dataset"] == ds) & (f["arm"] == REFERENCE)].set_index("unit")
        g = g.set_index("unit")
        row = {"dataset": ds, "arm": a, "runs": len(g), "accuracy": ci(g["accuracy"]).lstrip("+")}
        if a != REFERENCE and len(ref):
            both = g.index.intersection(ref.index)
            d = g.loc[both, "accuracy"] - ref.loc[both, "accuracy"]
            p = stats.ttest_rel(g.loc[both, "accuracy"], ref.loc[both, "accuracy"]).pvalue if len(both) > 1 else np.nan
            row |= {f"minus {REFERENCE}": ci(d), "paired t p": f"{p:.2f}",
                    f"CPU / {REFERENCE}": f"{np.median(g.loc[both, 'cpu_s'] / ref.loc[both, 'cpu_s']):.2f}"}
        rows.append(row)
    print(pd.DataFrame(rows).fillna("").to_string(index=False))
    # All datasets pooled: one paired test over every fold and seed.
    piv = f.pivot_table(index=["dataset", "unit"], columns="arm", values="accuracy")
    for a in [a for a in others if a in piv.columns and REFERENCE in piv.columns]:
        d = (piv[a] - piv[REFERENCE]).dropna()
        if len(d) < 2:
            continue
        print(f"pooled over the datasets: {a} minus {REFERENCE} {ci(d)} points over {len(d)} paired runs, "
              f"paired t p {stats.ttest_rel(piv.loc[d.index, a], piv.loc[d.index, REFERENCE]).pvalue:.2f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synth", type=Path, required=True, help="the raw synthetic folder with synth_truth.csv")
    ap.add_argument("--data", action="append", required=True, help="DATASET=PREPARED folder (repeatable)")
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="RAF-DB's runs")
    ap.add_argument("--scorers", nargs="+", default=list(SCORERS), choices=SCORERS,
                    help=f"scorer arms (the others are paired with {REFERENCE}, which is always trained)")
    ap.add_argument("--arm", action="append", default=[], type=parse_arm, metavar="NAME=SETTINGS",
                    help="an arm of other settings, e.g. 'warmup3=spl.warmup_epochs=3 train.epochs=15' (repeatable)")
    ap.add_argument("--set", action="append", default=[], help="a setting for every run, e.g. train.epochs=13")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--analyse-only", action="store_true")
    args = ap.parse_args(argv)
    data = dict(d.split("=", 1) for d in args.data)
    unknown = set(data) - set(VARIANT)
    if unknown:
        ap.error(f"--data: unknown dataset(s) {sorted(unknown)}; expected {', '.join(VARIANT)}")
    arms = {sc: [f"spl.scorer={sc}"] for sc in dict.fromkeys([REFERENCE, *args.scorers])}
    for name, settings in args.arm:
        if name in arms:
            ap.error(f"--arm {name}: named twice")
        arms[name] = settings
    jobs = plan(data, args.folds, args.seeds, arms)
    if not args.analyse_only:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda j: run_one(j, args.out, args.set), jobs))
        print(f"{len(jobs)} runs, settings {args.set or 'the preset'}, wall {time.perf_counter() - t0:.0f} s, "
              f"{args.jobs} at once\n")
    print(f"settings: preset synthetic_full, {' '.join(args.set)}; arms: "
          + "; ".join(f"{a}: {' '.join(s)}" for a, s in arms.items()))
    analyse(args.out, jobs, truth_table(args.synth))


if __name__ == "__main__":
    main()
