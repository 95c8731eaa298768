# Settings and path patterns, defined once; the rules only refer to them. Run lists are in
# runs.smk, the rules' command-line arguments in args.smk.
import os
import shlex
import sys

import yaml

from spndl.data.acquire import is_url  # the same test as `spndl acquire` for which sources are URLs
from spndl.data.registry import DATASETS as REGISTRY
from spndl.report.evidence import ARMS  # the NDF evidence's arms: variant and added settings of each
from spndl.params import gpu_per_job, job_resources, preset_settings, protocol, validate_params
from spndl.report.paper import extra_tables

# The environment that runs snakemake also provides the `spndl` command, activated or not.
shell.prefix(f'export PATH="{os.path.dirname(sys.executable)}:$PATH"; ')

# Beyond the schema: training settings, folds, figure choices (names the key of a mistake).
validate_params(config)
PRESET = config["presets"][config["preset"]]
DATASETS = config["datasets"]

SOURCE = config["data"]["source"]
SYNTH_SIZE = PRESET.get("synth_size", config["data"]["synth_size"])  # a preset may size its synthetic data
SYNTH = "data/raw/synthetic"
RAW = "data/raw/{dataset}"                 # a real dataset's tree, as `spndl acquire` unpacked it
ARCHIVES = "data/raw/archives/{dataset}"   # the project's verified copy of its archives
CHECK = "data/checks/{dataset}.json"
PREPARED = "data/prepared/{dataset}"
RUN = "runs/{dataset}/{variant}/{fold}/seed{seed}"   # one training run: dataset, variant, fold, seed
METRICS = f"{RUN}/metrics.json"
TABLE_DIR = "results/tables"
METRICS_DIR = "results/metrics"
FIG_DIR = "results/figures"
EVIDENCE_DIR = "results/evidence"
EVIDENCE = [f"{EVIDENCE_DIR}/{f}" for f in ("evidence.md", "evidence.csv", "evidence_folds.csv", "evidence_tests.csv")]
BENCH = "logs/benchmarks"                  # Snakemake's timing of every job: results/tables/job_times.*
LOCK_DIR = ".snakemake/gpu-slots"          # a folder per host beneath (spndl.runtime.devices)
# How many units of the `gpu` resource a training job holds: params compute.gpu_per_job
# (auto: 1 where the machine that runs snakemake has a GPU, so that on a CPU-only machine
# `--resources gpu=1` does not run the jobs one at a time; set 1 where jobs run elsewhere).
GPU_PER_JOB = gpu_per_job(config)

wildcard_constraints:
    dataset="|".join(REGISTRY),
    fold=r"fold\d+|split",
    seed=r"\d+",


def folder_of(output, name):
    """The folder of the declared output file called ``name``: a command that writes a set of
    files into a folder takes that folder from its outputs, not from a second constant."""
    return os.path.dirname(next(f for f in output if os.path.basename(f) == name))
