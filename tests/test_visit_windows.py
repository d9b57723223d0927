"""Visit windows: every row is assigned once or reported with its reason; nearest to target wins."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_outcomes.config import ConfigError
from prt_outcomes.visit_windows import UNASSIGNED_REASONS, assign_visit_windows, parse_windows

WINDOWS = {"baseline": (0, 14, 0), "3 months": (60, 120, 90), "6 months": (150, 210, 180)}


def test_nearest_to_target_and_reasons():
    rows = pd.DataFrame(
        {
            "participant_id": ["a"] * 5 + ["b"] * 3,
            "day": [0, 70, 95, 130, np.nan, 3, 85, 95],
            "pain": [7, 6, 5, 4, 3, 8, 7, 6],
        }
    )
    res = assign_visit_windows(rows, WINDOWS)
    got = res.assigned[["participant_id", "visit", "day"]].values.tolist()
    # b: days 85 and 95 are both 5 from the target; the earlier day wins.
    assert got == [["a", "baseline", 0], ["a", "3 months", 95], ["b", "baseline", 3], ["b", "3 months", 85]]
    un = res.unassigned.set_index("day", drop=False)
    assert un.loc[70, "reason"] == "not_nearest" and un.loc[70, "window"] == "3 months"
    assert un.loc[130, "reason"] == "outside_windows"
    assert res.unassigned["reason"].isin(list(UNASSIGNED_REASONS)).all()
    assert res.reason_counts().to_dict() == {"missing_day": 1, "outside_windows": 1, "not_nearest": 2}
    assert len(res.assigned) + len(res.unassigned) == len(rows)
    assert res.assigned["distance"].tolist() == [0, 5, 3, 5]


def test_overlapping_windows_go_to_nearest_target():
    rows = pd.DataFrame({"participant_id": ["a", "a"], "day": [100, 140]})
    res = assign_visit_windows(rows, {"3 months": (60, 150, 90), "6 months": (100, 210, 180)})
    assert res.assigned[["visit", "day"]].values.tolist() == [["3 months", 100], ["6 months", 140]]


def test_dates_counted_from_first_visit():
    rows = pd.DataFrame(
        {
            "participant_id": ["a", "a", "b"],
            "date": ["2024-03-01", "2024-01-01", "2024-05-05"],
            "x": [1, 2, 3],
        }
    )
    res = assign_visit_windows(rows, WINDOWS, date="date")
    assert res.assigned[["participant_id", "visit", "day", "x"]].values.tolist() == [
        ["a", "baseline", 0.0, 2],
        ["a", "3 months", 60.0, 1],
        ["b", "baseline", 0.0, 3],
    ]


def test_bad_windows_are_config_errors():
    with pytest.raises(ConfigError, match="target day"):
        parse_windows({"3 months": (60, 120, 200)})
    with pytest.raises(ConfigError, match="lacks"):
        parse_windows({"3 months": {"start": 60}})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.one_of(st.none(), st.integers(-10, 250))),
        min_size=0,
        max_size=40,
    )
)
def test_partition_and_nearest_property(rows):
    frame = pd.DataFrame(rows, columns=["participant_id", "day"]).astype({"day": "float64"})
    frame["row"] = np.arange(len(frame))
    res = assign_visit_windows(frame, WINDOWS)
    # every row once, in one of the two tables
    assert sorted([*res.assigned["row"], *res.unassigned["row"]]) == list(range(len(frame)))
    assert not res.assigned.duplicated(["participant_id", "visit"]).any()
    specs = {w.visit: w for w in parse_windows(WINDOWS)}
    for _, r in res.assigned.iterrows():
        w = specs[r["visit"]]
        assert w.start <= r["day"] <= w.end
    # no beaten row is nearer the target than the kept one
    for _, r in res.unassigned[res.unassigned["reason"] == "not_nearest"].iterrows():
        kept = res.assigned[
            (res.assigned["participant_id"] == r["participant_id"]) & (res.assigned["visit"] == r["window"])
        ]
        assert len(kept) == 1
        assert kept["distance"].iloc[0] <= abs(r["day"] - specs[r["window"]].target)
    outside = res.unassigned[res.unassigned["reason"] == "outside_windows"]["day"]
    for d in outside:
        assert not any(w.start <= d <= w.end for w in specs.values())


def test_other_column_names_and_empty_input():
    rows = pd.DataFrame({"id": ["a", "a"], "days": [1, 95], "visit": ["x", "y"]})
    res = assign_visit_windows(rows, WINDOWS, day="days", subject="id")
    assert res.assigned[["id", "visit"]].values.tolist() == [["a", "baseline"], ["a", "3 months"]]
    empty = assign_visit_windows(rows.iloc[:0], WINDOWS, day="days", subject="id")
    assert empty.assigned.empty and empty.unassigned.empty
    with pytest.raises(KeyError, match="day column"):
        assign_visit_windows(rows, WINDOWS, subject="id")
