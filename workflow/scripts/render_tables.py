"""Snakemake adapter: Markdown, HTML and LaTeX tables."""

from pathlib import Path

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.report import render_tables

    results = Path(snakemake.input[0]).parent.parent
    render_tables(step.config, results)
