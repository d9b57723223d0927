"""Funnel limits and overdispersion against FunnelPlotR's numbers and formulas, and hand-computed cases.

References
----------
* FunnelPlotR 0.6.0, commit 9020d4972873d863e10b8a16555975f0e322adfc:
  - tests/testthat/test-poisson_limits.R pins the exact Poisson limits of a standardised ratio
    at 15, 20 and 30 expected events (7 significant digits);
  - tests/testthat/test-classes_methods.R pins phi = 2.948033 for six units (SR, SHMI,
    truncation at 10%).
* tests/references/audit/make_funnel_reference.R restates FunnelPlotR's formulas in base R
  (FunnelPlotR itself is not installable here) and wrote funnel_reference.csv.

Tolerances: FunnelPlotR and the R script use z = 1.959964 and 3.090232, this module the exact
normal quantiles (1.95996398..., 3.09023231...); the relative difference of ~2e-8 in z moves a
limit by far less than rtol 1e-6. The pinned R values are rounded to 7 significant digits, so
they are compared to 5e-7 absolute.
"""

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.stats.funnel import (
    FUNNEL_COLUMNS,
    funnel_curve,
    funnel_limits,
    funnel_table,
    indirect_standardisation,
    overdispersion,
    pooled_within_sd,
)

HERE = Path(__file__).parent / "references" / "audit"
Z95, Z998 = 1.959963984540054, 3.090232306167813


def test_poisson_limits_equal_funnelplotr_tests():
    lim = funnel_limits([15, 20, 30], kind="ratio", target=1)
    np.testing.assert_allclose(lim["ll95"], [0.5596924, 0.6108260, 0.6746958], atol=5e-8)
    np.testing.assert_allclose(lim["ul95"], [1.649348, 1.544419, 1.427562], atol=5e-7)
    np.testing.assert_allclose(lim["ll998"], [0.3862650, 0.4479107, 0.5289724], atol=5e-8)
    np.testing.assert_allclose(lim["ul998"], [2.082907, 1.902094, 1.702771], atol=5e-7)


def test_phi_equals_funnelplotr_test():
    num = np.array([100, 150, 180, 80, 120, 225.0])
    den = np.array([108, 112, 165, 95, 100, 220.0])
    t = funnel_table(num / den, den, list("abcdef"), kind="ratio", trim_method="truncate")
    assert round(t["phi"].iloc[0], 6) == 2.948033
    assert list(t.columns) == list(FUNNEL_COLUMNS)


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(HERE / "funnel_reference.csv")


@pytest.mark.parametrize("adjustment", ["none", "additive"])
@pytest.mark.parametrize(
    "case, kind, scale, trim_method",
    [("proportion_arcsine", "proportion", "arcsine", "winsorise"), ("ratio_shmi", "ratio", None, "truncate")],
)
def test_against_funnelplotr_formulas(reference, case, kind, scale, trim_method, adjustment):
    ref = reference[(reference["case"] == case) & (reference["adjustment"] == adjustment)]
    value = ref["numerator"] / ref["denominator"]
    target = None if kind == "proportion" else 1.0
    t = funnel_table(
        value,
        ref["denominator"],
        ref["group"],
        kind=kind,
        target=target,
        adjustment=None if adjustment == "none" else adjustment,
        trim_method=trim_method,
        scale=scale,
    )
    np.testing.assert_allclose(t["target"], ref["target"], rtol=1e-12)
    np.testing.assert_allclose(t["z"], ref["z"], rtol=1e-10)
    np.testing.assert_allclose(t["phi"], ref["phi"], rtol=1e-10)
    np.testing.assert_allclose(t["tau2"], ref["tau2"], rtol=1e-10)
    assert ref["tau2"].iloc[0] > 0  # the cases are overdispersed, so the additive limits differ
    for col in ("ll95", "ul95", "ll998", "ul998"):
        np.testing.assert_allclose(t[col], ref[col], rtol=1e-6)


def test_reference_script_reproduces_fixture(rscript, tmp_path, reference):
    out = tmp_path / "funnel_reference.csv"
    env = {**os.environ, "FUNNEL_REFERENCE_OUT": str(out)}
    subprocess.run([rscript, str(HERE / "make_funnel_reference.R")], check=True, env=env, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_csv(out), reference, rtol=1e-12)


