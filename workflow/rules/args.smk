# The command-line arguments that the rules build from params.yaml.


def synthetic(dataset):
    """Whether the dataset comes from the embedded default; a custom one always comes from data.real."""
    return configuration.synthetic(config, dataset)


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
    return configuration.images(config, dataset)


def _flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"


def train_variant(wildcards):
    """The variant a run trains: its own name, or the variant of an evidence arm."""
    return ARMS[wildcards.variant][0] if wildcards.variant in ARMS else wildcards.variant


def train_sets(wildcards):
    """--set arguments of one run: the preset's settings with the dataset's overrides and the
    run's seed, an evidence arm's own settings, and pace checkpoints for the one run that
    Fig. 7 looks inside."""
    sets = list(_flatten(preset_settings(config, wildcards.dataset, seed=int(wildcards.seed))))
    sets += ARMS[wildcards.variant][1] if wildcards.variant in ARMS else []
    run = RUN.format(dataset=wildcards.dataset, variant=wildcards.variant, fold=wildcards.fold, seed=wildcards.seed)
    if run == oulu_run("spndl"):
        sets.append("train.pace_checkpoints=true")
    return " ".join(f"--set {shlex.quote(s)}" for s in sets)
