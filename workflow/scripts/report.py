"""Snakemake adapter: the self-contained HTML report."""
from pathlib import Path

from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.report import build_report

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
results = Path(snakemake.output[0]).parent
build_report(config, results)
