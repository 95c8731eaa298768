"""Check a dataset tree against the paper's counts before anything is trained on it.

``check_data`` reads the tree with the same reader as ``spndl prepare``, then
opens every file the pairing rule will use (the first and last three frames of
each labelled sequence, their CK+ landmark files; each RAF-DB image) and
reports, next to the paper's expected values (the registry's ``expected``):

- the counts of subjects, sequences, labelled sequences, and samples in total
  and per class, as the pairing rule would produce them from this tree;
- every anomaly with its path: missing landmarks, unreadable images, missing
  sequences or subjects, labels out of range, labels without frames.

Faces the detector misses are not predicted here (that needs the detector's
run); ``spndl prepare`` lists them in ``exclusions.csv``. A synthetic tree
never matches the paper's counts, and says so instead of failing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


from spndl.data.crop import UNREADABLE
from spndl.data.prepare import is_synthetic, landmarks_of, pairing_frames, read_dataset
from spndl.data.records import DataError, Exclusion
from spndl.data.registry import DATASETS
from spndl.data.spec import N_PEAK_FRAMES
from spndl.opencv import cv2


@dataclass
class CheckReport:
    dataset: str
    root: str
    images: str
    synthetic: bool
    counts: dict                        # what this tree holds
    expected: dict                      # the paper's values for the same keys
    deviations: list[str]               # 'key: found X, paper Y'
    anomalies: list[dict] = field(default_factory=list)   # path, reason, sequence, label
    allowed: bool = False               # deviations accepted by params (then the tables say so)

    @property
    def matches(self) -> bool:
        return not self.deviations

    @property
    def ok(self) -> bool:
        """May the pipeline go on: counts match, or the data are synthetic, or a deviation is allowed."""
        return self.matches or self.synthetic or self.allowed

    def to_dict(self) -> dict:
        return {**asdict(self), "matches": self.matches, "ok": self.ok}


def _readable(path: Path) -> bool:
    # A named pipe or device under an image's name would block the decoder: regular files only.
    # IMREAD_REDUCED_GRAYSCALE_8 decodes at 1/8 scale: enough to prove the file decodes, and fast.
    return path.is_file() and cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None


def _unusable(seq, picks: list[int], crop: str) -> tuple[list[Exclusion], set[int]]:
    """The problems that would keep any of ``picks`` out of a sample (prepare's rules: a frame
    that decodes, and for a landmark crop its landmarks), and those frames' indices."""
    bad, frames = [], set()
    for k in picks:
        try:
            if not _readable(seq.frames[k]):
                raise DataError(seq.frames[k], UNREADABLE)
            if crop == "landmarks":
                landmarks_of(seq, k)
        except DataError as e:
            bad.append(Exclusion(e.path, e.reason, seq.sequence, seq.label))
            frames.add(k)
    return bad, frames


def _expected(dataset: str) -> dict:
    e = DATASETS[dataset].expected
    if not e:  # a dataset the paper does not report (custom): nothing to compare with
        return {}
    if DATASETS[dataset].protocol == "split":
        return {"train": e["train"], "test": e["test"],
                **{f"train/{c}": n for c, n in e["train_per_class"].items()},
                **{f"test/{c}": n for c, n in e["test_per_class"].items()}}
    out = {k: v for k, v in e.items() if not isinstance(v, dict)}
    out.update({f"sequences/{c}": n for c, n in e["sequences_per_class"].items()})
    out.update({f"samples/{c}": N_PEAK_FRAMES * n for c, n in e["sequences_per_class"].items()})
    return out


def check_data(dataset: str, root: str | Path, images: str | None = None, allow_deviation: bool = False) -> CheckReport:
    """Count and check the tree at ``root`` as ``spndl prepare`` would read it."""
    read, images, crop = read_dataset(dataset, root, images)
    anomalies = list(read.exclusions)
    classes = read.classes
    counts = dict(read.counts)
    if not read.paired:
        # Per split, or (folds) all usable images under "samples".
        usable = {s: dict.fromkeys(classes, 0) for s in (("train", "test") if read.protocol == "split"
                                                           else ("samples",))}
        for seq in read.sequences:
            bad, _ = _unusable(seq, [0], crop)
            anomalies += bad
            if not bad:
                usable[seq.split or "samples"][seq.label] += 1
        counts.update({s: sum(usable[s].values()) for s in usable})
        counts.update({f"{s}/{c}": n for s in usable for c, n in usable[s].items()})
    else:
        seq_per_class = dict.fromkeys(classes, 0)
        samples_per_class = dict.fromkeys(classes, 0)
        for seq in read.sequences:
            seq_per_class[seq.label] += 1
            picks, short = pairing_frames(seq, read.pairing)
            if short:
                anomalies.append(short)
                continue
            bad, bad_frames = _unusable(seq, picks, crop)
            anomalies += bad
            if 0 not in bad_frames:  # without its neutral reference a sequence gives no sample
                samples_per_class[seq.label] += sum(k not in bad_frames for k in picks[1:])
        counts["samples"] = sum(samples_per_class.values())
        counts.update({f"sequences/{c}": n for c, n in seq_per_class.items()})
        counts.update({f"samples/{c}": n for c, n in samples_per_class.items()})
    expected = _expected(dataset)
    deviations = [f"{k}: found {counts.get(k)}, paper {v}" for k, v in expected.items() if counts.get(k) != v]
    return CheckReport(dataset, str(read.root), images, is_synthetic(read), counts, expected, deviations,
                       [asdict(a) for a in anomalies], allow_deviation and bool(deviations))


def format_report(r: CheckReport, max_anomalies: int = 200) -> str:
    """The report as text: counts beside the paper's, the verdict, then every anomaly with its path."""
    lines = [f"check-data {r.dataset} at {r.root} (images: {r.images})"]
    if r.synthetic:
        lines.append("SYNTHETIC data (SYNTHETIC.txt): compared with the paper's counts all the same; a difference "
                     "does not stop it.")
    keys = list(dict.fromkeys([*r.counts, *r.expected]))
    width = max(len(k) for k in keys)
    lines.append(f"  {'':{width}s} {'found':>8s} {'paper':>8s}")
    for k in keys:
        found, paper = r.counts.get(k, ""), r.expected.get(k, "")
        flag = "" if paper == "" or found == paper else "  <- differs"
        lines.append(f"  {k:{width}s} {found!s:>8s} {paper!s:>8s}{flag}")
    lines.append(f"{len(r.anomalies)} anomal{'y' if len(r.anomalies) == 1 else 'ies'}:")
    lines += [f"  {a['path']}: {a['reason']}" + (f" [{a['sequence']}]" if a["sequence"] else "")
              for a in r.anomalies[:max_anomalies]]
    if len(r.anomalies) > max_anomalies:
        lines.append(f"  ... and {len(r.anomalies) - max_anomalies} more (all in the JSON report)")
    if not r.expected:
        lines.append("verdict: the paper reports no counts for this dataset; going on.")
    elif r.matches:
        lines.append("verdict: counts match the paper.")
    elif r.synthetic:
        lines.append("verdict: synthetic data; going on.")
    elif r.allowed:
        lines.append(f"verdict: {len(r.deviations)} count(s) differ from the paper; allowed by params "
                     "(data.allow_deviation), and the tables will say so.")
    else:
        lines.append(f"verdict: {len(r.deviations)} count(s) differ from the paper; stopping. Fix the data, or set "
                     "data.allow_deviation in params.yaml to go on (the tables will then say so).")
    return "\n".join(lines)

