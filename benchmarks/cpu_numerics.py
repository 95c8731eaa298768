"""The throughput cost of the host-independent CPU numerics (train.cpu_isa, spndl.numerics).

Each setting trains the default job's shapes (NDF pairs: target and neutral, 32 px, batch
32, Adam fused or not as training picks it) in its own process started under that
setting's environment, as ``spndl`` starts one; the settings take turns, round after
round, so that a noisy host slows them alike.
Prints pairs/s per round, the median per setting and its ratio to ``native``.

    python benchmarks/cpu_numerics.py [--rounds 3] [--steps 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = ("native", "avx2", "x86-64")


def child(isa: str, threads: int, steps: int, size: int, batch: int) -> dict:
    import torch
    import torch.nn.functional as F

    from spndl.model import SPNDLNet
    from spndl.numerics import adam_fused, apply

    got = apply(isa, threads)
    torch.manual_seed(0)
    model = SPNDLNet(7, "neutral")
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
    t = time.perf_counter()
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
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.threads, a.steps, a.size, a.batch)))
        return
    from spndl.numerics import environment, host_model

    rates: dict[str, list[float]] = {s: [] for s in SETTINGS}
    print(f"processor: {host_model()}; {a.threads} thread(s), {a.size} px, batch {a.batch} pairs, {a.steps} steps")
    for r in range(a.rounds):
        for isa in SETTINGS:
            env = {**os.environ, **environment(isa, a.threads)}
            out = subprocess.run([sys.executable, __file__, "--child", isa, "--threads", str(a.threads),
                                  "--steps", str(a.steps), "--size", str(a.size), "--batch", str(a.batch)],
                                 env=env, capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            rates[isa].append(res["pairs_per_s"])
            n = res["numerics"]
            print(f"round {r + 1} {isa:7s} {res['pairs_per_s']:7.1f} pairs/s  (ATen {n['aten']}, oneDNN "
                  f"{'on' if n['onednn'] else 'off'}, MKL CNR {n['mkl_cbwr']}, {n['adam']} Adam)")
    base = statistics.median(rates["native"])
    for isa in SETTINGS:
        m = statistics.median(rates[isa])
        print(f"median {isa:7s} {m:7.1f} pairs/s  {m / base:.2f}x native")


if __name__ == "__main__":
    main()
