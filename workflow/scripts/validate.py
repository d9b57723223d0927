"""Snakemake adapter: validate the ingested data; quarantine failing rows; stop in strict mode."""
from pathlib import Path

from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.pipeline import load_ingest, write_validation
from prt_outcomes.validation import validate_study_data

log = configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
ingest = load_ingest(Path(snakemake.input.data).parent)
result = validate_study_data(ingest.data, config, ingest=ingest)
write_validation(result, Path(snakemake.output.summary).parent)
log.info(result.to_markdown())
if config.validation_mode == "strict":
    result.raise_if_failed()
result.clean.to_parquet(snakemake.output.clean, index=False)
