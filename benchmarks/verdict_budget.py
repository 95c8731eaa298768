"""Which verdicts change with the training budget: two claims tables of the same claims
computed under two budgets (e.g. a snapshot before and after a change of epochs), side by
side, and the snapshot's ``budget_notes.csv`` for the verdicts that differ.

    python benchmarks/verdict_budget.py OLD_CLAIMS.csv NEW_CLAIMS.csv \\
        --label "at 1 epoch per pace (7 epochs; snapshot of commit b399e8b)" \\
        --notes results/synthetic_full/budget_notes.csv

Each note gives the other budget's verdict with its difference, interval and Holm's p, so
the published table says next to a verdict that it holds under its own budget only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

KEYS = ["dataset", "better", "worse"]


def _difference(r: dict) -> str:
    interval = "" if pd.isna(r["ci_low"]) else f" [{r['ci_low']:+.1f}, {r['ci_high']:+.1f}]"
    return f"{r['reproduced_difference']:+.1f}{interval}, Holm p {r['p_holm']:.2g}"


def side_by_side(old: pd.DataFrame, new: pd.DataFrame) -> list[tuple[dict, dict]]:
    """Each claim of ``new`` with the same claim of ``old``."""
    old = old.set_index(KEYS)
    return [(r, old.loc[tuple(r[k] for k in KEYS)].to_dict()) for r in new.to_dict("records")]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path, help="claims.csv under the other budget")
    ap.add_argument("new", type=Path, help="claims.csv of the snapshot")
    ap.add_argument("--label", required=True, help="the other budget, as the note names it")
    ap.add_argument("--notes", type=Path, help="write the snapshot's budget_notes.csv here")
    args = ap.parse_args(argv)
    pairs = side_by_side(pd.read_csv(args.old), pd.read_csv(args.new))
    notes = []
    for new, old in pairs:
        same = new["verdict"] == old["verdict"]
        print(f"{'same' if same else 'CHANGED':8} {new['dataset']:7} {new['better']} > {new['worse']}: "
              f"{new['verdict']} ({_difference(new)}) | {args.label}: {old['verdict']} ({_difference(old)})")
        if not same:
            notes.append({**{k: new[k] for k in KEYS}, "note": f"{args.label}: {old['verdict']}, {_difference(old)}"})
    print(f"{len(notes)} of {len(pairs)} verdicts differ")
    if args.notes:
        pd.DataFrame(notes, columns=[*KEYS, "note"]).to_csv(args.notes, index=False)


if __name__ == "__main__":
    main()
