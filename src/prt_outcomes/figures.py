"""Moved to :mod:`prt_outcomes.render.figures`; this import path works for one more release."""

from ._moved import moved_module

__getattr__ = moved_module(__name__, "prt_outcomes.render.figures")
