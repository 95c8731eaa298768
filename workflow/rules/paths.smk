# Settings and path patterns, defined once; the rules only refer to them. Run lists are in
# runs.smk, the rules' command-line arguments in args.smk.
import os
import shlex
import sys

import yaml

import spndl.configuration as configuration
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
SYNTH_SIZE = configuration.synth_size(config)  # a preset may size its synthetic data

# Each configuration (preset, data source, settings; spndl.configuration) has its own runs,
# results and logs, so that another configuration's work is never trained over. A changed
# setting under the same name stops here, before any job, naming what changed.
NAME = configuration.name(config)
configuration.check(".", config)
if (_old := configuration.old_layout_message(".", config)) is not None:
    print(_old, file=sys.stderr)
CONFIG_RECORD = f"runs/{NAME}/{configuration.RECORD}"


# Written when jobs are about to run (never by a dry run), before the first training job: the
# settings against which the next parse checks params. Not a job's output, so that writing
# it never makes a run look out of date.
onstart:
    configuration.write_record(config, CONFIG_RECORD)


# Data are shared by the configurations that make them alike: keyed by what they are made from.
# data.dir (default data) holds them; the rehearsal's (workflow/rehearsal.yaml) are kept apart
# from a user's real data, which have the same keys.
DATA = config["data"].get("dir", "data")
DLOG = configuration.data_log_key(DATA)   # their logs' and benchmarks' sub-folder
SYNTH = f"{DATA}/raw/{configuration.synth_key(config)}"
SYNTH_BENCH = f"logs/benchmarks/synth/{configuration.synth_key(config)}.tsv"
RAW = f"{DATA}/raw/{{dataset}}"                 # a real dataset's tree, as `spndl acquire` unpacked it
ARCHIVES = f"{DATA}/raw/archives/{{dataset}}"   # the project's verified copy of its archives
CHECK = f"{DATA}/checks/{{prep}}/{{dataset}}.json"
PREPARED = f"{DATA}/prepared/{{prep}}/{{dataset}}"
RUN = f"runs/{NAME}/{{dataset}}/{{variant}}/{{fold}}/seed{{seed}}"   # one training run
METRICS = f"{RUN}/metrics.json"
RESULTS = f"results/{NAME}"
TABLE_DIR = f"{RESULTS}/tables"
METRICS_DIR = f"{RESULTS}/metrics"
FIG_DIR = f"{RESULTS}/figures"
EVIDENCE_DIR = f"{RESULTS}/evidence"
FRONT_PAGE = f"{RESULTS}/report/front.rst"   # the HTML report's first page (rule front_page)
EVIDENCE = [f"{EVIDENCE_DIR}/{f}" for f in ("evidence.md", "evidence.csv", "evidence_folds.csv", "evidence_tests.csv")]
LOGS = "logs"                              # logs/<rule>/<configuration or data key>/...
BENCH = "logs/benchmarks"                  # Snakemake's timing of every job: results/NAME/tables/job_times.*
LOCK_DIR = ".snakemake/gpu-slots"          # a folder per host beneath (spndl.runtime.devices)
# How many units of the `gpu` resource a training job holds: params compute.gpu_per_job
# (auto: 1 where the machine that runs snakemake has a GPU, so that on a CPU-only machine
# `--resources gpu=1` does not run the jobs one at a time; set 1 where jobs run elsewhere).
GPU_PER_JOB = gpu_per_job(config)


def prep_key(dataset):
    return configuration.prepared_key(config, dataset)


def check_file(dataset):
    return CHECK.format(prep=prep_key(dataset), dataset=dataset)


def prepared(dataset):
    return PREPARED.format(prep=prep_key(dataset), dataset=dataset)


def prepared_input(wildcards):
    return prepared(wildcards.dataset)


wildcard_constraints:
    dataset="|".join(REGISTRY),
    fold=r"fold\d+|split",
    seed=r"\d+",
    prep=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",


def folder_of(output, name):
    """The folder of the declared output file called ``name``: a command that writes a set of
    files into a folder takes that folder from its outputs, not from a second constant."""
    return os.path.dirname(next(f for f in output if os.path.basename(f) == name))
