import math

import numpy as np
import pytest

from spndl.spl import SPLSchedule, epoch_plan, epochs_per_pace, n_keep, select_easy


def test_schedule_is_the_papers():
    s = SPLSchedule()
    assert [s.fraction(p) for p in range(1, 7)] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


@pytest.mark.parametrize("fraction", [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
def test_each_class_keeps_its_scheduled_fraction_of_lowest_losses(fraction):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [7, 10, 3, 25])
    rng.shuffle(labels)
    losses = rng.random(len(labels))
    keep, lambdas = select_easy(losses, labels, fraction)
    for k in range(4):
        idx = np.flatnonzero(labels == k)
        n = len(idx)
        assert keep[idx].sum() == math.ceil(round(fraction * n, 9))  # rounding: ceil
        kept, dropped = losses[idx][keep[idx]], losses[idx][~keep[idx]]
        if len(dropped):
            assert kept.max() < dropped.min()  # the lowest-loss samples, eq. 12
        assert lambdas[k] == kept.max()


def test_selection_is_within_class_not_global():
    # Class 1 is much harder than class 0: a global threshold would drop it entirely.
    labels = np.array([0] * 4 + [1] * 4)
    losses = np.array([0.1, 0.2, 0.3, 0.4, 5.0, 6.0, 7.0, 8.0])
    keep, _ = select_easy(losses, labels, 0.5)
    assert keep.tolist() == [True, True, False, False, True, True, False, False]


def test_rounding_and_ties():
    assert n_keep(0.5, 7) == 4 and n_keep(0.6, 5) == 3 and n_keep(0.1, 1) == 1 and n_keep(1.0, 9) == 9
    keep, _ = select_easy(np.zeros(4), np.zeros(4, int), 0.5)
    assert keep.tolist() == [True, True, False, False]  # without tie keys, by position
    keep, _ = select_easy(np.zeros(4), np.zeros(4, int), 0.5, tie_keys=np.array([0.9, 0.1, 0.5, 0.2]))
    assert keep.tolist() == [False, True, False, True]  # training's seeded keys order equal losses


def test_epochs_are_divided_among_paces():
    assert epochs_per_pace(250, 6) == [42, 42, 42, 42, 41, 41]
    assert sum(epochs_per_pace(13, 6)) == 13
    with pytest.raises(ValueError, match="cannot be divided"):
        epochs_per_pace(5, 6)


def test_a_warm_up_and_explicit_pace_lengths_make_the_epoch_plan():
    assert epoch_plan(10, SPLSchedule()) == [0, 1, 1, 2, 2, 3, 3, 4, 5, 6]  # 1 warm-up, 9 over 6 paces
    assert epoch_plan(6, SPLSchedule(warmup_epochs=0)) == [1, 2, 3, 4, 5, 6]
    # Fig. 6's reading: all RAF-DB samples are in at epoch 150 of 150.
    plan = epoch_plan(150, SPLSchedule(warmup_epochs=0, pace_epochs=(30, 30, 30, 30, 29, 1)))
    assert plan.index(6) == 149 and len(plan) == 150
    with pytest.raises(ValueError, match=r"add up to 150 epochs, but 150 epochs less 1 of warm-up leave 149"):
        epoch_plan(150, SPLSchedule(pace_epochs=(30, 30, 30, 30, 29, 1)))
    with pytest.raises(ValueError, match="spl.pace_epochs: \\[3, 3\\] is invalid; expected 6 integers"):
        SPLSchedule(pace_epochs=(3, 3))
    with pytest.raises(ValueError, match="spl.warmup_epochs"):
        SPLSchedule(warmup_epochs=-1)


def test_schedule_must_reach_all_samples():
    with pytest.raises(ValueError, match="never reaches"):
        SPLSchedule(start=0.5, step=0.05, paces=6)