def test_hand_computed_proportion_and_mean_limits():
    # normal approximation, p0 = 0.3, n = 100: 0.3 +- z sqrt(0.21 / 100)
    lim = funnel_limits([100], kind="proportion", target=0.3, exact=False).iloc[0]
    half95, half998 = Z95 * math.sqrt(0.0021), Z998 * math.sqrt(0.0021)
    assert lim["ll95"] == pytest.approx(0.3 - half95, abs=1e-12)
    assert lim["ul998"] == pytest.approx(0.3 + half998, abs=1e-12)
    # multiplicative phi = 2.25 widens by sqrt(phi) = 1.5; additive tau2 = 0.001 adds to s^2
    lim = funnel_limits(
        [100], kind="proportion", target=0.3, exact=False, adjustment="multiplicative", phi=2.25
    )
    assert lim["ul95"].iloc[0] == pytest.approx(0.3 + 1.5 * half95, abs=1e-12)
    lim = funnel_limits([100], kind="proportion", target=0.3, adjustment="additive", tau2=0.001)
    assert lim["ll95"].iloc[0] == pytest.approx(0.3 - Z95 * math.sqrt(0.0021 + 0.001), abs=1e-12)
    # phi below 1 never narrows the limits
    lim = funnel_limits(
        [100], kind="proportion", target=0.3, exact=False, adjustment="multiplicative", phi=0.5
    )
    assert lim["ll95"].iloc[0] == pytest.approx(0.3 - half95, abs=1e-12)
    # a mean: target -2, within-unit SD 2.5, n = 25: -2 +- z 0.5
    lim = funnel_limits([25], kind="mean", target=-2.0, sd=2.5).iloc[0]
    assert (lim["ll95"], lim["ul998"]) == pytest.approx((-2 - 0.5 * Z95, -2 + 0.5 * Z998), abs=1e-12)


def _binom_cdf(r, n, p):
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(0, r + 1)) if r >= 0 else 0.0


def _spiegelhalter_exact(n, p0, prob):
    """Spiegelhalter (2005) appendix A.1.1, written out: the smallest r with F(r) >= prob, then
    interpolate r - alpha with alpha = (F(r) - prob) / (F(r) - F(r - 1))."""
    r = 0
    while _binom_cdf(r, n, p0) < prob:
        r += 1
    f_r, f_r1 = _binom_cdf(r, n, p0), _binom_cdf(r - 1, n, p0)
    return max(0.0, (r - (f_r - prob) / (f_r - f_r1)) / n)  # r = 0 interpolates below 0: clip


@pytest.mark.parametrize("n", [10, 37, 120])
def test_exact_binomial_limits_with_interpolation(n):
    lim = funnel_limits([n], kind="proportion", target=0.2).iloc[0]
    for col, prob in [("ll95", 0.025), ("ul95", 0.975), ("ll998", 0.001), ("ul998", 0.999)]:
        assert lim[col] == pytest.approx(_spiegelhalter_exact(n, 0.2, prob), abs=1e-10), col
    if n == 10:  # P(X = 0) = 0.107 > 0.001: the 99.8% lower limit is 0, not below
        assert lim["ll998"] == 0.0


def test_overdispersion_hand_case():
    # z = (-3, 1, -0.5, 2.5, 0): winsorised at the 25% / 75% type-7 quantiles (-0.5, 1)
    y = np.array([-0.15, 0.05, -0.05, 0.25, 0.0])
    s = np.array([0.05, 0.05, 0.1, 0.1, 0.1])
    od = overdispersion(y, s, 0.0, trim=0.25)
    zw = np.array([-0.5, 1, -0.5, 1, 0])
    assert od.phi == pytest.approx(np.mean(zw**2), abs=1e-12)
    w = 1 / s**2
    expected_tau2 = max(0.0, (5 * od.phi - 4) / (w.sum() - (w**2).sum() / w.sum()))
    assert od.tau2 == pytest.approx(expected_tau2, abs=1e-15)
    assert od.tau2 == 0.0  # I phi = 2.5 < I - 1 = 4: no between-unit variance
    od = overdispersion(y, s, 0.0, trim=0.0)
    assert od.phi == pytest.approx((9 + 1 + 0.25 + 6.25 + 0) / 5)
    # w = (400, 400, 100, 100, 100): sum 1100, sum of squares 350000
    assert od.tau2 == pytest.approx((16.5 - 4) / (1100 - 350000 / 1100))


def test_mean_funnel_flags_a_unit_outside():
    means = [-2.0, -2.1, -1.9, -0.2]
    t = funnel_table(means, [100, 80, 120, 100], list("abcd"), kind="mean", sd=2.0, target=-2.0)
    assert t["flag"].tolist() == ["within", "within", "within", "high_998"]
    assert t["z"].tolist() == pytest.approx([0, -0.1 / (2 / math.sqrt(80)), 0.1 / (2 / math.sqrt(120)), 9])
    # by default the target is the patient-weighted mean, which the outlier pulls up: a, b, c are now low
    t = funnel_table(means, [100, 80, 120, 100], list("abcd"), kind="mean", sd=2.0)
    assert t["target"].iloc[0] == pytest.approx((-200 - 168 - 228 - 20) / 400)
    assert t["flag"].tolist() == ["low_95", "low_95", "low_95", "high_998"]


