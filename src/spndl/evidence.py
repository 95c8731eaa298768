"""Does the subtraction help, and is it the *own* neutral frame that makes it help?

Runs, over the folds of each dataset: the baseline (target alone), NDF (own
neutral frame, eq. 3), and NDF with every target paired with another
subject's neutral frame (``data.reference=other_subject``). If NDF's gain
comes from removing the subject's identity, the control loses it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spndl.config import load_config
from spndl.data.prepared import load_prepared
from spndl.fsutil import atomic_path, write_text
from spndl.train import train

ARMS = {"baseline": ("baseline", []),
        "ndf": ("ndf", []),
        "ndf_other_subject_neutral": ("ndf", ["data.reference=other_subject"])}


def run_evidence(prepared: dict[str, str | Path], out: str | Path, folds: list[int] | None = None,
                 config_files: list[str] = (), sets: list[str] = (), log=print) -> pd.DataFrame:
    out = Path(out)
    rows = []
    for name, path in prepared.items():
        data = load_prepared(path)
        n_folds = int(data.info["n_folds"])
        for arm, (variant, extra) in ARMS.items():
            cfg = load_config(config_files, [*sets, *extra])
            for k in folds if folds is not None else range(n_folds):
                m = train(path, variant, k, out / name / arm / f"fold{k}", cfg, log=lambda s: None)
                log(f"{name} {arm} fold {k}: accuracy {m['accuracy']:.4f}")
                rows.append({"dataset": name, "arm": arm, "fold": k, "accuracy": m["accuracy"],
                             "n_test": m["n_test"], "synthetic": data.info.get("synthetic", False)})
    per_fold = pd.DataFrame(rows)
    with atomic_path(out / "evidence_folds.csv") as tmp:
        per_fold.to_csv(tmp, index=False)
    summary = (per_fold.groupby(["dataset", "arm"], sort=False)["accuracy"]
               .agg(mean="mean", std="std", folds="count").reset_index())
    with atomic_path(out / "evidence.csv") as tmp:
        summary.to_csv(tmp, index=False)
    synthetic = per_fold["synthetic"].all()
    head = "Synthetic data (spndl synth): " if synthetic else ""
    text = (f"{head}mean test accuracy over folds (last epoch), std over folds\n\n"
            + summary.to_string(index=False, float_format=lambda x: f"{x:.4f}") + "\n")
    write_text(out / "evidence.md", text)
    return summary
