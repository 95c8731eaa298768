"""The synthetic datasets in the owners' distribution forms, for rehearsing the real-data path.

CK+ as its three zips (``cohn-kanade-images.zip``, ``Emotion_labels.zip``, ``Landmarks.zip``),
Oulu-CASIA as one archive holding ``OriginalImg/`` and ``PreProcess/``, RAF-DB as its
``basic/`` folder with the images packed as ``Image/aligned.zip`` and ``Image/original.zip``:
what `spndl acquire` receives from a user (docs/real-data.md). Each carries the synthetic
tree's ``SYNTHETIC.txt`` inside, beside the dataset's folders, so that the acquired tree, and
everything prepared from it, says it is synthetic.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

MARKER = "SYNTHETIC.txt"


def pack(archive: Path, members: dict[str, Path], files: dict[str, Path] | None = None,
         deflate: bool = True) -> Path:
    """Write ``archive`` (.zip, .tar or .tar.gz) holding each tree ``members[prefix]`` under
    ``prefix`` and each file ``files[name]`` as ``name``; a zip's members deflated, or stored."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    entries = [(f"{prefix}/{p.relative_to(src)}", p) for prefix, src in members.items()
               for p in sorted(src.rglob("*")) if p.is_file()]
    entries += sorted((files or {}).items())
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
            for name, p in entries:
                z.write(p, name)
    else:
        with tarfile.open(archive, "w:gz" if archive.name.endswith(".gz") else "w") as t:
            for name, p in entries:
                t.add(p, name)
    return archive


def ckplus_zips(ck: Path, out: Path, nested: bool = False, marker: Path | None = None) -> list[Path]:
    """CK+ as its three zips: images, Emotion labels, Landmarks; ``nested`` adds the extra level
    some copies have (``extended-cohn-kanade-images/cohn-kanade-images/...``); ``marker`` goes
    into the images zip, beside ``cohn-kanade-images/``."""
    outer = ("extended-cohn-kanade-images/", "Emotion_labels/", "Landmarks/") if nested else ("", "", "")
    mark = {f"{outer[0]}{MARKER}": marker} if marker else None
    images = {f"{outer[0]}cohn-kanade-images": ck / "cohn-kanade-images"}
    return [pack(out / "cohn-kanade-images.zip", images, mark),
            pack(out / "Emotion_labels.zip", {f"{outer[1]}Emotion": ck / "Emotion"}),
            pack(out / "Landmarks.zip", {f"{outer[2]}Landmarks": ck / "Landmarks"})]


def oulu_archive(oulu: Path, out: Path, marker: Path | None = None) -> Path:
    """Oulu-CASIA as one archive: ``Oulu_CASIA_NIR_VIS/{OriginalImg,PreProcess}``, the marker at
    its top (where the acquired tree's root will be)."""
    top = "Oulu_CASIA_NIR_VIS"
    trees = {f"{top}/OriginalImg": oulu / "OriginalImg", f"{top}/PreProcess": oulu / "PreProcess"}
    return pack(out / f"{top}.zip", trees, {MARKER: marker} if marker else None)


def rafdb_basic(basic: Path, out: Path, own_folder: bool = True, marker: Path | None = None) -> Path:
    """RAF-DB's ``basic`` folder as the owners ship it: ``Image/aligned.zip`` and
    ``Image/original.zip`` in place of the image folders; ``own_folder`` puts the images under
    ``aligned/`` inside the zip, otherwise at its top."""
    shutil.copytree(basic, out, ignore=shutil.ignore_patterns("Image"))
    (out / "Image").mkdir()
    for kind in ("aligned", "original"):
        folder = basic / "Image" / kind
        if own_folder:
            pack(out / "Image" / f"{kind}.zip", {kind: folder})
        else:
            pack(out / "Image" / f"{kind}.zip", {}, {p.name: p for p in sorted(folder.iterdir())})
    if marker:
        shutil.copy2(marker, out / MARKER)
    return out


def write_archives(tree: str | Path, out: str | Path, datasets: tuple[str, ...] = ("ckplus", "oulu", "rafdb")
                   ) -> dict[str, list[str]]:
    """The archives of a synthetic ``tree`` (spndl synth) under ``out/<dataset>/``; returns each
    dataset's sources, as params' ``data.real.<dataset>.sources`` takes them."""
    tree, out = Path(tree), Path(out)
    marker = tree / MARKER
    if not marker.is_file():
        raise FileNotFoundError(f"{marker}: missing; {tree} is not a tree of spndl synth")
    sources: dict[str, list[str]] = {}
    if "ckplus" in datasets:
        sources["ckplus"] = [str(p) for p in ckplus_zips(tree / "ckplus", out / "ckplus", marker=marker)]
    if "oulu" in datasets:
        sources["oulu"] = [str(oulu_archive(tree / "oulu", out / "oulu", marker))]
    if "rafdb" in datasets:
        sources["rafdb"] = [str(rafdb_basic(tree / "rafdb" / "basic", out / "rafdb" / "basic", marker=marker))]
    return sources
