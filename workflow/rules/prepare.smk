# Checks against the paper's counts, then face cropping, neutral/peak pairing and
# subject-independent folds, per dataset.


rule check_data:
    input:
        raw_input,
    output:
        CHECK,
    benchmark:
        f"{BENCH}/check_data/{DLOG}{{prep}}/{{dataset}}.tsv",
    log:
        f"logs/check/{DLOG}{{prep}}/{{dataset}}.log",
    params:
        root=lambda wc: raw_root(wc.dataset),
        args=check_args,
    shell:
        # On a deviation the report goes to the console too: the pipeline stops here.
        "spndl check-data --dataset {wildcards.dataset} --root {params.root} {params.args} --report {output} "
        "> {log} 2>&1 || {{ cat {log} >&2; exit 1; }}"


rule prepare:
    input:
        raw=raw_input,
        check=CHECK,
    output:
        directory(PREPARED),
    benchmark:
        f"{BENCH}/prepare/{DLOG}{{prep}}/{{dataset}}.tsv",
    log:
        f"logs/prepare/{DLOG}{{prep}}/{{dataset}}.log",
    params:
        root=lambda wc: raw_root(wc.dataset),
        images=lambda wc: images(wc.dataset),
        size=PRESET["image_size"],
        fold_rule=config["prepare"]["fold_rule"],
        n_folds=config["prepare"]["n_folds"],
    resources:
        runtime=lambda wc, attempt: job_resources(config, "prepare", attempt)["runtime"],
        mem_mb=lambda wc, attempt: job_resources(config, "prepare", attempt)["mem_mb"],
    shell:
        "spndl prepare --dataset {wildcards.dataset} --root {params.root} --out {output} "
        "--size {params.size} --fold-rule {params.fold_rule} --folds {params.n_folds} --images {params.images} "
        "> {log} 2>&1"
