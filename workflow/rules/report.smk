# Figures 4-8; each is captioned for `snakemake --report results/report.html`.


rule fig4:
    input:
        [f"{r}/metrics.json" for r in fig4_runs()],
    output:
        report(f"{FIG_DIR}/fig4_confusion.png", category="Figures", caption="../report/fig4.rst"),
    benchmark:
        f"{BENCH}/fig4/{NAME}.tsv",
    log:
        f"logs/figures/{NAME}/fig4.log",
    params:
        runs=lambda wc, input: " ".join(f"--run {m}" for m in input),
    shell:
        "spndl figure 4 {params.runs} --out {output} > {log} 2>&1"


rule fig5:
    input:
        **{v: f"{oulu_run(v)}/metrics.json" for v in ("spl", "spndl", "baseline", "ndf")},
    output:
        report(f"{FIG_DIR}/fig5_paces.png", category="Figures", caption="../report/fig5.rst"),
    benchmark:
        f"{BENCH}/fig5/{NAME}.tsv",
    log:
        f"logs/figures/{NAME}/fig5.log",
    shell:
        "spndl figure 5 --spl {input.spl} --spndl {input.spndl} --baseline {input.baseline} "
        "--ndf {input.ndf} --out {output} > {log} 2>&1"


rule fig6:
    input:
        with_spl=f"{raf_run('spndl_wo_neutral')}/metrics.json",
        without_spl=f"{raf_run('ndf_wo_neutral')}/metrics.json",
    output:
        report(f"{FIG_DIR}/fig6_losses.png", category="Figures", caption="../report/fig6.rst"),
    benchmark:
        f"{BENCH}/fig6/{NAME}.tsv",
    log:
        f"logs/figures/{NAME}/fig6.log",
    shell:
        "spndl figure 6 --with-spl {input.with_spl} --without-spl {input.without_spl} "
        "--out {output} > {log} 2>&1"


rule fig7:
    input:
        metrics=f"{oulu_run('spndl')}/metrics.json",
        data=prepared("oulu"),
    output:
        fig=report(f"{FIG_DIR}/fig7_tsne.png", category="Figures", caption="../report/fig7.rst"),
        features=directory(f"{FIG_DIR}/fig7_tsne_features"),  # the NDFs of each pace that the t-SNE embeds
    benchmark:
        f"{BENCH}/fig7/{NAME}.tsv",
    log:
        f"logs/figures/{NAME}/fig7.log",
    params:
        paces=" ".join(map(str, config["figures"]["tsne_paces"])),
        classes=" ".join(config["figures"]["tsne_classes"]),
    threads: job_resources(config, "figures")["cpus_per_task"]
    resources:
        runtime=lambda wc, attempt: job_resources(config, "figures", attempt)["runtime"],
        mem_mb=lambda wc, attempt: job_resources(config, "figures", attempt)["mem_mb"],
        cpus_per_task=job_resources(config, "figures")["cpus_per_task"],
    shell:
        "spndl figure 7 --run {input.metrics} --data {input.data} --paces {params.paces} "
        "--classes {params.classes} --out {output.fig} --features-dir {output.features} > {log} 2>&1"


rule fig8:
    input:
        metrics=f"{raf_run('spndl_wo_neutral')}/metrics.json",
        data=prepared("rafdb"),
    output:
        report(f"{FIG_DIR}/fig8_excluded.png", category="Figures", caption="../report/fig8.rst"),
    benchmark:
        f"{BENCH}/fig8/{NAME}.tsv",
    log:
        f"logs/figures/{NAME}/fig8.log",
    threads: job_resources(config, "figures")["cpus_per_task"]
    resources:
        runtime=lambda wc, attempt: job_resources(config, "figures", attempt)["runtime"],
        mem_mb=lambda wc, attempt: job_resources(config, "figures", attempt)["mem_mb"],
        cpus_per_task=job_resources(config, "figures")["cpus_per_task"],
    shell:
        "spndl figure 8 --run {input.metrics} --data {input.data} --out {output} > {log} 2>&1"


# Per-fold learning curves: the means of `dvc plots` hide a fold that diverges or a pace that costs.
rule curves:
    input:
        f"{METRICS_DIR}/curves_per_fold.csv",
    output:
        report(f"{FIG_DIR}/curves_per_fold.png", category="Figures", caption="../report/curves.rst"),
    benchmark:
        f"{BENCH}/curves/{NAME}.tsv",
    log:
        f"logs/figures/{NAME}/curves.log",
    params:
        title=NAME,
    shell:
        "spndl figure curves --curves {input} --title {params.title} --out {output} > {log} 2>&1"


# The HTML report's first page: this configuration's claims and Tables 1-4 against the paper,
# then the published snapshot's claims (Snakefile, `report:`).
rule front_page:
    input:
        claims=f"{TABLE_DIR}/claims.csv",
        per_fold=f"{TABLE_DIR}/per_fold.csv",
    output:
        FRONT_PAGE,
    log:
        f"logs/front_page/{NAME}.log",
    params:
        # The configuration's results folder: the one above its tables.
        results=lambda wc, input: os.path.dirname(os.path.dirname(input.claims)),
        configuration=CONFIG_RECORD,  # written by onstart (paths.smk), not a job's output
        snapshot=f"--snapshot {shlex.quote(SNAPSHOT)}" if os.path.isfile(os.path.join(SNAPSHOT, "snapshot.json")) else "",
    shell:
        "spndl front-page --results {params.results} --configuration {params.configuration} {params.snapshot} "
        "--out {output} > {log} 2>&1"
