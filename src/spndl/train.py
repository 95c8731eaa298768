"""Train and evaluate one variant on one fold (or RAF-DB's split), with self-paced paces and resume.

The run folder receives ``config.yaml`` (exact settings, data checksum, code
version), ``history.csv`` (one row per epoch), ``spl_selection.csv`` (one row
per training sample per pace), ``checkpoint.pt`` (written atomically every
epoch), and at the end ``predictions.csv`` and ``metrics.json``. Running the
same command again resumes from the checkpoint and ends with the same numbers
as an uninterrupted run.

Images stay uint8 on the device for the whole run; batches are gathered,
normalised and augmented as tensors.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from sklearn.metrics import confusion_matrix

from spndl.augment import augment_pair
from spndl.config import Config
from spndl.data.prepared import Prepared, load_prepared, other_subject_references, split_indices
from spndl.data.records import DataError
from spndl.checkpoint import CheckpointError
from spndl.checkpoint import load as load_checkpoint
from spndl.checkpoint import save as save_checkpoint
from spndl.fsutil import atomic_path, is_temporary, remove_stale_temporaries, write_text
from spndl.model import VARIANTS, SPNDLNet
from spndl.provenance import code_version
from spndl.seeding import generator, stream_seed
from spndl.spl import SPLSchedule, epochs_per_pace, select_easy
from spndl.weights import init_weights

# torchvision's ImageNet statistics, used for every weight choice so inputs are comparable.
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class RunError(RuntimeError):
    pass


class DivergedError(RunError):
    """Training produced a non-finite or exploding loss: the run is an error, not a result."""


def pick_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"train.device={spec}: CUDA is not available on this machine")
    return dev


@dataclass
class Part:
    """The tensors of one part (train or test), gathered from the stored images by index."""

    rows: np.ndarray          # manifest rows
    target: torch.Tensor      # long indices into the image tensor
    reference: torch.Tensor | None
    labels: torch.Tensor


def resize_images(images: np.ndarray, size: int | None) -> torch.Tensor:
    """uint8 (N, 3, S, S) as a tensor, resized once (antialiased) if ``size`` differs."""
    x = torch.from_numpy(images)
    if size is None or size == x.shape[-1]:
        return x
    out = torch.empty((len(x), 3, size, size), dtype=torch.uint8)
    for i in range(0, len(x), 512):
        chunk = F.interpolate(x[i:i + 512].float(), size=(size, size), mode="bilinear", antialias=True)
        out[i:i + 512] = chunk.round().clamp(0, 255).to(torch.uint8)
    return out


class Batches:
    """Gather, normalise and augment mini-batches from uint8 images held on the device."""

    def __init__(self, images: torch.Tensor, device: torch.device, use_reference: bool):
        self.images = images.to(device)
        self.device = device
        self.use_reference = use_reference
        self.mean, self.std = MEAN.to(device), STD.to(device)

    def get(self, part: Part, idx: torch.Tensor):
        def load(ix):
            return (self.images[ix].float() / 255.0)

        t = load(part.target[idx])
        r = load(part.reference[idx]) if self.use_reference and part.reference is not None else None
        return t, r, part.labels[idx]

    def normalise(self, x):
        return None if x is None else (x - self.mean) / self.std


def _autocast(device: torch.device, enabled: bool):
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def predict(model: SPNDLNet, batches: Batches, part: Part, batch_size: int, amp: bool,
            features: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample loss, probabilities or features) over a part, in eval mode, no augmentation."""
    model.eval()
    losses, outs = [], []
    n = len(part.labels)
    for i in range(0, n, batch_size):
        idx = torch.arange(i, min(n, i + batch_size), device=batches.device)
        t, r, y = batches.get(part, idx)
        with _autocast(batches.device, amp):
            v = model.features(batches.normalise(t), batches.normalise(r))
            logits = model.fc(v)
        logits = logits.float()
        losses.append(F.cross_entropy(logits, y, reduction="none").cpu())
        outs.append(v.float().cpu() if features else logits.softmax(1).cpu())
    return torch.cat(losses), torch.cat(outs)


