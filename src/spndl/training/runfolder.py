"""A training run's folder: what it may write into, resume and restart, provenance, results.

The folder receives ``config.yaml`` (exact settings, data checksum, code
version), ``history.csv`` (one row per epoch), ``spl_selection.csv`` (one row
per training sample per pace), ``checkpoint.pt`` (written atomically once
``train.checkpoint_every_s`` has passed since the last one, and after the last
epoch), and at the end ``predictions.csv``, ``metrics.json`` and ``MODEL_CARD.md``. A checkpoint
holds model, optimizer, RNG states, history and selection, so that a resumed
run ends with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import yaml

from spndl.batching import run_steps
from spndl.checkpoint import CheckpointError
from spndl.checkpoint import load_run_checkpoint
from spndl.checkpoint import save as save_checkpoint
from spndl.config import Config
from spndl.data.prepared import Prepared
from spndl.fsutil import atomic_path, is_temporary, remove_stale_temporaries, staged_files, write_text
from spndl.inference.model_card import model_card
from spndl.runtime.numerics import describe
from spndl.provenance import code_version
from spndl.training.runlock import LOCK
from spndl.variants import VARIANTS
from spndl.weights import weights_for

RUN_FILES = ("checkpoint.pt", "history.csv", "spl_selection.csv", "predictions.csv", "metrics.json", "config.yaml",
             "MODEL_CARD.md")
HISTORY_COLUMNS = ["epoch", "pace", "fraction", "selected", "train_loss", "train_accuracy",
                   "test_loss", "test_accuracy", "seconds"]
SELECTION_COLUMNS = ["pace", "sample_id", "label", "loss", "selected"]
NOT_DETERMINING = ("checkpoint_every_s",)   # train settings a resume may change
SUPERSEDED = "superseded"   # a run folder's earlier runs, made with other settings: superseded/1, 2, ...


class RunError(RuntimeError):
    pass


def run_settings(data: Prepared, variant: str, fold: int | None, cfg: Config, weights_sha: str) -> dict:
    """Everything that determines a run's numbers; a resume must find the same.
    The data are identified by checksum, not path, so a moved folder still resumes."""
    return {"variant": variant, "fold": fold, "dataset": data.info["dataset"],
            "synthetic": data.info.get("synthetic", False), "data_checksum": data.checksum,
            "weights_sha256": weights_sha, "config": cfg.to_dict()}


def _determining(settings: dict) -> dict:
    """The settings without those that cannot change a number (how often to checkpoint), so
    that a resume may change them."""
    train = {k: v for k, v in settings["config"].get("train", {}).items() if k not in NOT_DETERMINING}
    return {**settings, "config": {**settings["config"], "train": train}}


def settings_differences(old: dict, new: dict) -> list[str]:
    """'key: old -> new' for each determining setting that differs (spndl.configuration's form)."""
    from spndl.configuration import differences

    return [c.removeprefix("run: ") for c in differences({"run": _determining(old)}, {"run": _determining(new)})]


def check_run_folder(out: Path) -> None:
    """A run writes only into an absent or empty folder or its own earlier run folder: one
    with the config.yaml a run writes before its first checkpoint. Files that merely share
    a run's names (a user's checkpoint.pt and config.yaml) do not make one, whatever the
    options: --restart-on-change starts a run over, it never takes over a user's folder."""
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder; refusing to write a run there")
    names = [p.name for p in out.iterdir()] if out.is_dir() else []
    if all(is_temporary(n) or n in (LOCK, SUPERSEDED) for n in names) or _is_run_config(out):
        return
    raise RunError(f"{out}: folder is not empty and holds no run of spndl train (no config.yaml of one); "
                   "refusing to write into it (choose another --out)")


def _is_run_config(out: Path) -> bool:
    try:
        record = yaml.safe_load((out / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return isinstance(record, dict) and {"data_checksum", "config", "variant"} <= set(record)


def read_checkpoint(path: Path, restart_on_change: bool, log: Callable[[str], None]) -> dict | None:
    """The run's checkpoint, or None. One that cannot be read is an error, or, with
    ``restart_on_change`` (the pipeline), moved aside so that the run starts over."""
    if not path.is_file():
        return None
    try:
        ck = load_run_checkpoint(path, ("settings", "model", "epoch"))
    except CheckpointError as e:
        if not restart_on_change:
            raise RunError(f"{e}; delete it, or rerun with --restart-on-change to move it aside and start over") \
                from None
        aside = next(p for k in range(1, 10**6) if not (p := path.with_name(f"{path.name}.unreadable{k}")).exists())
        os.replace(path, aside)
        log(f"{e}; moved it to {aside.name} and starting over")
        return None
    return ck


@dataclass
class RunState:
    """What an epoch adds to and a checkpoint carries: history, SPL selection, progress."""

    selected: np.ndarray                     # the current pace's training samples (eq. 12)
    history: list[dict] = field(default_factory=list)
    selection: list[dict] = field(default_factory=list)
    epoch: int = 0                           # the last finished epoch


class RunFolder:
    """One run's folder: ``open`` finds where to start, ``save_progress`` and ``save_checkpoint`` keep progress,
    ``finish`` writes the results."""

    def __init__(self, out: str | Path, settings: dict, log: Callable[[str], None] = print):
        self.out, self.settings, self.log = Path(out), settings, log
        self.checkpoint = self.out / "checkpoint.pt"
        self.numerics = "not recorded"  # write_config's, once the run knows its device

    def open(self, n_train: int, restart_on_change: bool) -> tuple[RunState, dict | None]:
        """A fresh state, or the checkpoint's (returned too, for the model and optimizer).

        A checkpoint made with other settings is an error, or, with ``restart_on_change``
        (the pipeline, whose parameter changes mean a new run), the folder's previous
        files are moved into ``superseded/K/`` with their config.yaml, never removed, and
        training starts over."""
        check_run_folder(self.out)
        remove_stale_temporaries(self.out, self.log)
        remove_stale_temporaries(self.out / "paces", self.log)
        ck = read_checkpoint(self.checkpoint, restart_on_change, self.log)
        if ck is not None and _determining(ck["settings"]) != _determining(self.settings):
            if not restart_on_change:
                raise RunError(f"{self.checkpoint}: checkpoint was made with other settings; "
                               f"use another --out or delete the folder to start over")
            aside = self.move_aside()
            changed = settings_differences(ck["settings"], self.settings)
            self.log(f"{self.checkpoint}: made with other settings ({'; '.join(changed[:3])}"
                     f"{'; ...' if len(changed) > 3 else ''}); its files are kept in {aside}; starting over")
            ck = None
        if ck is None:
            self.out.mkdir(parents=True, exist_ok=True)
            return RunState(np.ones(n_train, bool)), None
        return RunState(ck["selected"].numpy(), ck["history"], ck["selection"], ck["epoch"]), ck

    def move_aside(self) -> Path:
        """The run's files (and its pace models) into a new ``superseded/K`` of the folder."""
        root = self.out / SUPERSEDED
        aside = next(p for k in range(1, 10**6) if not (p := root / str(k)).exists())
        aside.mkdir(parents=True)
        for name in (*RUN_FILES, "paces"):
            if (self.out / name).exists():
                os.replace(self.out / name, aside / name)
        return aside

    @staticmethod
    def restore(ck: dict, model: torch.nn.Module, opt: torch.optim.Optimizer, g_order: torch.Generator,
                g_aug: torch.Generator) -> None:
        """Model, optimizer and every random stream as the checkpoint left them."""
        model.load_state_dict(ck["model"])
        if ck["optimizer"] is not None:  # None once the run is complete
            opt.load_state_dict(ck["optimizer"])
        g_order.set_state(ck["rng"]["order"])
        g_aug.set_state(ck["rng"]["augment"].to(g_aug.get_state().device))
        torch.set_rng_state(ck["rng"]["torch"])

    def write_config(self, data: Prepared, device: torch.device, numerics: dict) -> None:
        """Provenance: the exact settings, data path and checksum, code version, device, and
        the CPU numerics in force (spndl.runtime.numerics.effective: what took effect, not what was asked)."""
        record = {**self.settings, "data": str(data.path.resolve()), "code": code_version(),
                  "torch": str(torch.__version__), "device": str(device), "threads": torch.get_num_threads(),
                  "cpu_numerics": numerics}
        self.numerics = describe(self.settings["config"]["train"]["cpu_isa"], numerics, str(device))
        write_text(self.out / "config.yaml", yaml.safe_dump(record, sort_keys=False))

    def save_pace_model(self, model: torch.nn.Module, pace: int) -> None:
        """The model that scores pace ``pace`` (for the t-SNE of Fig. 7)."""
        save_checkpoint({"model": model.state_dict(), "pace": pace, "settings": self.settings},
                        self.out / "paces" / f"pace{pace}.pt")

    def save_progress(self, state: RunState, selection_changed: bool) -> None:
        """history.csv every epoch, spl_selection.csv when a pace changed it (small files)."""
        _save_csv(self.out / "history.csv", state.history, HISTORY_COLUMNS)
        if selection_changed:
            _save_csv(self.out / "spl_selection.csv", state.selection, SELECTION_COLUMNS)

    def save_checkpoint(self, state: RunState, model: torch.nn.Module, opt: torch.optim.Optimizer,
                        g_order: torch.Generator, g_aug: torch.Generator, pace: int, last: bool) -> None:
        """The checkpoint of ``state.epoch``: what a resume needs to end with the same numbers."""
        # The last checkpoint drops the optimizer state (twice the model's size): nothing resumes
        # a finished run, and the runs folder is what DVC versions.
        ck = {"model": model.state_dict(), "optimizer": None if last else opt.state_dict(), "epoch": state.epoch,
              "pace": pace, "selected": torch.from_numpy(state.selected), "history": state.history,
              "selection": state.selection, "settings": self.settings,
              "rng": {"order": g_order.get_state(), "augment": g_aug.get_state().cpu(),
                      "torch": torch.get_rng_state()}}
        save_checkpoint(ck, self.checkpoint)

    def finish(self, probs: torch.Tensor, labels: np.ndarray, rows: np.ndarray, data: Prepared, image_size: int,
               history: list[dict]) -> dict:
        """Predictions and metrics of the last epoch (the headline; no model selection on test data)."""
        settings = self.settings
        bound = settings["config"]["train"].get("max_steps")
        pred = probs.argmax(1).numpy()
        m = data.manifest.iloc[rows]
        preds = pd.DataFrame({"sample_id": m["sample_id"].to_numpy(), "label": labels, "prediction": pred})
        for k, c in enumerate(data.classes):
            preds[f"prob_{c}"] = probs[:, k].numpy()
        # Imported at the end of a run: scikit-learn and scipy take most of a second to import,
        # a tenth of a small CPU run's time, and nothing before this needs them.
        from sklearn.metrics import confusion_matrix

        cm = confusion_matrix(labels, pred, labels=list(range(len(data.classes))))
        best = max(history, key=lambda h: h["test_accuracy"])
        present = [c for i, c in enumerate(data.classes) if cm[i].sum() > 0]
        metrics = {
            "accuracy": float((pred == labels).mean()),
            "n_test": int(len(labels)),
            "n_train": int(history[-1]["selected"]),
            "epochs": len(history),
            # Optimiser updates: SPL's paces train on fewer samples, so its runs take fewer steps
            # than a baseline's of the same epochs; the claims say so.
            "steps": run_steps(history, settings["config"]["train"]["batch_size"], bound),
            "variant": settings["variant"], "dataset": settings["dataset"], "fold": settings["fold"],
            "seed": settings["config"]["seed"],
            "synthetic": settings["synthetic"],
            "per_class_accuracy": {c: float(cm[i, i] / cm[i].sum()) for i, c in enumerate(data.classes)
                                   if cm[i].sum()},
            "classes_absent_from_test": [c for c in data.classes if c not in present],
            "confusion_matrix": cm.tolist(),
            "classes": data.classes,
            # Reported for comparison with peer code only: picking this epoch is model selection on test data.
            "best_epoch_test_accuracy": float(best["test_accuracy"]),
            "best_epoch": int(best["epoch"]),
            "data_checksum": settings["data_checksum"],
            "image_size": int(image_size),
            "n_folds": data.info.get("n_folds"),
            # The variant's own (model.weights_wo_neutral for eq. 8's two backbones, spndl.weights).
            "weights": weights_for(settings["config"]["model"], VARIANTS[settings["variant"]][0]),
            "weights_sha256": settings["weights_sha256"],
            "numerics": self.numerics,
        }
        if bound is not None:  # only then: a run without the bound keeps its record as it was
            metrics["max_steps"] = bound
            metrics["rehearsal"] = (f"at most {bound} optimiser steps and {bound} evaluation batches per run "
                                    "(train.max_steps): a rehearsal of the pipeline, not a result")
        # All three or none, metrics.json last: it marks a finished run for tables, publish and verify.
        with staged_files() as stage:
            stage(self.out / "predictions.csv", lambda tmp: preds.to_csv(tmp, index=False))
            stage(self.out / "MODEL_CARD.md", lambda tmp: tmp.write_text(model_card(metrics, settings, self.out)))
            stage(self.out / "metrics.json", lambda tmp: tmp.write_text(json.dumps(metrics, indent=2) + "\n"))
        return metrics


def _save_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)