def test_pooled_within_sd_and_indirect_standardisation():
    rng = np.random.default_rng(7)
    units = np.repeat(["a", "b", "c"], [60, 90, 150])
    age = rng.normal(55, 12, units.size)
    sex = rng.choice(["f", "m"], units.size)
    d = pd.DataFrame({"unit": units, "age": age, "sex": sex})
    d["event"] = (rng.random(units.size) < 1 / (1 + np.exp(-(age - 55) / 8))).astype(int)
    d["change"] = -2 + 0.05 * (age - 55) + (sex == "m") * 0.7 + rng.normal(0, 2, units.size)
    table, sd = indirect_standardisation(d, "event", ["age", "sex"], "unit")
    # a logistic MLE with an intercept reproduces the total: sum(observed) = sum(expected)
    assert table["observed"].sum() == pytest.approx(table["expected"].sum(), rel=1e-8)
    assert np.isnan(sd)
    gauss, sd = indirect_standardisation(d, "change", ["age", "sex"], "unit", family="gaussian")
    x = np.column_stack([np.ones(units.size), age, (sex == "m").astype(float)])
    beta, *_ = np.linalg.lstsq(x, d["change"].to_numpy(), rcond=None)
    fitted = x @ beta
    resid = d["change"].to_numpy() - fitted
    assert sd == pytest.approx(math.sqrt(resid @ resid / (units.size - 3)), rel=1e-10)
    for unit, row in gauss.set_index("group").iterrows():
        m = units == unit
        assert row["expected"] == pytest.approx(fitted[m].mean(), rel=1e-10)
        assert row["adjusted"] == pytest.approx(d["change"][m].mean() - fitted[m].mean() + d["change"].mean())
    v = d["change"].to_numpy()
    within = sum(((v[units == u] - v[units == u].mean()) ** 2).sum() for u in "abc")
    assert pooled_within_sd(v, units) == pytest.approx(math.sqrt(within / (units.size - 3)))


@pytest.mark.parametrize("adjustment", [None, "multiplicative", "additive"])
def test_curve_passes_through_the_units_limits(adjustment):
    rng = np.random.default_rng(4)
    n = rng.integers(20, 400, 12)
    means = -1.5 + rng.normal(0, 2.4 / np.sqrt(n)) + rng.normal(0, 0.3, 12)
    t = funnel_table(means, n, [f"u{i}" for i in range(12)], kind="mean", sd=2.4, adjustment=adjustment)
    curve = funnel_curve(t, kind="mean", points=400)
    for col in ("ll95", "ul998"):
        # the lines are smooth in the volume: interpolating them at a unit's volume gives its limits
        np.testing.assert_allclose(np.interp(t["volume"], curve["volume"], curve[col]), t[col], rtol=2e-3)
    if adjustment is not None:
        assert t["phi"].iloc[0] > 1  # the between-unit SD of 0.3 overdisperses the means


def test_exact_proportion_curve_is_drawn_at_whole_volumes():
    # binomial limits exist at whole numbers of patients only: the curve must not be NaN there
    t = funnel_table([0.2, 0.5, 0.3], [50, 40, 200], ["a", "b", "c"], kind="proportion")
    curve = funnel_curve(t, kind="proportion")
    assert curve[["ll95", "ul95", "ll998", "ul998"]].notna().all().all()
    assert (curve["volume"] == np.round(curve["volume"])).all()
    assert curve["volume"].min() <= 40 and curve["volume"].max() >= 220
    at = funnel_limits(curve["volume"], kind="proportion", target=float(t["target"].iloc[0]), exact=True)
    np.testing.assert_array_equal(curve["ul95"], at["ul95"])
    # a unit's own limits lie on the curve
    for _, unit in t.iterrows():
        row = curve[curve["volume"] == unit["volume"]].iloc[0]
        assert row["ul998"] == unit["ul998"] and row["ll95"] == unit["ll95"]


def test_a_target_of_zero_gives_no_warning_and_no_false_flag():
    # every unit at 0 (no patient met the rule anywhere): binomial SE 0, the units sit on the
    # target; before, 0 / 0 warned and the dispersion estimate was NaN from a division
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = funnel_table([0.0, 0.0, 0.0, 0.0], [12, 30, 7, 51], list("abcd"), kind="proportion")
        od = overdispersion([0.0, 0.1, 0.3], [0.0, 0.05, 0.1], 0.0, trim=0)
    assert (t["flag"] == "within").all() and (t["z"] == 0).all()
    # the zero-SE unit is left out of phi; the off-target one with s = 0 would be +inf
    assert od.n_used == 2 and od.phi == pytest.approx((2.0**2 + 3.0**2) / 2)
    assert np.isinf(overdispersion([0.2], [0.0], 0.0, trim=0).z[0])
