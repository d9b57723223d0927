"""Snakemake adapter: validate the ingested data; quarantine failing rows.

This step always writes its report, also in strict mode: a failed job would have its outputs
deleted by Snakemake. The next step (derive) stops a strict run that found failures.
"""

from pathlib import Path

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.pipeline import load_ingest, write_validation
    from prt_outcomes.validation import validate_study_data

    config = step.config
    ingest = load_ingest(Path(snakemake.input.data).parent)
    result = validate_study_data(ingest.data, config, ingest=ingest)
    write_validation(result, Path(snakemake.output.summary).parent)
    step.log.info(result.to_markdown())
    result.clean.to_parquet(snakemake.output.clean, index=False)
