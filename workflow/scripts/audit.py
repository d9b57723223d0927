"""Snakemake adapter: the clinic-audit tables, disclosure-controlled (empty for a trial)."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.audit_tables import audit_tables
    from prt_outcomes.outputs import write_csv

    data = pd.read_parquet(snakemake.input.data)
    for name, table in audit_tables(data, step.config).items():
        write_csv(table, getattr(snakemake.output, name))
