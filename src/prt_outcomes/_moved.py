"""Old import paths of modules that moved into stage packages, kept for one release.

Each old module is a stub whose attribute access forwards to the new module with a
``DeprecationWarning``, so notebooks written against the flat layout keep working.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     from prt_outcomes.io import read_study_data
>>> read_study_data.__module__, caught[0].category.__name__
('prt_outcomes.ingest', 'DeprecationWarning')
"""

from __future__ import annotations

import importlib
import warnings

__all__ = ["MOVED", "moved_module"]

#: old module -> its new place (each old module is a stub at the old path).
MOVED = {
    "io": "ingest",
    "schemas": "validate.schemas",
    "validation": "validate.checks",
    "analysis": "analyse.outcomes",
    "responders": "analyse.responders",
    "tables": "render.tables",
    "figures": "render.figures",
    "report": "render.report",
    "effects": "stats.effects",
    "proportions": "stats.proportions",
    "clinical": "stats.clinical",
}


def moved_module(old: str, new: str):
    """A module ``__getattr__`` for the stub at ``old`` that forwards to ``new``."""

    def __getattr__(name: str):
        target = importlib.import_module(new)
        if name.startswith("__") or not hasattr(target, name):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old} moved to {new}; import from {new} (the old path goes in the next release).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(target, name)

    return __getattr__
