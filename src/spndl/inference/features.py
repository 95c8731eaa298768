"""Export the pooled features (baseline) or NDFs (eq. 3 / eq. 8) of a checkpoint, for t-SNE (Fig. 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spndl.batching import Batches, make_part, resize_images
from spndl.checkpoint import load_run_checkpoint
from spndl.config import config_from_dict
from spndl.data.prepared import load_prepared, split_indices
from spndl.data.records import DataError
from spndl.evaluation import predict
from spndl.inference.run import build_model
from spndl.ownership import check_output_file, output_file
from spndl.runtime.devices import pick_device
from spndl.variants import VARIANTS


def export_features(checkpoint: str | Path, data_dir: str | Path, out: str | Path, part: str = "train",
                    device: str = "auto", force: bool = False) -> dict:
    """Write ``out`` (.npz: sample_id, label, loss, features) for the train or test part of the
    run's fold; an existing file is replaced only where spndl wrote it, or with ``force``."""
    check_output_file(out, force)  # before the model runs; output_file checks again
    ck = load_run_checkpoint(checkpoint)
    settings = ck["settings"]
    data = load_prepared(data_dir)
    if data.checksum != settings["data_checksum"]:
        raise DataError(f"{data_dir}: not the data {checkpoint} was trained on (checksum differs)")
    cfg = config_from_dict(settings["config"], str(checkpoint))
    dev = pick_device(device)
    model = build_model(ck, checkpoint, len(data.classes), dev)  # checks the variant first
    reference_mode, _ = VARIANTS[settings["variant"]]
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
