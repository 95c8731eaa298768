"""Checks of params.yaml beyond its schema, run when the Snakefile is parsed.

The JSON schema checks shapes and spellings; these check what needs the package's
knowledge: the training settings of each preset (the same ``spndl.config`` checks
as ``spndl train --set``), SPL's epochs per pace, the figures' fold, classes and
paces against what the preset trains, and a variant list for every dataset. A
mistake fails ``snakemake -n`` naming its key, not a training job an hour later.
"""

from __future__ import annotations

from spndl.config import Config, ConfigError, check_for_variant, config_from_dict, merge
from spndl.data.registry import DATASETS
from spndl.model import VARIANTS


def preset_settings(params: dict, dataset: str) -> dict:
    """The settings of ``dataset``'s runs under the selected preset, as the nested dict that
    ``spndl train`` takes: the preset's image size and config, then the dataset's own
    overrides (``config_rafdb``: RAF-DB's epochs). The train rule passes exactly these."""
    preset = params["presets"][params["preset"]]
    settings = merge({"data": {"size": preset["image_size"]}}, preset.get("config") or {})
    return merge(settings, preset.get(f"config_{dataset}") or {})


def run_config(params: dict, dataset: str) -> Config:
    """The training settings of ``dataset``'s runs under the selected preset, checked."""
    name = params["preset"]
    override = f"config_{dataset}"
    where = f"params.yaml: presets.{name}.config" + (f" + {override}" if override in params["presets"][name] else "")
    return config_from_dict(preset_settings(params, dataset), where)


def validate_params(params: dict) -> None:
    """Raise ConfigError naming the params.yaml key of the first mistake found."""
    name = params["preset"]
    if name not in params["presets"]:
        raise ConfigError(f"params.yaml: preset: {name!r} is not one of {sorted(params['presets'])}")
    preset = params["presets"][name]
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
