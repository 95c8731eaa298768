"""The datasets spndl knows, one spec each: every other part iterates over this registry.

A spec says what the rest of the project needs to know about a dataset: its
classes (in label order), the paper's counts, which images it can read and how
faces are cut from them, its reader, whether each sample has a neutral reference
(the sequences of CK+ and Oulu-CASIA) and whether it is cross-validated by folds
or has an official train/test split (``custom`` learns the classes, pairing and
protocol from its CSV; see ``ReadResult``). prepare, check-data, the CLI, the tables,
Fig. 4, params checks and the Snakefile take their lists from here; a test keeps
the params schema and dvc.yaml's plot series in step with it.

Adding a dataset: a reader module that exports ``SPEC`` and its entry in
``DATASETS`` below, the paper's numbers in ``report/paper.py``, and params
entries (docs/own-dataset.md, "Adding a dataset or a variant").
"""

from __future__ import annotations

import dataclasses

from spndl.config import Config
from spndl.data import ckplus, custom, oulu, rafdb
from spndl.data.records import DatasetSpec

__all__ = ["DATASETS", "DatasetSpec", "for_dataset", "spec"]


# The paper's three, then a dataset of the user's own described by a CSV (custom.py).
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (ckplus.SPEC, oulu.SPEC, rafdb.SPEC, custom.SPEC)}


def spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def for_dataset(cfg: Config, name: str) -> Config:
    """``cfg`` with what it leaves to the dataset filled in: ``train.epochs`` null becomes the
    paper's for it (section 4.2: 250, RAF-DB 150). ``cfg`` itself is not changed."""
    if cfg.train.epochs is not None:
        return cfg
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=spec(name).epochs))
