"""The flat import paths of modules that moved into stage packages keep working for one release."""

import importlib

import pytest

from prt_outcomes._moved import MOVED


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_path_forwards_to_the_new_module_with_a_warning(old, new):
    stub = importlib.import_module(f"prt_outcomes.{old}")
    target = importlib.import_module(f"prt_outcomes.{new}")
    public = [name for name in dir(target) if not name.startswith("_") and callable(getattr(target, name))]
    assert public, new
    with pytest.warns(DeprecationWarning, match=f"prt_outcomes.{new}"):
        assert getattr(stub, public[0]) is getattr(target, public[0])


def test_an_unknown_name_is_an_attribute_error_without_a_warning(recwarn):
    stub = importlib.import_module("prt_outcomes.io")
    with pytest.raises(AttributeError):
        stub.no_such_function  # noqa: B018
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
