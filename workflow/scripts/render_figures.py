"""Snakemake adapter: figures from the result tables."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from prt_outcomes.config import StudyConfig
from prt_outcomes.figures import render_figures
from prt_outcomes.logs import configure_logging

configure_logging(snakemake.log[0])
config = StudyConfig.from_dict(snakemake.config)
results = Path(snakemake.input[0]).parent.parent
render_figures(config, results)
