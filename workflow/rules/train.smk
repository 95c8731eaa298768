# One training job per dataset, variant, fold and seed; each holds one GPU where there is one.
# Only metrics.json is declared: the checkpoint survives a killed job, and the rerun resumes.


rule train:
    input:
        PREPARED,
    output:
        METRICS,
    log:
        "logs/train/{dataset}/{variant}/{fold}/seed{seed}.log",
    params:
        run=lambda wc, output: os.path.dirname(output[0]),
        fold=lambda wc: "" if wc.fold == "split" else f"--fold {wc.fold.removeprefix('fold')}",
        variant=train_variant,
        sets=train_sets,
        lock_dir=LOCK_DIR,
    threads: 1  # on the CPU, two one-thread jobs outrun one two-thread job; a GPU job needs few
    resources:
        gpu=GPU_PER_JOB,
    shell:
        "OMP_NUM_THREADS={threads} spndl train --data {input} --variant {params.variant} {params.fold} --out {params.run} "
        "{params.sets} --restart-on-change --lock-dir {params.lock_dir} > {log} 2>&1"
