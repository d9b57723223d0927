"""One producer per fact: each derived value, interval and model fact is made in one place.

These tests fail when a stage recomputes what another module owns (issue 10, "one producer per
fact"): change from baseline and percent change (prt_outcomes.derive), Wilson intervals
(prt_outcomes.stats.proportions), model warnings and convergence (analysis.model_info, typed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.config import StudyConfig
from prt_outcomes.derive import add_change_scores, baseline_values
from prt_outcomes.describe import observed_summary
from prt_outcomes.thresholds import parse_threshold


def _long(values, baselines):
    """Two visits per participant: ``baselines`` at "pre", ``values`` at "post"."""
    n = len(values)
    ids = [f"p{i}" for i in range(n)]
    return pd.DataFrame(
        {
            "participant_id": ids + ids,
            "arm": ["a"] * (2 * n),
            "visit": ["pre"] * n + ["post"] * n,
            "score": list(baselines) + list(values),
        }
    )


# --------------------------------------------------------------------------------------------
# change from baseline and percent change: prt_outcomes.derive
# --------------------------------------------------------------------------------------------
def test_percent_change_divides_by_the_size_of_the_baseline():
    # From -2 to -4 is a fall: change -2, percent change -100 (the old derive divided by the
    # signed baseline and wrote +100, while the responder rules divided by |baseline|).
    out = add_change_scores(_long([-4.0, 1.0, 3.0], [-2.0, 4.0, 0.0]), ["score"], baseline_visit="pre")
    post = out[out["visit"] == "post"]
    assert post["score_change"].tolist() == [-2.0, -3.0, 3.0]
    assert post["score_percent_change"].tolist()[:2] == [-100.0, -75.0]
    assert np.isnan(post["score_percent_change"].iloc[2])  # from 0: undefined, not inf


@pytest.mark.parametrize(
    "rule, column, sign",
    [
        ("change <= -1", "score_change", 1.0),
        ("reduction >= 1", "score_change", -1.0),
        ("percent_change <= -30", "score_percent_change", 1.0),
        ("percent_reduction >= 30", "score_percent_change", -1.0),
    ],
)
def test_responder_kinds_are_derive_columns_with_a_sign(rule, column, sign):
    values = [-4.0, 1.0, 3.0, 2.1, 7.0]
    baselines = [-2.0, 4.0, 0.0, 3.0, 10.0]
    derived = add_change_scores(_long(values, baselines), ["score"], baseline_visit="pre")
    post = derived[derived["visit"] == "post"].reset_index(drop=True)
    threshold = parse_threshold(rule, outcome="score")
    decided = threshold.evaluate(post[["score", "score_baseline"]])
    number = float(rule.split()[-1])
    quantity = sign * post[column]
    expected = quantity <= number + 1e-9 if "<=" in rule else quantity >= number - 1e-9
    expected = pd.array(expected, dtype="boolean")
    expected[quantity.isna().to_numpy()] = pd.NA
    assert decided.tolist() == list(expected)
    # percent kinds read the same number derive writes, bit for bit
    if "percent" in rule:
        from prt_outcomes.derive import percent_change

        own = percent_change(post["score"], post["score_baseline"])
        pd.testing.assert_series_equal(own, post["score_percent_change"], check_names=False)


def _config():
    return StudyConfig.from_dict(
        {
            "study": {"name": "tiny"},
            "data": {"files": [{"path": "x.csv"}]},
            "arms": {"reference": "uc", "levels": [{"name": "prt"}, {"name": "uc"}]},
            "visits": [{"name": "baseline", "baseline": True}, {"name": "post"}],
            "outcomes": [{"name": "pain", "instrument": "nrs_0_10", "primary": True}],
        }
    )


def _trial():
    return pd.DataFrame(
        {
            "participant_id": ["p1", "p1", "p2", "p2", "u1", "u1", "u2", "u2"],
            "arm": ["prt"] * 4 + ["uc"] * 4,
            "visit": ["baseline", "post"] * 4,
            "pain": [4.0, 1.0, 6.0, 5.0, 3.0, 3.0, 5.0, 4.0],
        }
    )


def test_observed_summary_reads_the_derived_change_column():
    config = _config()
    derived = add_change_scores(_trial(), ["pain"], baseline_visit="baseline")
    marked = derived.copy()
    # a change column that differs from value - baseline shows who computes the summary
    marked["pain_change"] = marked["pain_change"] + 100.0
    mean_of = lambda table: table.set_index(["arm", "visit"]).loc[("prt", "post"), "change_mean"]  # noqa: E731
    assert mean_of(observed_summary(derived, config)) == pytest.approx(-2.0)
    assert mean_of(observed_summary(marked, config)) == pytest.approx(98.0)
    # data without the derive columns get them from derive: the same table
    pd.testing.assert_frame_equal(observed_summary(_trial(), config), observed_summary(derived, config))


def test_engine_baseline_covariate_is_derives_baseline(monkeypatch):
    from prt_outcomes.models import design

    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs.get("baseline_visit"))
        return baseline_values(*args, **kwargs)

    monkeypatch.setattr(design, "baseline_values", spy)
    rng = np.random.default_rng(3)
    n = 12
    ids = [f"s{i}" for i in range(n)]
    data = pd.DataFrame(
        {
            "id": ids * 2,
            "arm": (["a"] * 6 + ["b"] * 6) * 2,
            "visit": ["v0"] * n + ["v1"] * n,
            "y": np.r_[rng.normal(5, 1, n), rng.normal(4, 1, n)],
        }
    )
    frame = design.build_model_frame(
        data, outcome="y", arm="arm", visit="visit", subject="id", baseline_adjusted=True
    )
    # derive's function is called once; the engine passes the factorised frame, so the baseline
    # visit arrives as its code (the position of "v0" among the visits)
    assert calls == [0]
    base = data[data["visit"] == "v0"].set_index("id")["y"]
    later = data[data["visit"] == "v1"]
    column = frame.term_names.index("baseline_y")
    # the engine orders rows canonically; the covariate holds each participant's baseline
    np.testing.assert_array_equal(np.sort(frame.X[:, column]), np.sort(later["id"].map(base).to_numpy()))


# --------------------------------------------------------------------------------------------
# Wilson intervals: prt_outcomes.stats.proportions
# --------------------------------------------------------------------------------------------
def test_responder_figure_intervals_come_from_proportions(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from prt_outcomes.render import figures
    from prt_outcomes.stats import proportions

    calls = []
    real = proportions.compare_proportions

    def spy(*args, **kwargs):
        calls.append(args[:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(proportions, "compare_proportions", spy)
    r = pd.DataFrame(
        {
            "outcome": "pain",
            "threshold": "value <= 1",
            "visit": ["pre", "post"] * 2,
            "arm": ["a", "a", "b", "b"],
            "responders": [0, 33, 5, 50],
            "denominator": 50,
        }
    )
    ax = figures.plot_responders(r, threshold="value <= 1", ax=Figure().subplots())
    assert sorted(calls) == [(0, 50), (5, 50), (33, 50), (50, 50)]
    # the error bars span the table's interval: (low, high) of 33 / 50 in percent
    low, high = proportions.wilson_interval(33, 50)
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]
    spans = {(round(seg[0][1], 9), round(seg[1][1], 9)) for seg in segments}
    assert (round(100 * low, 9), round(100 * high, 9)) in spans


# --------------------------------------------------------------------------------------------
# model_info: typed columns, nothing formatted parsed back
# --------------------------------------------------------------------------------------------
def test_model_warnings_travel_as_a_list_and_converged_as_a_bool(tmp_path):
    from prt_outcomes.analyse.outcomes import (
        MODEL_INFO_COLUMNS,
        OutcomeAnalysis,
        encode_warnings,
        read_model_info,
    )
    from prt_outcomes.outputs import write_csv

    # a warning may hold the old separator " | " and start like a spreadsheet formula
    warnings = ["covariance a | b at the boundary", "=1+1 is text"]
    row = dict.fromkeys(MODEL_INFO_COLUMNS, "")
    row.update(
        outcome="pain",
        status="fitted",
        n_obs=10,
        n_subjects=5,
        loglik=-1.0,
        aic=4.0,
        converged=False,
        warnings=encode_warnings(warnings),
    )
    info = pd.DataFrame([row], columns=MODEL_INFO_COLUMNS)
    empty = pd.DataFrame()
    assert OutcomeAnalysis(empty, empty, empty, info).warnings == warnings
    path = write_csv(info, tmp_path / "model_info.csv")
    back = read_model_info(path)
    assert back.loc[0, "warnings"] == warnings
    assert back["converged"].dtype == bool and not back.loc[0, "converged"]


def test_report_lists_each_warning_as_written():
    from prt_outcomes.render.report import _model_section

    info = pd.DataFrame(
        {
            "outcome": ["pain", "odi"],
            "status": ["fitted", "fitted"],
            "converged": [True, False],
            "warnings": [["a | b"], []],
        }
    )
    html, failed, warned = _model_section(info)
    assert failed == [] and warned == ["pain: a | b", "odi: did not converge (not converged)"]


def test_a_stale_warnings_cell_is_refused_with_a_message():
    from prt_outcomes.analyse.outcomes import decode_warnings
    from prt_outcomes.errors import PrtOutcomesError

    with pytest.raises(PrtOutcomesError, match="JSON list"):
        decode_warnings("Hessian not positive definite | fell back")


# --------------------------------------------------------------------------------------------
# figures: built (and sized) once, in figures.py, for render_figures and the report
# --------------------------------------------------------------------------------------------
def test_report_uses_no_private_helper_of_figures():
    import inspect
    import re

    from prt_outcomes.render import report

    source = inspect.getsource(report)
    assert not re.findall(r"\bF\._\w+", source)
    assert "figsize" not in source
