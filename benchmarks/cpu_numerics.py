"""The throughput cost of the host-independent CPU numerics (train.cpu_isa, spndl.runtime.numerics).

Each setting trains the default job's shapes (NDF pairs: target and neutral, 32 px, batch
32, Adam fused or not as training picks it) in its own process started under that
setting's environment, as ``spndl`` starts one; the settings take turns, round after
round, so that a noisy host slows them alike.
Prints pairs/s per round, the median per setting and its ratio to ``native``; ``--gc``
adds each setting with Python's garbage collector left on during the steps (training
pauses it: spndl.training.collector) and prints what pausing it gains.

    python benchmarks/cpu_numerics.py [--rounds 3] [--steps 20] [--threads 1] [--gc]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = ("native", "avx2", "x86-64")


def child(isa: str, threads: int, steps: int, size: int, batch: int, gc_policy: str = "training") -> dict:
    import torch
    import torch.nn.functional as F

    from spndl.training import collector
    from spndl.model import SPNDLNet
    from spndl.runtime.numerics import adam_fused, apply, use_kernels

    got = apply(isa, threads)
    torch.manual_seed(0)
    model = use_kernels(SPNDLNet(7, "neutral"), got)  # as training builds it
    fused = adam_fused(None, isa, "cpu")  # as training chooses it (train.fused_adam: null)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True if fused else None)
    g = torch.Generator().manual_seed(0)
    tar, ref = (torch.randn(batch, 3, size, size, generator=g) for _ in range(2))
    y = torch.randint(0, 7, (batch,), generator=g)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(tar, ref), y).backward()
        opt.step()

    for _ in range(3):  # warm-up: first calls allocate and pick kernels
        step()
    if gc_policy == "training":  # as spndl.training.train runs its epochs (spndl.training.collector)
        collector.settle()
    t = time.perf_counter()
    with collector.paused() if gc_policy == "training" else contextlib.nullcontext():
        for _ in range(steps):
            step()
    return {"isa": isa, "pairs_per_s": steps * batch / (time.perf_counter() - t),
            "numerics": {**got, "adam": "fused" if fused else "unfused"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--isa", nargs="+", default=list(SETTINGS), choices=SETTINGS, help="the settings to compare")
    ap.add_argument("--gc", action="store_true",
                    help="also run each setting with Python's collector left on, as before spndl.training.collector")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--gc-policy", default="training", choices=("training", "python"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.threads, a.steps, a.size, a.batch, a.gc_policy)))
        return
    from spndl.runtime.numerics import environment, host_model

    runs = [(isa, "training") for isa in a.isa] + ([(isa, "python") for isa in a.isa] if a.gc else [])
    label = {r: r[0] if r[1] == "training" else f"{r[0]}+gc" for r in runs}
    rates: dict[tuple, list[float]] = {r: [] for r in runs}
    print(f"processor: {host_model()}; {a.threads} thread(s), {a.size} px, batch {a.batch} pairs, {a.steps} steps")
    for n_round in range(a.rounds):
        for isa, policy in runs:
            env = {**os.environ, **environment(isa, a.threads)}
            out = subprocess.run([sys.executable, __file__, "--child", isa, "--gc-policy", policy,
                                  "--threads", str(a.threads), "--steps", str(a.steps), "--size", str(a.size),
                                  "--batch", str(a.batch)],
                                 env=env, capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            rates[isa, policy].append(res["pairs_per_s"])
            n = res["numerics"]
            print(f"round {n_round + 1} {label[isa, policy]:10s} {res['pairs_per_s']:7.1f} pairs/s  (ATen {n['aten']}, "
                  f"oneDNN {'on' if n['onednn'] else 'off'}, MKL CNR {n['mkl_cbwr']}, GEMM {n['gemm']}, "
                  f"{n['adam']} Adam, collector {'paused' if policy == 'training' else 'on'})")
    base = statistics.median(rates["native", "training"]) if ("native", "training") in rates else None
    for r in runs:
        m = statistics.median(rates[r])
        ratio = f"  {m / base:.2f}x native" if base else ""
        print(f"median {label[r]:10s} {m:7.1f} pairs/s{ratio}")
    for isa in a.isa if a.gc else ():
        on, off = statistics.median(rates[isa, "python"]), statistics.median(rates[isa, "training"])
        print(f"collector paused vs on, {isa}: {off / on:.2f}x")


if __name__ == "__main__":
    main()
