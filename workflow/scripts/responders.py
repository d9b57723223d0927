"""Snakemake adapter: responder analyses for every configured threshold."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.outcomes import analyse_responders
    from prt_outcomes.outputs import write_csv

    data = pd.read_parquet(snakemake.input.data)
    write_csv(analyse_responders(data, step.config), snakemake.output.responders)
