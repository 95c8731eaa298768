"""A pipeline configuration: its name, its folders, and what decides what its runs mean.

Every configuration keeps its own runs (``runs/NAME/``), results (``results/NAME/``) and
logs (``logs/NAME/``), so that switching preset or data source never trains over, moves
or deletes another configuration's work. NAME is params ``name`` where given, otherwise
``PRESET-SOURCE`` (``synthetic_cpu-synthetic``, ``paper-real``).

Prepared data are shared by the configurations that prepare them alike: their folder is
keyed by the data's identity (source, synthetic size and seed), the image size, and a
digest of the preparation settings (``data/prepared/KEY/DATASET``).

A configuration's folder records the settings that decide what its runs mean
(``runs/NAME/configuration.yaml``): per dataset, where its data come from and how they are
prepared, and every training setting of the preset. Run lists (folds, seeds, variants,
datasets) may grow; a changed setting under the same name stops the pipeline before any
job (``check``), naming what changed and how to keep both.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml

from spndl.config import ConfigError, merge
from spndl.data.registry import DATASETS
from spndl.params import preset_settings

RECORD = "configuration.yaml"
# A folder name on every file system, never a path: no separator, no leading dot or dash.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,79}")


def name(params: dict) -> str:
    """The configuration's folder name: params ``name``, or PRESET-SOURCE."""
    given = params.get("name")
    value = f"{params['preset']}-{params['data']['source']}" if given in (None, "") else given
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ConfigError(f"params: name {value!r} is invalid; expected a folder name of letters, digits and "
                          "'_.+-' (at most 80, starting with a letter or digit)")
    if value in DATASETS:
        raise ConfigError(f"params: name {value!r} is a dataset's name; choose another (runs/DATASET is the "
                          "layout of runs made before configurations had folders)")
    return value


def synthetic(params: dict, dataset: str) -> bool:
    """Whether the dataset comes from the embedded default; a custom one always comes from data.real."""
    return params["data"]["source"] == "synthetic" and DATASETS[dataset].synthetic


def synth_size(params: dict) -> str:
    preset = params["presets"][params["preset"]]
    return preset.get("synth_size", params["data"]["synth_size"])


def synth_key(params: dict) -> str:
    """The synthetic tree's folder name: the same size and seed give the same data."""
    return f"synthetic-{synth_size(params)}-seed{params['data']['synth_seed']}"


def data_log_key(data_dir: str) -> str:
    """The sub-folder of logs/<rule>/ and logs/benchmarks/<rule>/ that holds the data rules' files of
    ``data.dir``: none for the default ``data``, else its path with '_' for '/' (the rehearsal's
    rehearsal/data: rehearsal_data/), so that two data folders' logs never overwrite each other."""
    return "" if data_dir == "data" else "_".join(Path(data_dir).parts) + "/"


def images(params: dict, dataset: str) -> str:
    return params["data"]["images"].get(dataset) or next(iter(DATASETS[dataset].images))


def data_settings(params: dict, dataset: str) -> dict:
    """What the prepared data of ``dataset`` are made from and how."""
    preset = params["presets"][params["preset"]]
    if synthetic(params, dataset):
        source = {"source": "synthetic", "synth_size": synth_size(params), "synth_seed": params["data"]["synth_seed"]}
    else:
        # Not the archives' paths: a copy moved elsewhere is the same data. A changed archive
        # changes the prepared data's checksum, and each run keeps its old files (spndl train).
        source = {"source": "real"}
    return {**source, "images": images(params, dataset), "image_size": preset["image_size"],
            "fold_rule": params["prepare"]["fold_rule"], "n_folds": params["prepare"]["n_folds"]}


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def prepared_key(params: dict, dataset: str) -> str:
    """The prepared folder's name under data/prepared (and data/checks): readable where it can
    be (source, synthetic size and seed, image size), a digest of the rest."""
    s = data_settings(params, dataset)
    head = synth_key(params) if s["source"] == "synthetic" else "real"
    rest = {k: s[k] for k in ("images", "fold_rule", "n_folds")}
    return f"{head}-{s['image_size']}px-{_digest(rest)}"


