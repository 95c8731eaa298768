"""What a reader returns: sequences with their frames, and the exclusions it had to make."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and the problem.

    ``DataError(path, reason)`` keeps both as attributes (``path``, ``reason``), so that a
    caller can list the file as an exclusion without taking the message apart;
    ``DataError(message)`` is for problems of no one file (``path`` is None)."""

    def __init__(self, path_or_message: object, reason: str | None = None):
        if reason is None:
            self.path, self.reason = None, str(path_or_message)
            super().__init__(str(path_or_message))
        else:
            self.path, self.reason = str(path_or_message), reason
            super().__init__(f"{path_or_message}: {reason}")


def is_whole_number(text: str) -> bool:
    """Whether ``text`` is ASCII digits only: ``str.isdigit()`` also takes '²', which ``int()``
    refuses, and ``int()`` takes ' 1\\n' and '١' (Arabic-Indic one), which no record holds."""
    return re.fullmatch(r"[0-9]+", text) is not None


def read_utf8(path: Path) -> str:
    """A text file's content; bytes that are not UTF-8 are a DataError naming the file and line.
    A leading byte-order mark (what a spreadsheet's "CSV UTF-8" writes) is not content."""
    data = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}", f"not a UTF-8 text file (byte 0x{data[e.start]:02x} at offset {e.start})") \
            from None


@dataclass
class Sequence:
    """One labelled neutral-to-peak sequence (or, for RAF-DB, one image as a 1-frame sequence)."""

    subject: str
    sequence: str
    label: str
    frames: list[Path]
    landmarks: list[Path] | None = None
    split: str | None = None  # RAF-DB's official split; None where folds apply
    fold: int | None = None   # a fold the dataset itself assigns (custom CSV); None: prepare's fold rule


@dataclass
class Exclusion:
    """Something left out, with the file that caused it and why."""

    path: str
    reason: str
    sequence: str = ""
    label: str = ""


@dataclass
class ReadResult:
    dataset: str
    root: Path
    sequences: list[Sequence] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    layout: dict = field(default_factory=dict)  # which variant of the layout was read, and where
    # What a reader learns from the data itself (the custom CSV); None: the dataset's spec says.
    classes: list[str] | None = None
    paired: bool | None = None
    protocol: str | None = None
    # sequence: the pairing rule of section 4.1 (first frame x last three); listed: each
    # Sequence is one listed pair, frames [reference, target] (or [target] when unpaired).
    pairing: str = "sequence"


@dataclass(frozen=True)
class DatasetSpec:
    """What the project needs to know of one dataset; each reader module exports its ``SPEC``
    and ``spndl.data.registry`` collects them."""

    name: str                       # the key in params.yaml, paths and wildcards
    title: str                      # as tables and figures name it
    classes: list[str]              # label order: label k is classes[k]
    expected: dict                  # the paper's counts (check-data, tables)
    images: dict[str, str]          # images option -> how faces are cut; the first is the default
    read: Callable[..., ReadResult] = field(repr=False)
    paired: bool = True             # each sample has its subject's neutral reference frame
    protocol: str = "folds"         # folds (subject-independent cross-validation) or split (official)
    ours: str = "spndl"             # the paper's full method on this dataset (Fig. 4)
    synthetic: bool = True          # the embedded default (`spndl synth`) writes it
    epochs: int = 250               # the paper's training length on it (section 4.2): train.epochs null
