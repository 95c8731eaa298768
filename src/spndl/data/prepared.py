"""Load prepared data and cut it into the train and test parts of a fold or split."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spndl.data.prepare import IMAGES_FILE, INFO, MANIFEST, MEANING, data_checksum
from spndl.data.records import DataError


@dataclass
class Prepared:
    path: Path
    images: np.ndarray       # uint8 (N_images, 3, S, S)
    manifest: pd.DataFrame
    info: dict
    checksum: str

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]

    @property
    def has_folds(self) -> bool:
        return "fold" in self.manifest.columns

    @property
    def has_references(self) -> bool:
        return bool((self.manifest["reference_index"] >= 0).all())


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    for name in (IMAGES_FILE, MANIFEST, INFO):
        if not (path / name).is_file():
            raise DataError(f"{path / name}: missing; run `spndl prepare` first")
    try:
        info = json.loads((path / INFO).read_text())
        info["classes"], info["dataset"]
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path / INFO}: not a dataset.json written by `spndl prepare` ({e})") from None
    checksum = data_checksum(path / IMAGES_FILE, path / MANIFEST, info)
    if checksum != info.get("checksum"):
        raise DataError(f"{path}: images.npy, manifest.csv or a field of dataset.json ({', '.join(MEANING)}) "
                        f"changed since prepare wrote them "
                        f"(checksum {checksum[:12]} != recorded {str(info.get('checksum'))[:12]})")
    images = np.load(path / IMAGES_FILE)
    manifest = pd.read_csv(path / MANIFEST, keep_default_na=False)
    top = max(manifest["target_index"].max(), manifest["reference_index"].max())
    if top >= len(images):
        raise DataError(f"{path / MANIFEST}: image index {top} beyond the {len(images)} images in {IMAGES_FILE}")
    return Prepared(path, images, manifest, info, checksum)


def split_indices(data: Prepared, fold: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and test parts: fold ``fold`` held out, or RAF-DB's split."""
    m = data.manifest
    if data.has_folds:
        n_folds = int(data.info.get("n_folds", m["fold"].max() + 1))
        if fold is None or not 0 <= fold < n_folds:
            raise DataError(f"{data.path}: choose a fold in 0..{n_folds - 1} (got {fold})")
        test = m["fold"].to_numpy() == fold
    else:
        if fold is not None:
            raise DataError(f"{data.path}: {data.info['dataset']} has an official train/test split, not folds")
        test = m["split"].to_numpy() == "test"
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    labels = m["label"].to_numpy()
    missing = [data.classes[k] for k in range(len(data.classes)) if not (labels[train_idx] == k).any()]
    if missing:
        raise DataError(f"{data.path / MANIFEST}: fold {fold}: the training part has no sample of class(es) "
                        f"{missing}; the classifier cannot learn them")
    if len(test_idx) == 0:
        raise DataError(f"{data.path / MANIFEST}: fold {fold}: the test part is empty")
    return train_idx, test_idx


def other_subject_references(data: Prepared, rows: np.ndarray, rng: np.random.Generator,
                             pool_rows: np.ndarray | None = None) -> np.ndarray:
    """A control pairing: each row's reference replaced by a neutral frame of another subject,
    drawn from the references of ``pool_rows`` (default: ``rows``), so that the subtraction
    removes the wrong identity."""
    m = data.manifest
    pool = m.iloc[rows if pool_rows is None else pool_rows]
    refs = pool.drop_duplicates("reference_index")[["reference_index", "subject"]].to_numpy()
    out = np.empty(len(rows), np.int64)
    for i, subj in enumerate(m["subject"].to_numpy()[rows]):
        candidates = refs[refs[:, 1] != subj, 0]
        if len(candidates) == 0:
            raise DataError(f"{data.path}: no other subject's neutral frame to pair with subject {subj}")
        out[i] = candidates[rng.integers(len(candidates))]
    return out
