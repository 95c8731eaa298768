"""Read CK+: frames, the Emotion label on a sequence's last frame, and 68-point landmarks.

Layout (docs/real-data.md): ``cohn-kanade-images/S005/001/S005_001_00000011.png``,
``Emotion/S005/001/S005_001_00000011_emotion.txt`` (labelled sequences only),
``Landmarks/S005/001/S005_001_00000001_landmarks.txt``. Any of the three may
be nested one level deeper in a copy.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from spndl.data.locate import find_dir, require_dir
from spndl.data.records import DataError, DatasetSpec, Exclusion, ReadResult, Sequence, read_utf8
from spndl.data.spec import CKPLUS_CLASSES, CKPLUS_CODES, EXPECTED

# \Z, not $: $ also matches before a trailing newline (a frame named "x.png\n"); ASCII digits only.
_FRAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.png\Z", re.IGNORECASE | re.ASCII)
_SUBJECT = re.compile(r"^S\d+\Z", re.IGNORECASE | re.ASCII)
_EMOTION = re.compile(r"^(S\d+)_(\d+)_(\d+)_emotion\.txt\Z", re.IGNORECASE | re.ASCII)
# The images read -> how prepare cuts faces from them: CK+ has only its frames, cut by landmarks.
IMAGES = {"original": "landmarks"}


def read_emotion(path: Path) -> int:
    """The code in a CK+ Emotion file (e.g. ``   3.0000000e+00``) as an int."""
    text = read_utf8(path).strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"emotion file does not hold one number: {text[:40]!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise DataError(path, f"emotion code {value} is not an integer")
    return int(value)


def read_landmarks(path: Path) -> np.ndarray:
    """The 68 (x, y) points of a CK+ landmark file, in pixels: 68 lines of two finite numbers."""
    rows = [line.split() for line in read_utf8(path).splitlines() if line.strip()]
    if len(rows) != 68 or any(len(r) != 2 for r in rows):
        shape = sorted({len(r) for r in rows}) or [0]
        raise DataError(path, f"expected 68 lines of two numbers, found {len(rows)} line(s) of {shape} field(s)")
    try:
        pts = np.array([[float(x), float(y)] for x, y in rows])
    except ValueError as e:
        raise DataError(path, f"landmark file is not numeric ({e})") from None
    if not np.isfinite(pts).all():
        raise DataError(path, "landmark file holds a number that is not finite (nan or inf)")
    if np.abs(pts).max() > 1e6:  # beyond any frame; as pixel indices they would overflow
        raise DataError(path, f"landmark coordinate {np.abs(pts).max():g} lies beyond any image")
    return pts


def _holds_subjects(d: Path) -> bool:
    return any(p.is_dir() and _SUBJECT.match(p.name) for p in d.iterdir())


def read(root: str | Path, images: str = "original") -> ReadResult:
    """CK+ ships one kind of image (``images`` is there for the readers' common signature)."""
    root = Path(root)
    if images not in IMAGES:
        raise DataError(f"CK+ images {images!r}: CK+ has only the original frames (cropped by their landmarks)")
    # Each part may sit one level deeper in a copy (Emotion_labels/Emotion/S005, or a
    # Landmarks.zip that holds Landmarks/Landmarks/S005): take the folder holding subjects.
    images_dir = require_dir(root, ("cohn-kanade-images",), "CK+ image", accept=_holds_subjects)
    emotion = require_dir(root, ("Emotion",), "CK+ Emotion label", accept=_holds_subjects)
    landmarks = find_dir(root, ("Landmarks",), accept=_holds_subjects)
    out = ReadResult("ckplus", root)
    n_seq = 0
    subjects, labelled_subjects = set(), set()

    # Every label file must find its sequence: a label without frames is reported.
    labels: dict[tuple[str, str], list[Path]] = {}
    for f in sorted(emotion.glob("*/*/*")):
        if _EMOTION.match(f.name):
            labels.setdefault((f.parent.parent.name, f.parent.name), []).append(f)
    for (subj, seq), files in labels.items():
        if not (images_dir / subj / seq).is_dir():
            out.exclusions.append(Exclusion(str(files[0]), "label file has no frame folder", f"{subj}/{seq}"))

    for seq_dir in sorted(p for p in images_dir.glob("*/*") if p.is_dir()):
        subj, seq = seq_dir.parent.name, seq_dir.name
        name = f"{subj}/{seq}"
        entries = list(seq_dir.iterdir())
        frames = sorted(p for p in entries if _FRAME.match(p.name))
        # A frame's name with a newline or spaces around it is not the frame: named, not taken.
        for p in entries:
            if not _FRAME.match(p.name) and _FRAME.match(p.name.strip()):
                out.exclusions.append(Exclusion(str(p), f"file name {p.name!r} is a frame's name with white space or "
                                                "a control character around it; not read as a frame", name))
        if not frames:
            continue
        n_seq += 1
        subjects.add(subj)
        files = labels.get((subj, seq), [])
        if not files:
            continue  # unlabelled, as 266 of CK+'s 593 sequences are
        if len(files) > 1:
            out.exclusions.append(Exclusion(str(files[0].parent), f"{len(files)} emotion files in one sequence", name))
            continue
        try:
            code = read_emotion(files[0])
        except DataError as e:
            out.exclusions.append(Exclusion(str(files[0]), e.reason, name))
            continue
        if code not in CKPLUS_CODES:
            out.exclusions.append(Exclusion(str(files[0]), f"emotion code {code} outside 1..7", name))
            continue
        label = CKPLUS_CODES[code]
        labelled_subjects.add(subj)
        numbers = [int(_FRAME.match(p.name).group(3)) for p in frames]
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        if missing:
            out.exclusions.append(Exclusion(str(seq_dir), f"missing frame number(s) {missing[:5]}", name, label))
            continue
        last = int(_EMOTION.match(files[0].name).group(3))
        if last != numbers[-1]:
            out.exclusions.append(Exclusion(
                str(files[0]), f"label names frame {last} but the last frame is {numbers[-1]}", name, label))
            continue
        marks = None
        if landmarks is not None:
            marks = [landmarks / subj / seq / f"{p.stem}_landmarks.txt" for p in frames]
        out.sequences.append(Sequence(subj, name, label, frames, marks))
    out.counts = {"subjects": len(subjects), "sequences": n_seq,
                  "labelled_sequences": sum(len(v) > 0 for v in labels.values()),
                  "labelled_subjects": len(labelled_subjects)}
    out.layout = {"images": images, "folder": str(images_dir.relative_to(root))}
    return out


SPEC = DatasetSpec("ckplus", "CK+", CKPLUS_CLASSES, EXPECTED["ckplus"], IMAGES, read)
