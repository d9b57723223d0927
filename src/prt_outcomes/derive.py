"""Derived variables: the one definition of baseline, change and percent change from baseline.

Every stage that needs one of these facts takes it from here: the derive stage writes the
columns ``<outcome>_baseline``, ``<outcome>_change`` and ``<outcome>_percent_change`` into the
analysis data (``intermediate/analysis_data.*``), :func:`prt_outcomes.describe.observed_summary`
summarises ``<outcome>_change``, the responder rules (:mod:`prt_outcomes.analyse.responders`) compute
their ``change`` / ``reduction`` / ``improvement`` kinds with :func:`change_from_baseline` and
their percent kinds with :func:`percent_change`, and the trial model's baseline covariate
(``baseline_adjusted``) is :func:`baseline_values`.

Definitions
-----------
* change = ``value - baseline`` (negative = decrease);
* percent change = ``100 * (value - baseline) / |baseline|``, missing when the baseline is
  missing or 0 (a relative change from 0 is undefined).

Dividing by ``|baseline|`` rather than by the baseline keeps the sign of the percent change that
of the change, so ``percent_change <= -30`` always means "fell by at least 30% of the baseline's
size". For a 0-10 pain score (or any instrument with a non-negative range) the baseline is never
negative and the two formulas give the same numbers; a baseline of 0 is possible there and gives
a missing percent change in both. They differ only for a negative baseline (an instrument or a
derived score that can fall below 0): from -2 to -4, the change is -2 and dividing by the
baseline would report +100%, an increase, for a fall.

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

__all__ = [
    "baseline_values",
    "change_from_baseline",
    "percent_change",
    "add_change_scores",
    "change_column",
    "percent_change_column",
    "baseline_column",
]


def baseline_column(outcome: str) -> str:
    """Name of the column holding each row's participant baseline of ``outcome``.

    >>> baseline_column("pain_avg")
    'pain_avg_baseline'
    """
    return f"{outcome}_baseline"


def change_column(outcome: str) -> str:
    """Name of the change-from-baseline column of ``outcome``.

    >>> change_column("pain_avg")
    'pain_avg_change'
    """
    return f"{outcome}_change"


def percent_change_column(outcome: str) -> str:
    """Name of the percent-change-from-baseline column of ``outcome``.

    >>> percent_change_column("pain_avg")
    'pain_avg_percent_change'
    """
    return f"{outcome}_percent_change"


def baseline_values(
    data: pd.DataFrame, outcome: str, *, baseline_visit, subject: str = SUBJECT, visit: str = VISIT
) -> pd.Series:
    """Each participant's observed value of ``outcome`` at ``baseline_visit`` (index: participant).

    Raises
    ------
    ValueError
        If a participant has more than one baseline row (validation should have caught it).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"participant_id": ["a", "a", "b"], "visit": ["pre", "post", "pre"],
    ...                    "pain": [4, 1, 6]})
    >>> baseline_values(df, "pain", baseline_visit="pre").to_dict()
    {'a': 4.0, 'b': 6.0}
    """
    base = data.loc[data[visit] == baseline_visit, [subject, outcome]]
    duplicated = base[subject].duplicated(keep=False)
    if duplicated.any():
        raise ValueError(
            f"{int(duplicated.sum())} rows share a participant at visit {baseline_visit!r}; "
            "run validation first (rule unique_participant_visit)."
        )
    return base.set_index(subject)[outcome].astype("float64")


def change_from_baseline(value, baseline):
    """``value - baseline`` as float64 (negative = decrease); missing where either is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> change_from_baseline(pd.Series([1.0, 5.0, None]), pd.Series([4.0, 5.0, 3.0])).tolist()
    [-3.0, 0.0, nan]
    """
    return _as_float(value) - _as_float(baseline)


def percent_change(value, baseline):
    """``100 * (value - baseline) / |baseline|``; missing where the baseline is missing or 0.

    See the module docstring for why the divisor is ``|baseline|``.

    Examples
    --------
    >>> import pandas as pd
    >>> percent_change(pd.Series([1.0, 2.0, -4.0]), pd.Series([4.0, 0.0, -2.0])).tolist()
    [-75.0, nan, -100.0]
    """
    base = _as_float(baseline)
    change = change_from_baseline(value, base)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a relative change from 0 is undefined: NaN, never +-inf
        return 100.0 * change / base.abs().where(base != 0)


def _as_float(values):
    if isinstance(values, pd.Series):
        return values.astype("float64")
    return pd.Series(np.asarray(values, dtype="float64"))


def add_change_scores(
    data: pd.DataFrame,
    outcomes: Iterable[str],
    *,
    baseline_visit,
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> pd.DataFrame:
    """Add ``<outcome>_baseline``, ``<outcome>_change`` and ``<outcome>_percent_change`` columns.

    The baseline is the participant's value at ``baseline_visit`` (:func:`baseline_values`);
    change and percent change are :func:`change_from_baseline` and :func:`percent_change` (see
    the module docstring). Every row is kept; a row without a baseline gets missing values.
    """
    out = data.copy()
    for outcome in outcomes:
        base = baseline_values(out, outcome, baseline_visit=baseline_visit, subject=subject, visit=visit)
        b = out[subject].map(base).astype("float64")
        out[baseline_column(outcome)] = b
        out[change_column(outcome)] = change_from_baseline(out[outcome], b)
        out[percent_change_column(outcome)] = percent_change(out[outcome], b)
    return out
