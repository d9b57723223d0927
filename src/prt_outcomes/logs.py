"""Logging set-up shared by the workflow's scripts and the CLI, and the scripts' one way to fail.

Every script under ``workflow/scripts/`` runs its body inside :class:`WorkflowStep`: the step's
log file is set up, its study config is loaded with :func:`prt_outcomes.config.load_config`, and
a user-facing error (:class:`~prt_outcomes.errors.PrtOutcomesError`) or an operating-system error
(a full disk, a missing permission) ends the job with one paragraph in the log and on stderr and
exit status 1, never a traceback; Ctrl-C ends it quietly (status 130). Anything else is a bug
and keeps its traceback. Scripts import their heavy modules inside the ``with`` block, so that a
Ctrl-C during an import is quiet too.

Examples
--------
A workflow script::

    from prt_outcomes.logs import WorkflowStep

    with WorkflowStep(snakemake) as step:
        import pandas as pd

        from prt_outcomes.pipeline import derive

        data = derive(pd.read_parquet(snakemake.input.clean), step.config)
        step.log.info("analysis data: %d rows", len(data))

The CLI reads the paragraph back from the failed step's log:

>>> import tempfile, pathlib
>>> log = pathlib.Path(tempfile.mkdtemp()) / "x.log"
>>> _ = log.write_text("INFO prt_outcomes: read 3 rows\\nERROR prt_outcomes: " + FAILURE_MARKER
...                    + "step 'derive' failed: the disk is full\\n")
>>> failure_from_log(log)
"step 'derive' failed: the disk is full"
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path
from typing import Any

from .errors import PrtOutcomesError, os_problem

__all__ = [
    "configure_logging",
    "FAILURE_MARKER",
    "failure_message",
    "failure_from_log",
    "WorkflowStep",
]

#: Written in a step's log just before its failure paragraph, so the CLI can find and show it.
FAILURE_MARKER = "STEP FAILED: "


def configure_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the package's log records to ``log_file`` (and warnings through logging).

    Returns the ``prt_outcomes`` logger.
    """
    logger = logging.getLogger("prt_outcomes")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(handler)
    return logger


def failure_message(exc: BaseException, step: str = "step", where: str = "") -> str:
    """One paragraph saying which step failed, on what, and what to do.

    >>> failure_message(OSError(errno.ENOSPC, "No space left on device", "t.csv"), "describe")
    "step 'describe' failed: No space left on device: 't.csv' [ENOSPC]; the disk is full: free \
some space, or write the results elsewhere with prt-outcomes run --results DIR, then run again."
    """
    head = f"step {step!r}" + (f" ({where})" if where else "") + " failed: "
    if isinstance(exc, OSError) and not isinstance(exc, PrtOutcomesError):
        what = exc.strerror or str(exc)
        if exc.filename:
            what += f": {str(exc.filename)!r}"
        code = errno.errorcode.get(exc.errno or 0)
        problem = os_problem(exc)
        what_to_do = (
            "{}: {}.".format(*problem) if problem else "check the file and folder named here, then run again."
        )
        return head + what + (f" [{code}]" if code else "") + "; " + what_to_do
    return head + str(exc)


def failure_from_log(path: str | Path) -> str | None:
    """The failure paragraph a :class:`WorkflowStep` wrote to ``path``, or ``None``."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    at = text.rfind(FAILURE_MARKER)
    return text[at + len(FAILURE_MARKER) :].strip() if at >= 0 else None


class WorkflowStep:
    """Context manager for the body of one workflow script (see the module's example).

    Parameters
    ----------
    snakemake : object
        The ``snakemake`` object Snakemake gives a script: ``log``, ``rule``, ``wildcards`` and
        ``config["config_path"]`` (set by ``workflow/rules/common.smk``) are read.

    Attributes
    ----------
    log : logging.Logger
        The package logger, writing to the step's log file.
    config : StudyConfig
        The study, loaded on first use from the config file the workflow was started with.
    """

    def __init__(self, snakemake: Any):
        self._snakemake = snakemake
        self.rule = str(getattr(snakemake, "rule", "step"))
        wildcards = getattr(snakemake, "wildcards", None)
        items = dict(wildcards.items()) if hasattr(wildcards, "items") else {}
        self.where = ", ".join(f"{k} {v}" for k, v in items.items())
        logs = list(getattr(snakemake, "log", None) or [])
        self.log = configure_logging(logs[0] if logs else None)
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from .config import ConfigError, load_config

            settings = getattr(self._snakemake, "config", None) or {}
            if "config_path" not in settings:
                raise ConfigError(
                    "the workflow did not say which study config to use (config_path is not set); "
                    "start it with prt-outcomes run --config FILE."
                )
            self._config = load_config(settings["config_path"])
        return self._config

    def __enter__(self) -> "WorkflowStep":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, KeyboardInterrupt):
            # Ctrl-C reaches every job; the CLI says so once, the jobs stop without a traceback
            self.log.warning("interrupted")
            raise SystemExit(130)
        if exc is None or not isinstance(exc, (PrtOutcomesError, OSError)):
            return False  # success, or a bug: keep its traceback
        message = failure_message(exc, self.rule, self.where)
        # the log may sit on the very disk that is full: never let logging add a traceback
        logging.raiseExceptions = False
        self.log.error("%s%s", FAILURE_MARKER, message)
        print(f"prt-outcomes: {message}", file=sys.stderr, flush=True)
        raise SystemExit(1)
