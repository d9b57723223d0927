"""Snakemake adapter: figures from the result tables."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import matplotlib

    matplotlib.use("Agg")  # before anything imports pyplot
    from prt_outcomes.render.figures import render_figures

    # inputs and outputs are named as prt_outcomes.layout.RunLayout names them
    render_figures(
        step.config,
        tables=dict(snakemake.input.items()),
        analysis_data=snakemake.input.get("analysis_data"),
        out=dict(snakemake.output.items()),
        workers=snakemake.threads,
    )
