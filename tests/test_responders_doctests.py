"""The docstring examples of the responder modules run and give what they show."""

from __future__ import annotations

import doctest

import pytest

import prt_outcomes.clinical
import prt_outcomes.proportions
import prt_outcomes.responders


@pytest.mark.parametrize(
    "module", [prt_outcomes.proportions, prt_outcomes.responders, prt_outcomes.clinical], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
