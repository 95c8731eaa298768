"""Which scorer should choose SPL's paces (spl.scorer, spndl.training.scoring)? Measured on
synthetic data whose truth is known (``synth_truth.csv``: each sample's true label, its
degraded frames, its peak intensity).

For every scorer it trains the SPL variant of each dataset (spndl on CK+ and Oulu-CASIA,
spndl_wo_neutral on RAF-DB) on the same folds or seeds with the same settings, then prints:

- per pace and kind of flaw (mislabelled, degraded, subtle: the lowest quarter of peak
  intensity), how many points more often the scorer leaves the flawed samples out than the
  clean ones: the mean over runs with its 95 % t-interval (a scorer that tells flawed
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

from spndl.training.scoring import SCORERS

VARIANT = {"ckplus": "spndl", "oulu": "spndl", "rafdb": "spndl_wo_neutral"}


def plan(data: dict[str, str], folds: list[int], seeds: list[int], scorers: list[str]) -> list[dict]:
    jobs = []
    for ds, path in data.items():
        units = [("split", s) for s in seeds] if ds == "rafdb" else [(f, 0) for f in folds]
        for unit, seed in units:
            for sc in scorers:
                name = f"{ds}/{sc}/{'split' if unit == 'split' else f'fold{unit}'}/seed{seed}"
                jobs.append({"dataset": ds, "scorer": sc, "fold": None if unit == "split" else unit,
                             "seed": seed, "data": path, "name": name})
    return jobs


def run_one(job: dict, out: Path, settings: list[str]) -> None:
    run = out / "runs" / job["name"]
    if (run / "metrics.json").exists() and (run / "cpu_seconds.txt").exists():
        return
    cmd = [sys.executable, "-m", "spndl", "train", "--data", job["data"], "--variant", VARIANT[job["dataset"]],
           "--out", str(run), "--preset", "synthetic_full", "--set", f"spl.scorer={job['scorer']}",
           "--set", f"seed={job['seed']}", "--set", "train.cpu_threads=1", "--restart-on-change"]
    cmd += [] if job["fold"] is None else ["--fold", str(job["fold"])]
    for s in settings:
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
    contrast, final = [], []
    for job in jobs:
        run = out / "runs" / job["name"]
        if not (run / "metrics.json").exists():
            continue
        unit = job["name"].split("/")[2]
        metrics = json.loads((run / "metrics.json").read_text())
        cpu, wall = map(float, (run / "cpu_seconds.txt").read_text().split())
        final.append({"dataset": job["dataset"], "scorer": job["scorer"], "unit": f"{unit}/{job['seed']}",
                      "accuracy": 100 * metrics["accuracy"], "cpu_s": cpu})
        m = flaws(pd.read_csv(run / "spl_selection.csv", keep_default_na=False), truth, job["dataset"])
        m["left_out"] = ~m["selected"].astype(bool)
        clean = ~(m["mislabelled"] | m["degraded"] | m["subtle"])
        for pace, g in m[~m.groupby("pace")["selected"].transform("all")].groupby("pace"):  # not the last
            base = g.loc[clean[g.index], "left_out"].mean()
            for kind in ("mislabelled", "degraded", "subtle"):
                if g[kind].any():
                    points = 100 * (g.loc[g[kind], "left_out"].mean() - base)
                    contrast.append({"dataset": job["dataset"], "scorer": job["scorer"],
                                     "unit": f"{unit}/{job['seed']}", "pace": pace, "kind": kind,
                                     "n": int(g[kind].sum()), "points": points})
    c, f = pd.DataFrame(contrast), pd.DataFrame(final)
    print("Left out more often than the clean samples (points; mean over runs [95 % t-interval]):")
    for ds, g in c.groupby("dataset", sort=False):
        tab = g.groupby(["kind", "pace", "scorer"])["points"].apply(ci).unstack("scorer")
        n = g.groupby(["kind"])["n"].mean().round(1).to_dict()
        print(f"\n{ds} ({VARIANT[ds]}; flawed training samples per run: {n})")
        print(tab[[s for s in SCORERS if s in tab.columns]].to_string())
    # One number per run and kind: the contrast averaged over the paces that leave samples out,
    # paired with eval's on the same fold or seed.
    per_run = c.groupby(["dataset", "kind", "unit", "scorer"])["points"].mean().unstack("scorer")
    print("\nThe same averaged over the paces, per run; paired difference from eval [95 % t-interval]:")
    rows = []
    for (ds, kind), g in per_run.groupby(level=["dataset", "kind"], sort=False):
        row = {"dataset": ds, "kind": kind, "runs": len(g), "eval": ci(g["eval"])}
        for sc in [s for s in SCORERS if s != "eval" and s in g.columns]:
            row[sc] = ci(g[sc])
            row[f"{sc} minus eval"] = ci(g[sc] - g["eval"])
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nLast epoch's test accuracy (%), mean [95 % t-interval]; paired difference from eval:")
    rows = []
    for (ds, sc), g in f.groupby(["dataset", "scorer"], sort=False):
        ref = f[(f["dataset"] == ds) & (f["scorer"] == "eval")].set_index("unit")
        g = g.set_index("unit")
        row = {"dataset": ds, "scorer": sc, "runs": len(g), "accuracy": ci(g["accuracy"]).lstrip("+")}
        if sc != "eval" and len(ref):
            both = g.index.intersection(ref.index)
            d = g.loc[both, "accuracy"] - ref.loc[both, "accuracy"]
            p = stats.ttest_rel(g.loc[both, "accuracy"], ref.loc[both, "accuracy"]).pvalue if len(both) > 1 else np.nan
            row |= {"minus eval": ci(d), "paired t p": f"{p:.2f}",
                    "CPU / eval": f"{np.median(g.loc[both, 'cpu_s'] / ref.loc[both, 'cpu_s']):.2f}"}
        rows.append(row)
    print(pd.DataFrame(rows).fillna("").to_string(index=False))
    # All datasets pooled: one paired test over every fold and seed.
    piv = f.pivot_table(index=["dataset", "unit"], columns="scorer", values="accuracy")
    for sc in [s for s in SCORERS if s != "eval" and s in piv.columns]:
        d = (piv[sc] - piv["eval"]).dropna()
        if len(d) < 2:
            continue
        print(f"pooled over the datasets: {sc} minus eval {ci(d)} points over {len(d)} paired runs, "
              f"paired t p {stats.ttest_rel(piv.loc[d.index, sc], piv.loc[d.index, 'eval']).pvalue:.2f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synth", type=Path, required=True, help="the raw synthetic folder with synth_truth.csv")
    ap.add_argument("--data", action="append", required=True, help="DATASET=PREPARED folder (repeatable)")
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="RAF-DB's runs")
    ap.add_argument("--scorers", nargs="+", default=list(SCORERS), choices=SCORERS)
    ap.add_argument("--set", action="append", default=[], help="a setting for every run, e.g. train.epochs=13")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--analyse-only", action="store_true")
    args = ap.parse_args(argv)
    data = dict(d.split("=", 1) for d in args.data)
    unknown = set(data) - set(VARIANT)
    if unknown:
        ap.error(f"--data: unknown dataset(s) {sorted(unknown)}; expected {', '.join(VARIANT)}")
    jobs = plan(data, args.folds, args.seeds, args.scorers)
    if not args.analyse_only:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda j: run_one(j, args.out, args.set), jobs))
        print(f"{len(jobs)} runs, settings {args.set or 'the preset'}, wall {time.perf_counter() - t0:.0f} s, "
              f"{args.jobs} at once\n")
    print(f"settings: preset synthetic_full, {' '.join(args.set)}")
    analyse(args.out, jobs, truth_table(args.synth))


if __name__ == "__main__":
    main()
