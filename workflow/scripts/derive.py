"""Snakemake adapter: add baseline, change and percent change per outcome."""
import pandas as pd

from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv
from prt_outcomes.pipeline import derive

log = configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
data = derive(pd.read_parquet(snakemake.input.clean), config)
data.to_parquet(snakemake.output.data, index=False)
write_csv(data, snakemake.output.csv)
log.info("analysis data: %d rows, %d participants", len(data), data["participant_id"].nunique())
