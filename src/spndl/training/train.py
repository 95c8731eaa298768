"""Train and evaluate one variant on one fold (or RAF-DB's split), with self-paced paces and resume.

``train`` reads as the paper's algorithm: at the start of each pace the current
model scores every training sample and each class keeps its easiest fraction
(eqs. 9-12, ``spl.py``); the epochs of the pace train on that selection. The
batches come from ``batching.py``; the run folder (resume, restart, provenance,
results) is ``runfolder.py``. Running the same command again resumes from the
checkpoint and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from spndl.training.augment import augment_pair
from spndl.batching import Batches, Part, build_parts, head, n_batches, run_steps
from spndl.config import Config, check_for_variant, epoch_lr
from spndl.data.prepared import Prepared, load_prepared, split_indices
from spndl.data.records import DataError
from spndl.data.registry import for_dataset
from spndl.runtime.devices import gpu_path, pick_device, set_determinism
from spndl.evaluation import autocast, predict
from spndl.model import SPNDLNet
from spndl.training import collector, runlock
from spndl.runtime.kernels import install as install_kernels
from spndl.runtime.numerics import FIXED_GEMM, NumericsError, adam_fused, apply as apply_numerics
from spndl.training.scoring import score
from spndl.training.runfolder import RunError, RunFolder, check_run_folder, run_settings
from spndl.seeding import generator, stream_seed
from spndl.spl import SPLSchedule, epoch_plan, select_easy
from spndl.training.stopwatch import Stopwatch
from spndl.variants import VARIANTS
from spndl.weights import init_weights, weights_for

__all__ = ["DivergedError", "RunError", "train", "train_epoch"]


class DivergedError(RunError):
    """Training produced a non-finite or exploding loss: the run is an error, not a result."""


def train_epoch(model: SPNDLNet, opt: torch.optim.Optimizer, batches: Batches, part: Part,
                perm: torch.Tensor, cfg: Config, g_aug: torch.Generator) -> tuple[float, int]:
    """One pass over ``perm`` (indices into ``part``): returns (summed loss, correct count)."""
    model.train()
    device = batches.device
    # Summed on the device: reading them back every step would stall a GPU once per batch.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    # The epoch's order goes to the device once: a copy per batch would make a GPU wait on the host.
    for idx in torch.tensor_split(perm.to(device), n_batches(len(perm), cfg.train.batch_size)):
        t, r, y = batches.get(part, idx)
        t, r = augment_pair(t, r, cfg.augment, g_aug)
        with autocast(device, cfg.train.amp):
            logits = model(batches.normalise(t), batches.normalise(r))
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
    return float(loss_sum), int(correct)


def check_divergence(mean_loss: float, epoch: int, n_classes: int, cfg: Config, out: Path) -> None:
    """Stop a run whose training loss is not finite or has exploded: a uniform guess scores
    log(classes), so a mean far above it is no longer learning."""
    bound = cfg.train.divergence_bound * math.log(n_classes)
    if math.isfinite(mean_loss) and mean_loss <= bound:
        return
    what = "is not finite" if not math.isfinite(mean_loss) else (
        f"is above {bound:.1f} (train.divergence_bound {cfg.train.divergence_bound:g} x log {n_classes} classes)")
    raise _diverged(out, f"training diverged at epoch {epoch}: the mean training loss {mean_loss:.4g} {what}", cfg)


def _diverged(out: Path, what: str, cfg: Config) -> DivergedError:
    return DivergedError(f"{out}: {what}; nothing was written as metrics; lower train.lr (now {cfg.train.lr:g})")


@dataclass
class Job:
    """What one run trains with: the model and optimiser, the data on the device, the RNG streams."""

    model: SPNDLNet
    opt: torch.optim.Optimizer
    batches: Batches
    train_part: Part
    test_part: Part
    g_order: torch.Generator
    g_aug: torch.Generator
    sample_ids: np.ndarray      # of the training part, for spl_selection.csv
    train_labels: np.ndarray
    weights: str                # the starting weights' sha256 ('' for none), from init_weights
    determinism: dict           # the flags set_determinism gave torch, for the run's record
    fold_key: int               # the fold (-1 for a split), in every seeded stream


def set_up(data: Prepared, variant: str, fold: int | None, cfg: Config, device: torch.device) -> Job:
    """The model (seeded per fold), its starting weights, Adam (section 4.2), the train and
    test parts on the device, and the order and augmentation streams. Under a ``train.cpu_isa``
    of spndl's GEMM the model's layers run on it (spndl.runtime.kernels)."""
    fold_key = -1 if fold is None else fold
    determinism = set_determinism(device.type, cfg.train.cuda_deterministic)
    train_rows, test_rows = split_indices(data, fold)
    reference_mode = VARIANTS[variant][0]
    torch.manual_seed(stream_seed(cfg.seed, fold_key, "init"))
    model = SPNDLNet(len(data.classes), reference_mode)
    weights = init_weights(model, weights_for(dataclasses.asdict(cfg.model), reference_mode))
    if not gpu_path(device) and cfg.train.cpu_isa in FIXED_GEMM:
        install_kernels(model)
    model.to(device)
    if gpu_path(device):  # cuDNN's fastest layout for convolutions
        model.to(memory_format=torch.channels_last)
    # fused: one kernel updates every parameter; on the CPU it is what keeps the numbers
    # host-independent (spndl.runtime.numerics.adam_fused).
    fused = adam_fused(cfg.train.fused_adam, cfg.train.cpu_isa, device.type)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas),
                           fused=True if fused else None)
    g_order = generator(cfg.seed, fold_key, "order")
    g_aug = generator(cfg.seed, fold_key, "augment", device)
    batches, train_part, test_part = build_parts(data, train_rows, test_rows, device, reference_mode, cfg, fold_key)
    return Job(model, opt, batches, train_part, test_part, g_order, g_aug,
               data.manifest["sample_id"].to_numpy()[train_rows], train_part.labels.cpu().numpy(), weights,
               determinism, fold_key)


def select_pace(job: Job, cfg: Config, use_spl: bool, fraction: float, pace: int, epoch: int, out: Path,
                selection: list[dict]) -> np.ndarray:
    """The samples of a pace: every training sample scored by the current model (eq. 10),
    each class's easiest ``fraction`` kept (eqs. 11-12); all of them without SPL. Each
    sample's loss and choice is appended to ``selection``."""
    n = len(job.train_labels)
    losses, selected = np.full(n, np.nan), np.ones(n, bool)
    if use_spl:
        scored = job.train_part if cfg.train.max_steps is None else head(
            job.train_part, cfg.train.max_steps * cfg.train.eval_batch_size)
        part = score(job.model, job.batches, scored, cfg.spl.scorer, stream_seed(cfg.seed, job.fold_key, "score", pace),
                     cfg.train.batch_size, cfg.train.eval_batch_size, cfg.train.amp)
        if not np.isfinite(part).all():
            raise _diverged(out, f"the SPL losses at the start of pace {pace} (epoch {epoch}) are not finite", cfg)
        # A rehearsal scores its first samples only (train.max_steps); the rest count as hardest.
        losses = np.concatenate([part, np.full(n - len(part), np.inf)])
        # Equal losses are ordered by seeded random keys, never by manifest order.
        ties = np.random.default_rng(stream_seed(cfg.seed, job.fold_key, "ties", pace)).random(n)
        selected, _ = select_easy(losses, job.train_labels, fraction, ties)
    selection.extend({"pace": pace, "sample_id": str(i), "label": int(lab), "loss": float(loss), "selected": bool(s)}
                     for i, lab, loss, s in zip(job.sample_ids, job.train_labels, losses, selected))
    return selected