def settings(params: dict) -> dict:
    """Per dataset of the configuration: its data settings and its runs' training settings
    (the preset's, with the dataset's overrides; the seed is a run's, not the configuration's)."""
    out = {}
    for d in params["datasets"]:
        train = preset_settings(params, d)
        train.pop("seed", None)
        out[d] = {"data": data_settings(params, d), "run": train}
    return out


def record(params: dict) -> dict:
    """What ``runs/NAME/configuration.yaml`` holds: the name, the preset and source, the settings."""
    return {"name": name(params), "preset": params["preset"], "source": params["data"]["source"],
            "settings": settings(params)}


def flatten(d, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(old: dict, new: dict) -> list[str]:
    """'dataset: key: old -> new' for every setting of a dataset both records hold that differs."""
    out = []
    for d in sorted(set(old) & set(new)):
        a, b = flatten(old[d] or {}), flatten(new[d] or {})
        for k in sorted(set(a) | set(b)):
            if a.get(k, "unset") != b.get(k, "unset"):
                out.append(f"{d}: {k}: {_show(a.get(k, 'unset'))} -> {_show(b.get(k, 'unset'))}")
    return out


def _show(v) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def read_record(path: Path) -> dict:
    try:
        rec = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not a configuration record of spndl ({' '.join(str(e).split())})") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("settings"), dict):
        raise ConfigError(f"{path}: not a configuration record of spndl (no 'settings' mapping)")
    return rec


def check(root: str | Path, params: dict) -> None:
    """Stop where ``runs/NAME`` under ``root`` was made with other settings than ``params``
    give: its runs stay as they are, and the message says how to keep both."""
    n = name(params)
    path = Path(root) / "runs" / n / RECORD
    if not path.is_file():
        return
    changed = differences(read_record(path)["settings"], settings(params))
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise ConfigError(
            f"runs/{n}: made with other settings ({changed[0]}{more}); its runs are kept as they are. Give this "
            f"configuration a name of its own (snakemake --config name=NEW, or name: in params.yaml), or move "
            f"the old one aside first (mv runs/{n} runs/{n}-old; mv results/{n} results/{n}-old)")


def write_record(params: dict, out: str | Path) -> None:
    """The record, where it is missing or says otherwise (``check`` has stopped any change of
    settings by then: what may differ is the datasets it lists)."""
    from spndl.fsutil import write_text

    out = Path(out)
    text = yaml.safe_dump(record(params), sort_keys=False)
    if out.is_file() and out.read_text() == text:
        return
    if out.is_file():  # datasets added: keep the settings of those the record had and params left out
        old = read_record(out)["settings"]
        rec = record(params)
        rec["settings"] = {**old, **rec["settings"]}
        text = yaml.safe_dump(rec, sort_keys=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)


def merged_params(files: list[str | Path]) -> dict:
    """params files merged in order, as ``snakemake --configfile`` merges them."""
    params: dict = {}
    for f in files:
        try:
            loaded = yaml.safe_load(Path(f).read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{f}: not a readable params file ({' '.join(str(e).split())})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{f}: not a params file (a mapping of settings)")
        params = merge(params, loaded)
    return params


# The folders of the layout before configurations had their own (runs/DATASET/..., results/tables).
OLD_LAYOUT = [*(f"runs/{d}" for d in DATASETS), "results/tables", "results/metrics", "results/figures",
              "results/evidence"]


def old_layout(root: str | Path) -> list[str]:
    """The outputs of the earlier layout that lie under ``root``."""
    return [p for p in OLD_LAYOUT if (Path(root) / p).is_dir()]


def old_layout_message(root: str | Path, params: dict) -> str | None:
    """One line naming such outputs and how to move them under this configuration, or None."""
    found = old_layout(root)
    if not found:
        return None
    n = name(params)
    runs = [f for f in found if f.startswith("runs/")]
    results = [f for f in found if f.startswith("results/")]
    moves = ([f"mkdir -p runs/{n} && mv {' '.join(runs)} runs/{n}/"] if runs else []) + (
        [f"mkdir -p results/{n} && mv {' '.join(results)} results/{n}/"] if results else [])
    return (f"{', '.join(found)}: outputs of the layout before per-configuration folders, not used; if they are "
            f"this configuration's ({n}), move them: {' && '.join(moves)}")
