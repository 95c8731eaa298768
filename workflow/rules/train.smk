# One training job per dataset, variant and fold; each holds one GPU where there is one.
# Only metrics.json is declared: the checkpoint survives a killed job, and the rerun resumes.


rule train:
    input:
        PREPARED,
    output:
        METRICS,
    log:
        "logs/train/{dataset}/{variant}/{fold}.log",
    params:
        run=RUN,
        fold=lambda wc: "" if wc.fold == "split" else f"--fold {wc.fold.removeprefix('fold')}",
        sets=train_sets,
        lock_dir=LOCK_DIR,
    resources:
        gpu=1,
    shell:
        "{PY} -m spndl train --data {input} --variant {wildcards.variant} {params.fold} --out {params.run} "
        "{params.sets} --lock-dir {params.lock_dir} > {log} 2>&1"
