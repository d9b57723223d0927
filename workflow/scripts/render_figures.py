"""Snakemake adapter: figures from the result tables."""

from pathlib import Path

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import matplotlib

    matplotlib.use("Agg")  # before anything imports pyplot
    from prt_outcomes.figures import render_figures

    results = Path(snakemake.input[0]).parent.parent
    render_figures(step.config, results)
