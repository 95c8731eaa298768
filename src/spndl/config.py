"""Training settings: typed defaults, YAML files and ``key=value`` overrides.

The defaults are the paper's where it gives them (section 4.2: batch 128, Adam
1e-3; ``train.epochs`` null means the paper's for the dataset, 250 or RAF-DB's
150, from the dataset registry) with one exception: ``model.weights`` is
``none``, so that nothing is downloaded unless asked for (the pipeline's
``paper`` preset sets ``imagenet``). The pipeline's settings live in
params.yaml's presets (``spndl train --preset NAME`` starts from one); these
are what ``spndl train`` starts from otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from spndl.runtime.numerics import CPU_ISAS
from spndl.spl import SPLSchedule, epoch_plan


class ConfigError(ValueError):
    pass


@dataclass
class DataConfig:
    size: int | None = None   # train-time image size; None keeps the prepared size (224 in the paper)
    reference: str = "own"    # own: the subject's neutral frame; other_subject: a control that
                              # pairs each target with another subject's neutral frame


@dataclass
class ModelConfig:
    weights: str = "none"     # none (offline default) | imagenet | path to an MS-Celeb-1M checkpoint
    # The w/o-neutral variants' own (eq. 8): section 3.2 fine-tunes both of their backbones from a
    # ResNet-18 trained on MS-Celeb-1M, section 4.2 gives ImageNet for the rest. null: ``weights``.
    weights_wo_neutral: str | None = None


@dataclass
class TrainConfig:
    # None: the paper's for the dataset trained (section 4.2, the registry's ``epochs``):
    # 250 on CK+ and Oulu-CASIA, 150 on RAF-DB.
    epochs: int | None = None
    batch_size: int = 128             # section 4.2
    lr: float = 1e-3                  # Adam, section 4.2
    # constant: the paper's (section 4.2 gives one rate). cosine: annealed over the epochs to
    # lr_min_factor * lr at the last one; the synthetic_full preset takes it, since its few
    # epochs on the constant rate end where test accuracy still moves 10-20 points from one
    # epoch to the next (benchmarks/power.py).
    lr_schedule: str = "constant"
    lr_min_factor: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eval_batch_size: int = 256
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    amp: bool = True                  # bf16 autocast on CUDA; ignored on the CPU
    # On CUDA: torch's deterministic algorithms, cuBLAS's fixed workspace (CUBLAS_WORKSPACE_CONFIG
    # :4096:8) and cuDNN without autotuning, so that the same GPU model and software can repeat
    # a run's numbers (spndl.runtime.devices.set_determinism). Off: cuDNN autotunes, the faster
    # default. The CPU is always deterministic (spndl.runtime.numerics).
    cuda_deterministic: bool = False
    pace_checkpoints: bool = False    # keep the model at the start of each pace (for t-SNE, Fig. 7)
    # torch's fused Adam: one kernel for all parameters instead of one per tensor. null: fused on
    # the CPU under a host-independent cpu_isa (the unfused Adam takes its square roots from
    # MKL's vector math, whose last bits depend on the processor: spndl.runtime.numerics), unfused on a
    # GPU and under cpu_isa native. The two differ in the last bits, which training amplifies.
    fused_adam: bool | None = None
    # checkpoint.pt is written after the first epoch that ends this many seconds after the
    # last write (and after the last epoch); 0: after every epoch. A killed run resumes from
    # the last one with the same numbers; a short CPU run writes only its final checkpoint.
    checkpoint_every_s: float = 300.0
    # A run whose mean training loss in an epoch is not finite, or above this many times
    # log(classes) (the loss of a uniform guess), has diverged: it stops with an error.
    divergence_bound: float = 10.0
    # CPU numerics (spndl.runtime.numerics). avx2: the same numbers on every x86-64 host with AVX2 and
    # FMA, at native speed (convolutions and linear layers on spndl's own GEMM, spndl.runtime.kernels;
    # ATen capped at AVX2, no oneDNN or NNPACK); x86-64: the same on every x86-64 host, without
    # AVX (MKL's cross-vendor CNR branch: about 0.4x native speed); native: each library picks
    # by the host (the same numbers only on identical hardware). Ignored by the model on a GPU.
    cpu_isa: str = "avx2"
    # torch's CPU threads. Reductions split over threads, so the numbers depend on it; 1 is
    # the pipeline's one-CPU job (two one-thread jobs outrun one two-thread job on the CPU).
    cpu_threads: int = 1
    # A rehearsal's work bound, never a result: at most this many optimiser steps per run (the
    # run ends at the step that reaches it), and every test evaluation and SPL scoring over at
    # most this many batches of eval_batch_size. Recorded in metrics.json and stated by every
    # table built from such a run. null: no bound (every real run).
    max_steps: int | None = None


@dataclass
class AugmentConfig:
    # Section 4.2: a random horizontal flip or Gaussian noise, the same operation on
    # target and reference.
    prob: float = 0.5                 # chance that a pair is augmented at all
    ops: tuple[str, ...] = ("flip", "noise")
    noise_std: float = 0.05           # in units of the [0, 1] pixel range


@dataclass
class Config:
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    spl: SPLSchedule = field(default_factory=SPLSchedule)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# A number as YAML 1.2 spells it: PyYAML (YAML 1.1) reads 1e-4 and 1E3 as strings.
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    raise ConfigError(f"{where}: expected a number, got {value!r}")


def _item(value: Any, kind: type, where: str) -> Any:
    """One element of a list setting, of its declared type (a list of names holds names only)."""
    if kind is float:
        return _number(value, where)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {'a name' if kind is str else 'an integer'}, got {value!r}")
    return value


def _coerce(value: Any, current: Any, where: str, hint: Any = None) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(current, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        kind = (typing.get_args(hint) or (None,))[0]
        if kind is None and current:
            kind = type(current[0])
        return tuple(value) if kind is None else tuple(_item(v, kind, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(current, float):
        return _number(value, where)
    if isinstance(current, int) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    if current is not None and value is not None and not isinstance(value, type(current)):
        if isinstance(current, str):
            return str(value)
        raise ConfigError(f"{where}: expected {type(current).__name__}, got {value!r}")
    return value


def _like(obj, key: str, current: Any) -> Any:
    """A value of the setting's declared type, to coerce against where the default is None
    (``train.epochs``, ``data.size``, ``train.fused_adam``): ``int | None`` gives 0."""
    if current is not None:
        return current
    hint = typing.get_type_hints(type(obj))[key]
    kinds = [t for t in typing.get_args(hint) if t is not type(None)]
    return kinds[0]() if len(kinds) == 1 and kinds[0] in (bool, int, float, str) else None


def _apply(obj, updates: dict, prefix: str, source: str):
    for key, value in updates.items():
        where = f"{source}: {prefix}{key}"
        fields = {f.name for f in dataclasses.fields(obj)}
        if key not in fields:
            raise ConfigError(f"{where}: unknown setting; known: {', '.join(sorted(fields))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a mapping")
            _apply(current, value, f"{prefix}{key}.", source)
        else:
            if value is None and type(None) not in typing.get_args(typing.get_type_hints(type(obj))[key]):
                # null only for the settings that have it (train.epochs: the paper's)
                raise ConfigError(f"{where}: null is invalid; expected a value like {current!r}")
            hint = typing.get_type_hints(type(obj))[key]
            setattr(obj, key, None if value is None else _coerce(value, _like(obj, key, current), where, hint))


def config_from_dict(data: dict, source: str = "stored settings") -> Config:
    """A Config from a plain dict of the same nesting (as ``Config.to_dict`` writes it)."""
    cfg = Config()
    _apply(cfg, data, "", source)
    try:
        validate(cfg)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return cfg


def merge(base: dict, over: dict) -> dict:
    """``base`` updated by ``over``, nested mappings merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_set(item: str) -> dict:
    """``a.b=value`` -> {'a': {'b': value}}, with the value parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({str(e).splitlines()[0]})") from None
    out: dict = value
    for part in reversed(key.strip().split(".")):
        out = {part: out}
    return out


def load_config(files: list[str | Path] = (), sets: list[str] = (), base: dict | None = None,
                base_source: str = "preset") -> Config:
    """Defaults, then ``base`` (a preset's settings), each YAML file, then each ``--set``, later
    ones winning."""
    cfg = Config()
    _apply(cfg, base or {}, "", base_source)
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_bytes()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not a valid YAML file ({' '.join(str(e).split())})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        _apply(cfg, data, "", str(path))
    for s in sets:
        _apply(cfg, parse_set(s), "", "--set")
    validate(cfg)
    return cfg


def check_for_variant(cfg: Config, uses_spl: bool, where: str = "") -> None:
    """Checks across settings that depend on the variant trained, shared by ``spndl train``
    and the pipeline's parse-time checks: SPL's warm-up and paces must fit the epochs."""
    if uses_spl and cfg.train.epochs is not None:  # None: the dataset's paper epochs, resolved by the caller
        try:
            epoch_plan(cfg.train.epochs, cfg.spl)
        except ValueError as e:
            raise ConfigError(f"{where}train.epochs={cfg.train.epochs}: {e}") from None


LR_SCHEDULES = ("constant", "cosine")


def epoch_lr(train: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based) of ``train.epochs``: ``train.lr`` throughout
    (constant), or cosine-annealed from ``train.lr`` at the first epoch to
    ``train.lr * train.lr_min_factor`` at the last. A function of the epoch alone, so that a
    resumed run takes the same rates."""
    if train.lr_schedule == "constant" or not train.epochs or train.epochs == 1:
        return train.lr
    progress = (epoch - 1) / (train.epochs - 1)
    low = train.lr * train.lr_min_factor
    return low + (train.lr - low) * 0.5 * (1.0 + math.cos(math.pi * progress))


FLOAT32_MAX = float(np.finfo(np.float32).max)  # Adam keeps the learning rate in the model's dtype
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)\Z", re.ASCII)  # \Z: '$' lets 'cpu\n' through


