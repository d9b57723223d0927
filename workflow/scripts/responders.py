"""Snakemake adapter: responder analyses for every configured threshold."""
import pandas as pd

from prt_outcomes.analysis import analyse_responders
from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
data = pd.read_parquet(snakemake.input.data)
write_csv(analyse_responders(data, config), snakemake.output.responders)