def train_epoch(model: SPNDLNet, opt: torch.optim.Optimizer, batches: Batches, part: Part,
                perm: torch.Tensor, cfg: Config, g_aug: torch.Generator) -> tuple[float, int]:
    """One pass over ``perm`` (indices into ``part``): returns (summed loss, correct count)."""
    model.train()
    device = batches.device
    # Near-equal batches: no trailing batch of one, which BatchNorm cannot normalise.
    n_batches = math.ceil(len(perm) / cfg.train.batch_size)
    # Summed on the device: reading them back every step would stall a GPU once per batch.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for idx in torch.tensor_split(perm, n_batches):
        idx = idx.to(device)
        t, r, y = batches.get(part, idx)
        t, r = augment_pair(t, r, cfg.augment, g_aug)
        with _autocast(device, cfg.train.amp):
            logits = model(batches.normalise(t), batches.normalise(r))
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
    return float(loss_sum), int(correct)


def make_part(data: Prepared, rows: np.ndarray, device, reference_mode: str, cfg: Config, fold: int, name: str,
              pool_rows: np.ndarray | None = None) -> Part:
    """Index tensors of a part. ``pool_rows``: where the other-subject control draws references."""
    m = data.manifest.iloc[rows]
    ref = None
    if reference_mode == "neutral":
        if cfg.data.reference == "other_subject":
            rng = np.random.default_rng(stream_seed(cfg.seed, fold, "pairing") + (name == "test"))
            ref_idx = other_subject_references(data, rows, rng, pool_rows)
        else:
            ref_idx = m["reference_index"].to_numpy()
        ref = torch.tensor(np.array(ref_idx), dtype=torch.long, device=device)
    return Part(rows, torch.tensor(m["target_index"].to_numpy(copy=True), dtype=torch.long, device=device), ref,
                torch.tensor(m["label"].to_numpy(copy=True), dtype=torch.long, device=device))


def _save_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)


RUN_FILES = ("checkpoint.pt", "history.csv", "spl_selection.csv", "predictions.csv", "metrics.json", "config.yaml")
HISTORY_COLUMNS = ["epoch", "pace", "fraction", "selected", "train_loss", "train_accuracy",
                   "test_loss", "test_accuracy", "seconds"]
SELECTION_COLUMNS = ["pace", "sample_id", "label", "loss", "selected"]


def check_divergence(mean_loss: float, epoch: int, n_classes: int, cfg: Config, out: Path) -> None:
    """Stop a run whose training loss is not finite or has exploded: a uniform guess scores
    log(classes), so a mean far above it is no longer learning."""
    bound = cfg.train.divergence_bound * math.log(n_classes)
    if math.isfinite(mean_loss) and mean_loss <= bound:
        return
    what = "is not finite" if not math.isfinite(mean_loss) else (
        f"is above {bound:.1f} (train.divergence_bound {cfg.train.divergence_bound:g} x log {n_classes} classes)")
    raise DivergedError(f"{out}: training diverged at epoch {epoch}: the mean training loss {mean_loss:.4g} {what}; "
                        f"nothing was written as metrics; lower train.lr (now {cfg.train.lr:g})")


def check_run_folder(out: Path) -> None:
    """A run writes only into an absent or empty folder or its own earlier run folder."""
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder; refusing to write a run there")

    def own(name: str) -> bool:  # a run's files, a moved-aside checkpoint, a killed write's leftover
        return name in RUN_FILES or name == "paces" or name.startswith("checkpoint.pt.") or is_temporary(name)

    names = [p.name for p in out.iterdir()] if out.is_dir() else []
    if names and not any(own(n) for n in names):
        raise RunError(f"{out}: folder is not empty and holds no run of spndl train; refusing to write into it "
                       "(choose another --out)")


