"""Training throughput: spndl's tensor pipeline vs a naive PIL DataLoader, on synthetic CK+.

Prints training pairs per second for every variant (uint8 images held as one
tensor, batched and augmented as tensors, as ``spndl train`` does) and for a
naive loop on the same NDF model: a torch DataLoader whose Dataset decodes
each PNG, crops it by its landmarks and transforms it with PIL/torchvision
on every epoch. Usage:

    python benchmarks/throughput.py [--work DIR] [--size 32] [--epochs 2]

The synthetic CK+ set (size 'small') is generated and prepared under --work
if it is not there yet.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import v2

from spndl.batching import MEAN, STD, Batches, make_part, resize_images
from spndl.config import load_config
from spndl.data import ckplus
from spndl.data.crop import landmark_box
from spndl.data.prepare import prepare
from spndl.data.prepared import load_prepared, split_indices
from spndl.model import SPNDLNet
from spndl.params import read_preset
from spndl.seeding import generator
from spndl.synth import generate
from spndl.runtime.devices import pick_device
from spndl.training.train import train_epoch
from spndl.variants import VARIANTS


class NaivePairs(torch.utils.data.Dataset):
    """Decode, crop, resize and normalise both images of a pair with PIL, every time."""

    def __init__(self, root: Path, manifest, size: int):
        self.root, self.m = root, manifest.reset_index(drop=True)
        self.tf = v2.Compose([v2.Resize((size, size)), v2.RandomHorizontalFlip(), v2.ToImage(),
                              v2.ToDtype(torch.float32, scale=True),
                              v2.Normalize(MEAN.flatten().tolist(), STD.flatten().tolist())])

    def __len__(self):
        return len(self.m)

    def _face(self, rel: str) -> Image.Image:
        frame = self.root / rel
        lm = self.root / "Landmarks" / frame.parent.parent.name / frame.parent.name / f"{frame.stem}_landmarks.txt"
        box = landmark_box(ckplus.read_landmarks(lm))
        return Image.open(frame).convert("RGB").crop(box)

    def __getitem__(self, i):
        row = self.m.iloc[i]
        state = torch.get_rng_state()
        t = self.tf(self._face(row["target"]))
        torch.set_rng_state(state)  # the same flip for the reference
        r = self.tf(self._face(row["reference"]))
        return t, r, int(row["label"])


def naive_pairs_per_second(root: Path, data, rows, size: int, cfg, epochs: int, device) -> float:
    torch.manual_seed(0)
    model = SPNDLNet(len(data.classes), "neutral").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    loader = torch.utils.data.DataLoader(NaivePairs(root, data.manifest.iloc[rows], size),
                                         batch_size=cfg.train.batch_size, shuffle=True, num_workers=0)
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        model.train()
        for t, r, y in loader:
            t, r, y = t.to(device), r.to(device), y.to(device)
            loss = F.cross_entropy(model(t, r), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(y)
    return n / (time.perf_counter() - t0)


def fast_pairs_per_second(data, rows, variant: str, cfg, epochs: int, device) -> float:
    mode = VARIANTS[variant][0]
    torch.manual_seed(0)
    model = SPNDLNet(len(data.classes), mode).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    batches = Batches(resize_images(data.images, cfg.data.size), device, mode == "neutral")
    part = make_part(data, rows, device, mode, cfg, 0, "train")
    g_order, g_aug = generator(0, 0, "order"), generator(0, 0, "augment", device)
    train_epoch(model, opt, batches, part, torch.arange(min(64, len(rows))), cfg, g_aug)  # warm-up
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(rows), generator=g_order)
        train_epoch(model, opt, batches, part, perm, cfg, g_aug)
        n += len(perm)
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="build/bench")
    ap.add_argument("--size", type=int, default=32, help="training image size (the CPU default: 32)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--preset", default="synthetic_cpu", help="params.yaml's preset to take the settings from")
    a = ap.parse_args()
    work = Path(a.work)
    if not (work / "synth/ckplus").is_dir():
        generate(work / "synth", seed=0, size="small", datasets=("ckplus",))
    if not (work / "prepared/manifest.csv").is_file():
        prepare("ckplus", work / "synth/ckplus", work / "prepared", size=a.size)
    params = Path(__file__).resolve().parents[1] / "params.yaml"
    cfg = load_config([], [f"data.size={a.size}"], base=read_preset(params, a.preset, "ckplus"))
    device = pick_device(cfg.train.device)
    data = load_prepared(work / "prepared")
    rows, _ = split_indices(data, 0)
    print(f"synthetic CK+ (small), fold 0 training part: {len(rows)} pairs, {a.size} px, "
          f"batch {cfg.train.batch_size}, {a.epochs} epochs, device {device}, torch threads {torch.get_num_threads()}")
    results = {v: fast_pairs_per_second(data, rows, v, cfg, a.epochs, device) for v in VARIANTS}
    naive = naive_pairs_per_second((work / "synth/ckplus").resolve(), data, rows, a.size, cfg, a.epochs, device)
    for v, pps in results.items():
        print(f"{v:18s} {pps:8.1f} training pairs/s")
    print(f"{'naive PIL loop':18s} {naive:8.1f} training pairs/s (ndf model, DataLoader decoding PNGs every epoch)")
    print(f"ratio ndf / naive: {results['ndf'] / naive:.2f}x")


if __name__ == "__main__":
    main()
