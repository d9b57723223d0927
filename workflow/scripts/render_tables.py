"""Snakemake adapter: Markdown, HTML and LaTeX tables (the journal tables also as Word .docx)."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.render.report import render_tables

    # inputs and outputs are named as prt_outcomes.layout.RunLayout names them
    render_tables(step.config, tables=dict(snakemake.input.items()), out=dict(snakemake.output.items()))
