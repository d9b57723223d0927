"""Snakemake adapter: stack per-outcome model tables."""
import pandas as pd

from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv

configure_logging(snakemake.log[0])
for name in ("marginal_means", "contrasts", "change_contrasts", "model_info"):
    frames = [pd.read_csv(path) for path in snakemake.input[name]]
    write_csv(pd.concat(frames, ignore_index=True), snakemake.output[name])
