"""Moved to :mod:`prt_outcomes.stats.effects`; this import path works for one more release."""

from ._moved import moved_module

__getattr__ = moved_module(__name__, "prt_outcomes.stats.effects")
