# Aggregation over folds: Tables 1-4 and the per-fold accuracies beside them; the NDF evidence.


rule tables:
    input:
        runs=[f"{r}/metrics.json" for r in run_dirs()],
        checks=[check_file(d) for d in DATASETS],
        prepared=[prepared(d) for d in DATASETS],
    output:
        # The claims table heads the HTML report: what a reader wants first is which claims hold.
        [report(t, category="Claims", caption="../report/claims.rst") if t.endswith("claims.csv") else
         report(t, category="Tables", caption="../report/tables.rst") if t.endswith(".csv") else t
         for t in TABLES],
    benchmark:
        f"{BENCH}/tables/{NAME}.tsv",
    log:
        f"logs/tables/{NAME}.log",
    params:
        runs=" ".join(f"--run {r}" for r in run_dirs()),
        checks=" ".join(f"--check {check_file(d)} --prepared {prepared(d)}" for d in DATASETS),
        # The two folders the command writes into, read off the declared outputs.
        out=lambda wc, output: folder_of(output, "per_fold.csv"),
        metrics_out=lambda wc, output: folder_of(output, "headline.json"),
    shell:
        "spndl tables {params.runs} {params.checks} --out {params.out} --metrics-out {params.metrics_out} > {log} 2>&1"


rule evidence:
    input:
        [f"{r}/metrics.json" for r in evidence_runs()],
    output:
        EVIDENCE,
    benchmark:
        f"{BENCH}/evidence/{NAME}.tsv",
    log:
        f"logs/evidence/{NAME}.log",
    params:
        runs=lambda wc, input: " ".join(f"--run {m}" for m in input),
        out=lambda wc, output: folder_of(output, "evidence.md"),
    shell:
        "spndl evidence {params.runs} --out {params.out} > {log} 2>&1"


# Snakemake's own timing of every job above, as one table: where the pipeline's time goes.
rule job_times:
    input:
        benchmarks(),
    output:
        JOB_TIMES,
    log:
        f"logs/job_times/{NAME}.log",
    params:
        out=lambda wc, output: folder_of(output, "job_times.csv"),
    shell:
        # --root: the folder under which each job's file is <rule>/<job>.tsv (BENCH), not an output.
        f"spndl job-times {{input}} --root {BENCH} --out {{params.out}} > {{log}} 2>&1"
