"""Snakemake adapter: stack the outcome x analysis model tables (a failed one adds its model_info row)."""

from prt_outcomes.logs import WorkflowStep

with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.outcomes import MODEL_TABLES, stack_tables
    from prt_outcomes.outputs import write_csv

    for name, columns in MODEL_TABLES.items():
        frames = [pd.read_csv(path) for path in snakemake.input[name]]
        write_csv(stack_tables(frames, columns), snakemake.output[name])
