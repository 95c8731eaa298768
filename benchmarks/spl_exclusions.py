"""Which RAF-DB training samples self-paced learning leaves out, against the synthetic
generator's record of each sample (``synth_truth.csv``: its true label and its flaws), and
how the SPL run's test accuracy develops beside the run without SPL.

It reads a published snapshot (``spndl publish``), so it runs anywhere in seconds:

    python benchmarks/spl_exclusions.py results/synthetic_full

For each pace it prints the share of the training samples left out: all of them, the
mislabelled (written label not the true one), the degraded (blur, occlusion, ...), the
subtle (the lowest quarter of peak intensity) and the rest. If SPL's "easy first" filtered
label noise, the mislabelled would be left out far more often than the rest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

SPL, NO_SPL = "spndl_wo_neutral", "ndf_wo_neutral"


def truth_of(snapshot: Path) -> pd.DataFrame:
    t = pd.read_csv(snapshot / "data" / "synth_truth.csv")
    t = t[t["dataset"] == "rafdb"].rename(columns={"subject": "sample_id"})
    return t.assign(mislabelled=t["true_label"] != t["written_label"], degraded=t["degraded"].notna(),
                    subtle=t["peak_intensity"] < t["peak_intensity"].quantile(0.25))


def exclusions(snapshot: Path, truth: pd.DataFrame, seeds: list[str]) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        sel = pd.read_csv(snapshot / "runs" / "rafdb" / SPL / "split" / seed / "spl_selection.csv")
        sel = sel.merge(truth, on="sample_id", validate="many_to_one")
        for pace, g in sel.groupby("pace"):
            out = ~g["selected"]
            clean = ~(g["mislabelled"] | g["degraded"] | g["subtle"])
            rows.append({"seed": seed, "pace": pace, "all": out.mean(), "mislabelled": out[g["mislabelled"]].mean(),
                         "degraded": out[g["degraded"]].mean(), "subtle": out[g["subtle"]].mean(),
                         "rest": out[clean].mean()})
    return pd.DataFrame(rows)


def curves(snapshot: Path, seeds: list[str]) -> pd.DataFrame:
    rows = {}
    for v in (NO_SPL, SPL):
        runs = [snapshot / "runs" / "rafdb" / v / "split" / s for s in seeds]
        hist = [pd.read_csv(r / "history.csv") for r in runs]
        rows[f"{v} test accuracy"] = np.mean([h["test_accuracy"] for h in hist], axis=0) * 100
        mean_steps = np.mean([json.loads((r / "metrics.json").read_text())["steps"] for r in runs])
        rows[f"{v} steps"] = [mean_steps] * len(hist[0])
    return pd.DataFrame(rows, index=pd.Index(range(1, len(hist[0]) + 1), name="epoch"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot", type=Path)
    args = ap.parse_args(argv)
    seeds = sorted(p.name for p in (args.snapshot / "runs" / "rafdb" / SPL / "split").iterdir())
    truth = truth_of(args.snapshot)
    ex = exclusions(args.snapshot, truth, seeds)
    train = truth[truth["sample_id"].str.startswith("train")]
    print(f"RAF-DB training samples: {len(train)}, mislabelled {train['mislabelled'].mean():.1%}, "
          f"degraded {train['degraded'].mean():.1%}")
    print(f"share left out per pace ({SPL}, mean over {', '.join(seeds)}):")
    print(ex.groupby("pace")[["all", "mislabelled", "degraded", "subtle", "rest"]].mean().round(3).to_string())
    print("\ntest accuracy (%) by epoch, mean over the same seeds; steps per run:")
    print(curves(args.snapshot, seeds).round(1).to_string())


if __name__ == "__main__":
    main()
