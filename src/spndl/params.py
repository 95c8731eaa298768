"""Checks of params.yaml beyond its schema, run when the Snakefile is parsed.

The JSON schema checks shapes and spellings; these check what needs the package's
knowledge: the training settings of each preset (the same ``spndl.config`` checks
as ``spndl train --set``), SPL's epochs per pace, the figures' fold, classes and
paces against what the preset trains, and a variant list for every dataset. A
mistake fails ``snakemake -n`` naming its key, not a training job an hour later.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from spndl.config import Config, ConfigError, check_for_variant, config_from_dict, merge
from spndl.data.registry import DATASETS, for_dataset
from spndl.variants import VARIANTS


def preset_settings(params: dict, dataset: str, seed: int | None = None) -> dict:
    """The settings of ``dataset``'s runs under the selected preset, as the nested dict that
    ``spndl train`` takes: the preset's image size and config, then the dataset's own
    overrides (``config_rafdb``: RAF-DB's epochs), and the run's seed (one of the preset's
    ``seeds``; the first where none is given). The train rule passes exactly these."""
    preset = params["presets"][params["preset"]]
    settings = merge({"data": {"size": preset["image_size"]}}, preset.get("config") or {})
    settings = merge(settings, preset.get(f"config_{dataset}") or {})
    return merge(settings, {"seed": preset["seeds"][0] if seed is None else seed})


def read_preset(path: str | Path, name: str, dataset: str) -> dict:
    """The settings that the pipeline's preset ``name`` in the params file ``path`` gives a run
    on ``dataset`` with the preset's first seed (``spndl train --preset``; ``--set seed=N``
    for another), so that a run by hand matches the pipeline's."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
        presets = params["presets"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a params.yaml with presets ({' '.join(str(e).split())})") from None
    if not isinstance(presets, dict):
        raise ConfigError(f"{path}: presets: a mapping of preset names to settings, not {type(presets).__name__}")
    if name not in presets:
        raise ConfigError(f"{path}: preset {name!r} is not one of {', '.join(map(str, presets))}")
    check_preset_shape(f"{path}: presets.{name}", presets[name])
    return preset_settings({**params, "preset": name}, dataset)


def check_preset_shape(where: str, preset) -> None:
    """What ``preset_settings`` reads of a preset, in the shape it reads it (the pipeline's
    schema checks the same; a params file given to ``spndl train --preset`` has had no schema)."""
    if not isinstance(preset, dict):
        raise ConfigError(f"{where}: a mapping of settings, not {type(preset).__name__}")
    size = preset.get("image_size")
    if not isinstance(size, int) or isinstance(size, bool):
        raise ConfigError(f"{where}.image_size: {size!r} is invalid; expected a whole number of pixels")
    seeds = preset.get("seeds")
    if not (isinstance(seeds, list) and seeds and all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)):
        raise ConfigError(f"{where}.seeds: {seeds!r} is invalid; expected a list of whole numbers")
    for key, value in preset.items():
        if (key == "config" or str(key).startswith("config_")) and not isinstance(value, (dict, type(None))):
            raise ConfigError(f"{where}.{key}: {value!r} is invalid; expected a mapping of settings")


def run_config(params: dict, dataset: str) -> Config:
    """The training settings of ``dataset``'s runs under the selected preset, checked."""
    name = params["preset"]
    override = f"config_{dataset}"
    where = f"params.yaml: presets.{name}.config" + (f" + {override}" if override in params["presets"][name] else "")
    return for_dataset(config_from_dict(preset_settings(params, dataset), where), dataset)


def _names(where: str, names, allowed, what: str = "dataset") -> None:
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ConfigError(f"params.yaml: {where}: unknown {what} {bad[0]!r}; choose from {', '.join(allowed)}")


def check_datasets(params: dict) -> None:
    """Every dataset name and per-dataset option against the registry (the schema leaves
    them open, so that a dataset added to the registry needs no schema change)."""
    data = params["data"]
    _names("datasets", params["datasets"], DATASETS)
    _names("data.allow_deviation", data["allow_deviation"], DATASETS)
    for key in ("images", "real"):
        _names(f"data.{key}", data[key], DATASETS)
    _names("variants", params["variants"], DATASETS)
    for pname, preset in params["presets"].items():
        _names(f"presets.{pname}", [k.removeprefix("config_") for k in preset if k.startswith("config_")], DATASETS)
    for d in params["datasets"]:
        spec = DATASETS[d]
        images = data["images"].get(d, next(iter(spec.images)))
        _names(f"data.images.{d}", [images], list(spec.images), "images option")
        if not spec.paired:
            _names(f"variants.{d}", params["variants"].get(d) or [],
                   [v for v, (ref, _) in VARIANTS.items() if ref != "neutral"], f"variant for {spec.title} (no "
                   "neutral images)")
    for d, entry in data["real"].items():
        if "protocol" in entry and DATASETS[d].expected:
            raise ConfigError(f"params.yaml: data.real.{d}.protocol: {DATASETS[d].title}'s protocol is fixed "
                              f"({DATASETS[d].protocol}); protocol is for a dataset of your own (custom)")


