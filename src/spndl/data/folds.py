"""Subject-independent 10-fold splits for CK+ and Oulu-CASIA (section 4.1).

``modulo`` is the common published split: subject ids sorted ascending, the
i-th subject goes to fold i mod k. ``stratified`` is scikit-learn's
StratifiedGroupKFold, which balances classes across folds while keeping each
subject in one fold. The rule used is recorded with the prepared data.
"""

from __future__ import annotations

import re

import numpy as np

from spndl.data.records import DataError

RULES = ("modulo", "stratified")


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def assign_folds(subjects: list[str], labels: list[int], rule: str = "modulo",
                 n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """Fold index per sample; all samples of a subject share one fold."""
    if rule not in RULES:
        raise DataError(f"unknown fold rule {rule!r}; choose one of {RULES}")
    unique = sorted(set(subjects), key=_natural)
    if len(unique) < n_folds:
        raise DataError(f"{len(unique)} subjects cannot fill {n_folds} subject-independent folds; "
                        "give --folds (params prepare.n_folds) at most the number of subjects")
    if rule == "modulo":
        fold_of = {s: i % n_folds for i, s in enumerate(unique)}
        return np.array([fold_of[s] for s in subjects], dtype=np.int64)
    folds = np.empty(len(subjects), dtype=np.int64)
    # Imported here: scikit-learn (and scipy under it) take a second to import, and every
    # training process reads prepared data through this package without needing a split.
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups=subjects)):
        folds[test] = k
    return folds
