"""Proportion statistics against R (base R script + CSV fixture) and statsmodels/scipy."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from prt_outcomes.stats.proportions import (
    COMPARISON_COLUMNS,
    compare_proportions,
    nnt_label,
    number_needed_to_treat,
    odds_ratio,
    proportion_statistics,
    risk_difference,
    two_by_two_test,
    wilson_interval,
)

REF_DIR = Path(__file__).resolve().parent / "references" / "responders"
REFERENCE = pd.read_csv(REF_DIR / "proportions_reference.csv", comment="#")
CASES = [row for _, row in REFERENCE.iterrows()]
IDS = [row["case"] for row in CASES]

# The R script writes 17 significant digits of the same closed-form formulas, so agreement is
# limited only by floating-point evaluation order: 1e-9 relative is generous.
RTOL = 1e-9
ATOL = 1e-12


@pytest.mark.parametrize("row", CASES, ids=IDS)
def test_matches_r_reference(row):
    res = compare_proportions(row.x1, row.n1, row.x0, row.n0)
    # Wilson limits at 0 come out as ~1e-17 in one formula and 0 in the other: atol on 0-100 scale.
    assert_allclose(
        [res.percent, res.percent_ci_low, res.percent_ci_high],
        [row.percent, row.percent_ci_low, row.percent_ci_high],
        rtol=RTOL,
        atol=1e-10,
    )
    assert_allclose(
        [res.risk_difference, res.rd_ci_low, res.rd_ci_high],
        [row.risk_difference, row.rd_ci_low, row.rd_ci_high],
        rtol=RTOL,
        atol=ATOL,
    )
    assert_allclose(
        [res.odds_ratio, res.or_ci_low, res.or_ci_high],
        [row.odds_ratio, row.or_ci_low, row.or_ci_high],
        rtol=RTOL,
    )
    assert res.or_corrected == bool(row.or_corrected)
    # 1/RD amplifies rounding near RD = 0 (equal arms): compare reciprocals back on the RD scale.
    for ours, ref in [
        (res.nnt, row.nnt),
        (res.nnt_ci_low, row.nnt_ci_low),
        (res.nnt_ci_high, row.nnt_ci_high),
    ]:
        if math.isinf(ref):
            assert math.isinf(ours) or abs(1 / ours) < 1e-12
        else:
            assert_allclose(1 / ours, 1 / ref, rtol=RTOL, atol=ATOL)
    assert res.test == row.test
    assert_allclose(res.p, row.p, rtol=1e-9)


@pytest.mark.parametrize("row", CASES, ids=IDS)
def test_both_p_values_match_r(row):
    table = np.array([[row.x1, row.n1 - row.x1], [row.x0, row.n0 - row.x0]])
    assert_allclose(stats.fisher_exact(table).pvalue, row.p_fisher, rtol=1e-9)
    if not math.isnan(row.p_chi2):
        assert_allclose(stats.chi2_contingency(table, correction=False).pvalue, row.p_chi2, rtol=1e-9)


@pytest.mark.parametrize("row", CASES, ids=IDS)
def test_matches_statsmodels(row):
    """Identical formulas, so agreement to 1e-10 (the OR uses 'logit' or, with a zero cell,
    'logit-adjusted')."""
    x1, n1, x0, n0 = int(row.x1), int(row.n1), int(row.x0), int(row.n0)
    low, high = proportion_confint(x1, n1, method="wilson")
    assert_allclose(wilson_interval(x1, n1), (low, high), atol=1e-10)
    rd = risk_difference(x1, n1, x0, n0)
    ref = confint_proportions_2indep(x1, n1, x0, n0, compare="diff", method="newcomb")
    assert_allclose(rd[1:], ref, atol=1e-10)
    est, or_low, or_high, corrected = odds_ratio(x1, n1, x0, n0)
    method = "logit-adjusted" if corrected else "logit"
    ref = confint_proportions_2indep(x1, n1, x0, n0, compare="odds-ratio", method=method)
    assert_allclose((or_low, or_high), ref, rtol=1e-10)


def test_zero_cell_correction_only_when_needed():
    assert odds_ratio(5, 10, 3, 10)[3] is False
    est, low, high, corrected = odds_ratio(0, 10, 3, 10)
    assert corrected and est == pytest.approx((0.5 * 7.5) / (10.5 * 3.5))
    assert 0 < low < est < high


def test_empty_arm_gives_nan():
    res = compare_proportions(0, 0, 3, 10)
    assert math.isnan(res.percent) and math.isnan(res.risk_difference)
    assert math.isnan(res.odds_ratio) and math.isnan(res.p) and res.test == ""
    assert res.nnt_label == ""


@pytest.mark.parametrize("x, n", [(-1, 5), (6, 5), (1.5, 5)])
def test_bad_counts_raise(x, n):
    with pytest.raises(ValueError, match="responders|whole numbers"):
        wilson_interval(x, n)


def test_nnt_signs_and_infinity():
    assert number_needed_to_treat(0.25, 0.1, 0.5) == (4.0, 2.0, 10.0)
    nnt, low, high = number_needed_to_treat(0.0, -0.2, 0.2)
    assert math.isinf(nnt) and low == 5.0 and high == -5.0
    assert number_needed_to_treat(0.1, 0.0, 0.2)[2] == math.inf


def test_nnt_labels():
    assert nnt_label(0.25, 0.1, 0.4) == "NNTB 4.0 (2.5 to 10.0)"
    assert nnt_label(-0.25, -0.4, -0.1) == "NNTH 4.0 (2.5 to 10.0)"
    assert nnt_label(0.25, -0.04, 0.5) == "NNTB 4.0 (NNTH 25.0 to inf to NNTB 2.0)"
    assert nnt_label(0.0, -0.2, 0.2) == "NNT inf (NNTH 5.0 to inf to NNTB 5.0)"
    assert nnt_label(float("nan"), 0, 0) == ""


def test_test_choice_follows_expected_counts():
    # 33/50 vs 5/50: 38 responders in 100, so the smallest expected count is 19 -> chi-square
    assert two_by_two_test(33, 50, 5, 50)[1] == "chi2"
    # expected responders per arm = 11 * 10 / 20 = 5.5, non-responders 4.5 < 5 -> Fisher
    assert two_by_two_test(3, 10, 8, 10)[1] == "fisher"
    assert two_by_two_test(0, 10, 0, 10) == (1.0, "fisher")


def test_proportion_statistics_table():
    counts = pd.DataFrame(
        {
            "visit": ["post"] * 3 + ["m3"] * 3,
            "arm": ["prt", "placebo", "uc"] * 2,
            "responders": [33, 10, 5, 0, 0, 0],
            "denominator": [50, 51, 50, 10, 0, 12],
        }
    )
    out = proportion_statistics(counts, reference_arm="uc")
    assert list(out.columns) == [*counts.columns, "reference", *COMPARISON_COLUMNS]
    assert out["reference"].tolist() == ["uc", "uc", "", "uc", "uc", ""]
    ref_rows = out[out["arm"] == "uc"]
    assert ref_rows["risk_difference"].isna().all() and (ref_rows["test"] == "").all()
    first = compare_proportions(33, 50, 5, 50)
    assert out.loc[0, "odds_ratio"] == first.odds_ratio
    assert math.isnan(out.loc[4, "percent"])  # empty arm
    assert out.loc[3, "or_corrected"]  # 0/10 vs 0/12 needs the correction


def test_proportion_statistics_single_arm():
    counts = pd.DataFrame({"visit": ["post"], "arm": ["clinic"], "responders": [4], "denominator": [9]})
    out = proportion_statistics(counts, reference_arm=None)
    assert out.loc[0, "reference"] == "" and math.isnan(out.loc[0, "risk_difference"])
    assert out.loc[0, "percent"] == pytest.approx(100 * 4 / 9)


@settings(max_examples=150, deadline=None)
@given(
    n1=st.integers(1, 60),
    n0=st.integers(1, 60),
    f1=st.floats(0, 1),
    f0=st.floats(0, 1),
)
def test_intervals_contain_estimates(n1, n0, f1, f0):
    x1, x0 = round(f1 * n1), round(f0 * n0)
    res = compare_proportions(x1, n1, x0, n0)
    assert res.percent_ci_low - 1e-9 <= res.percent <= res.percent_ci_high + 1e-9
    assert -1 - 1e-12 <= res.rd_ci_low <= res.risk_difference <= res.rd_ci_high <= 1 + 1e-12
    assert res.or_ci_low <= res.odds_ratio <= res.or_ci_high
    assert 0 <= res.p <= 1 + 1e-12
    # The NNT set excludes values between the two bounds when RD's interval straddles 0.
    if res.rd_ci_low < 0 < res.rd_ci_high:
        assert res.nnt_ci_low > 0 > res.nnt_ci_high


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R")
def test_r_script_reproduces_fixture(tmp_path):
    """The stored fixture is what the stored script writes (guards against stale fixtures)."""
    target = tmp_path / "ref.csv"
    script = REF_DIR / "make_responders_reference.R"
    subprocess.run(["Rscript", str(script), str(target)], check=True, capture_output=True)
    fresh = pd.read_csv(target, comment="#")
    pd.testing.assert_frame_equal(fresh, REFERENCE)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.2])
def test_other_confidence_levels_match_statsmodels(alpha):
    res = compare_proportions(22, 51, 13, 50, alpha=alpha)
    assert_allclose(
        (res.percent_ci_low / 100, res.percent_ci_high / 100),
        proportion_confint(22, 51, alpha=alpha, method="wilson"),
        rtol=1e-10,
    )
    assert_allclose(
        (res.rd_ci_low, res.rd_ci_high),
        confint_proportions_2indep(22, 51, 13, 50, compare="diff", method="newcomb", alpha=alpha),
        rtol=1e-10,
    )
    assert_allclose(
        (res.or_ci_low, res.or_ci_high),
        confint_proportions_2indep(22, 51, 13, 50, compare="odds-ratio", method="logit", alpha=alpha),
        rtol=1e-10,
    )
    wider = compare_proportions(22, 51, 13, 50, alpha=alpha / 2)
    assert wider.rd_ci_low < res.rd_ci_low and wider.rd_ci_high > res.rd_ci_high
