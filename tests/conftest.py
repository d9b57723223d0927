"""Shared test fixtures: repository paths, the public data folder, the example config."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed sequence of examples, so a red build always reproduces;
# locally every run explores new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]

# pytest runs with --doctest-modules (pyproject.toml), which imports every .py file it collects;
# these folders hold generator scripts for the reference data, not tests or examples.
collect_ignore = ["references", "malformed"]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
EXAMPLE_CONFIG = REPO_ROOT / "config" / "config.yaml"


def load_refcompare():
    """The comparison helpers that live beside the model reference fixtures."""
    import importlib.util
    import sys

    if "refcompare" not in sys.modules:
        path = REPO_ROOT / "tests" / "references" / "models" / "refcompare.py"
        spec = importlib.util.spec_from_file_location("refcompare", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["refcompare"] = module
        spec.loader.exec_module(module)
    return sys.modules["refcompare"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (public trial data are not beside this checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("R is not installed (Rscript not on PATH)")
    return path


@pytest.fixture(scope="session")
def example_config():
    from prt_outcomes.config import load_config

    return load_config(EXAMPLE_CONFIG)


@pytest.fixture(scope="module")
def cfg():
    """The example config, loaded once per module (the figure, table and report tests)."""
    from report_fakes import load_example_config

    return load_example_config()


@pytest.fixture(scope="module")
def results(tmp_path_factory, cfg):
    """A results directory filled with the fake tables of ``report_fakes`` for ``cfg``."""
    from report_fakes import write_fake_results

    return write_fake_results(tmp_path_factory.mktemp("results"), cfg)


#: Environment of a ``prt-outcomes`` subprocess: this checkout's package, wherever pytest runs.
CLI_ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}


def cli_run_command(config, *options: str) -> list[str]:
    """``prt-outcomes run --config CONFIG OPTIONS...`` as a subprocess command of this Python."""
    return [sys.executable, "-m", "prt_outcomes.cli", "run", "--config", str(config), *map(str, options)]
