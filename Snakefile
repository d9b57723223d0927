# prt-outcomes: from raw outcome files to tables, figures and report for one study.
# Run with `prt-outcomes run --config config/config.yaml`, or from this folder with
# `snakemake --cores 2 --config config_path=config/studies/fev_data.yaml` (default: the example).
# There is no `configfile:` directive on purpose: a study is read from its one file, never
# merged with the bundled example (see workflow/rules/common.smk).
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/derive.smk"
include: "workflow/rules/describe.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/render.smk"
include: "workflow/hooks.smk"


rule all:
    default_target: True
    input:
        ALL_OUTPUTS,
