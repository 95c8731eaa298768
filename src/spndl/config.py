"""Training settings: typed defaults (the paper's, section 4.2), YAML files and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spndl.spl import SPLSchedule


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


@dataclass
class TrainConfig:
    epochs: int = 250                 # CK+ and Oulu-CASIA; 150 for RAF-DB (section 4.2)
    batch_size: int = 128             # section 4.2
    lr: float = 1e-3                  # Adam, section 4.2
    betas: tuple[float, float] = (0.9, 0.999)
    eval_batch_size: int = 256
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    amp: bool = True                  # bf16 autocast on CUDA; ignored on the CPU
    pace_checkpoints: bool = False    # keep the model at the start of each pace (for t-SNE, Fig. 7)


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


def _coerce(value: Any, current: Any, where: str) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(current, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(value)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if current is not None and value is not None and not isinstance(value, type(current)):
        if isinstance(current, str):
            return str(value)
        raise ConfigError(f"{where}: expected {type(current).__name__}, got {value!r}")
    return value


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
            setattr(obj, key, _coerce(value, current, where))


def config_from_dict(data: dict, source: str = "stored settings") -> Config:
    """A Config from a plain dict of the same nesting (as ``Config.to_dict`` writes it)."""
    cfg = Config()
    _apply(cfg, data, "", source)
    validate(cfg)
    return cfg


def parse_set(item: str) -> dict:
    """``a.b=value`` -> {'a': {'b': value}}, with the value parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    value = yaml.safe_load(raw) if raw != "" else ""
    out: dict = value
    for part in reversed(key.strip().split(".")):
        out = {part: out}
    return out


def load_config(files: list[str | Path] = (), sets: list[str] = ()) -> Config:
    """Defaults, then each YAML file, then each ``--set``, later ones winning."""
    cfg = Config()
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        _apply(cfg, data, "", str(path))
    for s in sets:
        _apply(cfg, parse_set(s), "", "--set")
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    if cfg.data.reference not in ("own", "other_subject"):
        raise ConfigError(f"data.reference: {cfg.data.reference!r} is not own or other_subject")
    unknown = set(cfg.augment.ops) - {"flip", "noise"}
    if unknown:
        raise ConfigError(f"augment.ops: unknown operation(s) {sorted(unknown)}; known: flip, noise")
    if cfg.train.epochs < 1 or cfg.train.batch_size < 1:
        raise ConfigError("train.epochs and train.batch_size must be positive")
    if cfg.data.size is not None and cfg.data.size < 16:
        raise ConfigError(f"data.size: {cfg.data.size} px is too small for ResNet-18")
    SPLSchedule(**dataclasses.asdict(cfg.spl))  # re-check after overrides
