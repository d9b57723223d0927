"""Snakemake adapter: add baseline, change and percent change per outcome.

A strict-mode run whose validation found failures stops here, with the validation files kept.
"""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.pipeline import derive, strict_validation_gate, write_analysis_data

    config = step.config
    failures = pd.read_csv(snakemake.input.failures, dtype="string", keep_default_na=False)
    strict_validation_gate(
        config, len(failures), report=snakemake.input.validation_report, failures=snakemake.input.failures
    )
    data = derive(pd.read_parquet(snakemake.input.clean), config)
    write_analysis_data(data, snakemake.output.data, snakemake.output.csv)
    step.log.info("analysis data: %d rows, %d participants", len(data), data["participant_id"].nunique())
