# Which runs, tables and figures the targets need: lists built from params.yaml and the registry.


def folds(dataset):
    return ["split"] if protocol(config, dataset) == "split" else [f"fold{k}" for k in PRESET["folds"]]


def seeds(dataset):
    """The preset's seeds; a dataset tested on one split may have its own (split_seeds), since
    its one run per seed is all that its test pools."""
    return PRESET.get("split_seeds", PRESET["seeds"]) if protocol(config, dataset) == "split" else PRESET["seeds"]


def run_dirs(dataset=None, variant=None):
    """Every run of the preset: each fold of each dataset and variant, once per seed."""
    out = []
    for d in DATASETS if dataset is None else [dataset]:
        for v in config["variants"].get(d, []) if variant is None else [variant]:
            out += [RUN.format(dataset=d, variant=v, fold=f, seed=s) for f in folds(d) for s in seeds(d)]
    return out


def has(dataset, *variants):
    return dataset in DATASETS and all(v in config["variants"].get(dataset, []) for v in variants)


TABLES = [f"{TABLE_DIR}/table{n}.{ext}" for n in (1, 2, 3, 4) for ext in ("md", "csv", "tex")]
TABLES += [f"{TABLE_DIR}/{t}.{ext}" for t in extra_tables(DATASETS) for ext in ("md", "csv")]
TABLES += [f"{TABLE_DIR}/per_fold.csv", f"{TABLE_DIR}/claims.md", f"{TABLE_DIR}/claims.csv"]
TABLES += [f"{METRICS_DIR}/{f}" for f in ("headline.json", "curve_train_loss.csv", "curve_test_accuracy.csv",
                                          "curves_per_fold.csv")]
# Fig. 4: the paper's method of each dataset (the registry's `ours`), where it is run.
FIG4_DATASETS = [d for d in DATASETS if has(d, REGISTRY[d].ours)]
FIGURES = [f"{FIG_DIR}/fig4_confusion.png"] if FIG4_DATASETS else []
FIG5_FOLD = f"fold{config['figures']['fold']}"
FIG_SEED = PRESET["seeds"][0]  # Figs. 5-8 look inside one run: the preset's first seed
if has("oulu", "baseline", "spl", "ndf", "spndl"):
    FIGURES += [f"{FIG_DIR}/fig5_paces.png", f"{FIG_DIR}/fig7_tsne.png"]
if has("rafdb", "ndf_wo_neutral", "spndl_wo_neutral"):
    FIGURES += [f"{FIG_DIR}/fig6_losses.png", f"{FIG_DIR}/fig8_excluded.png"]


# One line per fold and seed, per dataset and variant (rule curves).
FIGURES += [f"{FIG_DIR}/curves_per_fold.png"]
# The repository's published snapshot, which the report's front page sets beside this configuration.
SNAPSHOT = os.path.join(workflow.basedir, "results", "synthetic_full")


JOB_TIMES = [f"{TABLE_DIR}/job_times.csv", f"{TABLE_DIR}/job_times.md"]


def benchmarks():
    """The benchmark file of every job that the tables and figures need (job_times)."""
    out = [SYNTH_BENCH] if any(synthetic(d) for d in DATASETS) else []
    out += [f"{BENCH}/acquire/{DLOG}{d}.tsv" for d in DATASETS if not synthetic(d)]
    out += [f"{BENCH}/{rule}/{DLOG}{prep_key(d)}/{d}.tsv" for rule in ("check_data", "prepare") for d in DATASETS]
    out += [f"{BENCH}/train/{r.removeprefix('runs/')}.tsv" for r in run_dirs()]
    out += [f"{BENCH}/tables/{NAME}.tsv"]
    out += [f"{BENCH}/{os.path.basename(f).split('_')[0]}/{NAME}.tsv" for f in FIGURES if f.endswith(".png")]
    return out


def fig4_runs(wildcards=None):
    return [r for d in FIG4_DATASETS for r in run_dirs(d, REGISTRY[d].ours)]


def oulu_run(variant):
    return RUN.format(dataset="oulu", variant=variant, fold=FIG5_FOLD, seed=FIG_SEED)


def raf_run(variant):
    return RUN.format(dataset="rafdb", variant=variant, fold="split", seed=FIG_SEED)


def evidence_runs():
    """The NDF evidence (`snakemake evidence`): baseline, NDF and NDF with another subject's
    neutral frame, over the preset's folds of each dataset with neutral frames. The baseline
    and NDF runs are the tables' own; the control adds one run per fold."""
    paired = [d for d in DATASETS if REGISTRY[d].paired and protocol(config, d) == "folds"]
    return [r for d in paired for arm in ARMS for r in run_dirs(d, arm)]
