"""Images per second of ``spndl predict`` (the Predictor it runs), with and without face detection.

    python benchmarks/predict_throughput.py --run RUN [--n 1000] [--crops DIR] [--frames DIR] [--threads 2]

Without detection: ``--n`` face crops (default: the synthetic RAF-DB aligned faces,
100x100, as the default pipeline wrote them). With detection: ``--n`` camera frames
(default: the synthetic Oulu-CASIA originals, 320x240), each searched by the Haar
cascade first. Both lists repeat their folder's images to reach ``--n``. The run's model
is loaded once, outside the timing, as one ``spndl predict`` process does; the timing
covers reading, detecting, cropping and classifying, and the export's file size is
printed beside it.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import torch

from spndl.inference.export import export_onnx
from spndl.inference.predict import IMAGE_SUFFIXES, Predictor


def images(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"{folder}: no images")
    return list(itertools.islice(itertools.cycle(files), n))


def rate(p: Predictor, files: list[Path]) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = p.predict(files)
    return len(files) / (time.perf_counter() - t0), sum(r["status"] == "ok" for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a finished run folder without a neutral reference (e.g. baseline)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--crops", default="data/raw/synthetic-small-seed0/rafdb/basic/Image/aligned")
    ap.add_argument("--frames", default="data/raw/synthetic-small-seed0/oulu/OriginalImg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    crops, frames = images(Path(a.crops), a.n), images(Path(a.frames), a.n)
    plain = Predictor(a.run, device=a.device, detect=False, progress=False)
    print(f"run {a.run} ({plain.run.variant}, {plain.run.image_size} px), device {a.device}, {a.threads} threads")
    r, ok = rate(plain, crops)
    print(f"without detection: {r:8.1f} images/s ({a.n} crops from {a.crops}; {ok} classified)")
    r, ok = rate(Predictor(plain.run, device=a.device, detect=True, progress=False), frames)
    print(f"with detection:    {r:8.1f} images/s ({a.n} frames from {a.frames}; {ok} with a face, "
          f"{a.n - ok} no_face)")
    with tempfile.TemporaryDirectory() as tmp:
        info = export_onnx(a.run, Path(tmp) / "model.onnx")
    print(f"exported ONNX graph: {info['bytes'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
