"""Small archives in the owners' distribution forms, from the tiny synthetic trees: the forms
themselves are spndl.synth.archives'; this adds the Oulu-CASIA tree variants the tests need."""

from __future__ import annotations

import shutil
from pathlib import Path

from spndl.synth.archives import ckplus_zips, pack, rafdb_basic

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
