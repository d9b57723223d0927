"""prt-outcomes: outcome pipeline for pain-trial data."""

__version__ = "0.1.0"
