"""Write synthetic subjects and sequences in the on-disk layouts of CK+, Oulu-CASIA and RAF-DB.

Every subject, sequence and image draws its randomness from its own stream
(``SeedSequence([seed, dataset, index])``), so a dataset's content depends only
on the seed and the size, never on generation order.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spndl.data.spec import CKPLUS_CLASSES, EXPECTED, OULU_FOLDERS, RAFDB_CLASSES, RAFDB_CODES
from spndl.ownership import atomic_dir
from spndl.opencv import cv2
from spndl.synth.mark import mark
from spndl.synth.face import Identity, au_weights, expression_shape, sample_identity
from spndl.synth.render import Pose, finish, render

CKPLUS_CODE = {name: code for code, name in enumerate(CKPLUS_CLASSES, start=1)}
RAFDB_CODE = {name: code for code, name in RAFDB_CODES.items()}
OULU_FOLDER = {v: k for k, v in OULU_FOLDERS.items()}


@dataclass(frozen=True)
class SynthSize:
    """How much of each dataset to draw."""

    ck_subjects: int
    ck_labelled: dict[str, int]       # labelled sequences per class
    ck_labelled_subjects: int
    ck_unlabelled: int                # sequences without an Emotion file
    ck_frames: tuple[int, int]        # frames per sequence, inclusive range
    oulu_subjects: int
    oulu_frames: tuple[int, int]
    raf_train: dict[str, int]
    raf_test: dict[str, int]
    # The written labels keep exactly the listed counts per class: a mislabelled sample then
    # shows another expression than the one written (the paper's size, which `spndl check-data`
    # holds to the real datasets' per-class counts). Otherwise the written label is the one changed.
    written_exact: bool = False


def _scaled(counts: dict[str, int], total: int) -> dict[str, int]:
    """Counts in the same proportions with the given total, each class at least 2."""
    raw = {k: v * total / sum(counts.values()) for k, v in counts.items()}
    return {k: max(2, int(round(v))) for k, v in raw.items()}


_CK = EXPECTED["ckplus"]["sequences_per_class"]
_RAF = EXPECTED["rafdb"]
SIZES: dict[str, SynthSize] = {
    # For the test suite: every class present, seconds to write.
    "tiny": SynthSize(12, _scaled(_CK, 26), 11, 6, (5, 7), 10, (5, 7),
                      _scaled(_RAF["train_per_class"], 90), _scaled(_RAF["test_per_class"], 30)),
    # The default: sized so the whole pipeline trains on 2 CPU cores in minutes.
    # (24 CK+ subjects: 2 or 3 per fold; with 7 epochs the default's pipeline takes minutes)
    "small": SynthSize(24, _scaled(_CK, 72), 23, 18, (6, 10), 18, (6, 10),
                       _scaled(_RAF["train_per_class"], 360), _scaled(_RAF["test_per_class"], 90)),
    # Twice the default's subjects and images: about twice the pairs in each test fold
    # (a candidate of benchmarks/power.py's study for synthetic_full).
    "medium": SynthSize(48, _scaled(_CK, 144), 46, 36, (6, 10), 46, (6, 10),
                        _scaled(_RAF["train_per_class"], 720), _scaled(_RAF["test_per_class"], 180)),
    # The real datasets' counts (docs/real-data.md), for checking readers at scale.
    "paper": SynthSize(123, dict(_CK), 118, 593 - 327, (10, 18), 80, (8, 14),
                       dict(_RAF["train_per_class"]), dict(_RAF["test_per_class"]), written_exact=True),
}

FRAME_SIZES = [(490, 640)] * 6 + [(480, 640)] * 3 + [(480, 720)]
SUBTLE_FRACTION = 0.2      # sequences whose peak is a micro-movement
LOW_QUALITY_RATE = 0.03    # target frames degraded
MISLABEL_RATE = 0.03       # labelled sequences with a wrong written label
RAF_LOW_QUALITY_RATE = 0.08
RAF_MISLABEL_RATE = 0.06

_DATASET_CODE = {"ckplus": 1, "oulu": 2, "rafdb": 3}


def _rng(seed: int, dataset: str, *index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _DATASET_CODE[dataset], *index]))


def _other(label: str, classes: list[str], rng: np.random.Generator) -> str:
    """One of the six other expressions, uniformly."""
    return classes[(classes.index(label) + 1 + rng.integers(6)) % 7]


def _shown(written: str, classes: list[str], rate: float, rng: np.random.Generator) -> str:
    """Under SynthSize.written_exact, the expression a sample shows: another than its written
    label at ``rate`` (its own stream, drawn before rendering)."""
    return _other(written, classes, rng) if rng.random() < rate else written


def _peak(rng: np.random.Generator) -> float:
    return rng.uniform(0.3, 0.5) if rng.random() < SUBTLE_FRACTION else rng.uniform(0.75, 1.0)


def _degrade(img: np.ndarray, rng: np.random.Generator, pose: Pose) -> tuple[np.ndarray, str]:
    """One low-quality effect, on a float image: blur, under-exposure or occlusion."""
    kind = ["blur", "dark", "occlusion"][rng.integers(3)]
    if kind == "blur":
        img = cv2.GaussianBlur(img, (0, 0), pose.scale * 0.12)
    elif kind == "dark":
        img = img * 0.35
    else:
        y0 = int(pose.cy + pose.scale * rng.uniform(-0.6, 0.3))
        x0 = int(pose.cx - pose.scale * rng.uniform(0.2, 1.0))
        img = img.copy()
        img[max(0, y0):max(0, y0 + int(0.6 * pose.scale)),
            max(0, x0):max(0, x0 + int(1.2 * pose.scale))] = rng.uniform(0.1, 0.9)
    return img, kind


def _sequence(idt: Identity, expression: str, peak: float, n: int, pose: Pose, h: int, w: int,
              rng: np.random.Generator, lowq_rate: float):
    """Frames (uint8 RGB) and pixel landmarks of one neutral-to-peak sequence."""
    frames, marks, lowq = [], [], []
    for k in range(n):
        # Intensity ramps with a smoothstep and holds its peak over the last frames.
        t = min(1.0, k / max(1, n - 3))
        inten = 0.0 if k == 0 else peak * t * t * (3 - 2 * t)
        shape = expression_shape(idt, expression, inten)
        drift = Pose(pose.cx + rng.normal(0, 0.6), pose.cy + rng.normal(0, 0.6), pose.scale, pose.roll)
        img = render(shape, idt, au_weights(expression, inten, idt), drift, h, w, rng)
        tag = ""
        if k >= n - 3 and rng.random() < lowq_rate:
            img, tag = _degrade(img, rng, drift)
        frames.append(finish(img, rng))
        marks.append(drift.apply(shape) + rng.normal(0, 0.5, shape.shape))
        lowq.append(tag)
    return frames, marks, lowq


def _write_image(path: Path, rgb: np.ndarray, grey: bool = False, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if grey else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise OSError(f"{path}: could not encode image")
    path.write_bytes(mark(encoded.tobytes()))  # the mark travels with each file (spndl.synth.mark)


def _face_cut(img: np.ndarray, pts: np.ndarray, margin: float = 0.12) -> np.ndarray:
    """The landmark box widened by ``margin`` on every side (and up, for the forehead)."""
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = img.shape[:2]
    x0, x1 = int(max(0, x0 - mx)), int(min(w, x1 + mx))
    y0, y1 = int(max(0, y0 - 2 * my)), int(min(h, y1 + my))
    return img[y0:y1, x0:x1]


def _deal(labels: list[str], n_subjects: int, rng: np.random.Generator) -> list[list[str]]:
    """Deal labels to subjects so that a subject rarely repeats an expression."""
    order = sorted(labels, key=CKPLUS_CLASSES.index)
    subjects = [[] for _ in range(n_subjects)]
    start = int(rng.integers(n_subjects))
    for i, lab in enumerate(order):
        subjects[(start + i) % n_subjects].append(lab)
    return subjects


def write_ckplus(root: Path, size: SynthSize, seed: int, truth: list[dict]) -> None:
    rng = _rng(seed, "ckplus", 0)
    ids = np.sort(rng.choice(np.arange(5, 1000), size.ck_subjects, replace=False))
    labels = [c for c, n in size.ck_labelled.items() for _ in range(n)]
    labelled = _deal(labels, size.ck_labelled_subjects, rng)
    unlabelled = rng.integers(0, size.ck_subjects, size.ck_unlabelled)
    for si, sid in enumerate(ids):
        srng = _rng(seed, "ckplus", 1, si)
        idt = sample_identity(srng)
        # CK+ mixes frame sizes (mostly 640x490) and colour modes (mostly grey); dealt by
        # subject index so that any set of 10 or more subjects holds every kind.
        h, w = FRAME_SIZES[si % len(FRAME_SIZES)]
        grey = si % 7 != 3
        seqs = [(e, True) for e in (labelled[si] if si < len(labelled) else [])]
        seqs += [(CKPLUS_CLASSES[srng.integers(7)], False)] * int((unlabelled == si).sum())
        srng.shuffle(seqs)
        subj = f"S{sid:03d}"
        for qi, (expr, is_labelled) in enumerate(seqs, start=1):
            qrng = _rng(seed, "ckplus", 2, si, qi)
            written = expr
            if is_labelled and size.written_exact:
                expr = _shown(written, CKPLUS_CLASSES, MISLABEL_RATE, _rng(seed, "ckplus", 3, si, qi))
            seq = f"{qi:03d}"
            n = int(qrng.integers(size.ck_frames[0], size.ck_frames[1] + 1))
            pose = Pose(w / 2 + qrng.uniform(-40, 40), 235 + qrng.uniform(-20, 20),
                        qrng.uniform(95, 125), qrng.uniform(-0.06, 0.06))
            peak = _peak(qrng)
            frames, marks, lowq = _sequence(idt, expr, peak, n, pose, h, w, qrng, LOW_QUALITY_RATE)
            for k, (img, pts) in enumerate(zip(frames, marks), start=1):
                stem = f"{subj}_{seq}_{k:08d}"
                _write_image(root / "cohn-kanade-images" / subj / seq / f"{stem}.png", img, grey)
                lm = root / "Landmarks" / subj / seq / f"{stem}_landmarks.txt"
                lm.parent.mkdir(parents=True, exist_ok=True)
                lm.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in pts))
            emo_dir = root / "Emotion" / subj / seq
            emo_dir.mkdir(parents=True, exist_ok=True)  # CK+ keeps empty folders for unlabelled ones
            if is_labelled:
                if not size.written_exact and qrng.random() < MISLABEL_RATE:
                    written = _other(expr, CKPLUS_CLASSES, qrng)
                stem = f"{subj}_{seq}_{n:08d}"
                (emo_dir / f"{stem}_emotion.txt").write_text(f"   {CKPLUS_CODE[written]:.7e}\n")
            truth.append({"dataset": "ckplus", "subject": subj, "sequence": f"{subj}/{seq}",
                          "image": "", "true_label": expr, "written_label": written if is_labelled else "",
                          "peak_intensity": round(peak * idt.expressivity, 4),
                          "degraded": ";".join(f"{k + 1}:{t}" for k, t in enumerate(lowq) if t)})


def write_oulu(root: Path, size: SynthSize, seed: int, truth: list[dict]) -> None:
    for si in range(size.oulu_subjects):
        srng = _rng(seed, "oulu", 1, si)
        idt = sample_identity(srng)
        subj = f"P{si + 1:03d}"
        for ei, expr in enumerate(OULU_FOLDER):
            qrng = _rng(seed, "oulu", 2, si, ei)
            n = int(qrng.integers(size.oulu_frames[0], size.oulu_frames[1] + 1))
            pose = Pose(160 + qrng.uniform(-15, 15), 118 + qrng.uniform(-10, 10),
                        qrng.uniform(50, 60), qrng.uniform(-0.05, 0.05))
            peak = _peak(qrng)
            frames, marks, lowq = _sequence(idt, expr, peak, n, pose, 240, 320, qrng, LOW_QUALITY_RATE)
            for k, (img, pts) in enumerate(zip(frames, marks)):
                _write_image(root / "OriginalImg" / "VL" / "Strong" / subj / OULU_FOLDER[expr] / f"{k:03d}.jpeg", img)
                # The owners' cropped copy: the face, cut out by its landmarks with a margin.
                cropped = root / "PreProcess" / "VL_Acropped" / "Strong" / subj / OULU_FOLDER[expr] / f"{k:03d}.jpeg"
                _write_image(cropped, _face_cut(img, pts))
            truth.append({"dataset": "oulu", "subject": subj, "sequence": f"{subj}/{OULU_FOLDER[expr]}",
                          "image": "", "true_label": expr, "written_label": expr,
                          "peak_intensity": round(peak * idt.expressivity, 4),
                          "degraded": ";".join(f"{k}:{t}" for k, t in enumerate(lowq) if t)})
            # Other cameras and illuminations exist in the real tree; the reader must skip them.
            if si < 2 and ei == 0:
                for cam, light, gain in (("NI", "Strong", 0.8), ("VL", "Dark", 0.3)):
                    for k, img in enumerate(frames[:3]):
                        img = (img.astype(np.float32) * gain).astype(np.uint8)
                        _write_image(root / "OriginalImg" / cam / light / subj / OULU_FOLDER[expr] / f"{k:03d}.jpeg",
                                     img, grey=cam == "NI")


def write_rafdb(root: Path, size: SynthSize, seed: int, truth: list[dict]) -> None:
    base = root / "basic"
    lines = []
    for split, counts, width in (("train", size.raf_train, 5), ("test", size.raf_test, 4)):
        labels = [c for c, n in counts.items() for _ in range(n)]
        _rng(seed, "rafdb", 0, width).shuffle(labels)
        for i, expr in enumerate(labels, start=1):
            irng = _rng(seed, "rafdb", 1, width, i)
            written = expr
            if size.written_exact:
                expr = _shown(written, RAFDB_CLASSES, RAF_MISLABEL_RATE, _rng(seed, "rafdb", 3, width, i))
            idt = sample_identity(irng)
            inten = 0.0 if expr == "neutral" else irng.uniform(0.3, 1.0)
            pose = Pose(50 + irng.normal(0, 1.5), 47 + irng.normal(0, 1.5), irng.uniform(31, 36),
                        irng.normal(0, 0.04))
            shape = expression_shape(idt, expr, inten)
            img = render(shape, idt, au_weights(expr, inten, idt), pose, 100, 100, irng)
            tag = ""
            if irng.random() < RAF_LOW_QUALITY_RATE:
                img, tag = _degrade(img, irng, pose)
            name = f"{split}_{i:0{width}d}"
            _write_image(base / "Image" / "aligned" / f"{name}_aligned.jpg",
                         finish(img, irng, blur=0.5, noise=0.02))
            # The unaligned original: the same face, smaller, somewhere in a larger picture.
            orng = _rng(seed, "rafdb", 2, width, i)
            h, w = int(orng.integers(200, 281)), int(orng.integers(240, 341))
            opose = Pose(w / 2 + orng.uniform(-0.2, 0.2) * w, h / 2 + orng.uniform(-0.1, 0.1) * h,
                         orng.uniform(48, 60), orng.normal(0, 0.04))
            orig = render(shape, idt, au_weights(expr, inten, idt), opose, h, w, orng)
            if tag:
                orig, _ = _degrade(orig, orng, opose)
            _write_image(base / "Image" / "original" / f"{name}.jpg", finish(orig, orng))
            if not size.written_exact and irng.random() < RAF_MISLABEL_RATE:
                written = _other(expr, RAFDB_CLASSES, irng)
            lines.append(f"{name}.jpg {RAFDB_CODE[written]}\n")
            truth.append({"dataset": "rafdb", "subject": name, "sequence": "", "image": f"{name}.jpg",
                          "true_label": expr, "written_label": written,
                          "peak_intensity": round(inten * idt.expressivity, 4), "degraded": tag})
    (base / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("".join(lines))


WRITERS = {"ckplus": write_ckplus, "oulu": write_oulu, "rafdb": write_rafdb}
TRUTH_FIELDS = ["dataset", "subject", "sequence", "image", "true_label", "written_label",
                "peak_intensity", "degraded"]


def _write_one(job: tuple[str, Path, str, int]) -> list[dict]:
    name, root, size, seed = job
    truth: list[dict] = []
    WRITERS[name](root, SIZES[size], seed, truth)
    return truth


MARK = "Synthetic faces generated by spndl synth"


def _is_synthetic_tree(folder: Path) -> bool:
    try:
        return (folder / "SYNTHETIC.txt").read_text().startswith(MARK)
    except (OSError, ValueError):
        return False


def generate(out: str | Path, seed: int = 0, size: str = "small",
             datasets: tuple[str, ...] = ("ckplus", "oulu", "rafdb")) -> Path:
    """Write ``out/{ckplus,oulu,rafdb}`` and ``out/synth_truth.csv``; atomic as a whole."""
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; choose one of {sorted(SIZES)}")
    unknown = set(datasets) - set(WRITERS)
    if unknown:
        raise ValueError(f"unknown dataset(s) {sorted(unknown)}; choose from {sorted(WRITERS)}")
    out = Path(out)
    with atomic_dir(out, _is_synthetic_tree, "a synthetic tree (one with spndl's SYNTHETIC.txt)") as tmp:
        # One process per dataset: each draws from its own seeded streams, so the
        # result does not depend on how the work is spread. As many as the CPUs this
        # process may run on (a cluster job's allocation), not the machine's count.
        with ProcessPoolExecutor(max_workers=min(len(datasets), len(os.sched_getaffinity(0)))) as pool:
            parts = list(pool.map(_write_one, [(name, tmp / name, size, seed) for name in datasets]))
        truth = [row for part in parts for row in part]
        with open(tmp / "synth_truth.csv", "w", newline="") as f:
            wr = csv.DictWriter(f, TRUTH_FIELDS)
            wr.writeheader()
            wr.writerows(truth)
        (tmp / "SYNTHETIC.txt").write_text(
            f"{MARK} (seed={seed}, size={size}).\n"
            "Not CK+, Oulu-CASIA or RAF-DB: only their on-disk layouts. "
            "Results computed on this tree describe the synthetic data alone.\n")
    return out
