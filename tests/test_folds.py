import numpy as np
import pytest

from spndl.data.folds import assign_folds


def _data(n_subjects=63, seed=0):
    rng = np.random.default_rng(seed)
    subjects, labels = [], []
    for s in rng.permutation(n_subjects):
        for _ in range(rng.integers(1, 6)):
            subjects.append(f"S{s * 7 + 5:03d}")
            labels.append(int(rng.integers(7)))
    return subjects, labels


@pytest.mark.parametrize("rule", ["modulo", "stratified"])
def test_folds_are_subject_disjoint_and_cover_every_subject_once(rule):
    subjects, labels = _data()
    folds = assign_folds(subjects, labels, rule, 10, seed=1)
    fold_of = {}
    for s, f in zip(subjects, folds):
        assert fold_of.setdefault(s, f) == f, f"subject {s} in two folds"
    assert set(fold_of) == set(subjects)
    assert set(folds.tolist()) == set(range(10))


def test_modulo_rule_deals_sorted_subjects_with_step_ten():
    subjects = ["S010", "S002", "S100", "S002", "S011"] + [f"S2{i:02d}" for i in range(10)]
    folds = assign_folds(subjects, [0] * len(subjects), "modulo", 10)
    order = sorted(set(subjects), key=lambda s: int(s[1:]))
    for s, f in zip(subjects, folds):
        assert f == order.index(s) % 10


def test_too_few_subjects_is_an_error():
    with pytest.raises(ValueError, match="3 subjects"):
        assign_folds(["a", "b", "c"], [0, 1, 2], "modulo", 10)
