"""The docstring examples of the lead's modules run and say what they print."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["derive", "levels", "outputs", "simulate", "instruments"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"prt_outcomes.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
