"""A run's identity (dataset, variant, fold, seed) as read from a record a user may have been
given (metrics.json, per_fold.csv, snapshot.json, config.yaml), checked before any path is
built from it.

Every command that turns these fields into a folder name (publish, verify, tables, the
figures) reads them through ``run_key`` or ``parse_run_path``: a dataset of
``../../tmp/x`` or a variant with a slash would otherwise send a copy or a write outside
the command's output. A field passes only if it is one of the registry's datasets, one of
the variants, a fold of 0-99 or none (a split), and a seed of 0..2^32-1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from spndl.config import SEED_MAX
from spndl.data.records import DataError, is_whole_number
from spndl.data.registry import DATASETS
from spndl.variants import VARIANTS

FOLD_MAX = 99
_RUN_PATH = re.compile(r"(?P<dataset>[a-z]+)/(?P<variant>[a-z_]+)/(?:fold(?P<fold>[0-9]{1,2})|split)"
                       r"/seed(?P<seed>[0-9]{1,10})")


@dataclass(frozen=True)
class RunKey:
    dataset: str
    variant: str
    fold: int | None   # None: a split (RAF-DB)
    seed: int

    @property
    def path(self) -> str:
        """The run's folder under runs/: DATASET/VARIANT/foldK|split/seedN."""
        return f"{self.dataset}/{self.variant}/{'split' if self.fold is None else f'fold{self.fold}'}/seed{self.seed}"


def _integer(value, lo: int, hi: int) -> int | None:
    """``value`` as an int in [lo, hi]; None where it is not one (bools, fractions, text, NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        value = int(value)
    if isinstance(value, str):
        if len(value) > 20 or not is_whole_number(value):  # no int() of a million digits
            return None
        value = int(value)
    if not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value in ("", "split")


def _bad(where: str, field: str, value, allowed: str) -> DataError:
    return DataError(f"{where}: {field} {value!r} is not {allowed}; the record is not one spndl wrote")


def dataset_name(value, where: str) -> str:
    """A dataset named in a record: one of the registry's."""
    if not isinstance(value, str) or value not in DATASETS:
        raise _bad(where, "dataset", value, f"one of {', '.join(DATASETS)}")
    return value


def run_key(dataset, variant, fold, seed, where: str) -> RunKey:
    """The checked identity of a run; a DataError naming ``where`` (the file) and the field."""
    def bad(field, value, allowed):
        return _bad(where, field, value, allowed)

    dataset = dataset_name(dataset, where)
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise bad("variant", variant, f"one of {', '.join(VARIANTS)}")
    f = None if _missing(fold) else _integer(fold, 0, FOLD_MAX)
    if f is None and not _missing(fold):
        raise bad("fold", fold, f"a fold number 0-{FOLD_MAX} or empty (a split)")
    s = _integer(seed, 0, SEED_MAX)
    if s is None:
        raise bad("seed", seed, f"an integer 0..{SEED_MAX}")
    return RunKey(dataset, variant, f, s)


def parse_run_path(text, where: str) -> RunKey:
    """A snapshot.json ``runs`` entry or a ``--retrain`` argument: DATASET/VARIANT/foldK|split/seedN."""
    m = _RUN_PATH.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise DataError(f"{where}: run {text!r} is not DATASET/VARIANT/foldK|split/seedN "
                        "(e.g. ckplus/baseline/fold0/seed0)")
    return run_key(m["dataset"], m["variant"], m["fold"], m["seed"], where)
