"""Snakemake adapter: validate the ingested data; quarantine failing rows.

This step always writes its report, also in strict mode: a failed job would have its outputs
deleted by Snakemake. The next step (derive) stops a strict run that found failures.
"""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.layout import IngestFiles, ValidationFiles
    from prt_outcomes.pipeline import load_ingest, write_validation
    from prt_outcomes.validate.checks import validate_study_data

    ingest = load_ingest(IngestFiles(**{name: snakemake.input[name] for name in IngestFiles._fields}))
    result = validate_study_data(ingest.data, step.config, ingest=ingest)
    write_validation(
        result, ValidationFiles(**{name: snakemake.output[name] for name in ValidationFiles._fields})
    )
    step.log.info(result.to_markdown())
