"""Turn a dataset tree into paired samples and decoded arrays: read, pair, crop, fold, write.

Output folder::

    images.npy      uint8 (N_images, 3, size, size): each frame decoded once
    manifest.csv    one row per sample: sample_id, subject, sequence, label,
                    label_name, target, reference, target_index,
                    reference_index, fold (or split), crop
    exclusions.csv  every file left out, and why
    dataset.json    classes, counts, fold rule, size, checksum, provenance

A reference frame shared by three targets is stored once. Labels travel with
their sample row, so an exclusion can never shift another sample's label.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from spndl import __version__
from spndl.data import ckplus
from spndl.data.acquire import read_record
from spndl.data.crop import FaceDetector, crop_resize, landmark_box, read_image
from spndl.data.folds import assign_folds
from spndl.data.records import DataError, Exclusion, ReadResult, Sequence
from spndl.data.registry import spec as dataset_spec
from spndl.data.spec import N_PEAK_FRAMES
from spndl.fsutil import has_record, sha256_files
from spndl.ownership import atomic_dir, check_output_dir

MANIFEST = "manifest.csv"
IMAGES_FILE = "images.npy"
INFO = "dataset.json"


class _Faces:
    """Decoded, cropped faces, each stored once and addressed by index."""

    def __init__(self, size: int):
        self.size = size
        self.arrays: list[np.ndarray] = []
        self.index: dict[Path, int] = {}

    def add(self, path: Path, face: np.ndarray) -> int:
        if path not in self.index:
            self.index[path] = len(self.arrays)
            self.arrays.append(face)
        return self.index[path]


def landmarks_of(seq: Sequence, k: int) -> np.ndarray:
    """Frame ``k``'s 68 landmarks; a DataError naming the file when they cannot be had
    (check-data applies the same rule without cropping)."""
    if seq.landmarks is None:
        raise DataError(seq.frames[k], "no Landmarks folder in this copy")
    if not seq.landmarks[k].is_file():
        raise DataError(seq.landmarks[k], "landmark file missing")
    return ckplus.read_landmarks(seq.landmarks[k])


def _ckplus_faces(seq: Sequence, picks: list[int], size: int) -> tuple[dict[int, np.ndarray], list[Exclusion], dict]:
    faces, excl = {}, []
    for k in picks:
        frame = seq.frames[k]
        try:
            faces[k] = crop_resize(read_image(frame), landmark_box(landmarks_of(seq, k)), size)
        except DataError as e:  # a crop outside the frame names no file of its own: the frame's
            excl.append(Exclusion(e.path or str(frame), e.reason, seq.sequence, seq.label))
    return faces, excl, {k: "landmarks" for k in faces}


def _detector_faces(seq: Sequence, picks: list[int], size: int, detector: FaceDetector):
    """Detect the face in each frame; a frame where none is found is excluded and listed."""
    faces, excl = {}, []
    for k in picks:
        try:
            img = read_image(seq.frames[k])
        except DataError as e:  # unreadable, or above the pixel limit: listed with its reason
            excl.append(Exclusion(str(seq.frames[k]), e.reason, seq.sequence, seq.label))
            continue
        box = detector.detect(img)
        if box is None:
            excl.append(Exclusion(str(seq.frames[k]), "no face found by the detector", seq.sequence, seq.label))
            continue
        faces[k] = crop_resize(img, box, size)
    return faces, excl, {k: "detector" for k in faces}


def _whole_faces(seq: Sequence, picks: list[int], size: int, how: str):
    """Images already cropped or aligned by the dataset's owners, resized whole."""
    faces, excl = {}, []
    for k in picks:
        try:
            faces[k] = crop_resize(read_image(seq.frames[k]), (0, 0, 10**9, 10**9), size)
        except DataError as e:  # unreadable, or above the pixel limit: listed with its reason
            excl.append(Exclusion(str(seq.frames[k]), e.reason, seq.sequence, seq.label))
    return faces, excl, {k: how for k in faces}


def pairing_frames(seq: Sequence, pairing: str = "sequence") -> tuple[list[int], Exclusion | None]:
    """The frames the pairing rule uses (section 4.1): the first (neutral reference) and the
    last three (peak targets); or the exclusion of a sequence too short for them. A listed
    pair (custom CSV) is its frames as they are: [reference, target]."""
    n = len(seq.frames)
    if pairing == "listed":
        return list(range(n)), None
    if n < 1 + N_PEAK_FRAMES:
        return [], Exclusion(str(seq.frames[0].parent), f"{n} frame(s): the pairing rule needs 1 neutral "
                             f"+ {N_PEAK_FRAMES} peak frames", seq.sequence, seq.label)
    return [0, *range(n - N_PEAK_FRAMES, n)], None


def _listed_id(target: str) -> str:
    """A listed sample's id: its target's path without the suffix, folders joined by '_'."""
    return str(Path(target).with_suffix("")).replace("/", "_").replace("\\", "_")


