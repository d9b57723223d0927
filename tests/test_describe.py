"""Participant flow, baseline table, observed summary and missingness on hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.config import StudyConfig
from prt_outcomes.describe import (
    BASELINE_COLUMNS,
    FLOW_COLUMNS,
    baseline_table,
    missingness,
    observed_summary,
    participant_flow,
)


@pytest.fixture
def config():
    raw = {
        "study": {"name": "tiny"},
        "data": {"files": [{"path": "x.csv"}]},
        "arms": {"reference": "uc", "levels": [{"name": "prt"}, {"name": "uc"}]},
        "visits": [{"name": "baseline", "baseline": True}, {"name": "post"}],
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "sex", "type": "categorical", "levels": ["female", "male"]},
        ],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10", "primary": True}],
        "models": {"covariates": ["age"]},
    }
    return StudyConfig.from_dict(raw)


@pytest.fixture
def data():
    return pd.DataFrame(
        {
            "participant_id": ["p1", "p1", "p2", "p2", "p3", "u1", "u1", "u2", "u2"],
            "arm": ["prt", "prt", "prt", "prt", "prt", "uc", "uc", "uc", "uc"],
            "visit": [
                "baseline",
                "post",
                "baseline",
                "post",
                "baseline",
                "baseline",
                "post",
                "baseline",
                "post",
            ],
            "pain": [4.0, 1.0, 6.0, np.nan, 5.0, 3.0, 3.0, 5.0, 4.0],
            "age": [30.0, 30.0, 50.0, 50.0, 40.0, 20.0, 20.0, np.nan, np.nan],
            "sex": ["female", "female", "male", "male", "female", "male", "male", "female", "female"],
        }
    )


def test_flow(config, data):
    flow = participant_flow(data, config)
    assert list(flow.columns) == FLOW_COLUMNS
    row = flow.set_index(["arm", "visit"])
    assert row.loc[("prt", "baseline")].tolist() == [3, 3, 3]
    # p2 has a post row but no pain value; p3 missed the visit
    assert row.loc[("prt", "post")].tolist() == [3, 1, 1]
    # u2 has pain but no age: assessed, not analysed
    assert row.loc[("uc", "post")].tolist() == [2, 2, 1]


def test_baseline_table(config, data):
    table = baseline_table(data, config)
    assert list(table.columns) == BASELINE_COLUMNS
    age = table[(table.variable == "age")].set_index("arm")
    assert age.loc["prt", "mean"] == pytest.approx(40.0)
    assert age.loc["prt", "sd"] == pytest.approx(10.0)
    assert age.loc["prt", "display"] == "40.0 (10.0)"
    assert age.loc["uc", "n"] == 1
    female = table[(table.variable == "sex") & (table.level == "female")].set_index("arm")
    assert female.loc["prt", "count"] == 2
    assert female.loc["prt", "percent"] == pytest.approx(200 / 3)
    assert female.loc["Total", "display"] == "3 (60.0)"
    pain = table[table.variable == "pain"].set_index("arm")
    assert pain.loc["Total", "mean"] == pytest.approx(np.mean([4, 6, 5, 3, 5]))
    # participant ids never appear
    assert not table.astype(str).apply(lambda c: c.str.contains("p1|u1")).any().any()


def test_observed_summary(config, data):
    s = observed_summary(data, config).set_index(["outcome", "arm", "visit"])
    post = s.loc[("pain", "uc", "post")]
    assert post["n"] == 2 and post["mean"] == pytest.approx(3.5)
    assert post["sd"] == pytest.approx(np.std([3, 4], ddof=1))
    assert post["change_n"] == 2 and post["change_mean"] == pytest.approx(-0.5)
    prt_post = s.loc[("pain", "prt", "post")]
    assert prt_post["change_n"] == 1 and prt_post["change_mean"] == pytest.approx(-3.0)
    assert np.isnan(prt_post["change_sd"])


def test_missingness(config, data):
    m = missingness(data, config).set_index(["outcome", "arm", "visit"])
    assert m.loc[("pain", "prt", "post")][["expected", "observed", "missing"]].tolist() == [3, 1, 2]
    assert m.loc[("pain", "prt", "post"), "percent_missing"] == pytest.approx(200 / 3)
    assert m.loc[("pain", "uc", "baseline"), "missing"] == 0
