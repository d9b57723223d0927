"""Snakemake adapter: provenance manifest."""
from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.provenance import write_manifest

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
write_manifest(config, snakemake.input, snakemake.output[0])