def resolve_images(dataset: str, images: str | None) -> tuple[str, str]:
    """(images, crop): the kind of images read (default per dataset) and how faces are cut from them."""
    kinds = dataset_spec(dataset).images  # how each kind of image is cut into faces; the first is the default
    images = images or next(iter(kinds))
    if images not in kinds:
        raise DataError(f"{dataset}: images {images!r}: choose one of {', '.join(kinds)}")
    return images, kinds[images]


def _faces(seq: Sequence, picks: list[int], size: int, crop: str, detector: FaceDetector | None):
    if crop == "landmarks":
        return _ckplus_faces(seq, picks, size)
    if crop == "detector":
        return _detector_faces(seq, picks, size, detector)
    return _whole_faces(seq, picks, size, crop)


def build_samples(read: ReadResult, size: int, crop: str, detector: FaceDetector | None = None):
    """Pair and crop: rows of the manifest (without folds), the face arrays, and exclusions.

    ``crop`` is landmarks, detector, owners or aligned (the spec's ``images``)."""
    faces = _Faces(size)
    rows: list[dict] = []
    excl = list(read.exclusions)
    root = read.root
    rel = lambda p: str(Path(p).relative_to(root)) if Path(p).is_relative_to(root) else str(p)  # noqa: E731
    listed = read.pairing == "listed"
    # Where the dataset gives them: the split (RAF-DB, a CSV's split column) or folds (a CSV's).
    given = {"split": "split"} if read.protocol == "split" else {"csv_fold": "fold"} if any(
        s.fold is not None for s in read.sequences) else {}
    for seq in read.sequences:
        extra = {k: getattr(seq, attr) for k, attr in given.items()}
        if not read.paired:  # one image, one sample, no reference
            got, bad, how = _faces(seq, [0], size, crop, detector)
            excl.extend(bad)
            if 0 in got:
                target = rel(seq.frames[0])
                rows.append({"sample_id": _listed_id(target) if listed else seq.subject, "subject": seq.subject,
                             "sequence": seq.sequence, "label_name": seq.label, "target": target, "reference": "",
                             "target_index": faces.add(seq.frames[0], got[0]), "reference_index": -1,
                             **extra, "crop": how[0]})
            continue
        picks, short = pairing_frames(seq, read.pairing)
        if short:
            excl.append(short)
            continue
        got, bad, how = _faces(seq, picks, size, crop, detector)
        excl.extend(bad)
        if 0 not in got:
            excl.append(Exclusion(str(seq.frames[0].parent), f"neutral reference {seq.frames[0].name} "
                                  "unusable: sequence dropped", seq.sequence, seq.label))
            continue
        ref = faces.add(seq.frames[0], got[0])
        for k in picks[1:]:
            if k not in got:
                continue
            frame = seq.frames[k]
            sid = _listed_id(rel(frame)) if listed else f"{seq.sequence.replace('/', '_')}_{frame.stem.split('_')[-1]}"
            rows.append({"sample_id": sid, "subject": seq.subject, "sequence": seq.sequence,
                         "label_name": seq.label, "target": rel(frame), "reference": rel(seq.frames[0]),
                         "target_index": faces.add(frame, got[k]), "reference_index": ref,
                         **extra, "crop": how[k]})
    arrays = np.stack(faces.arrays) if faces.arrays else np.zeros((0, 3, size, size), np.uint8)
    return rows, arrays, excl


def is_synthetic(read: ReadResult) -> bool:
    """Data of ``spndl synth``: its tree's SYNTHETIC.txt at or just above the root, or the mark
    inside its images (spndl.synth.mark), which any copy of any part of the tree keeps. The
    first and last frame of every sequence are looked at: a copied folder holds whole ones."""
    from spndl.synth.mark import carries_mark

    root = read.root
    if any((p / "SYNTHETIC.txt").is_file() for p in (root, *root.parents[:2])):
        return True
    return any(carries_mark(f) for s in read.sequences for f in {s.frames[0], s.frames[-1]} if s.frames)


def read_dataset(dataset: str, root: str | Path, images: str | None = None) -> tuple[ReadResult, str, str]:
    """(the reader's result, images, crop) for ``dataset`` at ``root``, from the ``images``
    variant (the spec's ``images``; None: the dataset's default)."""
    images, crop = resolve_images(dataset, images)
    spec = dataset_spec(dataset)
    read = spec.read(Path(root).resolve(), images=images)
    # What the reader did not learn from the data, the spec says (one place for the callers).
    read.classes = read.classes or spec.classes
    read.paired = spec.paired if read.paired is None else read.paired
    read.protocol = read.protocol or spec.protocol
    check_names(read)
    return read, images, crop


def check_names(read: ReadResult) -> None:
    """Refuse, before any work, a file name that cannot be written into the UTF-8 manifest
    and exclusion list (the file system gives undecodable bytes back as surrogates)."""
    paths = [p for s in read.sequences for p in (*s.frames, *(s.landmarks or []))]
    paths += [e.path for e in read.exclusions]
    for p in paths:
        try:
            str(p).encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(p).decode("utf-8", "backslashreplace")
            raise DataError(f"{shown}: file name is not valid UTF-8; rename it (spndl writes names into "
                            "UTF-8 CSV and JSON files)") from None


