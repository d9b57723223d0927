"""Snakemake adapter: fit the configured trial model to one outcome."""
import pandas as pd

from prt_outcomes.analysis import analyse_outcome
from prt_outcomes.config import load_config
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv

log = configure_logging(snakemake.log[0])
config = load_config(snakemake.config["config_path"])
data = pd.read_parquet(snakemake.input.data)
result = analyse_outcome(data, config, snakemake.wildcards.outcome)
for warning in result.model_info["warnings"].iloc[0].split(" | "):
    if warning:
        log.warning("%s: %s", snakemake.wildcards.outcome, warning)
write_csv(result.marginal_means, snakemake.output.marginal_means)
write_csv(result.contrasts, snakemake.output.contrasts)
write_csv(result.change_contrasts, snakemake.output.change_contrasts)
write_csv(result.model_info, snakemake.output.model_info)
