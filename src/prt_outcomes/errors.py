"""User-facing errors: one base class, so every entry point turns them into one clear message.

Every error a user can cause (a config, a data file, a model that the data cannot support, a
figure setting) derives from :class:`PrtOutcomesError`. The command line, the workflow's scripts
and the in-process :func:`prt_outcomes.run` catch this one class and print its message, a
paragraph that says what is wrong, where (file, row, column, outcome) and what to do, instead of
a traceback. Anything else that escapes is a bug in prt-outcomes.

Examples
--------
>>> from prt_outcomes.errors import PrtOutcomesError, ModelError
>>> issubclass(ModelError, PrtOutcomesError) and issubclass(ModelError, ValueError)
True
>>> str(ModelError("outcome 'pain': the arm 'prt' has no follow-up values."))
"outcome 'pain': the arm 'prt' has no follow-up values."
"""

from __future__ import annotations

__all__ = ["PrtOutcomesError", "ModelError", "OutputError"]


class PrtOutcomesError(ValueError):
    """Base of every error caused by the user's input, config or environment.

    Subclasses ``ValueError`` so that code written against the older, per-module error classes
    (all of them ``ValueError``) keeps working.
    """


class ModelError(PrtOutcomesError):
    """The data cannot support the requested model (one outcome); the message names the outcome."""


class OutputError(PrtOutcomesError):
    """An output cannot be written (disk full, permission, a setting no renderer can honour)."""
