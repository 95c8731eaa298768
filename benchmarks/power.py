"""Power study for the synthetic_full preset: which design buys the narrowest interval on
the NDF-vs-baseline claim per CPU hour?

For each candidate training configuration (synthetic size, epochs, learning-rate
schedule) it trains a pilot: baseline and NDF on CK+ and Oulu-CASIA, on a few folds with
two seeds each, two one-thread jobs at a time (as the pipeline runs them on 2 cores).
From the pilot it prints, per configuration and dataset:

- the per-run noise: the seed-to-seed standard deviation of one run's test accuracy (the
  same fold and variant, another seed), pooled over folds and variants;
- the standard deviation of the paired difference NDF - baseline over the pilot's runs,
  which is what the corrected resampled t-test's variance scales;
- the CPU and wall seconds of one run, and the projected wall time of the whole preset
  (10 folds, every variant and seed, two jobs at a time) at 1, 2 and 3 seeds;
- the half-width of the 95 % interval that design would give the claim:
  t_{J-1} * sqrt((1/J + n_test/n_train) * s_d^2), J = 10 folds x seeds (Nadeau and
  Bengio's corrected resampled t-test, spndl.report.stats).

    python benchmarks/power.py                      # the four candidate configurations
    python benchmarks/power.py --configs small-cos7 --folds 0 1 --seeds 0 1

The pilot's estimates carry their own noise (a few folds, two seeds): they rank designs,
they do not predict the published interval to the point.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
SPNDL = [sys.executable, "-m", "spndl"]
DATASETS = ("ckplus", "oulu")
VARIANTS = ("baseline", "ndf")
# Jobs of the whole preset per fold and seed, by cost class: the baseline-like variants
# (baseline, spl) see one image per sample, the NDF-like (ndf, spndl, spndl_wo_neutral) two
# (a reference, or a second network).
PER_FOLD = {"baseline": 2, "ndf": 3}
N_FOLDS = 10


@dataclass(frozen=True)
class Design:
    size: str           # synthetic size (spndl synth --size)
    epochs: int
    schedule: str       # train.lr_schedule


CONFIGS = {
    "small-const7": Design("small", 7, "constant"),    # the default's training
    "small-cos7": Design("small", 7, "cosine"),
    "small-cos14": Design("small", 14, "cosine"),
    "medium-cos7": Design("medium", 7, "cosine"),
    "medium-cos10": Design("medium", 10, "cosine"),
}


def run(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd`` with its output in ``log``; (wall, CPU) seconds of that process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed; see {log}")
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def prepared(work: Path, size: str) -> dict[str, Path]:
    """Synthetic CK+ and Oulu-CASIA of ``size``, prepared at the preset's 32 px (once per size)."""
    raw, out = work / size / "raw", {d: work / size / "prepared" / d for d in DATASETS}
    if not raw.exists():
        run([*SPNDL, "synth", "--out", str(raw), "--size", size, "--datasets", *DATASETS], work / f"synth-{size}.log")
    roots = {d: raw / d for d in DATASETS}
    for d in DATASETS:
        if not out[d].exists():
            run([*SPNDL, "prepare", "--dataset", d, "--root", str(roots[d]), "--out", str(out[d]), "--size", "32"],
                work / f"prepare-{size}-{d}.log")
    return out


def train_one(work: Path, name: str, design: Design, data: Path, dataset: str, variant: str, fold: int,
              seed: int) -> dict:
    out = work / "runs" / name / dataset / variant / f"fold{fold}" / f"seed{seed}"
    cmd = [*SPNDL, "train", "--data", str(data), "--variant", variant, "--fold", str(fold), "--out", str(out),
           "--preset", "synthetic_cpu", "--params", str(ROOT / "params.yaml"), "--set", f"seed={seed}",
           "--set", f"train.epochs={design.epochs}", "--set", f"train.lr_schedule={design.schedule}",
           "--set", "train.cpu_threads=1", "--restart-on-change"]
    out.parent.mkdir(parents=True, exist_ok=True)
    wall, cpu = run(cmd, out.parent / f"seed{seed}.log")
    m = pd.read_json(out / "metrics.json", typ="series")
    return {"config": name, "dataset": dataset, "variant": variant, "fold": fold, "seed": seed,
            "accuracy": 100 * float(m["accuracy"]), "n_test": int(m["n_test"]), "n_train": int(m["n_train"]),
            "wall_s": wall, "cpu_s": cpu}


