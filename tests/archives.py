"""Build small archives in the owners' distribution forms from the tiny synthetic trees."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path


def pack(archive: Path, members: dict[str, Path]) -> Path:
    """Write ``archive`` (.zip or .tar[.gz]) holding each tree ``members[prefix]`` under ``prefix``."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    files = [(f"{prefix}/{p.relative_to(src)}", p) for prefix, src in members.items()
             for p in sorted(src.rglob("*")) if p.is_file()]
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for name, p in files:
                z.write(p, name)
    else:
        with tarfile.open(archive, "w:gz" if archive.name.endswith(".gz") else "w") as t:
            for name, p in files:
                t.add(p, name)
    return archive


def ckplus_zips(ck: Path, out: Path, nested: bool) -> list[Path]:
    """CK+ as its three zips: images, Emotion labels, Landmarks; ``nested`` adds the extra level
    some copies have (``extended-cohn-kanade-images/cohn-kanade-images/...``)."""
    outer = ("extended-cohn-kanade-images/", "Emotion_labels/", "Landmarks/") if nested else ("", "", "")
    return [pack(out / "cohn-kanade-images.zip", {f"{outer[0]}cohn-kanade-images": ck / "cohn-kanade-images"}),
            pack(out / "Emotion_labels.zip", {f"{outer[1]}Emotion": ck / "Emotion"}),
            pack(out / "Landmarks.zip", {f"{outer[2]}Landmarks": ck / "Landmarks"})]


def oulu_tree(oulu: Path, out: Path, original_level: bool = True, cropped_parent: str | None = "PreProcess",
              drop: str | None = None) -> Path:
    """A copy of the synthetic Oulu-CASIA tree in one of its variants: with or without the
    ``OriginalImg`` level, the cropped copy under ``cropped_parent`` (None: no cropped copy),
    and ``drop`` (``P003/Fear``) missing from both."""
    top = out / "OriginalImg" if original_level else out
    shutil.copytree(oulu / "OriginalImg", top)
    if cropped_parent:
        shutil.copytree(oulu / "PreProcess", out / cropped_parent)
    if drop:
        for strong in (top / "VL" / "Strong", out / (cropped_parent or "-") / "VL_Acropped" / "Strong"):
            shutil.rmtree(strong / drop, ignore_errors=True)
    return out


def rafdb_packed_images(basic: Path, out: Path, own_folder: bool = True) -> Path:
    """RAF-DB's ``basic`` folder as the owners ship it: ``Image/aligned.zip`` and
    ``Image/original.zip`` in place of the image folders; ``own_folder`` puts the
    images under ``aligned/`` inside the zip, otherwise at its top."""
    shutil.copytree(basic, out, ignore=shutil.ignore_patterns("Image"))
    (out / "Image").mkdir()
    for kind in ("aligned", "original"):
        folder = basic / "Image" / kind
        if own_folder:
            pack(out / "Image" / f"{kind}.zip", {kind: folder})
        else:
            with zipfile.ZipFile(out / "Image" / f"{kind}.zip", "w") as z:
                for p in sorted(folder.iterdir()):
                    z.write(p, p.name)
    return out
