# spndl: regenerate Tables 1-4 and Figures 4-8 of the SPNDL paper.
#   snakemake --profile workflow/profiles/default          (or: dvc repro)
# Each configuration (preset, data source, settings) lands in runs/NAME and results/NAME
# (workflow/rules/paths.smk; NAME is params `name`, or PRESET-SOURCE).
import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "params.yaml")


validate(config, "workflow/schemas/params.schema.yaml")


include: "workflow/rules/paths.smk"
include: "workflow/rules/args.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# The HTML report's front page opens with this configuration's claims and tables (rule
# front_page), then the published snapshot's; before they exist, the snapshot's alone.
report: os.path.abspath(FRONT_PAGE) if os.path.isfile(FRONT_PAGE) else "workflow/report/workflow.rst"


# Run by Snakemake itself, not submitted (workflow/profiles/slurm): seconds of work each.
localrules:
    all,
    tables,
    evidence,
    fig4,
    fig5,
    fig6,
    curves,
    front_page,
    job_times,


# Work that grows with the data (acquisition, the data check, Figs. 7-8) runs on the submit host
# only where params compute.on_submit_host lists it; by default acquisition alone, for the
# internet that compute nodes may lack.
workflow.localrules(*config["compute"].get("on_submit_host", ["acquire"]))


rule all:
    input:
        TABLES,
        FIGURES,
        JOB_TIMES,
        FRONT_PAGE,
