"""Snakemake adapter: read the study's data files into one long table."""
from pathlib import Path

from prt_outcomes.config import StudyConfig
from prt_outcomes.io import read_study_data
from prt_outcomes.logs import configure_logging
from prt_outcomes.pipeline import save_ingest

log = configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
result = read_study_data(config)
log.info("read %d rows from %d file(s): %s", len(result.data), len(config.files), result.rows_in)
save_ingest(result, Path(snakemake.output.data).parent)
