"""Hedges g of the trial model checked against pingouin, an independent implementation.

pingouin.compute_effsize(eftype="hedges") computes ``J * (mean1 - mean2) / pooled SD`` with
``J = 1 - 3 / (4 (n1 + n2) - 9)`` (pingouin/effsize.py). The engine's standardizer is the pooled
baseline SD; at the baseline visit of a saturated model without covariates, where every
participant has a baseline value, the model's estimate of each arm's baseline mean is the
sample mean (the likelihood factors over the fully observed first visit), so the model's g at
baseline must equal pingouin's g on the baseline values.
"""

from __future__ import annotations

import numpy as np
import pingouin as pg
import pytest

from prt_outcomes.models import fit_trial_model
from prt_outcomes.simulate import simulate_trial
from prt_outcomes.stats.effects import hedges_g_from_samples


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hedges_g_from_samples_matches_pingouin(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(1.0, 2.0, 37), rng.normal(0.0, 1.5, 52)
    ours = hedges_g_from_samples(a, b)
    theirs = pg.compute_effsize(a, b, paired=False, eftype="hedges")
    assert ours.g == pytest.approx(theirs, rel=1e-12)


def test_model_g_at_baseline_equals_pingouin_on_baseline_values():
    data = simulate_trial(20221)
    fit = fit_trial_model(
        data,
        outcome="pain_avg",
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariance="unstructured",
        reference_arm="usual_care",
        arm_levels=["prt", "placebo", "usual_care"],
        visit_levels=["baseline", "post", "m1", "m2", "m3", "m6", "m12"],
    )
    base = data[data.visit == "baseline"]
    contrasts = fit.contrasts.set_index(["visit", "arm"])
    for arm in ("prt", "placebo"):
        row = contrasts.loc[("baseline", arm)]
        x = base.loc[base.arm == arm, "pain_avg"]
        y = base.loc[base.arm == "usual_care", "pain_avg"]
        assert row["estimate"] == pytest.approx(x.mean() - y.mean(), abs=1e-8)
        assert row["hedges_g"] == pytest.approx(pg.compute_effsize(x, y, eftype="hedges"), rel=1e-6)
        # model-based interval: the contrast CI on the standardized scale
        scale = row["hedges_g"] / row["estimate"]
        assert row["hedges_g_ci_low"] == pytest.approx(row["ci_low"] * scale, rel=1e-9)
        assert row["hedges_g_ci_high"] == pytest.approx(row["ci_high"] * scale, rel=1e-9)
    # at follow-up the same baseline standardizer is used
    post = contrasts.loc[("post", "prt")]
    base_scale = contrasts.loc[("baseline", "prt")]
    assert post["hedges_g"] / post["estimate"] == pytest.approx(
        base_scale["hedges_g"] / base_scale["estimate"], rel=1e-9
    )
