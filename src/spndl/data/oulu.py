"""Read Oulu-CASIA NIR&VIS: the visible-light, strong-illumination sequences (section 4.1).

Layout: ``OriginalImg/VL/Strong/P001/Anger/000.jpeg``; some mirrors drop the
``OriginalImg`` level. Other cameras (``NI``) and illuminations (``Dark``,
``Weak``) are present in the tree and ignored. Labels are folder names.

The owners' cropped copy, ``PreProcess/VL_Acropped/Strong/P001/Anger/000.jpeg``,
spells its top folder three ways between copies (``CROPPED_PARENTS``); it is
read instead of the originals when ``images="owners"``. A missing expression
folder is reported as a missing sequence, never skipped silently.
"""

from __future__ import annotations

import re
from pathlib import Path

from spndl.data.locate import find_dir
from spndl.data.records import DataError, DatasetSpec, Exclusion, ReadResult, Sequence
from spndl.data.spec import EXPECTED, OULU_CLASSES, OULU_FOLDERS

# \Z, not $: $ also matches before a trailing newline; ASCII digits only (int() takes others).
_FRAME = re.compile(r"^(\d+)\.jpe?g\Z", re.IGNORECASE | re.ASCII)
_SUBJECT = re.compile(r"^P(\d+)\Z", re.ASCII)
CROPPED_PARENTS = ("PreProcess", "PreProcess_Img", "PreProcessImg")
CROPPED_VL = "VL_Acropped"
# The images read -> how prepare cuts faces from them (the originals by the face detector, the
# owners' cropped copy whole); the first is the default.
IMAGES = {"original": "detector", "owners": "owners"}


def find_vl_strong(root: Path) -> Path:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    for base in (root / "OriginalImg", root):
        if (base / "VL" / "Strong").is_dir():
            return base / "VL" / "Strong"
    vl = find_dir(root, ("VL",))
    if vl is not None and (vl / "Strong").is_dir():
        return vl / "Strong"
    raise DataError(f"{root}: no VL/Strong folder (expected OriginalImg/VL/Strong/P001/Anger/...)")


def find_cropped_strong(root: Path) -> Path:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    parent = next((root / n for n in CROPPED_PARENTS if (root / n).is_dir()), None) or find_dir(root, CROPPED_PARENTS)
    if parent is None or not (parent / CROPPED_VL / "Strong").is_dir():
        raise DataError(f"{root}: no cropped copy ({' or '.join(CROPPED_PARENTS)}/{CROPPED_VL}/Strong/P001/Anger/...); "
                        "use the originals with the face detector instead")
    return parent / CROPPED_VL / "Strong"


def read(root: str | Path, images: str = "original") -> ReadResult:
    root = Path(root)
    if images not in IMAGES:
        raise DataError(f"Oulu-CASIA images {images!r}: choose one of {', '.join(IMAGES)}")
    strong = find_vl_strong(root) if images == "original" else find_cropped_strong(root)
    out = ReadResult("oulu", root)
    subjects = sorted(p for p in strong.iterdir() if p.is_dir() and not p.name.startswith("."))
    n_seq = 0
    for subj in subjects:
        for expr_dir in sorted(p for p in subj.iterdir() if p.is_dir()):
            name = f"{subj.name}/{expr_dir.name}"
            if expr_dir.name not in OULU_FOLDERS:
                out.exclusions.append(Exclusion(str(expr_dir), f"unknown expression folder {expr_dir.name!r}", name))
                continue
            frames = sorted((p for p in expr_dir.iterdir() if _FRAME.match(p.name)),
                            key=lambda p: int(_FRAME.match(p.name).group(1)))
            if not frames:
                out.exclusions.append(Exclusion(str(expr_dir), "no frames", name))
                continue
            n_seq += 1
            out.sequences.append(Sequence(subj.name, name, OULU_FOLDERS[expr_dir.name], frames))
        missing = sorted(set(OULU_FOLDERS) - {p.name for p in subj.iterdir() if p.is_dir()})
        for m in missing:
            out.exclusions.append(Exclusion(str(subj / m), "missing sequence", f"{subj.name}/{m}", OULU_FOLDERS[m]))
    # Subjects are numbered P001..P080: a gap is a subject missing from this copy.
    numbers = sorted(int(m.group(1)) for p in subjects if (m := _SUBJECT.match(p.name)))
    for k in sorted(set(range(1, numbers[-1] + 1)) - set(numbers)) if numbers else []:
        out.exclusions.append(Exclusion(str(strong / f"P{k:03d}"), "missing subject", f"P{k:03d}"))
    out.counts = {"subjects": len(subjects), "sequences": n_seq, "labelled_sequences": n_seq}
    out.layout = {"images": images, "folder": str(strong.relative_to(root))}
    return out


SPEC = DatasetSpec("oulu", "Oulu-CASIA", OULU_CLASSES, EXPECTED["oulu"], IMAGES, read)
