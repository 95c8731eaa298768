"""The CUDA path end to end, and the GPU figures behind the runtime estimate of docs/cluster.md.

On a machine with a GPU this script:

1. trains every variant for a few epochs at the paper's settings (224 px, batch 128,
   bf16 autocast, channels_last, uint8 images resident on the GPU) and prints
   training and evaluation pairs per second and the peak GPU memory; the NDF
   model also runs without autocast, and the naive PIL DataLoader loop of
   ``throughput.py`` runs once for comparison;
2. runs ``spndl train`` (the CLI, leasing a GPU slot) for SPNDL on fold 0 with
   pace checkpoints, then the same run interrupted after epoch 3 and resumed, and
   exports features of a pace checkpoint on the GPU;
3. turns the measured rates into the expected time of the paper's runs on one GPU
   (Tables 1-4: the paper's sample counts, 250 or 150 epochs, 10 folds);
4. packs 1, 2, 4 and 8 concurrent ``spndl train`` jobs (CK+ folds, the paper's
   settings, ``--jobs-per-device N``) onto the one GPU and prints their aggregate
   training pairs/s, each job's own rate and the end-to-end wall time, and the
   paper's time with the fastest packing; fused Adam is timed beside the default;
5. with ``--full-fold``: the five CK+ variants of fold 0 at the paper's 250 epochs,
   end to end with the fastest packing, measured against the estimate.

Usage:

    python benchmarks/cuda_check.py [--work DIR] [--epochs 3] [--run-epochs 6] [--pack 1 2 4 8]
                                    [--pack-epochs 20] [--full-fold]

Synthetic CK+ ('small') is generated and prepared at 224 px under --work.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import yaml

from spndl.batching import Batches, make_part, resize_images
from spndl.config import config_from_dict
from spndl.data.prepare import prepare
from spndl.data.prepared import load_prepared, split_indices
from spndl.data.registry import DATASETS
from spndl.model import SPNDLNet
from spndl.params import run_config
from spndl.seeding import generator
from spndl.synth import generate
from spndl.runtime.devices import pick_device
from spndl.evaluation import predict
from spndl.training.train import train, train_epoch
from spndl.variants import VARIANTS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import naive_pairs_per_second  # noqa: E402

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def paper_runs(params_path: Path = PARAMS) -> dict:
    """Per dataset of Tables 1-4, its runs as the pipeline makes them with `preset: paper`
    (datasets, folds, seeds, epochs and variants from params.yaml), at the paper's sample counts
    (the registry's). A dataset the paper does not report (custom) has no counts and no row."""
    params = {**yaml.safe_load(Path(params_path).read_text()), "preset": "paper"}
    preset = params["presets"]["paper"]
    out = {}
    for ds in params["datasets"]:
        e = DATASETS[ds].expected
        if not e:
            continue
        variants = params["variants"][ds]
        epochs = run_config(params, ds).train.epochs  # the pipeline's own reading of the preset
        batch = run_config(params, ds).train.batch_size
        if DATASETS[ds].protocol == "split":
            seeds = preset.get("split_seeds", preset["seeds"])
            row = dict(train=e["train"], test=e["test"], runs=1, seeds=len(seeds), epochs=epochs, variants=variants)
        else:
            n_test = e["samples"] / params["prepare"]["n_folds"]
            row = dict(train=e["samples"] - n_test, test=n_test, runs=len(preset["folds"]), seeds=len(preset["seeds"]),
                       epochs=epochs, variants=variants)
        row["batch"] = batch
        row["steps_per_epoch"] = math.ceil(row["train"] / batch)
        row["jobs"] = row["runs"] * row["seeds"] * len(variants)
        out[ds] = row
    return out


def print_paper_runs(runs: dict, image_size: int) -> None:
    """The paper's runs and counts, and what the estimate of section 3 is made of (CPU-only mode)."""
    print(f"The paper preset's runs of Tables 1-4 (params.yaml, preset paper: {image_size} px):")
    print(f"   {'dataset':8s} {'train':>7s} {'test':>6s} {'folds':>5s} {'seeds':>5s} {'epochs':>6s} {'batch':>5s} "
          f"{'steps/epoch':>11s} {'jobs':>4s}  variants")
    for ds, p in runs.items():
        print(f"   {ds:8s} {p['train']:7.0f} {p['test']:6.0f} {p['runs']:5d} {p['seeds']:5d} {p['epochs']:6d} "
              f"{p['batch']:5d} {p['steps_per_epoch']:11d} {p['jobs']:4d}  {', '.join(p['variants'])}")
    jobs = sum(p["jobs"] for p in runs.values())
    pairs = sum(p["jobs"] * p["epochs"] * p["train"] for p in runs.values())
    print(f"   all: {jobs} training jobs, {pairs / 1e6:.1f} M training pairs at most over all epochs "
          "(SPL paces train on fewer)")
    print("The estimate (section 3 on a GPU): hours = sum over datasets and variants of jobs x epochs x "
          "(train / training pairs per s + test / evaluation pairs per s); the rates are measured per variant "
          "on the GPU (section 1), nothing here is measured.")


def rates(data, rows, test_rows, variant: str, cfg, epochs: int, device) -> dict:
    """Training and evaluation pairs/s of one variant, and its peak GPU memory."""
    mode = VARIANTS[variant][0]
    torch.manual_seed(0)
    model = SPNDLNet(len(data.classes), mode).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    batches = Batches(resize_images(data.images, cfg.data.size), device, mode == "neutral")
    part = make_part(data, rows, device, mode, cfg, 0, "train")
    test = make_part(data, test_rows, device, mode, cfg, 0, "test", pool_rows=np.arange(len(data.manifest)))
    g_order, g_aug = generator(0, 0, "order"), generator(0, 0, "augment", device)
    torch.cuda.reset_peak_memory_stats(device)
    train_epoch(model, opt, batches, part, torch.randperm(len(rows), generator=g_order), cfg, g_aug)  # warm-up
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, opt, batches, part, torch.randperm(len(rows), generator=g_order), cfg, g_aug)
    torch.cuda.synchronize(device)
    train_pps = epochs * len(rows) / (time.perf_counter() - t0)
    predict(model, batches, test, cfg.train.eval_batch_size, cfg.train.amp)
    t0 = time.perf_counter()
    for _ in range(epochs):
        predict(model, batches, test, cfg.train.eval_batch_size, cfg.train.amp)
    torch.cuda.synchronize(device)
    eval_pps = epochs * len(test_rows) / (time.perf_counter() - t0)
    return {"train_pairs_per_s": train_pps, "eval_pairs_per_s": eval_pps,
            "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30}


def paper_hours(measured: dict, runs: dict) -> dict:
    """Hours on one GPU for every run in ``runs`` (``paper_runs``), from the measured rates."""
    out = {}
    for ds, p in runs.items():
        total = 0.0
        for v in p["variants"]:
            r = measured[v]
            # SPL scores the training part once per pace: 6 extra evaluation passes, negligible.
            per_epoch = p["train"] / r["train_pairs_per_s"] + p["test"] / r["eval_pairs_per_s"]
            total += p["runs"] * p["seeds"] * p["epochs"] * per_epoch
        out[ds] = total / 3600
    return out


def check_runs(work: Path, run_epochs: int) -> None:
    """spndl train (CLI, GPU slot) with pace checkpoints; an interrupted and resumed run; features."""
    print(f"\n2. spndl train on the GPU (spndl variant, fold 0, {run_epochs} epochs, pace checkpoints)")
    sets = [f"train.epochs={run_epochs}", "train.pace_checkpoints=true"]
    cmd = [sys.executable, "-m", "spndl.cli", "train", "--data", str(work / "prepared"), "--variant", "spndl",
           "--fold", "0", "--out", str(work / "runs/full"), "--gpu-slots", "1", "--lock-dir", str(work / "locks")]
    t0 = time.perf_counter()
    r = subprocess.run(cmd + [x for s in sets for x in ("--set", s)], capture_output=True, text=True)
    print(f"   CLI exit {r.returncode} in {time.perf_counter() - t0:.1f} s; {r.stderr.strip()[-500:]}")
    full = json.loads((work / "runs/full/metrics.json").read_text())
    record = (work / "runs/full/config.yaml").read_text()
    print(f"   device recorded: {[ln for ln in record.splitlines() if ln.startswith('device:')]}; "
          f"test accuracy {full['accuracy']:.4f}")

    class Stop(Exception):
        pass

    def stop_after_3(epoch):
        if epoch == 3:
            raise Stop

    run_cfg = config_from_dict({"train": {"device": "cuda", "epochs": run_epochs}})
    try:
        train(work / "prepared", "spndl", 0, work / "runs/resumed", run_cfg, on_epoch_end=stop_after_3,
              log=lambda s: None)
    except Stop:
        print("   interrupted after epoch 3")
    logs = []
    resumed = train(work / "prepared", "spndl", 0, work / "runs/resumed", run_cfg, log=logs.append)
    again = train(work / "prepared", "spndl", 0, work / "runs/again", run_cfg, log=lambda s: None)
    print(f"   {logs[0] if logs else 'no resume message'}; resumed run test accuracy {resumed['accuracy']:.4f}; "
          f"an uninterrupted repeat {again['accuracy']:.4f} (GPU runs need not be bit-identical)")
    paces = sorted((work / "runs/full/paces").glob("pace*.pt"))
    r = subprocess.run([sys.executable, "-m", "spndl.cli", "features", "--checkpoint", str(paces[-1]),
                        "--data", str(work / "prepared"), "--out", str(work / "features.npz"), "--device", "cuda"],
                       capture_output=True, text=True)
    print(f"   features of {paces[-1].name} on the GPU: exit {r.returncode}: {(r.stdout + r.stderr).strip()[-300:]}")


def repeat_runs(prepared: Path, out: Path, settings: dict) -> dict:
    """The same SPNDL run (fold 0, ``settings``) trained twice: whether metrics.json and
    predictions.csv came out byte for byte the same, and the two accuracies."""
    cfg = config_from_dict(settings)
    runs = [Path(tempfile.mkdtemp(prefix="repeat-", dir=out)) / "run" for _ in (1, 2)]
    metrics = [train(prepared, "spndl", 0, run, cfg, log=lambda s: None) for run in runs]
    same = all((runs[0] / f).read_bytes() == (runs[1] / f).read_bytes() for f in ("metrics.json", "predictions.csv"))
    return {"identical": same, "accuracy": [m["accuracy"] for m in metrics]}


def check_determinism(work: Path, epochs: int) -> None:
    """6.: train.cuda_deterministic on and off, each run twice: are the bits the same?"""
    print(f"\n6. the same run twice (SPNDL, fold 0, {epochs} epochs), with and without train.cuda_deterministic")
    for deterministic in (True, False):
        t0 = time.perf_counter()
        (work / "repeat").mkdir(parents=True, exist_ok=True)
        r = repeat_runs(work / "prepared", work / "repeat",
                        {"train": {"device": "cuda", "epochs": epochs, "cuda_deterministic": deterministic}})
        print(f"   cuda_deterministic {str(deterministic).lower():5s}: metrics and predictions "
              f"{'identical' if r['identical'] else 'DIFFER'}; accuracies {r['accuracy']}; "
              f"{time.perf_counter() - t0:.0f} s for both")


def launch_jobs(work: Path, jobs: list[tuple[str, int]], per_device: int, sets: list[str], tag: str) -> dict:
    """Start every (variant, fold) job at once on GPU 0 (``per_device`` may share it) and wait.
    Returns the wall time, the training pairs of all jobs and the summed epoch seconds."""
    (work / "pack").mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=work / "pack"))  # fresh: a rerun must train, not resume
    procs = []
    t0 = time.perf_counter()
    for variant, fold in jobs:
        run = out / f"{variant}-fold{fold}"
        cmd = [sys.executable, "-m", "spndl.cli", "train", "--data", str(work / "prepared"), "--variant", variant,
               "--fold", str(fold), "--out", str(run), "--gpu-slots", "1", "--jobs-per-device", str(per_device),
               "--lock-dir", str(out / "locks"), *[x for s in sets for x in ("--set", s)]]
        procs.append((run, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
    failed = [(run, p.communicate()[1][-400:]) for run, p in procs if p.wait() != 0]
    wall = time.perf_counter() - t0
    if failed:
        raise RuntimeError(f"{len(failed)} packed job(s) failed: {failed[0]}")
    pairs = epoch_s = 0.0
    for run, _ in procs:
        h = np.genfromtxt(run / "history.csv", delimiter=",", names=True)
        pairs += float(np.sum(h["selected"]))
        epoch_s += float(np.sum(h["seconds"]))
    return {"wall": wall, "pairs": pairs, "epoch_s": epoch_s, "jobs": len(jobs)}


def packing(work: Path, ns: list[int], epochs: int) -> dict:
    """Aggregate training pairs/s of N concurrent CK+ baseline/NDF jobs on one GPU."""
    print(f"\n4. packing: N concurrent spndl train jobs (CK+, spndl, {epochs} epochs, batch 128, bf16) on one GPU")
    print(f"   {'N':>3s} {'aggregate pairs/s':>18s} {'per job':>9s} {'wall s':>7s} {'start-up share':>15s}")
    out = {}
    for n in ns:
        r = launch_jobs(work, [("spndl", k % 10) for k in range(n)], n, [f"train.epochs={epochs}"], f"n{n}")
        # Aggregate over the training epochs (history.csv's seconds, which overlap across jobs):
        # the pairs of all jobs over the time the slowest one trained.
        train_span = r["epoch_s"] / n
        out[n] = {"aggregate": r["pairs"] / train_span, "per_job": r["pairs"] / r["epoch_s"], "wall": r["wall"],
                  "startup_share": 1 - train_span / r["wall"]}
        o = out[n]
        print(f"   {n:3d} {o['aggregate']:18.1f} {o['per_job']:9.1f} {o['wall']:7.1f} {o['startup_share']:15.0%}")
    fused = launch_jobs(work, [("spndl", 0)], 1, [f"train.epochs={epochs}", "train.fused_adam=true"], "fused")
    print(f"   fused Adam, one job: {fused['pairs'] / fused['epoch_s']:.1f} pairs/s "
          f"(default Adam: {out[min(out)]['per_job']:.1f})")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="build/cuda-check")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per variant")
    ap.add_argument("--run-epochs", type=int, default=6, help="epochs of the spndl train runs")
    ap.add_argument("--size", type=int, default=224, help="image size (the paper: 224)")
    ap.add_argument("--pack", type=int, nargs="*", default=[1, 2, 4, 8], help="concurrent jobs to time (4.)")
    ap.add_argument("--pack-epochs", type=int, default=20, help="epochs of each packed job")
    ap.add_argument("--full-fold", action="store_true",
                    help="5.: all five CK+ variants of fold 0 at 250 epochs, measured against the estimate")
    ap.add_argument("--repeat", type=int, default=8,
                    help="the timed epochs go over the training pairs this many times, so that an epoch has "
                         "as many batches as the paper's CK+ folds and more")
    ap.add_argument("--determinism", type=int, default=0, metavar="EPOCHS",
                    help="6.: train one run twice with and twice without train.cuda_deterministic, for EPOCHS "
                         "epochs each, and compare the bits")
    ap.add_argument("--cpu-only", action="store_true",
                    help="print the paper's runs and counts and the estimate's inputs from params.yaml and the "
                         "registry, and stop (no GPU needed)")
    a = ap.parse_args()
    if a.cpu_only:
        print_paper_runs(paper_runs(), yaml.safe_load(PARAMS.read_text())["presets"]["paper"]["image_size"])
        return
    if not torch.cuda.is_available():
        sys.exit("cuda_check: CUDA is not available on this machine (--cpu-only prints the paper's runs)")
    work = Path(a.work)
    dev = pick_device("cuda")
    p = torch.cuda.get_device_properties(dev)
    print(f"GPU {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs; torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")

    t0 = time.perf_counter()
    if not (work / "synth/ckplus").is_dir():
        generate(work / "synth", seed=0, size="small", datasets=("ckplus",))
    if not (work / "prepared/manifest.csv").is_file():
        prepare("ckplus", work / "synth/ckplus", work / "prepared", size=a.size)
    print(f"synthetic CK+ generated and prepared at {a.size} px in {time.perf_counter() - t0:.1f} s")

    data = load_prepared(work / "prepared")
    rows, test_rows = split_indices(data, 0)
    cfg = config_from_dict({"train": {"device": "cuda"}})  # the paper's defaults: batch 128, bf16
    torch.backends.cudnn.benchmark = True
    print(f"\n1. rates, SYNTHETIC CK+ fold 0: {len(rows)} training (x{a.repeat}) / {len(test_rows)} test pairs, "
          f"{a.size} px, batch {cfg.train.batch_size}, {a.epochs} timed epochs")
    rows, test_rows = np.tile(rows, a.repeat), np.tile(test_rows, a.repeat)
    measured = {v: rates(data, rows, test_rows, v, cfg, a.epochs, dev) for v in VARIANTS}
    for v, r in measured.items():
        print(f"   {v:18s} train {r['train_pairs_per_s']:8.1f} pairs/s   eval {r['eval_pairs_per_s']:8.1f} pairs/s"
              f"   peak {r['peak_gib']:.2f} GiB")
    fp32 = rates(data, rows, test_rows, "ndf", config_from_dict({"train": {"device": "cuda", "amp": False}}),
                 a.epochs, dev)
    print(f"   ndf without autocast (fp32) train {fp32['train_pairs_per_s']:8.1f} pairs/s, "
          f"peak {fp32['peak_gib']:.2f} GiB")
    naive = naive_pairs_per_second((work / "synth/ckplus").resolve(), data, rows[:len(rows) // a.repeat], a.size,
                                   cfg, 1, dev)
    print(f"   naive PIL DataLoader loop (ndf, decoding PNGs, 0 workers) {naive:8.1f} pairs/s; "
          f"ratio ndf / naive {measured['ndf']['train_pairs_per_s'] / naive:.1f}x")

    try:
        check_runs(work, a.run_epochs)
    except Exception:  # report it and go on: the rates above stand on their own
        traceback.print_exc()

    print("\n3. expected time of the paper's runs (Tables 1-4) on this GPU, from the rates above:")
    runs = paper_runs()
    hours = paper_hours(measured, runs)
    for ds, h in hours.items():
        p = runs[ds]
        print(f"   {ds:7s} {len(p['variants'])} variants x {p['runs']} folds x {p['seeds']} seeds x "
              f"{p['epochs']} epochs: {h:6.2f} h")
    print(f"   all: {sum(hours.values()):.2f} h (one job at a time)")

    if a.determinism:
        check_determinism(work, a.determinism)
    if not a.pack:
        return
    packed = packing(work, a.pack, a.pack_epochs)
    best = max(packed, key=lambda n: packed[n]["aggregate"])
    gain = packed[best]["aggregate"] / packed[min(packed)]["per_job"]
    print(f"   fastest packing: {best} jobs per GPU, {gain:.2f}x one job's rate; the paper's runs with it: "
          f"{sum(hours.values()) / gain:.2f} h (compute.gpu_jobs_per_device: {best}, --resources gpu={best})")
    if a.full_fold:
        ck = runs["ckplus"]
        # This data's fold 0 (the synthetic CK+ is smaller than the real one), at the rates above.
        n_train, n_test = len(rows) // a.repeat, len(test_rows) // a.repeat
        estimate = sum(ck["epochs"] * (n_train / measured[v]["train_pairs_per_s"] + n_test /
                                       measured[v]["eval_pairs_per_s"]) for v in ck["variants"]) / gain
        print(f"\n5. CK+ fold 0, all {len(ck['variants'])} variants at {ck['epochs']} epochs, {best} per GPU")
        r = launch_jobs(work, [(v, 0) for v in ck["variants"]], best, ["train.pace_checkpoints=false"], "full-fold")
        print(f"   measured {r['wall']:.0f} s end to end; estimated {estimate:.0f} s of training from the rates")


if __name__ == "__main__":
    main()
