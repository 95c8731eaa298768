"""Read a dataset of your own from one CSV: MMI, BU-4DFE, a lab's recordings, without code.

The folder given as ``--root`` holds ``spndl-dataset.csv``, one row per sample::

    subject,sequence,label,target_path,reference_path[,split | ,fold]
    S01,S01_smile,happy,S01/smile/peak1.png,S01/smile/neutral.png

- ``target_path`` is the expression image; ``reference_path`` the same subject's neutral
  image (eq. 3's reference). Leave ``reference_path`` empty in every row for a dataset
  without neutral images: then only the variants without a neutral reference run (as on
  RAF-DB). Paths are relative to the CSV's folder (or absolute); a reference shared by
  several rows is decoded once.
- ``split`` (train/test) gives an official split; ``fold`` (0..K-1) gives the folds of
  cross-validation, which must be subject-independent. With neither, ``prepare``'s fold
  rule deals the subjects into folds as for CK+ and Oulu-CASIA.
- ``classes.txt`` beside the CSV (optional) lists the class names in label order, one per
  line; every label must be one of them. Without it the classes are the CSV's labels, sorted.

Images are taken as already-cropped faces (``--images cropped``, the default) or cut by
the face detector (``--images original``). A listed file that does not exist is an
exclusion with its path (``exclusions.csv``); anything malformed in the CSV is an error
naming its line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from spndl.data.records import DataError, DatasetSpec, Exclusion, ReadResult, Sequence, is_whole_number, read_utf8

CSV_NAME = "spndl-dataset.csv"
CLASSES_NAME = "classes.txt"
REQUIRED = ("subject", "sequence", "label", "target_path", "reference_path")
SPLITS = ("train", "test")
# The images read -> how prepare cuts faces from them; the first is the default.
IMAGES = {"cropped": "cropped", "original": "detector"}


def read_classes(path: Path) -> list[str]:
    names = [line.strip() for line in read_utf8(path).splitlines() if line.strip()]
    if not names:
        raise DataError(path, "lists no class")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(path, f"class(es) listed twice: {dup}")
    return names


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and (line number, row) of the CSV, with the columns checked."""
    reader = csv.DictReader(io.StringIO(read_utf8(path), newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(f"{path}:1", f"missing column(s) {missing}; expected {', '.join(REQUIRED)} "
                        "and optionally split or fold")
    if "split" in header and "fold" in header:
        raise DataError(f"{path}:1", "has both a split and a fold column; give one")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            raise DataError(f"{path}:{reader.line_num}", f"more fields than the {len(header)} columns")
        rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    if not rows:
        raise DataError(path, "lists no sample")
    return header, rows


def read(root: str | Path, images: str = "cropped") -> ReadResult:
    root = Path(root)
    if images not in IMAGES:
        raise DataError(f"custom images {images!r}: choose one of {', '.join(IMAGES)}")
    table = root / CSV_NAME
    if not table.is_file():
        raise DataError(table, f"not found; a dataset of your own is a folder with {CSV_NAME} "
                        "(docs/own-dataset.md)")
    header, rows = _rows(table)
    classes = read_classes(root / CLASSES_NAME) if (root / CLASSES_NAME).is_file() else None
    paired = bool(rows[0][1]["reference_path"])
    protocol = "split" if "split" in header else "folds"
    out = ReadResult("custom", root, classes=classes, paired=paired, protocol=protocol, pairing="listed")
    labels, targets, subject_fold = set(), set(), {}
    for line, r in rows:
        where = f"{table}:{line}"
        for col in ("subject", "sequence", "label", "target_path"):
            if not r[col]:
                raise DataError(where, f"empty {col}")
        if bool(r["reference_path"]) != paired:
            raise DataError(where, "reference_path must be given in every row or in none (the first data "
                            f"row {'has' if paired else 'has none'})")
        if classes is not None and r["label"] not in classes:
            raise DataError(where, f"label {r['label']!r} is not in {root / CLASSES_NAME} ({', '.join(classes)})")
        if r["target_path"] in targets:
            raise DataError(where, f"target {r['target_path']} is listed twice")
        targets.add(r["target_path"])
        labels.add(r["label"])
        split = fold = None
        if protocol == "split":
            split = r["split"]
            if split not in SPLITS:
                raise DataError(where, f"split {split!r} is not train or test")
        elif "fold" in header:
            if not is_whole_number(r["fold"]):
                raise DataError(where, f"fold {r['fold']!r} is not a whole number >= 0")
            fold = int(r["fold"])
            if subject_fold.setdefault(r["subject"], fold) != fold:
                raise DataError(where, f"subject {r['subject']} is in folds {subject_fold[r['subject']]} and "
                                f"{fold}; the folds must be subject-independent")
        frames = [root / r["reference_path"]] * paired + [root / r["target_path"]]
        missing = [p for p in frames if not p.is_file()]
        if missing:
            out.exclusions.append(Exclusion(str(missing[0]), "listed in the CSV but missing", r["sequence"],
                                            r["label"]))
            continue
        out.sequences.append(Sequence(r["subject"], r["sequence"], r["label"], frames, split=split, fold=fold))
    if fold_numbers := sorted(set(subject_fold.values())):
        gaps = sorted(set(range(fold_numbers[-1] + 1)) - set(fold_numbers))
        if gaps:
            raise DataError(table, f"fold column skips fold(s) {gaps}; number the folds 0..K-1")
    out.classes = classes or sorted(labels)
    out.counts = {"rows": len(rows), "subjects": len({r["subject"] for _, r in rows}),
                  "sequences": len({r["sequence"] for _, r in rows})}
    out.layout = {"images": images, "csv": CSV_NAME, "classes": CLASSES_NAME if classes else "sorted labels",
                  "protocol": protocol if "fold" not in header else "folds (CSV)"}
    return out


# The paper reports nothing on such a dataset: no expected counts, no paper table; it is
# never part of the embedded synthetic default (its data come from data.real.custom).
SPEC = DatasetSpec("custom", "Own dataset (spndl-dataset.csv)", [], {}, IMAGES, read, synthetic=False)
