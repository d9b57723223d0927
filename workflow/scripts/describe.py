"""Snakemake adapter: participant flow, baseline table, observed summaries, missingness."""
import pandas as pd

from prt_outcomes.config import StudyConfig
from prt_outcomes.describe import baseline_table, missingness, observed_summary, participant_flow
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
data = pd.read_parquet(snakemake.input.data)
write_csv(participant_flow(data, config), snakemake.output.flow)
write_csv(baseline_table(data, config), snakemake.output.baseline)
write_csv(observed_summary(data, config), snakemake.output.observed)
write_csv(missingness(data, config), snakemake.output.missingness)
