# Load and validate the study config once; everything else derives paths from it.
from pathlib import Path

from snakemake.utils import validate

from prt_outcomes.config import StudyConfig
from prt_outcomes.outputs import (
    RESULT_TABLES,
    expected_outputs,
    figure_stems,
    journal_table_files,
    results_dir,
)

validate(config, "../schemas/config.schema.yaml")

STUDY = StudyConfig.from_dict(config, base_dir=Path.cwd())
R = str(results_dir(STUDY, config.get("results_root", "results")))
OUTCOMES = list(STUDY.outcome_names)
DATA_FILES = [str(p) for p in STUDY.data_paths()]
ALL_OUTPUTS = [str(p) for p in expected_outputs(STUDY, config.get("results_root", "results"))]
FIGURES = [
    f"{R}/figures/{stem}.{ext}" for stem in figure_stems(STUDY) for ext in STUDY.figure_formats
]

wildcard_constraints:
    outcome="|".join(OUTCOMES),
