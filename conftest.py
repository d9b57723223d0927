"""Fixtures for the docstring examples of src/prt_outcomes, which pytest collects through
--doctest-modules (pyproject.toml); the test fixtures live in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _examples_run_from_the_repository_root(request, monkeypatch):
    # Examples name bundled files by their path in the repository (tests/malformed/ok.csv), as a
    # user at the project root would; run them from there wherever pytest was started.
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(Path(__file__).resolve().parent)
