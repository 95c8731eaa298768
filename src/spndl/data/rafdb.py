"""Read RAF-DB (basic): the label list and the owners' aligned images.

``basic/EmoLabel/list_patition_label.txt`` (sic) holds ``train_00001.jpg 5``
lines; the image is ``basic/Image/aligned/train_00001_aligned.jpg``. The
split is the name's prefix. There is no neutral reference: each image is a
one-frame 'sequence' and its own subject.
"""

from __future__ import annotations

from pathlib import Path

from spndl.data.locate import require_dir
from spndl.data.records import DataError, Exclusion, ReadResult, Sequence
from spndl.data.spec import RAFDB_CODES

LABEL_FILE = "list_patition_label.txt"


def read(root: str | Path) -> ReadResult:
    root = Path(root)
    basic = root if (root / "EmoLabel").is_dir() else require_dir(root, ("basic",), "RAF-DB basic")
    label_file = basic / "EmoLabel" / LABEL_FILE
    if not label_file.is_file():
        raise DataError(f"{label_file}: label file not found")
    aligned = basic / "Image" / "aligned"
    out = ReadResult("rafdb", root)
    seen = set()
    for lineno, line in enumerate(label_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{label_file}:{lineno}"
        if len(parts) != 2 or not parts[1].isdigit():
            raise DataError(f"{where}: expected '<name>.jpg <code>', found {line!r}")
        name, code = parts[0], int(parts[1])
        if name in seen:
            raise DataError(f"{where}: {name} is listed twice")
        seen.add(name)
        split = name.split("_", 1)[0]
        if split not in ("train", "test"):
            raise DataError(f"{where}: {name} has neither a train_ nor a test_ prefix")
        if code not in RAFDB_CODES:
            out.exclusions.append(Exclusion(where, f"label code {code} outside 1..7", name))
            continue
        image = aligned / f"{Path(name).stem}_aligned.jpg"
        if not image.is_file():
            out.exclusions.append(Exclusion(str(image), "listed in the label file but missing", name, RAFDB_CODES[code]))
            continue
        out.sequences.append(Sequence(Path(name).stem, name, RAFDB_CODES[code], [image], split=split))
    if aligned.is_dir():
        for image in sorted(aligned.glob("*_aligned.jpg")):
            if image.name.replace("_aligned", "") not in seen:
                out.exclusions.append(Exclusion(str(image), "image has no line in the label file"))
    out.counts = {s: sum(q.split == s for q in out.sequences) for s in ("train", "test")}
    return out
