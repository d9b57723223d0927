"""Snakemake adapter: the tipping-point scan of one outcome (``{outcome}``)."""

from prt_outcomes.logs import WorkflowStep

with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.sensitivity_jobs import tipping_point_job
    from prt_outcomes.outputs import write_csv

    data = pd.read_parquet(snakemake.input.data)
    table = tipping_point_job(data, step.config, snakemake.wildcards.outcome, workers=snakemake.threads)
    write_csv(table, snakemake.output.table)