def evaluate(job: Job, cfg: Config, epoch: int, out: Path) -> tuple[float, torch.Tensor, float]:
    """(mean test loss, class probabilities, accuracy) of the model on the test part."""
    test_loss, probs = predict(job.model, job.batches, job.test_part, cfg.train.eval_batch_size, cfg.train.amp)
    if not torch.isfinite(probs).all():
        raise _diverged(out, f"the test predictions after epoch {epoch} are not finite", cfg)
    return float(test_loss.mean()), probs, float((probs.argmax(1) == job.test_part.labels.cpu()).float().mean())


def train(data_dir: str | Path, variant: str, fold: int | None, out: str | Path, cfg: Config,
          on_epoch_end: Callable[[int], None] | None = None, log: Callable[[str], None] = print,
          device: str | None = None, restart_on_change: bool = False, stopwatch: Stopwatch | None = None) -> dict:
    """Train ``variant`` on ``fold`` into ``out``; resume if ``out`` holds a checkpoint of the same settings.

    ``device`` overrides ``train.device`` for this run only (a leased GPU slot), so a
    run may resume on another GPU. ``restart_on_change``: see ``RunFolder.open``.
    ``stopwatch`` receives the seconds of each part (benchmarks/profile_job.py).
    Returns the metrics dict also written to ``out/metrics.json``.
    """
    if variant not in VARIANTS:
        raise RunError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    check_run_folder(Path(out))  # before the lock file: a user's folder gets nothing of ours
    with runlock.holding(out):
        check_run_folder(Path(out))  # again, now that no other run can write it
        return _train(data_dir, variant, fold, out, cfg, on_epoch_end, log, device, restart_on_change, stopwatch)


