# Raw data acquisition. The default generates the embedded synthetic dataset in
# the real on-disk layouts of CK+, Oulu-CASIA and RAF-DB; with `data.source: real`
# the licensed archives, folders or URLs of params.yaml are verified and unpacked.


rule synth:
    output:
        directory(SYNTH),
    benchmark:
        SYNTH_BENCH,
    log:
        f"logs/synth/{os.path.basename(SYNTH)}.log",
    params:
        size=SYNTH_SIZE,
        seed=config["data"]["synth_seed"],
    threads: 2  # one process per dataset, as many as the CPUs given (2: what the smallest node has)
    shell:
        "spndl synth --out {output} --size {params.size} --seed {params.seed} > {log} 2>&1"


rule acquire:
    input:
        local_sources,
    output:
        tree=directory(RAW),
        archives=directory(ARCHIVES),
    benchmark:
        f"{BENCH}/acquire/{{dataset}}.tsv",
    log:
        "logs/acquire/{dataset}.log",
    params:
        args=acquire_args,
    shell:
        "spndl acquire --dataset {wildcards.dataset} {params.args} --out {output.tree} --keep {output.archives} "
        "> {log} 2>&1"
