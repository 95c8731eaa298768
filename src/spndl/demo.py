"""The embedded default, end to end: synthetic data -> prepared arrays -> the NDF evidence runs.

Everything lands under one folder: ``synth/`` (the three layouts),
``prepared/{ckplus,oulu,rafdb}`` and ``evidence/`` (per-fold runs and the
summary table). Each step is skipped when its output is already there, and
interrupted training runs resume.
"""

from __future__ import annotations

from pathlib import Path

from spndl.data.prepare import prepare
from spndl.evidence import run_evidence
from spndl.synth import generate

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "synthetic-cpu.yaml"
PREPARED_SIZE = 32  # px: the CPU default trains at this size


def run_demo(out: str | Path, size: str = "small", seed: int = 0, folds: list[int] | None = None,
             config_files: list[str] = (), sets: list[str] = (), log=print):
    out = Path(out)
    if not (out / "synth" / "SYNTHETIC.txt").is_file():
        log(f"generating synthetic data ({size}) in {out / 'synth'}")
        generate(out / "synth", seed=seed, size=size)
    for d in ("ckplus", "oulu", "rafdb"):
        if not (out / "prepared" / d / "dataset.json").is_file():
            info = prepare(d, out / "synth" / d, out / "prepared" / d, size=PREPARED_SIZE)
            log(f"prepared {d}: {info['counts']['samples']} samples, {info['counts']['exclusions']} exclusions")
    files = list(config_files) or [str(DEFAULT_CONFIG)]
    return run_evidence({d: out / "prepared" / d for d in ("ckplus", "oulu")}, out / "evidence", folds,
                        files, sets, log=log)