def _train(data_dir, variant, fold, out, cfg, on_epoch_end, log, device, restart_on_change, stopwatch) -> dict:
    """``train`` once the run folder's lock is held (spndl.training.runlock)."""
    reference_mode, use_spl = VARIANTS[variant]
    try:  # before the first torch operation of the run: most CPU switches are read only once
        numerics = apply_numerics(cfg.train.cpu_isa, cfg.train.cpu_threads)
    except NumericsError as e:
        raise RunError(f"{out}: {e}") from None
    sw = stopwatch or Stopwatch()
    with sw.part("load data"):
        data = load_prepared(data_dir)
    cfg = for_dataset(cfg, data.info["dataset"])  # train.epochs null: the paper's for this dataset
    check_for_variant(cfg, use_spl)
    if reference_mode == "neutral" and not data.has_references:
        raise DataError(f"{data.path}: variant {variant} needs a neutral reference per sample; "
                        f"{data.info['dataset']} has none (use a *_wo_neutral variant)")
    device = pick_device(device or cfg.train.device)
    with sw.part("set up model and data"):
        try:  # set_up refuses the unfused Adam under a host-independent cpu_isa (adam_fused)
            job = set_up(data, variant, fold, cfg, device)
        except NumericsError as e:
            raise RunError(f"{out}: {e}") from None
    numerics = {**numerics, "adam": "fused" if job.opt.defaults["fused"] else "unfused",
                "determinism": job.determinism}
    budget = cfg.train.max_steps  # a rehearsal's bound: optimiser steps, and evaluation batches
    if budget is not None:
        job.test_part = head(job.test_part, budget * cfg.train.eval_batch_size)
    run = RunFolder(out, run_settings(data, variant, fold, cfg, job.weights), log)
    # Without SPL: one pace of all samples, no warm-up. Pace 0 is SPL's warm-up, on all samples.
    schedule = cfg.spl if use_spl else SPLSchedule(start=1.0, step=0.0, paces=1, warmup_epochs=0)
    pace_of_epoch = epoch_plan(cfg.train.epochs, schedule)
    with sw.part("resume"):
        state, ck = run.open(len(job.train_labels), restart_on_change)
        if ck is not None:
            run.restore(ck, job.model, job.opt, job.g_order, job.g_aug)
    start_epoch = state.epoch + 1
    steps_done = run_steps(state.history, cfg.train.batch_size, budget)
    last_epoch = cfg.train.epochs if budget is None or steps_done < budget else state.epoch
    if ck is not None:
        log(f"{run.out} has finished all {cfg.train.epochs} epochs; rewriting its outputs"
            if start_epoch > cfg.train.epochs else
            f"{run.out} has run its {budget} steps (train.max_steps); rewriting its outputs"
            if start_epoch > last_epoch else
            f"resuming {run.out} at epoch {start_epoch} (pace {pace_of_epoch[start_epoch - 1]})")
    run.write_config(data, device, numerics)

    collector.settle()  # the model and the data, out of the collector's passes (spndl.training.collector)
    last_checkpoint = time.monotonic()
    for epoch in range(start_epoch, last_epoch + 1):
        t0 = time.perf_counter()
        pace = pace_of_epoch[epoch - 1]
        fraction = schedule.fraction(pace) if pace else 1.0
        pace_starts = epoch == 1 or pace != pace_of_epoch[epoch - 2]
        if pace_starts and pace == 0:
            state.selected = np.ones(len(job.train_labels), bool)  # the warm-up: all samples, nothing scored
        elif pace_starts:
            if cfg.train.pace_checkpoints and use_spl:
                with sw.part("pace models (Fig. 7)"):
                    run.save_pace_model(job.model, pace)
            with sw.part("SPL scoring" if use_spl else "selection"):
                state.selected = select_pace(job, cfg, use_spl, fraction, pace, epoch, run.out, state.selection)
        for group in job.opt.param_groups:  # train.lr_schedule (constant: the paper's rate throughout)
            group["lr"] = epoch_lr(cfg.train, epoch)
        pool = torch.as_tensor(np.flatnonzero(state.selected))
        perm = pool[torch.randperm(len(pool), generator=job.g_order)]
        if budget is not None:  # whole batches up to the bound: it counts optimiser steps
            perm = perm[:(budget - steps_done) * cfg.train.batch_size]
            steps_done += n_batches(len(perm), cfg.train.batch_size)
        with sw.part("training steps"), collector.paused():
            loss_sum, correct = train_epoch(job.model, job.opt, job.batches, job.train_part, perm, cfg, job.g_aug)
        check_divergence(loss_sum / len(perm), epoch, len(data.classes), cfg, run.out)
        with sw.part("evaluation (test set, every epoch)"), collector.paused():
            test_loss, probs, test_acc = evaluate(job, cfg, epoch, run.out)
        state.history.append({"epoch": epoch, "pace": pace, "fraction": fraction, "selected": int(state.selected.sum()),
                              "train_loss": loss_sum / len(perm), "train_accuracy": correct / len(perm),
                              "test_loss": test_loss, "test_accuracy": test_acc,
                              "seconds": round(time.perf_counter() - t0, 3)})
        log(f"epoch {epoch}/{cfg.train.epochs} pace {pace} selected {int(state.selected.sum())} "
            f"loss {loss_sum / len(perm):.4f} test acc {test_acc:.4f}")
        state.epoch = epoch
        last = epoch == cfg.train.epochs or (budget is not None and steps_done >= budget)
        with sw.part("history and selection files"):
            run.save_progress(state, selection_changed=pace_starts or epoch == start_epoch)
        # A resume replays the epochs since the last checkpoint exactly, so checkpoints need
        # only bound the work a kill loses (one every epoch cost the default's
        # CPU jobs 6 % of their time: benchmarks/profile_job.py).
        if last or time.monotonic() - last_checkpoint >= cfg.train.checkpoint_every_s:
            with sw.part("checkpoints"):
                run.save_checkpoint(state, job.model, job.opt, job.g_order, job.g_aug, pace, last)
            last_checkpoint = time.monotonic()
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if last:
            break

    if not state.history:
        raise RunError(f"{run.out}: no epoch was run")
    if start_epoch > last_epoch:  # nothing trained now: evaluate the restored model
        probs = evaluate(job, cfg, state.epoch, run.out)[1]
    with sw.part("predictions and metrics"):
        return run.finish(probs, job.test_part.labels.cpu().numpy(), job.test_part.rows, data,
                          job.batches.images.shape[-1], state.history)
