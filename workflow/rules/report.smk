# Figures 4-8; each is captioned for `snakemake --report results/report.html`.


def fig4_runs(wildcards=None):
    runs = []
    for d in DATASETS:
        ours = "spndl_wo_neutral" if d == "rafdb" else "spndl"
        v = ours if has(d, ours) else config["variants"][d][-1]
        runs += run_dirs(d, v)
    return runs


def oulu_run(variant):
    return RUN.format(dataset="oulu", variant=variant, fold=FIG5_FOLD)


def raf_run(variant):
    return RUN.format(dataset="rafdb", variant=variant, fold="split")


rule fig4:
    input:
        [f"{r}/metrics.json" for r in fig4_runs()],
    output:
        report(f"{FIG_DIR}/fig4_confusion.png", category="Figures", caption="../report/fig4.rst"),
    log:
        "logs/figures/fig4.log",
    params:
        runs=" ".join(f"--run {r}" for r in fig4_runs()),
    shell:
        "{PY} -m spndl figure 4 {params.runs} --out {output} > {log} 2>&1"


rule fig5:
    input:
        [f"{oulu_run(v)}/metrics.json" for v in ("spl", "spndl", "baseline", "ndf")],
    output:
        report(f"{FIG_DIR}/fig5_paces.png", category="Figures", caption="../report/fig5.rst"),
    log:
        "logs/figures/fig5.log",
    params:
        spl=oulu_run("spl"),
        spndl=oulu_run("spndl"),
        baseline=oulu_run("baseline"),
        ndf=oulu_run("ndf"),
    shell:
        "{PY} -m spndl figure 5 --spl {params.spl} --spndl {params.spndl} --baseline {params.baseline} "
        "--ndf {params.ndf} --out {output} > {log} 2>&1"


rule fig6:
    input:
        [f"{raf_run(v)}/metrics.json" for v in ("spndl_wo_neutral", "ndf_wo_neutral")],
    output:
        report(f"{FIG_DIR}/fig6_losses.png", category="Figures", caption="../report/fig6.rst"),
    log:
        "logs/figures/fig6.log",
    params:
        with_spl=raf_run("spndl_wo_neutral"),
        without_spl=raf_run("ndf_wo_neutral"),
    shell:
        "{PY} -m spndl figure 6 --with-spl {params.with_spl} --without-spl {params.without_spl} "
        "--out {output} > {log} 2>&1"


rule fig7:
    input:
        metrics=f"{oulu_run('spndl')}/metrics.json",
        data=PREPARED.format(dataset="oulu"),
    output:
        report(f"{FIG_DIR}/fig7_tsne.png", category="Figures", caption="../report/fig7.rst"),
    log:
        "logs/figures/fig7.log",
    params:
        run=oulu_run("spndl"),
        paces=" ".join(map(str, config["figures"]["tsne_paces"])),
        classes=" ".join(config["figures"]["tsne_classes"]),
    shell:
        "{PY} -m spndl figure 7 --run {params.run} --data {input.data} --paces {params.paces} "
        "--classes {params.classes} --out {output} > {log} 2>&1"


rule fig8:
    input:
        metrics=f"{raf_run('spndl_wo_neutral')}/metrics.json",
        data=PREPARED.format(dataset="rafdb"),
    output:
        report(f"{FIG_DIR}/fig8_excluded.png", category="Figures", caption="../report/fig8.rst"),
    log:
        "logs/figures/fig8.log",
    params:
        run=raf_run("spndl_wo_neutral"),
    shell:
        "{PY} -m spndl figure 8 --run {params.run} --data {input.data} --out {output} > {log} 2>&1"
