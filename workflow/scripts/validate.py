"""Snakemake adapter: validate the ingested data; quarantine failing rows; stop in strict mode."""
import pandas as pd

from prt_outcomes.config import StudyConfig
from prt_outcomes.io import IngestResult
from prt_outcomes.logs import configure_logging
from prt_outcomes.outputs import write_csv
from prt_outcomes.validation import validate_ingested

log = configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
counts = pd.read_csv(snakemake.input.counts, dtype={"file": "string"})
ingested = IngestResult(
    data=pd.read_parquet(snakemake.input.data),
    issues=pd.read_csv(snakemake.input.issues, dtype="string"),
    rows_in=dict(zip(counts["file"], counts["rows_in"].astype(int))),
)
result = validate_ingested(ingested, config)
write_csv(result.summary, snakemake.output.summary)
write_csv(result.failures, snakemake.output.failures)
write_csv(result.rule_counts, snakemake.output.rule_counts)
with open(snakemake.output.report, "w", encoding="utf-8") as fh:
    fh.write(result.to_markdown())
log.info(result.to_markdown())
if config.validation_mode == "strict":
    result.raise_if_failed()
result.clean.to_parquet(snakemake.output.clean, index=False)
