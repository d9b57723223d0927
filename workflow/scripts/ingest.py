"""Snakemake adapter: read the study's data files into one long table."""
import pandas as pd

from prt_outcomes.config import StudyConfig
from prt_outcomes.io import read_study_data
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv

log = configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
result = read_study_data(config)
log.info("read %d rows from %d file(s)", len(result.data), len(config.files))
result.data.to_parquet(snakemake.output.data, index=False)
write_csv(result.issues, snakemake.output.issues)
counts = pd.DataFrame({"file": list(result.rows_in), "rows_in": list(result.rows_in.values())})
write_csv(counts, snakemake.output.counts)
