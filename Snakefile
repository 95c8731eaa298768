# spndl: regenerate Tables 1-4 and Figures 4-8 of the SPNDL paper.
#   snakemake --profile workflow/profiles/default          (or: dvc repro)
import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "params.yaml")


validate(config, "workflow/schemas/params.schema.yaml")


# The HTML report's front page opens with the published claims (results/synthetic_full).
report: "workflow/report/workflow.rst"


include: "workflow/rules/paths.smk"
include: "workflow/rules/args.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# Run by Snakemake itself, not submitted (workflow/profiles/slurm): seconds of work each,
# or, for acquisition, the internet that compute nodes may lack.
localrules:
    all,
    acquire,
    check_data,
    tables,
    evidence,
    fig4,
    fig5,
    fig6,
    fig7,
    fig8,
    job_times,


rule all:
    input:
        TABLES,
        FIGURES,
        JOB_TIMES,
