"""Change scores on hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.derive import add_change_scores, baseline_values


def _frame():
    return pd.DataFrame(
        {
            "participant_id": ["a", "a", "a", "b", "b", "c"],
            "visit": ["baseline", "post", "m1", "baseline", "post", "post"],
            "pain": [4.0, 1.0, 2.0, 0.0, 1.0, 3.0],
        }
    )


def test_change_and_percent_change():
    out = add_change_scores(_frame(), ["pain"], baseline_visit="baseline")
    assert out["pain_baseline"].tolist()[:5] == [4.0, 4.0, 4.0, 0.0, 0.0]
    assert out["pain_change"].tolist()[:5] == [0.0, -3.0, -2.0, 0.0, 1.0]
    assert out["pain_percent_change"].iloc[1] == -75.0
    assert out["pain_percent_change"].iloc[2] == -50.0
    # baseline 0: percent change undefined, not infinite
    assert np.isnan(out["pain_percent_change"].iloc[4])
    # participant c has no baseline
    assert np.isnan(out["pain_change"].iloc[5])
    assert len(out) == 6


def test_duplicate_baseline_is_an_error():
    df = pd.concat([_frame(), _frame().iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="unique_participant_visit"):
        baseline_values(df, "pain", baseline_visit="baseline")
