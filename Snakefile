# prt-outcomes: from raw outcome files to tables, figures and report for one study.
# Run with `prt-outcomes run --config config/config.yaml` (or `snakemake --cores 2`).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/derive.smk"
include: "workflow/rules/describe.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/render.smk"


rule all:
    input:
        ALL_OUTPUTS,
    default_target: True
