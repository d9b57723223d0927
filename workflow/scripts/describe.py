"""Snakemake adapter: participant flow, baseline table, observed summaries, missingness."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.outputs import write_csv
    from prt_outcomes.pipeline import describe

    # the outputs are named as the tables (prt_outcomes.layout.RunLayout.describe_tables)
    for name, table in describe(pd.read_parquet(snakemake.input.data), step.config).items():
        write_csv(table, snakemake.output[name])
