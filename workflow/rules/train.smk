# One training job per dataset, variant, fold and seed; each holds one GPU where there is one.
# Only metrics.json and the model card are declared: the checkpoint survives a killed job, and the
# rerun resumes.


rule train:
    input:
        data=prepared_input,
    output:
        METRICS,
        # What the model is, what it scored and how to use it (spndl predict, spndl export).
        report(f"{RUN}/MODEL_CARD.md", category="Model cards",
               labels={"dataset": "{dataset}", "variant": "{variant}", "fold": "{fold}", "seed": "{seed}"}),
    benchmark:
        f"{BENCH}/train/{NAME}/{{dataset}}/{{variant}}/{{fold}}/seed{{seed}}.tsv",
    log:
        f"logs/train/{NAME}/{{dataset}}/{{variant}}/{{fold}}/seed{{seed}}.log",
    params:
        run=lambda wc, output: os.path.dirname(output[0]),
        fold=lambda wc: "" if wc.fold == "split" else f"--fold {wc.fold.removeprefix('fold')}",
        variant=train_variant,
        sets=train_sets,
        lock_dir=LOCK_DIR,
        per_device=config["compute"].get("gpu_jobs_per_device", 1),
    # The preset's CPUs (on the CPU, two one-thread jobs outrun one two-thread job).
    threads: job_resources(config, "train")["cpus_per_task"]
    resources:
        gpu=GPU_PER_JOB,
        # Cluster requests from the preset's `jobs`; a retry (profile `retries`) asks for more.
        runtime=lambda wc, attempt: job_resources(config, "train", attempt)["runtime"],
        mem_mb=lambda wc, attempt: job_resources(config, "train", attempt)["mem_mb"],
        cpus_per_task=job_resources(config, "train")["cpus_per_task"],
    shell:
        "OMP_NUM_THREADS={threads} spndl train --data {input.data} --variant {params.variant} {params.fold} --out {params.run} "
        "{params.sets} --set train.cpu_threads={threads} --restart-on-change --lock-dir {params.lock_dir} --jobs-per-device {params.per_device} "
        "> {log} 2>&1"