def read_checkpoint(path: Path, restart_on_change: bool, log: Callable[[str], None]) -> dict | None:
    """The run's checkpoint, or None. One that cannot be read is an error, or, with
    ``restart_on_change`` (the pipeline), moved aside so that the run starts over."""
    if not path.is_file():
        return None
    try:
        ck = load_checkpoint(path)
        if not isinstance(ck, dict) or not {"settings", "model", "epoch"} <= set(ck):
            raise CheckpointError(f"{path}: not a checkpoint of spndl train (no settings, model and epoch)")
    except CheckpointError as e:
        if not restart_on_change:
            raise RunError(f"{e}; delete it, or rerun with --restart-on-change to move it aside and start over") \
                from None
        aside = next(p for k in range(1, 10**6) if not (p := path.with_name(f"{path.name}.unreadable{k}")).exists())
        os.replace(path, aside)
        log(f"{e}; moved it to {aside.name} and starting over")
        return None
    return ck


def run_settings(data: Prepared, variant: str, fold: int | None, cfg: Config, weights_sha: str) -> dict:
    """Everything that determines a run's numbers; a resume must find the same.
    The data are identified by checksum, not path, so a moved folder still resumes."""
    return {"variant": variant, "fold": fold, "dataset": data.info["dataset"],
            "synthetic": data.info.get("synthetic", False), "data_checksum": data.checksum,
            "weights_sha256": weights_sha, "config": cfg.to_dict()}


