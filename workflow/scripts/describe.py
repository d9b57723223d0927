"""Snakemake adapter: participant flow, baseline table, observed summaries, missingness."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.outputs import write_csv
    from prt_outcomes.pipeline import describe

    tables = describe(pd.read_parquet(snakemake.input.data), step.config)
    for name, key in [
        ("flow", "flow"),
        ("baseline", "baseline"),
        ("observed_summary", "observed"),
        ("missingness", "missingness"),
    ]:
        write_csv(tables[name], snakemake.output[key])