def _check(ok: bool, key: str, value: Any, want: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {value!r} is invalid; expected {want}")


SEED_MAX = 2**32 - 1   # numpy's SeedSequence takes more, but torch's generators and the records' readers not


def validate(cfg: Config) -> None:
    """Ranges and names of every setting, so that a bad value is refused where it is parsed,
    not met as a traceback (or a silently wrong run) later."""
    t, a = cfg.train, cfg.augment
    finite = math.isfinite
    _check(0 <= cfg.seed <= SEED_MAX, "seed", cfg.seed, f"an integer 0..{SEED_MAX}")
    _check(cfg.data.reference in ("own", "other_subject"), "data.reference", cfg.data.reference,
           "own or other_subject")
    _check(cfg.data.size is None or cfg.data.size >= 16, "data.size", cfg.data.size,
           "at least 16 px (ResNet-18 halves the input five times), or null for the prepared size")
    _check(bool(cfg.model.weights), "model.weights", cfg.model.weights, "none, imagenet or a file path")
    _check(cfg.model.weights_wo_neutral is None or bool(cfg.model.weights_wo_neutral), "model.weights_wo_neutral",
           cfg.model.weights_wo_neutral, "none, imagenet, a file path, or null for model.weights")
    _check(t.epochs is None or t.epochs >= 1, "train.epochs", t.epochs,
           "an integer >= 1, or null for the paper's for the dataset")
    _check(t.batch_size >= 2, "train.batch_size", t.batch_size, "an integer >= 2 (BatchNorm needs two samples)")
    _check(t.eval_batch_size >= 1, "train.eval_batch_size", t.eval_batch_size, "an integer >= 1")
    _check(0 < t.lr <= FLOAT32_MAX, "train.lr", t.lr, "a number > 0 that float32 holds")
    _check(t.lr_schedule in LR_SCHEDULES, "train.lr_schedule", t.lr_schedule, " or ".join(LR_SCHEDULES))
    _check(finite(t.lr_min_factor) and 0 <= t.lr_min_factor <= 1, "train.lr_min_factor", t.lr_min_factor,
           "a number in [0, 1]")
    _check(len(t.betas) == 2 and all(finite(b) and 0 <= b < 1 for b in t.betas), "train.betas", list(t.betas),
           "two numbers in [0, 1)")
    _check(bool(_DEVICE.match(t.device)), "train.device", t.device, "auto, cpu, cuda or cuda:N")
    _check(finite(t.checkpoint_every_s) and t.checkpoint_every_s >= 0, "train.checkpoint_every_s",
           t.checkpoint_every_s, "a finite number of seconds >= 0")
    _check(finite(t.divergence_bound) and t.divergence_bound > 0, "train.divergence_bound", t.divergence_bound,
           "a finite number > 0")
    _check(t.cpu_isa in CPU_ISAS, "train.cpu_isa", t.cpu_isa, ", ".join(CPU_ISAS))
    _check(t.cpu_threads >= 1, "train.cpu_threads", t.cpu_threads, "an integer >= 1")
    _check(t.max_steps is None or t.max_steps >= 1, "train.max_steps", t.max_steps,
           "an integer >= 1 (a rehearsal's bound), or null for none")
    _check(finite(a.prob) and 0 <= a.prob <= 1, "augment.prob", a.prob, "a probability in [0, 1]")
    _check(finite(a.noise_std) and a.noise_std >= 0, "augment.noise_std", a.noise_std, "a finite number >= 0")
    unknown = set(a.ops) - {"flip", "noise"}
    if unknown:
        raise ConfigError(f"augment.ops: unknown operation(s) {sorted(unknown)}; known: flip, noise")
    try:
        SPLSchedule(**dataclasses.asdict(cfg.spl))  # its own checks, re-run after overrides
    except ValueError as e:
        raise ConfigError(str(e)) from None
