# Face cropping, neutral/peak pairing and subject-independent folds, per dataset.


rule prepare:
    input:
        SYNTH,
    output:
        directory(PREPARED),
    log:
        "logs/prepare/{dataset}.log",
    params:
        root=lambda wc, input: f"{input[0]}/{wc.dataset}",
        size=PRESET["image_size"],
        fold_rule=config["prepare"]["fold_rule"],
        n_folds=config["prepare"]["n_folds"],
    shell:
        "spndl prepare --dataset {wildcards.dataset} --root {params.root} --out {output} "
        "--size {params.size} --fold-rule {params.fold_rule} --folds {params.n_folds} > {log} 2>&1"
