"""Snakemake adapter: one outcome (``{outcome}``) under one missing-data strategy (``{strategy}``)."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.sensitivity_jobs import sensitivity_job
    from prt_outcomes.outputs import write_csv

    outcome, strategy = snakemake.wildcards.outcome, snakemake.wildcards.strategy
    data = pd.read_parquet(snakemake.input.data)
    table = sensitivity_job(data, step.config, outcome, strategy, workers=snakemake.threads)
    write_csv(table, snakemake.output.table)
