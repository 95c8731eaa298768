"""Export the pooled features (baseline) or NDFs (eq. 3 / eq. 8) of a checkpoint, for t-SNE (Fig. 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spndl.batching import Batches, make_part, resize_images
from spndl.checkpoint import CheckpointError
from spndl.checkpoint import load as load_checkpoint
from spndl.config import config_from_dict
from spndl.data.prepared import load_prepared, split_indices
from spndl.data.records import DataError
from spndl.ownership import check_output_file, output_file
from spndl.model import SPNDLNet
from spndl.numerics import apply as apply_numerics, use_kernels
from spndl.train import pick_device, predict
from spndl.variants import VARIANTS


def export_features(checkpoint: str | Path, data_dir: str | Path, out: str | Path, part: str = "train",
                    device: str = "auto", force: bool = False) -> dict:
    """Write ``out`` (.npz: sample_id, label, loss, features) for the train or test part of the
    run's fold; an existing file is replaced only where spndl wrote it, or with ``force``."""
    check_output_file(out, force)  # before the model runs; output_file checks again
    ck = load_checkpoint(checkpoint)
    if not isinstance(ck, dict) or not {"settings", "model"} <= set(ck):
        raise CheckpointError(f"{checkpoint}: not a checkpoint of spndl train (no settings and model)")
    settings = ck["settings"]
    data = load_prepared(data_dir)
    if data.checksum != settings["data_checksum"]:
        raise DataError(f"{data_dir}: not the data {checkpoint} was trained on (checksum differs)")
    cfg = config_from_dict(settings["config"], str(checkpoint))
    got = apply_numerics(cfg.train.cpu_isa, cfg.train.cpu_threads, strict=False)  # the run's CPU numerics
    reference_mode, _ = VARIANTS[settings["variant"]]
    dev = pick_device(device)
    model = use_kernels(SPNDLNet(len(data.classes), reference_mode), got, str(dev))
    model.load_state_dict(ck["model"])
    model.to(dev)
    fold = settings["fold"]
    train_rows, test_rows = split_indices(data, fold)
    rows = {"train": train_rows, "test": test_rows}[part]
    pool = np.arange(len(data.manifest)) if part == "test" else None
    p = make_part(data, rows, dev, reference_mode, cfg, -1 if fold is None else fold, part, pool_rows=pool)
    batches = Batches(resize_images(data.images, cfg.data.size), dev, reference_mode == "neutral")
    loss, feats = predict(model, batches, p, cfg.train.eval_batch_size, cfg.train.amp, features=True)
    result = {"sample_id": data.manifest["sample_id"].to_numpy()[rows].astype(str),
              "label": p.labels.cpu().numpy(), "loss": loss.numpy(), "features": feats.numpy(),
              "pace": np.array(ck.get("pace", 0)), "classes": np.array(json.dumps(data.classes))}
    with output_file(out, force) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **result)
    return {"n": len(rows), "dim": int(feats.shape[1])}