def train(data_dir: str | Path, variant: str, fold: int | None, out: str | Path, cfg: Config,
          on_epoch_end: Callable[[int], None] | None = None, log: Callable[[str], None] = print,
          device: str | None = None, restart_on_change: bool = False) -> dict:
    """Train ``variant`` on ``fold`` into ``out``; resume if ``out`` holds a checkpoint of the same settings.

    ``device`` overrides ``train.device`` for this run only (a leased GPU slot), so a
    run may resume on another GPU. A checkpoint made with other settings is an error, or,
    with ``restart_on_change`` (the pipeline, whose parameter changes mean a new run),
    the folder's previous outputs are removed and training starts over.
    Returns the metrics dict also written to ``out/metrics.json``.
    """
    if variant not in VARIANTS:
        raise RunError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    reference_mode, use_spl = VARIANTS[variant]
    out = Path(out)
    check_run_folder(out)
    data = load_prepared(data_dir)
    if reference_mode == "neutral" and not data.has_references:
        raise DataError(f"{data.path}: variant {variant} needs a neutral reference per sample; "
                        f"{data.info['dataset']} has none (use a *_wo_neutral variant)")
    device = pick_device(device or cfg.train.device)
    fold_key = -1 if fold is None else fold
    deterministic = device.type == "cpu"
    torch.use_deterministic_algorithms(deterministic)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    train_rows, test_rows = split_indices(data, fold)
    schedule = cfg.spl if use_spl else SPLSchedule(start=1.0, step=0.0, paces=1)
    try:
        pace_epochs = epochs_per_pace(cfg.train.epochs, schedule.paces)
    except ValueError as e:
        raise RunError(f"train.epochs={cfg.train.epochs}: {e}") from None
    pace_of_epoch = [p + 1 for p, n in enumerate(pace_epochs) for _ in range(n)]

    torch.manual_seed(stream_seed(cfg.seed, fold_key, "init"))
    model = SPNDLNet(len(data.classes), reference_mode)
    weights_sha = init_weights(model, cfg.model.weights)
    settings = run_settings(data, variant, fold, cfg, weights_sha)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas))
    g_order = generator(cfg.seed, fold_key, "order")
    g_aug = generator(cfg.seed, fold_key, "augment", device)

    batches = Batches(resize_images(data.images, cfg.data.size), device, reference_mode == "neutral")
    # The control never feeds test images into training; a test target may borrow any other
    # subject's neutral frame, since a test fold can hold a single subject.
    train_part = make_part(data, train_rows, device, reference_mode, cfg, fold_key, "train")
    test_part = make_part(data, test_rows, device, reference_mode, cfg, fold_key, "test",
                          pool_rows=np.arange(len(data.manifest)))
    sample_ids = data.manifest["sample_id"].to_numpy()
    train_labels = train_part.labels.cpu().numpy()

    history: list[dict] = []
    selection_rows: list[dict] = []
    selected = np.ones(len(train_rows), bool)
    start_epoch = 1
    ckpt_path = out / "checkpoint.pt"
    remove_stale_temporaries(out, log)
    remove_stale_temporaries(out / "paces", log)
    ck = read_checkpoint(ckpt_path, restart_on_change, log)
    if ck is not None and ck["settings"] != settings:
        if not restart_on_change:
            raise RunError(f"{ckpt_path}: checkpoint was made with other settings; "
                           f"use another --out or delete the folder to start over")
        log(f"{ckpt_path}: made with other settings; starting over")
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "paces", ignore_errors=True)
        ck = None
    if ck is not None:
        model.load_state_dict(ck["model"])
        if ck["optimizer"] is not None:  # None once the run is complete
            opt.load_state_dict(ck["optimizer"])
        g_order.set_state(ck["rng"]["order"])
        g_aug.set_state(ck["rng"]["augment"].to(g_aug.get_state().device))
        torch.set_rng_state(ck["rng"]["torch"])
        history, selection_rows = ck["history"], ck["selection"]
        selected = ck["selected"].numpy()
        start_epoch = ck["epoch"] + 1
        if start_epoch > cfg.train.epochs:
            log(f"{out} has finished all {cfg.train.epochs} epochs; rewriting its outputs")
        else:
            log(f"resuming {out} at epoch {start_epoch} (pace {pace_of_epoch[start_epoch - 1]})")
    else:
        out.mkdir(parents=True, exist_ok=True)
    record = {**settings, "data": str(data.path.resolve()), "code": code_version(),
              "torch": str(torch.__version__), "device": str(device), "threads": torch.get_num_threads()}
    write_text(out / "config.yaml", yaml.safe_dump(record, sort_keys=False))

    for epoch in range(start_epoch, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        pace = pace_of_epoch[epoch - 1]
        fraction = schedule.fraction(pace)
        pace_starts = pace != (pace_of_epoch[epoch - 2] if epoch > 1 else 0)
        if pace_starts:
            # Start of a pace: score every training sample with the current model (eq. 10)
            # and keep each class's easiest fraction (eq. 12).
            if cfg.train.pace_checkpoints and use_spl:
                save_checkpoint({"model": model.state_dict(), "pace": pace, "settings": settings},
                                out / "paces" / f"pace{pace}.pt")
            if use_spl:
                losses = predict(model, batches, train_part, cfg.train.eval_batch_size, cfg.train.amp)[0].numpy()
                if not np.isfinite(losses).all():
                    raise DivergedError(f"{out}: the SPL losses at the start of pace {pace} (epoch {epoch}) are "
                                        f"not finite; nothing was written as metrics; lower train.lr "
                                        f"(now {cfg.train.lr:g})")
                selected, _ = select_easy(losses, train_labels, fraction)
            else:
                losses = np.full(len(train_rows), np.nan)
                selected = np.ones(len(train_rows), bool)
            selection_rows.extend(
                {"pace": pace, "sample_id": str(sample_ids[r]), "label": int(lab), "loss": float(l), "selected": bool(s)}
                for r, lab, l, s in zip(train_rows, train_labels, losses, selected))

        pool = torch.as_tensor(np.flatnonzero(selected))
        perm = pool[torch.randperm(len(pool), generator=g_order)]
        loss_sum, correct = train_epoch(model, opt, batches, train_part, perm, cfg, g_aug)
        check_divergence(loss_sum / len(perm), epoch, len(data.classes), cfg, out)
        test_loss, probs = predict(model, batches, test_part, cfg.train.eval_batch_size, cfg.train.amp)
        if not torch.isfinite(probs).all():
            raise DivergedError(f"{out}: the test predictions after epoch {epoch} are not finite; nothing was "
                                f"written as metrics; lower train.lr (now {cfg.train.lr:g})")
        test_acc = float((probs.argmax(1) == test_part.labels.cpu()).float().mean())
        history.append({"epoch": epoch, "pace": pace, "fraction": fraction, "selected": int(selected.sum()),
                        "train_loss": loss_sum / len(perm), "train_accuracy": correct / len(perm),
                        "test_loss": float(test_loss.mean()), "test_accuracy": test_acc,
                        "seconds": round(time.perf_counter() - t0, 3)})
        log(f"epoch {epoch}/{cfg.train.epochs} pace {pace} selected {int(selected.sum())} "
            f"loss {history[-1]['train_loss']:.4f} test acc {test_acc:.4f}")
        _save_csv(out / "history.csv", history, HISTORY_COLUMNS)
        if pace_starts or epoch == start_epoch:  # it changes only when a pace starts
            _save_csv(out / "spl_selection.csv", selection_rows, SELECTION_COLUMNS)
        # The last checkpoint drops the optimizer state (twice the model's size): nothing resumes
        # a finished run, and the runs folder is what DVC versions.
        last = epoch == cfg.train.epochs
        ck = {"model": model.state_dict(), "optimizer": None if last else opt.state_dict(), "epoch": epoch,
              "pace": pace,
              "selected": torch.from_numpy(selected), "history": history, "selection": selection_rows, "settings": settings,
              "rng": {"order": g_order.get_state(), "augment": g_aug.get_state().cpu(),
                      "torch": torch.get_rng_state()}}
        save_checkpoint(ck, ckpt_path)
        if on_epoch_end is not None:
            on_epoch_end(epoch)

    if not history:
        raise RunError(f"{out}: no epoch was run")
    if start_epoch > cfg.train.epochs:  # nothing trained now: evaluate the restored model
        probs = predict(model, batches, test_part, cfg.train.eval_batch_size, cfg.train.amp)[1]
    return finish(probs, batches, test_part, data, settings, history, out)


def finish(probs, batches, test_part, data, settings, history, out: Path) -> dict:
    """Predictions and metrics of the last epoch (the headline; no model selection on test data)."""
    pred = probs.argmax(1).numpy()
    labels = test_part.labels.cpu().numpy()
    m = data.manifest.iloc[test_part.rows]
    preds = pd.DataFrame({"sample_id": m["sample_id"].to_numpy(), "label": labels, "prediction": pred})
    for k, c in enumerate(data.classes):
        preds[f"prob_{c}"] = probs[:, k].numpy()
    with atomic_path(out / "predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)
    k = len(data.classes)
    cm = confusion_matrix(labels, pred, labels=list(range(k)))
    best = max(history, key=lambda h: h["test_accuracy"])
    present = [c for i, c in enumerate(data.classes) if cm[i].sum() > 0]
    metrics = {
        "accuracy": float((pred == labels).mean()),
        "n_test": int(len(labels)),
        "n_train": int(history[-1]["selected"]),
        "epochs": len(history),
        "variant": settings["variant"], "dataset": settings["dataset"], "fold": settings["fold"],
        "synthetic": settings["synthetic"],
        "per_class_accuracy": {c: float(cm[i, i] / cm[i].sum()) for i, c in enumerate(data.classes) if cm[i].sum()},
        "classes_absent_from_test": [c for c in data.classes if c not in present],
        "confusion_matrix": cm.tolist(),
        "classes": data.classes,
        # Reported for comparison with peer code only: picking this epoch is model selection on test data.
        "best_epoch_test_accuracy": float(best["test_accuracy"]),
        "best_epoch": int(best["epoch"]),
        "data_checksum": settings["data_checksum"],
        "image_size": int(batches.images.shape[-1]),
        "n_folds": data.info.get("n_folds"),
        "weights": settings["config"]["model"]["weights"],
        "weights_sha256": settings["weights_sha256"],
    }
    write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics
