"""A finished run folder, loaded once for every use of a trained model.

``load_run`` reads ``metrics.json`` (variant, class names, image size) and
``checkpoint.pt`` (the weights and the run's settings), checks that the two come
from the same run, and builds the model with the CPU numerics the run trained
with (spndl.runtime.numerics): predict, export and features all start here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from spndl.checkpoint import CheckpointError, load_run_checkpoint
from spndl.config import config_from_dict
from spndl.model import SPNDLNet
from spndl.runtime.numerics import apply as apply_numerics, use_kernels
from spndl.variants import VARIANTS

__all__ = ["TrainedRun", "build_model", "load_run"]


@dataclass
class TrainedRun:
    """A finished run folder, ready to classify: model in eval mode and what it was trained on."""

    path: Path
    variant: str
    reference_mode: str      # none | neutral | learned (model.REFERENCE_MODES)
    classes: list[str]
    image_size: int
    metrics: dict
    settings: dict
    model: SPNDLNet

    @property
    def needs_neutral(self) -> bool:
        return self.reference_mode == "neutral"


def load_run(path: str | Path, device: torch.device | str = "cpu") -> TrainedRun:
    """A run folder that training finished, named by itself, its checkpoint.pt or its metrics.json."""
    path = Path(path)
    folder = path.parent if path.name in ("checkpoint.pt", "metrics.json") else path
    if not folder.is_dir():
        raise CheckpointError(f"{path}: no such run folder")
    metrics_file, ck_file = folder / "metrics.json", folder / "checkpoint.pt"
    if not metrics_file.is_file():
        raise CheckpointError(f"{folder}: not a finished training run (no metrics.json)")
    try:
        metrics = json.loads(metrics_file.read_text())
        variant, classes, size = metrics["variant"], list(metrics["classes"]), int(metrics["image_size"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{metrics_file}: unreadable run metrics ({e})") from None
    ck = load_run_checkpoint(ck_file)
    # The class names come from metrics.json and the weights from checkpoint.pt: a folder that
    # mixes two runs (CK+ and RAF-DB both have seven classes) would label one run's
    # probabilities with the other's names. Every field that says which run it is must agree.
    for key in ("variant", "dataset", "fold", "data_checksum"):
        if ck["settings"].get(key) != metrics.get(key):
            raise CheckpointError(f"{ck_file}: a checkpoint of {key} {ck['settings'].get(key)!r}, but {metrics_file} "
                                  f"is of {key} {metrics.get(key)!r}; the folder mixes two runs")
    model = build_model(ck, ck_file, len(classes), device)  # checks the variant (the same in both files)
    return TrainedRun(folder, variant, VARIANTS[variant][0], classes, size, metrics, ck["settings"], model)


def build_model(ck: dict, ck_file: str | Path, n_classes: int, device: torch.device | str = "cpu") -> SPNDLNet:
    """The model of the checkpoint ``ck`` (read from ``ck_file``) in eval mode on ``device``,
    with the CPU numerics its run trained with: a finished run's or a pace's (Fig. 7)."""
    variant = ck["settings"].get("variant")
    if variant not in VARIANTS:
        raise CheckpointError(f"{ck_file}: unknown variant {variant!r}")
    train_cfg = config_from_dict(ck["settings"].get("config", {}), str(ck_file)).train
    got = apply_numerics(train_cfg.cpu_isa, train_cfg.cpu_threads, strict=False)  # the run's CPU numerics
    model = use_kernels(SPNDLNet(n_classes, VARIANTS[variant][0]), got, str(device))
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{ck_file}: its weights do not fit a {variant} model of {n_classes} classes "
                              f"({first})") from None
    return model.to(device).eval()
