# Raw data acquisition. The default generates the embedded synthetic dataset in
# the real on-disk layouts of CK+, Oulu-CASIA and RAF-DB.


rule synth:
    output:
        directory(SYNTH),
    log:
        "logs/synth.log",
    params:
        size=config["data"]["synth_size"],
        seed=config["data"]["synth_seed"],
    shell:
        "spndl synth --out {output} --size {params.size} --seed {params.seed} > {log} 2>&1"
