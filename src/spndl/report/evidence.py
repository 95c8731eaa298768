"""Does the subtraction help, and is it the *own* neutral frame that makes it help?

Three arms, over the same folds of each paired dataset: the baseline (target
alone), NDF (own neutral frame, eq. 3), and NDF with every target paired with
another subject's neutral frame (``data.reference=other_subject``). If NDF's
gain comes from removing the subject's identity (eqs. 1-3), the control loses
it. The runs are jobs of the pipeline's DAG (``snakemake evidence``: the
baseline and NDF runs are the tables' own; the control adds one run per fold);
this module only compares them, fold by fold.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from spndl.ownership import output_file, write_output_text
from spndl.report import tables
from spndl.report.claims import compare

# arm -> (variant trained, settings added to the preset's); the pipeline's run folder is
# runs/NAME/DATASET/ARM/FOLD/seedSEED.
ARMS = {"baseline": ("baseline", ()),
        "ndf": ("ndf", ()),
        "ndf_other_subject": ("ndf", ("data.reference=other_subject",))}
# The comparisons: (arm, against); each is paired by fold.
COMPARISONS = [("ndf", "baseline"), ("ndf", "ndf_other_subject")]


def arm_of(run: Path) -> str:
    """A run's arm, from what it recorded (its variant and reference), not from its folder's name."""
    settings = yaml.safe_load((run / "config.yaml").read_text())
    reference = settings["config"]["data"]["reference"]
    for arm, (variant, extra) in ARMS.items():
        if settings["variant"] == variant and (reference == "other_subject") == bool(extra):
            return arm
    raise ValueError(f"{run}: variant {settings['variant']} with reference {reference} is none of the evidence "
                     f"arms ({', '.join(ARMS)})")


def collect(run_dirs: list[str | Path]) -> pd.DataFrame:
    """The tables' per-run rows (tables.collect), each with its arm."""
    per_fold = tables.collect(run_dirs)
    return per_fold.assign(arm=[arm_of(Path(r)) for r in per_fold["run"]])


def paired(per_fold: pd.DataFrame, dataset: str, arm: str, against: str) -> dict:
    """``arm`` minus ``against`` in accuracy points over the runs both have (same fold and
    seed), as the claims table compares variants (claims.compare: the corrected resampled
    t-test and the sign-flip p, from three paired runs on); {} where either arm has no run."""
    got = compare(per_fold.drop(columns="variant").rename(columns={"arm": "variant"}), dataset, arm, against)
    if got is None:
        return {}
    return {"dataset": dataset, "comparison": f"{arm} - {against}", "runs": got["n_runs"],
            "difference": got["reproduced_difference"], "ci_low": got["ci_low"], "ci_high": got["ci_high"],
            "p": got["p_value"], "p_sign_flip": got["p_sign_flip"]}


def write_evidence(run_dirs: list[str | Path], out: str | Path) -> pd.DataFrame:
    """evidence_folds.csv, evidence.csv (each arm's mean) and evidence.md (with the paired comparisons)."""
    out = Path(out)
    per_fold = collect(run_dirs).sort_values(["dataset", "arm", "fold", "seed"], kind="stable")
    with output_file(out / "evidence_folds.csv") as tmp:
        columns = ["dataset", "arm", "fold", "seed", "accuracy", "n_test", "n_train", "synthetic"]
        per_fold[columns].to_csv(tmp, index=False)
    summary = (per_fold.groupby(["dataset", "arm"], sort=False)["accuracy"]
               .agg(mean="mean", std="std", runs="count").reset_index())
    with output_file(out / "evidence.csv") as tmp:
        summary.to_csv(tmp, index=False)
    tests = pd.DataFrame([r for ds in per_fold["dataset"].unique() for a, b in COMPARISONS
                          if (r := paired(per_fold, ds, a, b))])
    with output_file(out / "evidence_tests.csv") as tmp:
        tests.to_csv(tmp, index=False)
    head = "Synthetic data (spndl synth): " if per_fold["synthetic"].all() else ""
    text = (f"{head}mean test accuracy over runs (folds x seeds; last epoch), std over runs\n\n"
            + summary.to_string(index=False, float_format=lambda x: f"{x:.4f}") + "\n\n"
            + "Paired by fold and seed, accuracy points: mean difference, its 95% interval and p from the "
            "corrected resampled t-test (Nadeau and Bengio: the folds' training sets overlap), and the exact "
            "sign-flip p (none from fewer than three paired runs)\n\n"
            + tests.to_string(index=False, float_format=lambda x: f"{x:.2f}") + "\n")
    write_output_text(out / "evidence.md", text)
    return summary
