"""Hedges g (prt_outcomes.stats.effects) against textbook values, and its use in model contrasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.models import fit_trial_model
from prt_outcomes.stats.effects import hedges_correction, hedges_g, hedges_g_from_samples, pooled_sd


def test_borenstein_worked_example():
    # Borenstein, Hedges, Higgins & Rothstein (2009), Introduction to Meta-Analysis, sec. 4.2:
    # means 103 / 100, SD 5.5 / 4.5, n 50 / 50 -> S_within 5.0249, d 0.5970, V_d 0.0418,
    # J 0.9923, g 0.5924, V_g 0.0411 (printed to 4 decimals).
    s = pooled_sd(5.5, 50, 4.5, 50)
    r = hedges_g(103 - 100, s, 50, 50)
    assert s == pytest.approx(5.0249, abs=5e-5)
    assert r.d == pytest.approx(0.5970, abs=5e-5)
    assert r.j == pytest.approx(0.9923, abs=5e-5)
    assert r.g == pytest.approx(0.5924, abs=5e-5)
    assert (r.se / r.j) ** 2 == pytest.approx(0.0418, abs=5e-5)
    assert r.se**2 == pytest.approx(0.0411, abs=5e-5)
    assert r.method == "hedges_olkin"
    assert (r.ci_low, r.ci_high) == pytest.approx((r.g - 1.959964 * r.se, r.g + 1.959964 * r.se), rel=1e-6)


def test_correction_factor_formula():
    # J = 1 - 3 / (4 df - 1) with df = n1 + n2 - 2 (Hedges 1981)
    for n1, n2 in [(5, 7), (20, 20), (100, 3)]:
        assert hedges_correction(n1, n2) == pytest.approx(1 - 3 / (4 * (n1 + n2 - 2) - 1))
    assert np.isnan(hedges_correction(1, 1))


def test_from_samples_and_model_based_ci():
    r = hedges_g_from_samples([3.0, 4.0, 5.0, np.nan], [1.0, 2.0, 3.0])
    assert r.g == pytest.approx(2 * 0.8)
    m = hedges_g(2.0, 4.0, 30, 30, difference_ci=(1.0, 3.0))
    j = 1 - 3 / (4 * 60 - 9)
    assert (m.g, m.ci_low, m.ci_high) == pytest.approx((j * 0.5, j * 0.25, j * 0.75))
    assert m.method == "model"
    assert np.isnan(hedges_g(1.0, 0.0, 10, 10).g)


def test_contrast_hedges_g_uses_pooled_baseline_sd_and_model_ci():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(60):
        arm = "prt" if i % 2 else "control"
        base = rng.normal(5, 1.5)
        rows.append((i, arm, "pre", base))
        if i % 7:
            rows.append((i, arm, "post", base - (2 if arm == "prt" else 0.5) + rng.normal(0, 1)))
    data = pd.DataFrame(rows, columns=["id", "arm", "visit", "y"])
    fit = fit_trial_model(
        data, outcome="y", arm="arm", visit="visit", subject="id", visit_levels=["pre", "post"]
    )
    pre = data[data["visit"] == "pre"]
    a, b = pre.loc[pre["arm"] == "prt", "y"], pre.loc[pre["arm"] == "control", "y"]
    sd = pooled_sd(a.std(), len(a), b.std(), len(b))
    j = hedges_correction(len(a), len(b))
    row = fit.contrasts.set_index("visit").loc["post"]
    assert row["hedges_g"] == pytest.approx(j * row["estimate"] / sd, rel=1e-12)
    assert row["hedges_g_ci_low"] == pytest.approx(j * row["ci_low"] / sd, rel=1e-12)
    resid = fit_trial_model(
        data,
        outcome="y",
        arm="arm",
        visit="visit",
        subject="id",
        visit_levels=["pre", "post"],
        standardizer="residual_sd",
    )
    r2 = resid.contrasts.set_index("visit").loc["post"]
    assert r2["hedges_g"] == pytest.approx(j * r2["estimate"] / np.sqrt(resid.covariance.loc["post", "post"]))
