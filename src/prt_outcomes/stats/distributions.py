"""Tail probabilities and quantiles of the t, F and normal distributions.

The model engine, the effect sizes, the audit tables and the figures read them here. They are
the special functions scipy.stats itself evaluates (``t.sf(x, df)`` is ``stdtr(df, -x)``,
``t.ppf`` is ``stdtrit``, ``f.sf`` is ``fdtrc``, ``norm.ppf`` is ``ndtri``), so the numbers are
scipy.stats' to the last bit (tests/test_distributions.py); loading scipy.stats, though, took
about 0.3 s in every workflow job that fits a model or draws an interval (issue 15, part 3).

Arguments broadcast as NumPy arrays do; an invalid degree of freedom (NaN, zero or negative)
gives NaN, as in scipy.stats.

Examples
--------
>>> from prt_outcomes.stats.distributions import t_quantile, t_two_sided_p
>>> round(float(t_quantile(0.975, 10)), 4)
2.2281
>>> round(float(t_two_sided_p(2.2281388519649385, 10)), 6)
0.05
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["f_upper_p", "normal_quantile", "t_inference", "t_quantile", "t_two_sided_p"]


def _valid_df(*dfs) -> np.ndarray:
    valid = np.ones(np.broadcast(*dfs).shape, dtype=bool)
    for df in dfs:
        with np.errstate(invalid="ignore"):
            valid &= np.asarray(df, dtype=float) > 0
    return valid


def t_two_sided_p(t, df):
    """Two-sided p value ``P(|T| >= |t|)`` of Student's t with ``df`` degrees of freedom
    (``2 * scipy.stats.t.sf(abs(t), df)``)."""
    t, df = np.asarray(t, dtype=float), np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return 2 * special.stdtr(df, -np.abs(t))  # NaN for an invalid df, as scipy.stats


def t_quantile(q, df):
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom
    (``scipy.stats.t.ppf(q, df)``)."""
    q, df = np.asarray(q, dtype=float), np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        # the ends of the support as scipy.stats gives them (stdtrit(df, 0) is +inf)
        x = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, special.stdtrit(df, q)))
        valid = _valid_df(df) & (q >= 0) & (q <= 1)
    return np.where(valid, x, np.nan)


def f_upper_p(F, num_df, den_df):
    """``P(X >= F)`` for X with an F distribution on ``num_df`` and ``den_df`` degrees of
    freedom (``scipy.stats.f.sf(F, num_df, den_df)``): 1 at or below 0."""
    F = np.asarray(F, dtype=float)
    num_df, den_df = np.asarray(num_df, dtype=float), np.asarray(den_df, dtype=float)
    with np.errstate(invalid="ignore"):
        p = np.where(F > 0, special.fdtrc(num_df, den_df, np.where(F > 0, F, 1.0)), 1.0)
    return np.where(_valid_df(num_df, den_df) & ~np.isnan(F), p, np.nan)


def normal_quantile(q):
    """The ``q`` quantile of the standard normal distribution (``scipy.stats.norm.ppf(q)``)."""
    return special.ndtri(np.asarray(q, dtype=float))


def t_inference(estimate, se, df, alpha: float) -> dict[str, np.ndarray]:
    """t statistic, two-sided p value and ``1 - alpha`` confidence limits of estimates.

    The one computation behind every estimate table of the model engine (coefficients,
    contrasts, means).

    Returns
    -------
    dict
        ``t``, ``p``, ``ci_low``, ``ci_high`` as arrays of the broadcast shape; NaN where the SE
        or the df are NaN or the df are not positive.

    Examples
    --------
    >>> out = t_inference([1.0], [0.5], [20.0], 0.05)
    >>> [round(float(out[k][0]), 4) for k in ("t", "p", "ci_low", "ci_high")]
    [2.0, 0.0593, -0.043, 2.043]
    """
    estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = estimate / se
    q = t_quantile(1 - alpha / 2, df)
    return {"t": t, "p": t_two_sided_p(t, df), "ci_low": estimate - q * se, "ci_high": estimate + q * se}
