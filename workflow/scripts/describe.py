"""Snakemake adapter: participant flow, baseline table, observed summaries, missingness."""
import pandas as pd

from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv
from prt_outcomes.pipeline import describe

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
tables = describe(pd.read_parquet(snakemake.input.data), config)
for name, key in [("flow", "flow"), ("baseline", "baseline"), ("observed_summary", "observed"),
                  ("missingness", "missingness")]:
    write_csv(tables[name], snakemake.output[key])
