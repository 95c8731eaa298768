"""Small archives in the owners' distribution forms, from the tiny synthetic trees: the forms
themselves are spndl.synth.archives'; this adds the Oulu-CASIA tree variants the tests need."""

from __future__ import annotations

import shutil
from pathlib import Path

from spndl.synth.archives import ckplus_zips, pack, rafdb_basic
from spndl.synth.mark import TEXT

__all__ = ["ckplus_zips", "oulu_tree", "pack", "rafdb_packed_images"]


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
    return rafdb_basic(basic, out, own_folder)


def strip_mark(data: bytes) -> bytes:
    """An image's bytes without the synthetic mark (spndl.synth.mark): the PNG text chunk or
    the JPEG comment segment taken out whole, the pixels as they were."""
    i = data.find(TEXT)
    if i < 0:
        return data
    if data.startswith(b"\x89PNG"):
        start = i - len(b"Comment\x00") - 8              # the chunk's length and type
        end = start + 12 + int.from_bytes(data[start:start + 4], "big")
    else:
        start, end = i - 4, i + len(TEXT)                # FF FE, the segment's length, the text
    return data[:start] + data[end:]


def unmarked(tree: Path, out: Path) -> Path:
    """A copy of a synthetic tree with every image's mark taken out: a stand-in for a real
    dataset, for the tests of what spndl does with real data (the counts held to the paper's)."""
    shutil.copytree(tree, out, ignore=shutil.ignore_patterns("SYNTHETIC.txt"))
    for p in out.rglob("*"):
        if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.is_file():
            p.write_bytes(strip_mark(p.read_bytes()))
    return out
