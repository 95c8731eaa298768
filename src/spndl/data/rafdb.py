"""Read RAF-DB (basic): the label list and the owners' aligned images, or the originals.

``basic/EmoLabel/list_patition_label.txt`` (sic) holds ``train_00001.jpg 5``
lines; the aligned image is ``basic/Image/aligned/train_00001_aligned.jpg``
and the original ``basic/Image/original/train_00001.jpg`` (which the face
detector crops). The split is the name's prefix. There is no neutral
reference: each image is a one-frame 'sequence' and its own subject.
"""

from __future__ import annotations

from pathlib import Path

from spndl.data.locate import require_dir
from spndl.data.records import DataError, DatasetSpec, Exclusion, ReadResult, Sequence, is_whole_number, read_utf8
from spndl.data.spec import EXPECTED, RAFDB_CLASSES, RAFDB_CODES

LABEL_FILE = "list_patition_label.txt"
# The images read -> how prepare cuts faces from them; the first is the default.
IMAGES = {"aligned": "aligned", "original": "detector"}


def image_path(basic: Path, name: str, images: str) -> Path:
    if images == "aligned":
        return basic / "Image" / "aligned" / f"{Path(name).stem}_aligned.jpg"
    return basic / "Image" / "original" / name


def read(root: str | Path, images: str = "aligned") -> ReadResult:
    root = Path(root)
    if images not in IMAGES:
        raise DataError(f"RAF-DB images {images!r}: choose one of {', '.join(IMAGES)}")
    basic = root if (root / "EmoLabel").is_dir() else require_dir(root, ("basic",), "RAF-DB basic")
    label_file = basic / "EmoLabel" / LABEL_FILE
    if not label_file.is_file():
        raise DataError(f"{label_file}: label file not found")
    folder = basic / "Image" / images
    if not folder.is_dir():
        packed = [a.name for a in sorted(folder.parent.glob(f"{images}.*")) if a.is_file()]
        hint = f"; {packed[0]} beside it is still packed: `spndl acquire` unpacks it" if packed else ""
        raise DataError(f"{folder}: image folder not found (images={images}){hint}")
    out = ReadResult("rafdb", root)
    seen = set()
    for lineno, line in enumerate(read_utf8(label_file).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{label_file}:{lineno}"
        if len(parts) != 2 or not is_whole_number(parts[1]):
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
        image = image_path(basic, name, images)
        if not image.is_file():
            out.exclusions.append(Exclusion(str(image), "listed in the label file but missing", name,
                                            RAFDB_CODES[code]))
            continue
        out.sequences.append(Sequence(Path(name).stem, name, RAFDB_CODES[code], [image], split=split))
    for image in sorted(folder.glob("*.jpg")):
        # '._x.jpg': macOS metadata beside a copy on a foreign disk, not an image.
        if image.name.replace("_aligned", "") not in seen and not image.name.startswith("._"):
            out.exclusions.append(Exclusion(str(image), "image has no line in the label file"))
    out.counts = {s: sum(q.split == s for q in out.sequences) for s in ("train", "test")}
    out.layout = {"images": images, "folder": str(folder.relative_to(root))}
    return out


# No neutral frames: each image is its own sample, split by RAF-DB's file name prefix.
# Section 4.2: 150 epochs on RAF-DB.
SPEC = DatasetSpec("rafdb", "RAF-DB", RAFDB_CLASSES, EXPECTED["rafdb"], IMAGES, read, paired=False,
                   protocol="split", ours="spndl_wo_neutral", epochs=150)