def protocol(params: dict, dataset: str) -> str:
    """folds or split: a custom dataset's from params (its CSV's columns), else the registry's."""
    return (params["data"]["real"].get(dataset) or {}).get("protocol", DATASETS[dataset].protocol)


NVIDIA_GPUS = "/proc/driver/nvidia/gpus"  # one entry per GPU the NVIDIA driver sees


def gpu_per_job(params: dict, gpus_dir: str = NVIDIA_GPUS) -> int:
    """Units of Snakemake's ``gpu`` resource that one training job holds: params
    ``compute.gpu_per_job``, 0 or 1, or ``auto``: 1 where the machine that runs snakemake has
    a GPU. Set 1 where the jobs run on other machines (a cluster's submit host has none)."""
    setting = (params.get("compute") or {}).get("gpu_per_job", "auto")
    if setting != "auto":
        return int(setting)
    if not os.path.isdir(gpus_dir):
        return 0
    with os.scandir(gpus_dir) as entries:  # closed at once: an open iterator leaks a file descriptor
        return int(any(entries))


# What a job asks a cluster for where its preset's `jobs` does not say: minutes, MB, CPUs.
JOB_DEFAULTS = {"train": {"runtime_min": 30, "mem_mb": 4000, "cpus": 1},
                "prepare": {"runtime_min": 30, "mem_mb": 4000, "cpus": 1},
                "figures": {"runtime_min": 30, "mem_mb": 4000, "cpus": 1}}


def job_resources(params: dict, rule: str, attempt: int = 1) -> dict:
    """Snakemake resources of one ``rule`` job under the selected preset: ``runtime`` (minutes)
    and ``mem_mb`` grow linearly with the attempt, so that a job killed at its wall time or
    memory limit gets more on the retry (a training job then resumes from its checkpoint)."""
    job = {**JOB_DEFAULTS[rule], **((params["presets"][params["preset"]].get("jobs") or {}).get(rule) or {})}
    return {"runtime": job["runtime_min"] * attempt, "mem_mb": job["mem_mb"] * attempt,
            "cpus_per_task": job["cpus"]}


def validate_params(params: dict) -> None:
    """Raise ConfigError naming the params.yaml key of the first mistake found."""
    check_datasets(params)
    name = params["preset"]
    if name not in params["presets"]:
        raise ConfigError(f"params.yaml: preset: {name!r} is not one of {sorted(params['presets'])}")
    preset = params["presets"][name]
    for pname, p in params["presets"].items():
        for key in ("config", *(k for k in p if k.startswith("config_"))):
            if "seed" in (p.get(key) or {}):
                # One place for seeds: the run folders, wildcards and tables are keyed by them.
                raise ConfigError(f"params.yaml: presets.{pname}.{key}.seed: seeds are set by "
                                  f"presets.{pname}.seeds (a list: one run per seed)")
    n_folds = params["prepare"]["n_folds"]
    for k in preset["folds"]:
        if k >= n_folds:
            raise ConfigError(f"params.yaml: presets.{name}.folds: fold {k} does not exist with "
                              f"prepare.n_folds {n_folds} (folds 0..{n_folds - 1})")
    configs = {}
    for dataset in params["datasets"]:
        variants = params["variants"].get(dataset) or []
        if not variants:
            raise ConfigError(f"params.yaml: variants.{dataset}: no variant listed; list at least one or "
                              f"drop {dataset} from datasets")
        configs[dataset] = run_config(params, dataset)
        where = f"params.yaml: presets.{name}.config ({dataset}): "
        check_for_variant(configs[dataset], any(VARIANTS[v][1] for v in variants), where)
    if "oulu" in params["datasets"]:
        fig = params["figures"]
        if fig["fold"] not in preset["folds"]:
            raise ConfigError(f"params.yaml: figures.fold: {fig['fold']} is not one of presets.{name}.folds "
                              f"{preset['folds']} (Figs. 5 and 7 show a fold the tables train)")
        classes = DATASETS["oulu"].classes
        bad = [c for c in fig["tsne_classes"] if c not in classes]
        if bad or len(set(fig["tsne_classes"])) != len(fig["tsne_classes"]):
            raise ConfigError(f"params.yaml: figures.tsne_classes: {fig['tsne_classes']} must be two different "
                              f"Oulu-CASIA classes of {classes}")
        paces = configs["oulu"].spl.paces
        bad = [p for p in fig["tsne_paces"] if not 1 <= p <= paces]
        if bad:
            raise ConfigError(f"params.yaml: figures.tsne_paces: {bad} outside the {paces} SPL paces of "
                              f"presets.{name} (1..{paces})")
