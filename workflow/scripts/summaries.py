"""Snakemake adapter: responders, reliable change and the clinic-audit tables (empty for a trial)."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.outputs import write_csv
    from prt_outcomes.pipeline import summaries

    data = pd.read_parquet(snakemake.input.data)
    for name, table in summaries(data, step.config).items():
        write_csv(table, getattr(snakemake.output, name))
