"""Visit windows: assign dated assessments of routine care to nominal visits.

A clinic does not see its patients on the protocol's days. An audit therefore names its visits
by a target day and a window (``"3 months"``: day 90, from day 60 to day 120) and assigns every
assessment whose day since the first visit falls inside a window to that visit. When a patient
has several assessments inside one window the one nearest the target day is kept. Nothing is
dropped silently: every row that is not assigned comes back in a second table with the reason.

Rules
-----
* The day of an assessment is the ``day`` column or, when ``date`` is given, the number of days
  since the participant's earliest date (so the first visit is day 0).
* Windows are closed intervals ``[start, end]``. A day inside several (overlapping) windows goes
  to the window whose target is nearest; a tie goes to the window listed first.
* Inside one window a participant keeps the assessment nearest the target; ties go to the
  earlier day, then to the earlier row.

Reasons in the unassigned table (:data:`UNASSIGNED_REASONS`):

``missing_day``
    no day (or date) is recorded;
``outside_windows``
    the day lies outside every window;
``not_nearest``
    another assessment of the same participant lies nearer the target of the same window.

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"participant_id": ["a", "a", "a", "b"], "day": [0, 85, 100, 200],
...                      "pain": [7.0, 5.0, 4.0, 6.0]})
>>> windows = {"baseline": (0, 0, 0), "3 months": (60, 120, 90)}
>>> res = assign_visit_windows(rows, windows)
>>> res.assigned[["participant_id", "visit", "day"]].values.tolist()
[['a', 'baseline', 0], ['a', '3 months', 85]]
>>> res.unassigned[["participant_id", "day", "reason"]].values.tolist()
[['a', 100, 'not_nearest'], ['b', 200, 'outside_windows']]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from .config import SUBJECT, VISIT, ConfigError

__all__ = [
    "VisitWindow",
    "VisitWindowResult",
    "assign_visit_windows",
    "parse_windows",
    "UNASSIGNED_REASONS",
    "UNASSIGNED_COLUMNS",
]

#: Why a row was not assigned, with the sentence the report can show.
UNASSIGNED_REASONS: dict[str, str] = {
    "missing_day": "no assessment day or date is recorded",
    "outside_windows": "the assessment day lies outside every visit window",
    "not_nearest": "another assessment of the participant lies nearer the target day of the same window",
}

#: Columns the unassigned table adds to the input's columns, in order (at its front).
UNASSIGNED_COLUMNS = ("participant_id", "day", "reason", "window")


@dataclass(frozen=True)
class VisitWindow:
    """One nominal visit: ``target`` day and the closed window ``[start, end]`` around it."""

    visit: str
    start: float
    end: float
    target: float

    def __post_init__(self):
        if not (self.start <= self.target <= self.end):
            raise ConfigError(
                f"visit window {self.visit!r}: the target day {self.target:g} must lie inside the window "
                f"[{self.start:g}, {self.end:g}]; give start <= target <= end."
            )


@dataclass(frozen=True)
class VisitWindowResult:
    """What :func:`assign_visit_windows` returns.

    Attributes
    ----------
    assigned : DataFrame
        The input rows that were assigned, with ``visit``, ``day`` and ``distance``
        (``|day - target|``) set; one row per participant and visit, in window order.
    unassigned : DataFrame
        Every other input row, with :data:`UNASSIGNED_COLUMNS` in front: ``reason`` (a key of
        :data:`UNASSIGNED_REASONS`) and ``window`` (the window it fell in, for ``not_nearest``).
    """

    assigned: pd.DataFrame
    unassigned: pd.DataFrame

    def reason_counts(self) -> pd.Series:
        """Number of unassigned rows per reason (every reason listed, zeros included)."""
        counts = self.unassigned["reason"].value_counts()
        return counts.reindex(list(UNASSIGNED_REASONS), fill_value=0)


def parse_windows(windows) -> list[VisitWindow]:
    """Read windows given as a mapping or a sequence.

    Accepted forms: ``{"3 months": (60, 120, 90)}`` (start, end, target),
    ``{"3 months": {"start": 60, "end": 120, "target": 90}}`` (a missing target is the middle of
    the window), or a sequence of :class:`VisitWindow` / dicts with a ``visit`` key.

    Examples
    --------
    >>> parse_windows({"3 months": {"start": 60, "end": 120}})
    [VisitWindow(visit='3 months', start=60.0, end=120.0, target=90.0)]
    """
    if isinstance(windows, Mapping):
        items = [(name, spec) for name, spec in windows.items()]
    else:
        items = []
        for spec in windows:
            if isinstance(spec, VisitWindow):
                items.append((spec.visit, spec))
            elif isinstance(spec, Mapping) and "visit" in spec:
                items.append((spec["visit"], {k: v for k, v in spec.items() if k != "visit"}))
            else:
                raise ConfigError(f"visit window {spec!r}: give a mapping with 'visit', 'start' and 'end'.")
    out = []
    for name, spec in items:
        if isinstance(spec, VisitWindow):
            out.append(spec)
            continue
        if isinstance(spec, Mapping):
            try:
                start, end = float(spec["start"]), float(spec["end"])
            except KeyError as missing:
                raise ConfigError(
                    f"visit window {name!r} lacks {missing}; give 'start' and 'end' days."
                ) from None
            target = float(spec.get("target", (start + end) / 2))
        else:
            values = [float(v) for v in spec]
            if len(values) not in (2, 3):
                raise ConfigError(
                    f"visit window {name!r}: give (start, end) or (start, end, target), got {spec!r}."
                )
            start, end = values[:2]
            target = values[2] if len(values) == 3 else (start + end) / 2
        out.append(VisitWindow(str(name), start, end, target))
    names = [w.visit for w in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"visit windows name a visit twice: {names}; give each visit one window.")
    if not out:
        raise ConfigError("no visit windows given; name at least one visit with its window.")
    return out


def assign_visit_windows(
    data: pd.DataFrame,
    windows,
    *,
    day: str = "day",
    date: str | None = None,
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> VisitWindowResult:
    """Assign each assessment row to the nominal visit whose window holds its day.

    Parameters
    ----------
    data : DataFrame
        Long frame, one row per assessment, with a ``subject`` column and a ``day`` column
        (days since the first visit) or a ``date`` column.
    windows : mapping or sequence
        The visit windows (:func:`parse_windows`), in visit order.
    day : str
        Column of days since the first visit (written when ``date`` is given).
    date : str, optional
        Column of assessment dates; the day is then counted from the participant's earliest
        date (rows without a date do not count for the earliest).
    subject, visit : str
        Participant column, and the visit column to write (an existing one is overwritten).

    Returns
    -------
    VisitWindowResult
        ``assigned`` and ``unassigned`` rows; together they hold every input row once.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"participant_id": ["a", "a", "a"],
    ...                      "date": ["2024-01-10", "2024-04-05", None]})
    >>> res = assign_visit_windows(rows, {"baseline": (0, 14, 0), "3 months": (60, 120, 90)}, date="date")
    >>> res.assigned[["visit", "day"]].values.tolist()
    [['baseline', 0.0], ['3 months', 86.0]]
    >>> res.unassigned["reason"].tolist()
    ['missing_day']
    """
    specs = parse_windows(windows)
    if subject not in data.columns:
        raise KeyError(f"assign_visit_windows: the data lack the participant column {subject!r}.")
    frame = data.copy()
    if date is not None:
        if date not in frame.columns:
            raise KeyError(f"assign_visit_windows: the data lack the date column {date!r}.")
        when = pd.to_datetime(frame[date], errors="coerce")
        first = when.groupby(frame[subject]).transform("min")
        frame[day] = (when - first).dt.days.astype("float64")
    elif day not in frame.columns:
        raise KeyError(f"assign_visit_windows: the data lack the day column {day!r}; give day= or date=.")
    days = pd.to_numeric(frame[day], errors="coerce").to_numpy(dtype="float64")

    # Window per row: among the windows holding the day, the one with the nearest target.
    distance = np.full((len(frame), len(specs)), np.inf)
    for j, w in enumerate(specs):
        inside = (days >= w.start) & (days <= w.end)
        distance[inside, j] = np.abs(days[inside] - w.target)
    best = np.argmin(distance, axis=1)  # first window on ties
    best_distance = distance[np.arange(len(frame)), best] if len(frame) else np.array([])
    in_some = np.isfinite(best_distance)

    order = pd.DataFrame(
        {
            "row": np.arange(len(frame)),
            "subject": frame[subject].to_numpy(),
            "window": np.where(in_some, best, -1),
            "distance": best_distance,
            "day": days,
        }
    )
    candidates = order[in_some].sort_values(["subject", "window", "distance", "day", "row"], kind="mergesort")
    keep = ~candidates.duplicated(["subject", "window"], keep="first")
    kept_rows = candidates.loc[keep, "row"].to_numpy()
    beaten_rows = candidates.loc[~keep, "row"].to_numpy()

    reason = np.full(len(frame), "", dtype=object)
    reason[np.isnan(days)] = "missing_day"
    reason[~np.isnan(days) & ~in_some] = "outside_windows"
    reason[beaten_rows] = "not_nearest"
    names = np.array([w.visit for w in specs], dtype=object)
    targets = np.array([w.target for w in specs])

    assigned = frame.iloc[np.sort(kept_rows)].copy()
    chosen = best[np.sort(kept_rows)]
    assigned[visit] = names[chosen]
    assigned["distance"] = np.abs(assigned[day].to_numpy(dtype="float64") - targets[chosen])
    assigned["_window"] = chosen
    assigned = assigned.sort_values([subject, "_window"], kind="mergesort").drop(columns="_window")

    left = np.flatnonzero(reason != "")
    unassigned = frame.iloc[left].copy()
    extra = pd.DataFrame(
        {
            "participant_id": frame[subject].to_numpy()[left],
            "day": days[left] if date is not None else frame[day].to_numpy()[left],
            "reason": reason[left],
            "window": np.where(reason[left] == "not_nearest", names[best[left]] if len(left) else [], ""),
        },
        index=unassigned.index,
    )
    rest = unassigned.drop(columns=[c for c in extra.columns if c in unassigned.columns])
    unassigned = pd.concat([extra, rest], axis=1)
    if subject != "participant_id":
        unassigned = unassigned.drop(columns=[subject], errors="ignore")
    return VisitWindowResult(assigned.reset_index(drop=True), unassigned.reset_index(drop=True))
