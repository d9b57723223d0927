"""The workflow's reading jobs do not load the model engine or the statistics libraries.

Every workflow job is a fresh interpreter (issue 15, part 3: the example's run is mostly
start-up): the jobs that stack, render or report result tables import the modules below, and
loading scipy.optimize / scipy.stats / statsmodels there cost ~0.7 s of CPU per job for nothing.
The engine loads on the first fit (``prt_outcomes.models`` resolves ``fit_trial_model``,
``mmrm`` and ``MMRMFit`` on first use).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("scipy.optimize", "scipy.stats", "statsmodels", "prt_outcomes.models.fit")


@pytest.mark.parametrize(
    "module",
    [
        "prt_outcomes.analyse.outcomes",  # collect_models
        "prt_outcomes.analyse.sensitivity_jobs",  # collect_sensitivity
        "prt_outcomes.render.report",  # render_tables, report
        "prt_outcomes.models",  # the result classes and columns
    ],
)
def test_reading_modules_do_not_load_the_engine(module):
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", f"importing {module} loads {loaded.stdout.strip()}"


def test_the_engine_still_loads_on_first_use():
    import prt_outcomes.models as models

    assert callable(models.fit_trial_model) and callable(models.mmrm)
    assert models.MMRMFit.__name__ == "MMRMFit"
    with pytest.raises(AttributeError, match="no attribute 'not_there'"):
        models.not_there  # noqa: B018


def test_loading_a_config_does_not_load_pandas():
    # The launcher and the Snakefile load the study config before any job runs (issue 15,
    # part 3): its threshold rules are parsed there, and pandas loads only where one is applied.
    code = (
        "import sys\nfrom prt_outcomes.config import load_config\n"
        "load_config('config/config.yaml')\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'scipy') if m in sys.modules))"
    )
    run = dict(capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = subprocess.run([sys.executable, "-c", code], **run)
    assert loaded.stdout.strip() == "[]", loaded.stdout


@pytest.mark.parametrize(
    "module",
    [
        "prt_outcomes.models.fit",  # fit_model: the engine needs scipy.optimize only
        "prt_outcomes.models.mmrm_fit",
        "prt_outcomes.render.figures",  # render_figures
        "prt_outcomes.analyse.audit_tables",  # summaries
    ],
)
def test_fitting_and_drawing_do_not_load_scipy_stats(module):
    # p values and quantiles come from prt_outcomes.stats.distributions (scipy.special)
    code = f"import sys, {module}; print('scipy.stats' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False", f"importing {module} loads scipy.stats"


def test_the_derive_job_does_not_load_pandera_when_nothing_failed():
    # derive's strict-mode gate needs the validation module only to raise (issue 15, part 3)
    code = (
        "import sys\nfrom prt_outcomes.config import load_config\n"
        "from prt_outcomes.pipeline import strict_validation_gate\n"
        "strict_validation_gate(load_config('config/config.yaml'), 0, report='r.md', failures='f.csv')\n"
        "print('pandera' in sys.modules)"
    )
    run = dict(capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = subprocess.run([sys.executable, "-c", code], **run)
    assert loaded.stdout.strip() == "False", "the strict gate loads pandera"
