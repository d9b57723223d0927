"""prt_outcomes.stats.distributions gives scipy.stats' numbers to the last bit.

The engine's p values and intervals moved from scipy.stats to the special functions scipy.stats
evaluates (issue 15, part 3: scipy.stats took ~0.3 s to load in every fitting job). Equality is
exact, edge cases included, so no estimate table changes.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import stats

from prt_outcomes.stats.distributions import (
    f_upper_p,
    normal_quantile,
    t_inference,
    t_quantile,
    t_two_sided_p,
)

X = np.array([-np.inf, -30.0, -2.5, -1e-9, 0.0, 1e-9, 0.3, 1.96, 2.5, 40.0, np.inf, np.nan])
DF = np.array([np.nan, -1.0, 0.0, 1e-3, 0.5, 1.0, 2.7, 5.0, 30.0, 171.3, 1e6, np.inf])


def test_t_two_sided_p_equals_scipy_stats():
    x, df = np.meshgrid(X, DF)
    with np.errstate(all="ignore"):
        expected = 2 * stats.t.sf(np.abs(x), df)
    assert_array_equal(t_two_sided_p(x, df), expected)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.975, 0.995, 0.9995, 1e-300, 0.0, 1.0, -0.1, 1.1, np.nan])
def test_t_quantile_equals_scipy_stats(q):
    with np.errstate(all="ignore"):
        expected = stats.t.ppf(q, DF)
    assert_array_equal(t_quantile(q, DF), expected)


def test_f_upper_p_equals_scipy_stats():
    F, num, den = np.meshgrid(
        np.array([np.nan, -1.0, 0.0, 1e-9, 0.5, 3.9, 100.0, np.inf]),
        np.array([np.nan, -1.0, 0.0, 1.0, 2.0, 3.5]),
        np.array([np.nan, -1.0, 0.0, 0.5, 4.2, 60.0, 1e6, np.inf]),
    )
    with np.errstate(all="ignore"):
        expected = stats.f.sf(F, num, den)
    assert_array_equal(f_upper_p(F, num, den), expected)


def test_normal_quantile_equals_scipy_stats():
    q = np.array([-0.1, 0.0, 1e-12, 0.001, 0.025, 0.5, 0.975, 0.999, 1.0, 1.1, np.nan])
    assert_array_equal(normal_quantile(q), stats.norm.ppf(q))


def test_t_inference_is_the_usual_t_table():
    est, se, df = (
        np.array([1.0, -0.4, 2.0, 0.0]),
        np.array([0.5, 0.2, 0.0, np.nan]),
        np.array([20, 3.3, 9, 9]),
    )
    out = t_inference(est, se, df, 0.05)
    with np.errstate(all="ignore"):
        t = est / se
        q = stats.t.ppf(0.975, df)
        assert_array_equal(out["t"], t)
        assert_array_equal(out["p"], 2 * stats.t.sf(np.abs(t), df))
    assert_array_equal(out["ci_low"], est - q * se)
    assert_array_equal(out["ci_high"], est + q * se)
