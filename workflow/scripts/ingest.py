"""Snakemake adapter: read the study's data files into one long table."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.ingest import read_study_data
    from prt_outcomes.layout import IngestFiles
    from prt_outcomes.pipeline import save_ingest

    config = step.config
    result = read_study_data(config)  # the config's data files: this rule's unnamed inputs
    step.log.info("read %d rows from %d file(s): %s", len(result.data), len(config.files), result.rows_in)
    save_ingest(result, IngestFiles(**{name: snakemake.output[name] for name in IngestFiles._fields}))
