"""Derived variables: baseline value, change and percent change from baseline.

Examples
--------
>>> import pandas as pd
>>> from prt_outcomes.derive import add_change_scores
>>> df = pd.DataFrame({"participant_id": ["a", "a"], "visit": ["baseline", "post"],
...                    "pain": [4.0, 1.0]})
>>> add_change_scores(df, ["pain"], baseline_visit="baseline")[
...     ["pain_baseline", "pain_change", "pain_percent_change"]].iloc[1].tolist()
[4.0, -3.0, -75.0]
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .config import SUBJECT, VISIT

__all__ = ["baseline_values", "add_change_scores"]


def baseline_values(
    data: pd.DataFrame, outcome: str, *, baseline_visit: str, subject: str = SUBJECT, visit: str = VISIT
) -> pd.Series:
    """Each participant's observed value of ``outcome`` at ``baseline_visit`` (index: participant).

    Raises
    ------
    ValueError
        If a participant has more than one baseline row (validation should have caught it).
    """
    base = data.loc[data[visit] == baseline_visit, [subject, outcome]]
    duplicated = base[subject].duplicated(keep=False)
    if duplicated.any():
        raise ValueError(
            f"{int(duplicated.sum())} rows share a participant at visit {baseline_visit!r}; "
            "run validation first (rule unique_participant_visit)."
        )
    return base.set_index(subject)[outcome].astype("float64")


def add_change_scores(
    data: pd.DataFrame,
    outcomes: Iterable[str],
    *,
    baseline_visit: str,
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> pd.DataFrame:
    """Add ``<outcome>_baseline``, ``<outcome>_change`` and ``<outcome>_percent_change`` columns.

    Change is ``value - baseline`` (negative = decrease). Percent change is
    ``100 * change / baseline``; it is missing when the baseline is missing or zero, because a
    relative change from zero is undefined.
    """
    out = data.copy()
    for outcome in outcomes:
        base = baseline_values(out, outcome, baseline_visit=baseline_visit, subject=subject, visit=visit)
        b = out[subject].map(base).astype("float64")
        change = out[outcome].astype("float64") - b
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = 100.0 * change / b.where(b != 0)
        out[f"{outcome}_baseline"] = b
        out[f"{outcome}_change"] = change
        out[f"{outcome}_percent_change"] = pct
    return out
