"""Snakemake adapter: the self-contained HTML report."""

from pathlib import Path

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.report import build_report

    build_report(step.config, Path(snakemake.output[0]).parent)
