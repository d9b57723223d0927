"""Snakemake adapter: the self-contained HTML report (embeds what the render rules wrote), and
the same report as one Word document."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.render.report import write_reports

    # inputs are named as prt_outcomes.layout.RunLayout.report_inputs names them; the Word
    # document is written from the page (same sections, same numbers)
    write_reports(
        step.config,
        inputs=dict(snakemake.input.items()),
        html=snakemake.output.report,
        docx=snakemake.output.report_docx,
    )
