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

import errno

__all__ = ["PrtOutcomesError", "ModelError", "OutputError", "OS_PROBLEMS", "os_problem"]


class PrtOutcomesError(ValueError):
    """Base of every error caused by the user's input, config or environment.

    Subclasses ``ValueError`` so that code written against the older, per-module error classes
    (all of them ``ValueError``) keeps working.
    """


class ModelError(PrtOutcomesError):
    """The data cannot support the requested model (one outcome); the message names the outcome."""


class OutputError(PrtOutcomesError):
    """An output cannot be written (disk full, permission, a setting no renderer can honour)."""


#: What an operating-system error means for a user and what to do, by ``errno``: read by the
#: writers' :class:`OutputError` (:func:`prt_outcomes.render.tables.write_error`) and by a failed
#: workflow step's message (:func:`prt_outcomes.logs.failure_message`).
OS_PROBLEMS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (
        "the disk is full",
        "free some space, or write the results elsewhere with prt-outcomes run --results DIR, then run again",
    ),
    errno.EDQUOT: (
        "the disk quota is used up",
        "free some space, or write the results elsewhere with prt-outcomes run --results DIR, then run again",
    ),
    errno.EROFS: (
        "the folder is on a read-only file system",
        "write the results elsewhere with prt-outcomes run --results DIR, then run again",
    ),
    errno.EACCES: (
        "permission denied",
        "check that you may read and write this file and its folder, then run again",
    ),
    errno.EPERM: (
        "the operation is not permitted",
        "check that you may read and write this file and its folder, then run again",
    ),
    errno.ENOENT: (
        "a file or folder this step needs does not exist",
        "run the whole workflow again (prt-outcomes run) so that earlier steps recreate it",
    ),
}


def os_problem(error: OSError) -> tuple[str, str] | None:
    """``(what it means, what to do)`` for an :class:`OSError`, or ``None`` when not known.

    >>> os_problem(OSError(errno.ENOSPC, "No space left on device"))[0]
    'the disk is full'
    """
    return OS_PROBLEMS.get(error.errno)
