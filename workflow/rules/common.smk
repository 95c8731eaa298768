# Path patterns and the lists of runs, defined once; the rules only refer to them.
import os
import shlex
import sys

import yaml

from spndl.data.acquire import is_url  # the same test as `spndl acquire` for which sources are URLs
from spndl.data.registry import DATASETS as REGISTRY
from spndl.params import preset_settings, protocol, validate_params
from spndl.report.paper import extra_tables

# The environment that runs snakemake also provides the `spndl` command, activated or not.
shell.prefix(f'export PATH="{os.path.dirname(sys.executable)}:$PATH"; ')

# Beyond the schema: training settings, folds, figure choices (names the key of a mistake).
validate_params(config)
PRESET = config["presets"][config["preset"]]
DATASETS = config["datasets"]

SOURCE = config["data"]["source"]
SYNTH = "data/raw/synthetic"
RAW = "data/raw/{dataset}"                 # a real dataset's tree, as `spndl acquire` unpacked it
ARCHIVES = "data/raw/archives/{dataset}"   # the project's verified copy of its archives
CHECK = "data/checks/{dataset}.json"
PREPARED = "data/prepared/{dataset}"
RUN = "runs/{dataset}/{variant}/{fold}"
METRICS = "runs/{dataset}/{variant}/{fold}/metrics.json"
TABLE_DIR = "results/tables"
FIG_DIR = "results/figures"
LOCK_DIR = ".snakemake/gpu-slots"
# A training job holds one unit of the `gpu` resource only where there is a GPU, so that
# on a CPU-only machine `--resources gpu=1` does not run the jobs one at a time.
GPU_PER_JOB = int(os.path.isdir("/proc/driver/nvidia/gpus") and any(os.scandir("/proc/driver/nvidia/gpus")))

wildcard_constraints:
    dataset="|".join(REGISTRY),
    fold=r"fold\d+|split",


def synthetic(dataset):
    """Whether the dataset comes from the embedded default; a custom one always comes from data.real."""
    return SOURCE == "synthetic" and REGISTRY[dataset].synthetic


def raw_root(dataset):
    """The tree that check-data and prepare read."""
    return f"{SYNTH}/{dataset}" if synthetic(dataset) else RAW.format(dataset=dataset)


def raw_input(wildcards):
    return SYNTH if synthetic(wildcards.dataset) else RAW.format(dataset=wildcards.dataset)


def real_source(dataset):
    entry = config["data"]["real"].get(dataset)
    if not entry:
        raise ValueError(f"params.yaml: data.real.{dataset} names no sources (data.source is {SOURCE})")
    return entry


def local_sources(wildcards):
    """Sources on this machine: Snakemake reruns acquisition when one changes."""
    return [s for s in real_source(wildcards.dataset)["sources"] if not is_url(s)]


def acquire_args(wildcards):
    entry = real_source(wildcards.dataset)
    # Quoted for the shell: a licensed copy's path may hold spaces or quotes.
    args = [f"--source {shlex.quote(s)}" for s in entry["sources"]]
    args += [f"--sha256 {shlex.quote(h)}" for h in entry.get("sha256") or []]
    limits = config["data"]["unpack"]
    args += [f"--max-size {limits['max_gb']}", f"--max-ratio {limits['max_ratio']}"]
    return " ".join(args)


def check_args(wildcards):
    allowed = wildcards.dataset in config["data"]["allow_deviation"]
    return f"--images {images(wildcards.dataset)}" + (" --allow-deviation" if allowed else "")


def images(dataset):
    return config["data"]["images"].get(dataset) or next(iter(REGISTRY[dataset].images))


def folds(dataset):
    return ["split"] if protocol(config, dataset) == "split" else [f"fold{k}" for k in PRESET["folds"]]


def run_dirs(dataset=None, variant=None):
    out = []
    for d in DATASETS if dataset is None else [dataset]:
        for v in config["variants"].get(d, []) if variant is None else [variant]:
            out += [RUN.format(dataset=d, variant=v, fold=f) for f in folds(d)]
    return out


def has(dataset, *variants):
    return dataset in DATASETS and all(v in config["variants"].get(dataset, []) for v in variants)


def _flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"


def train_sets(wildcards):
    """--set arguments of one run: the preset's settings with the dataset's overrides, and pace
    checkpoints for the one run that Fig. 7 looks inside."""
    sets = list(_flatten(preset_settings(config, wildcards.dataset)))
    if (wildcards.dataset, wildcards.variant, wildcards.fold) == ("oulu", "spndl", f"fold{config['figures']['fold']}"):
        sets.append("train.pace_checkpoints=true")
    return " ".join(f"--set {shlex.quote(s)}" for s in sets)


TABLES = [f"{TABLE_DIR}/table{n}.{ext}" for n in (1, 2, 3, 4) for ext in ("md", "csv", "tex")]
TABLES += [f"{TABLE_DIR}/{t}.{ext}" for t in extra_tables(DATASETS) for ext in ("md", "csv")]
TABLES.append(f"{TABLE_DIR}/per_fold.csv")
METRICS_DIR = "results/metrics"
TABLES += [f"{METRICS_DIR}/{f}" for f in ("headline.json", "curve_train_loss.csv", "curve_test_accuracy.csv")]
# Fig. 4: the paper's method of each dataset (the registry's `ours`), where it is run.
FIG4_DATASETS = [d for d in DATASETS if has(d, REGISTRY[d].ours)]
FIGURES = [f"{FIG_DIR}/fig4_confusion.png"] if FIG4_DATASETS else []
FIG5_FOLD = f"fold{config['figures']['fold']}"
if has("oulu", "baseline", "spl", "ndf", "spndl"):
    FIGURES += [f"{FIG_DIR}/fig5_paces.png", f"{FIG_DIR}/fig7_tsne.png"]
if has("rafdb", "ndf_wo_neutral", "spndl_wo_neutral"):
    FIGURES += [f"{FIG_DIR}/fig6_losses.png", f"{FIG_DIR}/fig8_excluded.png"]


def fig4_runs(wildcards=None):
    return [r for d in FIG4_DATASETS for r in run_dirs(d, REGISTRY[d].ours)]


def oulu_run(variant):
    return RUN.format(dataset="oulu", variant=variant, fold=FIG5_FOLD)


def raf_run(variant):
    return RUN.format(dataset="rafdb", variant=variant, fold="split")
