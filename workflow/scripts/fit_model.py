"""Snakemake adapter: fit the configured trial model to one outcome.

An outcome whose data cannot support the model is written as not fitted (``model_info.status``
"failed", the reason in ``message``, no estimate rows) and the job succeeds, so that the other
outcomes' jobs and the report still run; the reason is also logged.
"""
import pandas as pd

from prt_outcomes.analysis import analyse_outcome
from prt_outcomes.config import load_config
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv

log = configure_logging(snakemake.log[0])
config = load_config(snakemake.config["config_path"])
data = pd.read_parquet(snakemake.input.data)
outcome = snakemake.wildcards.outcome
result = analyse_outcome(data, config, outcome)
info = result.model_info.iloc[0]
if not result.fitted:
    log.error("%s: not fitted: %s", outcome, info["message"])
for warning in info["warnings"].split(" | "):
    if warning:
        log.warning("%s: %s", outcome, warning)
write_csv(result.marginal_means, snakemake.output.marginal_means)
write_csv(result.contrasts, snakemake.output.contrasts)
write_csv(result.change_contrasts, snakemake.output.change_contrasts)
write_csv(result.model_info, snakemake.output.model_info)
