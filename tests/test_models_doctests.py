"""Run the docstring examples of the model engine and effects modules."""

from __future__ import annotations

import doctest

import pytest

import prt_outcomes.effects
import prt_outcomes.models.covariance
import prt_outcomes.models.design
import prt_outcomes.models.fit
import prt_outcomes.models.kenward_roger
import prt_outcomes.models.likelihood

MODULES = [
    prt_outcomes.effects,
    prt_outcomes.models.covariance,
    prt_outcomes.models.design,
    prt_outcomes.models.fit,
    prt_outcomes.models.kenward_roger,
    prt_outcomes.models.likelihood,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
