"""Responder curves (prt_outcomes.render.figures.responder_curve_figure): at each configured
percent-reduction threshold the curve's height is the responders table's rate for the same
outcome, visit and rule; an audit's arm under privacy.min_cell is not drawn."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from prt_outcomes.analyse.outcomes import analyse_responders  # noqa: E402
from prt_outcomes.derive import add_change_scores  # noqa: E402
from prt_outcomes.outputs import figure_stems  # noqa: E402
from prt_outcomes.render import figures as F  # noqa: E402

EXAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "example" / "outcomes_long.csv"


@pytest.fixture(scope="module")
def example(cfg):
    data = pd.read_csv(EXAMPLE_DATA)
    data = add_change_scores(data, list(cfg.outcome_names), baseline_visit=cfg.baseline_visit)
    return data, analyse_responders(data, cfg)


def curve_height(line, x: float) -> float:
    """The step curve's value at x (drawn with where="post": the value from x on)."""
    xs, ys = line.get_xdata(), line.get_ydata()
    return float(ys[np.searchsorted(xs, x, side="right") - 1])


def test_curve_at_each_threshold_equals_the_responders_table(example, cfg):
    data, responders = example
    assert F.responder_curve_outcomes(cfg) == {"pain_avg": [30.0, 50.0]}
    assert "responder_curve_pain_avg" in figure_stems(cfg)
    fig = F.responder_curve_figure(data, cfg, outcome="pain_avg")
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines if ln.get_gid()}
    follow = [v for v in cfg.visit_names if v != cfg.baseline_visit][-3:]
    assert len(lines) == len(follow) * len(cfg.arm_names)
    checked = 0
    for x in (30, 50):
        rows = responders[
            (responders.outcome == "pain_avg") & (responders.threshold == f"percent_reduction >= {x}")
        ]
        for r in rows[rows.visit.isin(follow)].itertuples():
            drawn = curve_height(lines[f"responder_curve:{r.arm}:{r.visit}"], x)
            assert drawn == pytest.approx(100.0 * r.responders / r.denominator, abs=1e-9), (x, r.arm, r.visit)
            checked += 1
    assert checked == 2 * len(follow) * len(cfg.arm_names)


def test_an_audit_arm_under_min_cell_is_not_drawn(example, cfg):
    data, _ = example
    small = data[
        (data.arm != "prt") | data.participant_id.isin(data[data.arm == "prt"].participant_id.unique()[:3])
    ]
    audit_cfg = replace(cfg, design="audit")
    assert audit_cfg.is_audit and audit_cfg.privacy.min_cell == 5
    fig = F.responder_curve_figure(small, audit_cfg, outcome="pain_avg")
    gids = {ln.get_gid() for ax in fig.axes for ln in ax.lines if ln.get_gid()}
    assert not any(g.startswith("responder_curve:prt:") for g in gids)
    assert any(g.startswith("responder_curve:placebo:") for g in gids)
    assert "not drawn (fewer than 5): PRT" in fig._suptitle.get_text()
