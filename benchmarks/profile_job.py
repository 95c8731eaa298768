"""Where one default training job spends its time: start-up, imports, data, steps, evaluation,
SPL scoring, checkpoints. Usage:

    python benchmarks/profile_job.py [--work DIR] [--dataset ckplus] [--variant spndl] [--fold 0]
                                     [--preset synthetic_cpu] [--set KEY=VALUE ...] [--threads 1]
                                     [--collector paused|on]

The job runs as the pipeline runs it (a fresh process with the preset's settings, one
thread as the default's train rule gives it). The synthetic dataset (size 'small') is
generated and prepared under --work if it is not there. The whole DAG's timings are in
results/NAME/tables/job_times.md after a pipeline run (Snakemake's benchmark files).

Each --set is applied on top of the preset, so that two settings compare in one sitting,
e.g. the checkpoint cadence: --set train.checkpoint_every_s=0 (a checkpoint every epoch).
"""

from __future__ import annotations

import time

T_START = time.time()  # before any heavy import: the child reports it to the parent

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from spndl.runtime.numerics import environment  # noqa: E402 (no numpy, no torch: the timings stay the job's)

REPO = Path(__file__).resolve().parents[1]


def child(a) -> None:
    """The job itself, in this (fresh) process: prints one JSON line of timings."""
    t_imports = time.perf_counter()
    import torch

    from spndl.config import load_config
    from spndl.params import read_preset
    from spndl.training.stopwatch import Stopwatch
    from spndl.training.train import train

    imports = time.perf_counter() - t_imports
    if a.collector == "on":  # training's collector policy undone (spndl.training.collector), for comparison
        import contextlib

        from spndl.training import collector

        collector.settle, collector.paused = (lambda: None), contextlib.nullcontext
    base = read_preset(REPO / "params.yaml", a.preset, a.dataset)
    cfg = load_config([], a.set, base=base)
    # On a GPU each part waits for its kernels, so that they are counted where they were queued.
    sw = Stopwatch(sync=torch.cuda.synchronize if torch.cuda.is_available() else None)
    t0 = time.perf_counter()
    m = train(a.data, a.variant, a.fold, a.out, cfg, log=lambda s: None, stopwatch=sw)
    print(json.dumps({"started": T_START, "imports": imports, "train": time.perf_counter() - t0,
                      "parts": sw.table(), "epochs": m["epochs"], "accuracy": m["accuracy"]}))


def ensure_data(work: Path, dataset: str, size: int) -> Path:
    from spndl.data.prepare import prepare
    from spndl.synth import generate

    synth, prepared = work / "synth", work / "prepared" / dataset
    if not (synth / dataset).is_dir():
        generate(synth, seed=0, size="small", datasets=(dataset,))
    if not (prepared / "manifest.csv").is_file():
        prepare(dataset, synth / dataset, prepared, size=size)
    return prepared


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="build/profile")
    ap.add_argument("--dataset", default="ckplus", choices=["ckplus", "oulu"])
    ap.add_argument("--variant", default="spndl", help="the paper's method by default")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--preset", default="synthetic_cpu")
    ap.add_argument("--size", type=int, default=32, help="prepared image size (the CPU default: 32)")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE over the preset (repeatable)")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the job (the train rule's: 1)")
    ap.add_argument("--collector", default="paused", choices=("paused", "on"),
                    help="on: Python's garbage collector left to itself during the epochs, as before "
                         "spndl.training.collector (to measure what pausing it gains)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)

    work = Path(a.work)
    data = ensure_data(work, a.dataset, a.size)
    out = Path(tempfile.mkdtemp(prefix="profile-run-", dir=work))  # its own folder, removed at the end
    cmd = [sys.executable, __file__, "--child", "--data", str(data), "--out", str(out), "--dataset", a.dataset,
           "--variant", a.variant, "--fold", str(a.fold), "--preset", a.preset, "--collector", a.collector]
    cmd += [x for s in [f"data.size={a.size}", f"train.cpu_threads={a.threads}", *a.set] for x in ("--set", s)]
    # The job's CPU numerics, set before its libraries start, as `spndl train` starts a job.
    isa = next((s.split("=", 1)[1] for s in a.set if s.startswith("train.cpu_isa=")), "avx2")
    env = {**os.environ, **environment(isa, a.threads)}
    launched = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.time() - launched
    shutil.rmtree(out)
    if r.returncode:
        sys.exit(f"the training job failed:\n{r.stderr[-3000:]}")
    rec = json.loads(r.stdout.strip().splitlines()[-1])
    rows = [("interpreter start-up", rec["started"] - launched),
            ("imports (torch, torchvision, spndl)", rec["imports"])]
    rows += [(p["part"] + ("" if p["calls"] == 1 else f" ({p['calls']}x)"), p["seconds"]) for p in rec["parts"]]
    timed = sum(s for _, s in rows)
    rows.append(("the rest (settings, exit)", wall - timed))
    print(f"{a.dataset} {a.variant} fold {a.fold}, preset {a.preset}, {rec['epochs']} epochs, {a.size} px, "
          f"{a.threads} thread(s), collector {a.collector}, sets {a.set or 'none'}: accuracy {rec['accuracy']:.4f}")
    print(f"{'part':44s} {'seconds':>8s} {'share':>6s}")
    for name, s in rows:
        print(f"{name:44s} {s:8.2f} {s / wall:6.1%}")
    print(f"{'whole job (wall, as the parent saw it)':44s} {wall:8.2f}")


if __name__ == "__main__":
    main()
