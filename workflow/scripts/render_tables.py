"""Snakemake adapter: Markdown, HTML and LaTeX tables."""
from pathlib import Path

from prt_outcomes.config import StudyConfig
from prt_outcomes.logs import configure_logging
from prt_outcomes.report import render_tables

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
results = Path(snakemake.input[0]).parent.parent
render_tables(config, results)
