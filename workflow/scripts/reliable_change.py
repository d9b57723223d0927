"""Snakemake adapter: reliable change for every outcome whose config entry asks for it."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.reliable_change import reliable_change_table
    from prt_outcomes.outputs import write_csv

    data = pd.read_parquet(snakemake.input.data)
    write_csv(reliable_change_table(data, step.config), snakemake.output.reliable_change)