def is_prepared(folder: Path) -> bool:
    """Whether ``folder`` is a prepared folder that ``prepare`` wrote (its dataset.json)."""
    return has_record(folder, INFO, "spndl_version", "checksum")


OWN_OUTPUT = "a prepared folder (one with spndl's dataset.json)"
MIN_SIZE = 16  # px: ResNet-18 halves the input five times


# The fields of dataset.json that decide what a run on the data means: its dataset (the
# tables it goes to), the class order that names the labels (a reordered list would swap
# per-class names), whether it is synthetic, and how it was cropped, paired and folded.
# The rest (counts, the source path, the version) describes and can be recomputed.
MEANING = ("dataset", "classes", "size", "synthetic", "images", "crop", "pairing", "split",
           "fold_rule", "n_folds", "fold_seed")


def data_checksum(images: Path, manifest: Path, info: dict) -> str:
    """The prepared data's identity: the arrays, the manifest and the fields of dataset.json
    in ``MEANING``, so that an edit to any of them shows as data other than prepare wrote."""
    meaning = {k: info.get(k) for k in MEANING}
    return sha256_files([images, manifest], extra=json.dumps(meaning, sort_keys=True).encode())


def prepare(dataset: str, root: str | Path, out: str | Path, size: int = 224, fold_rule: str = "modulo",
            n_folds: int = 10, seed: int = 0, images: str | None = None) -> dict:
    """Read, pair, crop and fold one dataset into ``out``; returns the dataset.json content.

    ``out`` must be absent, empty, or an earlier prepared folder, and apart from ``root``."""
    if not isinstance(size, int) or size < MIN_SIZE:
        raise DataError(f"--size {size}: a face crop needs at least {MIN_SIZE} px")
    if dataset_spec(dataset).protocol == "folds" and (not isinstance(n_folds, int) or n_folds < 2):
        raise DataError(f"--folds {n_folds}: cross-validation needs at least 2 folds")
    check_output_dir(out, is_prepared, OWN_OUTPUT, inputs=(root,))
    read, images, crop = read_dataset(dataset, root, images)
    root, out = read.root, Path(out)
    rows, images_arr, excl = build_samples(read, size, crop, FaceDetector() if crop == "detector" else None)
    if not rows:
        raise DataError(f"{root}: no usable {dataset} samples ({len(excl)} exclusions)")
    classes = read.classes
    manifest = pd.DataFrame(rows)
    dup = manifest["sample_id"][manifest["sample_id"].duplicated()]
    if len(dup):
        raise DataError(f"{root}: two samples would share the id {dup.iloc[0]!r}; rename one of their targets")
    manifest.insert(3, "label", manifest["label_name"].map(classes.index).astype(int))
    info = {"dataset": dataset, "classes": classes, "size": size, "root": str(root),
            "synthetic": is_synthetic(read), "spndl_version": __version__,
            "images": images, "crop": crop, "layout": read.layout, "acquired": read_record(root),
            "pairing": ("single images" if not read.paired else "listed pairs" if read.pairing == "listed"
                        else f"first frame x last {N_PEAK_FRAMES} frames"),
            "counts": {**read.counts, "samples": len(manifest), "images": len(images_arr),
                       "samples_per_class": (manifest["label_name"].value_counts()
                                             .reindex(classes, fill_value=0).to_dict()),
                       "exclusions": len(excl)}}
    if read.protocol == "split":
        info["split"] = "official (file name prefix)" if read.pairing == "sequence" else "listed (split column)"
    else:
        if "csv_fold" in manifest:  # the dataset's own folds (a CSV's fold column)
            manifest = manifest.rename(columns={"csv_fold": "fold"})
            info.update(fold_rule="listed (fold column)", n_folds=int(manifest["fold"].max()) + 1, fold_seed=None)
        else:
            manifest["fold"] = assign_folds(manifest["subject"].tolist(), manifest["label"].tolist(),
                                            fold_rule, n_folds, seed)
            info.update(fold_rule=fold_rule, n_folds=n_folds, fold_seed=seed if fold_rule == "stratified" else None)
        per_fold = manifest.groupby("fold")["label_name"].apply(set)
        info["empty_test_classes_by_fold"] = {int(k): sorted(set(classes) - v) for k, v in per_fold.items()
                                              if set(classes) - v}
    with atomic_dir(out, is_prepared, OWN_OUTPUT, inputs=(root,)) as tmp:
        np.save(tmp / IMAGES_FILE, images_arr)
        manifest.to_csv(tmp / MANIFEST, index=False)
        with open(tmp / "exclusions.csv", "w", newline="") as f:
            wr = csv.DictWriter(f, ["path", "reason", "sequence", "label"])
            wr.writeheader()
            wr.writerows(asdict(e) for e in excl)
        info["checksum"] = data_checksum(tmp / IMAGES_FILE, tmp / MANIFEST, info)
        (tmp / INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info
