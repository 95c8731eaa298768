"""Use a trained run: classify the expressions of new photos or video frames.

A run folder gives everything: the model (``checkpoint.pt``), its variant, the
class names and the image size (``metrics.json``). A photo goes through the same
steps as ``spndl prepare`` and training: OpenCV's Haar cascade finds the face
(``FaceDetector``, the detector of Oulu-CASIA's preparation; ``detect=False`` for
photos that are face crops already), the crop is resized to the run's size
(``crop_resize``), scaled to [0, 1] and normalised with torchvision's ImageNet
statistics (``batching.MEAN``/``STD``). Variants with a neutral reference (NDF,
SPNDL) classify V_tar - V_ref (eq. 3) against one neutral photo of the same
person; the others need none.

    from spndl.inference.predict import Predictor
    p = Predictor("runs/synthetic_cpu-synthetic/ckplus/spndl/fold0/seed0")
    rows = p.predict(["happy.jpg", "sad.jpg"], neutral="neutral.jpg")
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from spndl.batching import MEAN, STD
from spndl.data.crop import Box, FaceDetector, crop_resize, read_image
from spndl.data.records import DataError
from spndl.opencv import cv2
from spndl.inference.run import TrainedRun, load_run
from spndl.runtime.devices import pick_device

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    # Anything with an image's name but a folder: a named pipe or a broken file gets its row
    # (status unreadable) instead of vanishing from the results.
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
    if not files:
        raise DataError(f"{folder}: holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def video_frames(path: str | Path, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB frame) of every ``every``-th frame of a video file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: not a video OpenCV can read")
        k, any_frame = 0, False
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            any_frame = True
            if k % every == 0:
                yield k, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            k += 1
        if not any_frame:
            raise DataError(f"{path}: not a video OpenCV can read (no frame decoded)")
    finally:
        cap.release()


class Predictor:
    """Classify faces with a trained run; batched on the device.

    ``detect``: find the face with the Haar cascade (as ``prepare`` does for
    Oulu-CASIA); False for images that are face crops already. ``progress``: a
    line on stderr while a long list goes through (default: when stderr is a terminal).
    """

    def __init__(self, run: str | Path | TrainedRun, device: str = "auto", detect: bool = True,
                 batch_size: int = 64, progress: bool | None = None):
        self.device = pick_device(device)
        self.run = run if isinstance(run, TrainedRun) else load_run(run, self.device)
        self.detector = FaceDetector() if detect else None
        self.batch_size = batch_size
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._mean, self._std = MEAN.to(self.device), STD.to(self.device)

    def face(self, img: np.ndarray) -> tuple[np.ndarray | None, Box | None]:
        """The face crop (3, S, S) uint8 of an RGB image and its box, or (None, None)."""
        h, w = img.shape[:2]
        box = (0, 0, w, h) if self.detector is None else self.detector.detect(img)
        if box is None:
            return None, None
        return crop_resize(img, box, self.run.image_size), box

    def neutral_face(self, neutral: str | Path | np.ndarray | None) -> np.ndarray | None:
        """The neutral reference crop, checked against what the variant needs."""
        name = "the neutral image" if isinstance(neutral, np.ndarray) else str(neutral)
        if neutral is None:
            if self.run.needs_neutral:
                raise DataError(f"{self.run.path}: variant {self.run.variant} classifies the difference to a neutral "
                                "photo of the same person; give one (--neutral FILE)")
            return None
        if not self.run.needs_neutral:
            raise DataError(f"{self.run.path}: variant {self.run.variant} uses no neutral photo; leave out "
                            f"--neutral {name}" + (" (its second network learns the reference, eq. 8)"
                                                    if self.run.reference_mode == "learned" else ""))
        img = neutral if isinstance(neutral, np.ndarray) else read_image(Path(neutral))
        crop, _ = self.face(img)
        if crop is None:
            raise DataError(f"{name}: the detector finds no face in the neutral image")
        return crop

    @torch.no_grad()
    def classify(self, crops: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (N, classes) of face crops (N, 3, S, S) uint8."""
        out = []
        ref = None
        if neutral is not None:
            ref = self._normalise(torch.from_numpy(neutral[None]).to(self.device))
        for i in range(0, len(crops), self.batch_size):
            x = self._normalise(torch.from_numpy(crops[i:i + self.batch_size]).to(self.device))
            # Eval mode: BatchNorm uses its running statistics, so each image is classified on its
            # own, whatever else is in the batch (eqs. 4-6 hold in training).
            r = ref.expand(len(x), -1, -1, -1) if ref is not None else None
            out.append(self.run.model(x, r).float().softmax(1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.run.classes)), np.float32)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255.0 - self._mean) / self._std

    def predict(self, images: Iterable[str | Path | np.ndarray], neutral: str | Path | np.ndarray | None = None,
                keep_going: bool = False) -> list[dict]:
        """One row per image: file, frame (None), face box, predicted class and per-class
        probabilities; a ``no_face`` row where the detector finds none. ``keep_going`` (a
        folder): a file that does not decode gets an ``unreadable`` row, with the reason, instead
        of stopping the rest."""
        items = [(str(im) if not isinstance(im, np.ndarray) else f"image{k}", None, im) for k, im in enumerate(images)]
        return self._rows(items, neutral, keep_going)

    def predict_video(self, path: str | Path, every: int = 1, neutral: str | Path | np.ndarray | None = None,
                      ) -> list[dict]:
        """One row per sampled frame (every ``every``-th) of a video file."""
        return self._rows(((str(path), k, frame) for k, frame in video_frames(path, every)), neutral)

    def _rows(self, items: Iterable[tuple[str, int | None, str | Path | np.ndarray]],
              neutral: str | Path | np.ndarray | None, keep_going: bool = False) -> list[dict]:
        ref = self.neutral_face(neutral)
        rows: list[dict] = []
        pending: list[tuple[dict, np.ndarray]] = []  # faces waiting for a full batch

        def flush():
            probs = self.classify(np.stack([c for _, c in pending]), ref)
            for (row, _), p in zip(pending, probs):
                row["prediction"] = self.run.classes[int(p.argmax())]
                row.update({f"prob_{c}": float(v) for c, v in zip(self.run.classes, p)})
            pending.clear()

        for name, frame, item in items:
            empty = {"file": name, "frame": frame, **dict.fromkeys(("x0", "y0", "x1", "y1")), "prediction": None,
                     **{f"prob_{c}": None for c in self.run.classes}}
            try:
                img = item if isinstance(item, np.ndarray) else read_image(Path(item))
                crop, box = self.face(img)
            except DataError as e:  # the file named, whichever step failed (a crop box names none)
                why = e.reason if e.path == name else str(e)
                if not keep_going:
                    raise DataError(name, why) from None
                rows.append({**empty, "status": f"unreadable: {why}"})
                continue
            row = {**empty, "status": "ok" if crop is not None else "no_face",
                   **dict(zip(("x0", "y0", "x1", "y1"), box or (None,) * 4))}
            rows.append(row)
            if crop is not None:
                pending.append((row, crop))
                if len(pending) == self.batch_size:
                    flush()
            if self.progress and len(rows) % 25 == 0:
                print(f"\rspndl predict: {len(rows)} images", end="", file=sys.stderr, flush=True)
        if pending:
            flush()
        if self.progress:
            print(f"\rspndl predict: {len(rows)} images, {sum(r['status'] == 'ok' for r in rows)} faces",
                  file=sys.stderr)
        return rows


def write_rows(rows: list[dict], out: str | Path, force: bool = False) -> None:
    """The rows as CSV or JSON (by ``out``'s suffix), written atomically; an existing file
    is replaced only where spndl wrote it, or with ``force`` (spndl.ownership)."""
    import pandas as pd

    from spndl.ownership import output_file

    out = Path(out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise DataError(f"{out}: --out must end in .csv or .json")
    with output_file(out, force) as tmp:
        if out.suffix.lower() == ".json":
            tmp.write_text(json.dumps(rows, indent=1) + "\n")
        else:
            pd.DataFrame(rows).to_csv(tmp, index=False)
