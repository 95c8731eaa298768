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
        f"{BENCH}/acquire/{DLOG}{{dataset}}.tsv",
    log:
        f"logs/acquire/{DLOG}{{dataset}}.log",
    params:
        args=acquire_args,
    shell:
        "spndl acquire --dataset {wildcards.dataset} {params.args} --out {output.tree} --keep {output.archives} "
        "> {log} 2>&1"


# The rehearsal's stand-in for the licensed archives (workflow/rehearsal.yaml): the synthetic
# datasets at the paper's size, written as their owners ship them, SYNTHETIC.txt inside. Only a
# configuration whose sources name these files runs it; acquisition then treats them as a
# user's copies.
REHEARSAL = "rehearsal"
rule rehearsal_archives:
    output:
        tree=directory(f"{REHEARSAL}/synthetic-paper"),
        ckplus=[f"{REHEARSAL}/archives/ckplus/{z}.zip" for z in ("cohn-kanade-images", "Emotion_labels", "Landmarks")],
        oulu=f"{REHEARSAL}/archives/oulu/Oulu_CASIA_NIR_VIS.zip",
        rafdb=directory(f"{REHEARSAL}/archives/rafdb/basic"),
    benchmark:
        f"{BENCH}/rehearsal_archives/paper.tsv",
    log:
        "logs/rehearsal_archives/paper.log",
    params:
        archives=lambda wc, output: os.path.dirname(os.path.dirname(output.oulu)),
    threads: 2
    shell:
        "spndl synth --out {output.tree} --size paper --seed 0 --archives {params.archives} > {log} 2>&1"