def half_width(s_d: float, ratio: float, j: int) -> float:
    """The corrected resampled t-test's 95 % half-width from J runs with difference SD s_d."""
    return float(stats.t.ppf(0.975, j - 1) * np.sqrt((1 / j + ratio) * s_d ** 2))


def analyse(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (name, dataset), g in runs.groupby(["config", "dataset"], sort=False):
        acc = g.pivot_table(index=["fold", "seed"], columns="variant", values="accuracy")
        d = acc["ndf"] - acc["baseline"]
        by_fold = g.groupby(["variant", "fold"])["accuracy"]
        per_run = float(np.sqrt(by_fold.var(ddof=1).mean()))       # seed-to-seed, pooled
        s_d = float(d.std(ddof=1))
        ratio = float((g["n_test"] / g["n_train"]).mean())
        cost = g.groupby("variant")[["cpu_s", "wall_s"]].mean()
        # The preset's CK+ or Oulu-CASIA jobs per seed, two at a time: wall per run / 2.
        per_seed_wall = N_FOLDS * sum(PER_FOLD[v] * cost.loc[v, "wall_s"] for v in VARIANTS) / 2
        row = {"config": name, "dataset": dataset, "n_test": int(g["n_test"].median()),
               "per_run_sd": per_run, "diff_mean": float(d.mean()), "diff_sd": s_d,
               "cpu_s_baseline": cost.loc["baseline", "cpu_s"], "cpu_s_ndf": cost.loc["ndf", "cpu_s"],
               "final_acc_baseline": float(acc["baseline"].mean()), "final_acc_ndf": float(acc["ndf"].mean())}
        for seeds in (1, 2, 3):
            row[f"half_width_{seeds}seed"] = half_width(s_d, ratio, N_FOLDS * seeds)
            row[f"wall_min_{seeds}seed"] = seeds * per_seed_wall / 60
        rows.append(row)
    out = pd.DataFrame(rows)
    # The preset trains both datasets: its wall time is the two datasets' together.
    for seeds in (1, 2, 3):
        out[f"preset_wall_min_{seeds}seed"] = out.groupby("config")[f"wall_min_{seeds}seed"].transform("sum")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=["small-const7", "small-cos7", "small-cos14", "medium-cos7"],
                    choices=list(CONFIGS))
    ap.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2, help="training jobs at a time (the pipeline's 2 on 2 cores)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/spndl-power"))
    ap.add_argument("--out", type=Path, help="also write the per-run and summary tables here (CSV)")
    args = ap.parse_args(argv)
    if len(args.seeds) < 2:
        ap.error("--seeds: at least two, to measure the seed-to-seed noise")
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = {size: prepared(args.work, size) for size in {CONFIGS[c].size for c in args.configs}}
    tasks = [(c, CONFIGS[c], data[CONFIGS[c].size][d], d, v, f, s)
             for c in args.configs for d in DATASETS for f in args.folds for s in args.seeds for v in VARIANTS]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = pd.DataFrame(pool.map(lambda t: train_one(args.work, *t), tasks))
    summary = analyse(runs)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        runs.to_csv(args.out / "power_runs.csv", index=False)
        summary.to_csv(args.out / "power_summary.csv", index=False)
    print(f"pilot: folds {args.folds}, seeds {args.seeds}, baseline and NDF, {len(runs)} runs, "
          f"{args.jobs} at a time, {time.perf_counter() - t0:.0f} s")
    print("accuracy points; per_run_sd: seed-to-seed SD of one run; diff_sd: SD of NDF - baseline over the "
          "pilot's runs; half_width: the 95 % interval's of the claim at 10 folds x seeds; preset_wall_min: "
          "CK+ and Oulu-CASIA training, two jobs at a time")
    cols = ["config", "dataset", "n_test", "final_acc_baseline", "final_acc_ndf", "per_run_sd", "diff_mean",
            "diff_sd", "cpu_s_baseline", "cpu_s_ndf"] + [f"half_width_{s}seed" for s in (1, 2, 3)] + \
           [f"preset_wall_min_{s}seed" for s in (1, 2, 3)]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(summary[cols].round(2).to_string(index=False))


if __name__ == "__main__":
    main()
