"""Snakemake adapter: the self-contained HTML report (embeds what the render rules wrote)."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.render.report import build_report

    # inputs are named as prt_outcomes.layout.RunLayout.report_inputs names them
    build_report(step.config, inputs=dict(snakemake.input.items()), out=snakemake.output.report)
