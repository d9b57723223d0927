"""Logging set-up shared by the workflow's scripts and the CLI."""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["configure_logging"]


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
