"""Standardized mean differences (Hedges g) with confidence intervals.

Formulas (Hedges & Olkin 1985; Borenstein et al. 2009, *Introduction to Meta-Analysis*, ch. 4):

* pooled SD  ``s = sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2))``
* Cohen d    ``d = difference / s``
* correction ``J = 1 - 3 / (4 (n1 + n2) - 9)``  (= 1 - 3 / (4 df - 1), df = n1 + n2 - 2)
* Hedges g   ``g = J d``

Confidence interval, two ways, chosen by what the caller has:

* **model-based** (used for every trial-model contrast): ``g_ci = J * difference_ci / s``.
  The SD is treated as a fixed standardizer, so the interval is the model's own contrast CI on
  the standardized scale: it excludes 0 exactly when the contrast's p < alpha, and it carries the
  model's covariate adjustment, missing-data handling and Satterthwaite df. It ignores the
  sampling error of ``s`` (a few percent of the width at n = 50 per arm).
* **Hedges-Olkin large-sample** (when no CI is given): ``var(d) = (n1 + n2)/(n1 n2) + d^2 /
  (2 (n1 + n2))``, ``se(g) = J sqrt(var(d))``, ``g +- z_{1 - alpha/2} se(g)``.

Examples
--------
>>> r = hedges_g(3.0, pooled_sd(5.5, 50, 4.5, 50), 50, 50)
>>> round(r.g, 4), round(r.se, 4)
(0.5924, 0.2028)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .distributions import normal_quantile

__all__ = ["HedgesG", "STANDARDIZERS", "hedges_correction", "pooled_sd", "hedges_g", "hedges_g_from_samples"]

#: The SD a trial-model contrast is divided by to give Hedges g (config
#: ``models.effect_size_standardizer``, ``fit_trial_model(standardizer=)``); the contrast tables
#: name the one used in their ``hedges_g_sd`` column. The schema enum is pinned to this table.
STANDARDIZERS: dict[str, str] = {
    "baseline_sd": "pooled within-arm SD of the observed outcome at the baseline visit (the two arms "
    "compared)",
    "change_sd": "pooled within-arm SD of the observed change from baseline at the contrast's visit "
    "(the two arms compared; undefined at the baseline visit). On the public Ashar et al. (2022) "
    "file it gives g = -1.15 (PRT vs placebo) and -1.72 (vs usual care) for the paper's -1.14 and "
    "-1.75, where the baseline SD gives -1.15 and -1.60",
    "residual_sd": "the model's SD at the contrast's visit, sqrt(V[v, v])",
}


@dataclass(frozen=True)
class HedgesG:
    """Hedges g with its CI; ``se`` is the Hedges-Olkin SE (NaN for model-based CIs)."""

    g: float
    ci_low: float
    ci_high: float
    d: float
    j: float
    se: float
    method: str


def hedges_correction(n1: float, n2: float) -> float:
    """Small-sample correction ``J = 1 - 3 / (4 (n1 + n2) - 9)`` (NaN when n1 + n2 < 3)."""
    total = float(n1) + float(n2)
    if total < 3:
        return float("nan")
    return 1.0 - 3.0 / (4.0 * total - 9.0)


def pooled_sd(sd1: float, n1: float, sd2: float, n2: float) -> float:
    """Pooled within-group SD ``sqrt(((n1-1) sd1^2 + (n2-1) sd2^2) / (n1 + n2 - 2))``.

    Examples
    --------
    >>> round(pooled_sd(5.5, 50, 4.5, 50), 4)
    5.0249
    """
    df = float(n1) + float(n2) - 2.0
    if df <= 0:
        return float("nan")
    return float(np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / df))


def hedges_g(
    difference: float,
    sd: float,
    n1: float,
    n2: float,
    *,
    difference_ci: tuple[float, float] | None = None,
    alpha: float = 0.05,
) -> HedgesG:
    """Hedges g for a mean difference standardized by ``sd``, with a confidence interval.

    Parameters
    ----------
    difference : float
        Mean difference (group 1 minus group 2, or a model contrast).
    sd : float
        Standardizer, usually the pooled within-group SD (:func:`pooled_sd`).
    n1, n2 : float
        Group sizes (for a trial contrast: participants with an observed baseline value).
    difference_ci : (float, float), optional
        CI of ``difference``; when given the g CI is ``J * difference_ci / sd`` (model-based),
        otherwise the Hedges-Olkin large-sample normal interval.
    alpha : float
        1 - confidence level for the Hedges-Olkin interval.

    Returns
    -------
    HedgesG
        NaN fields when ``sd`` is not positive or the groups are too small.

    Examples
    --------
    Borenstein et al. (2009), section 4.2: means 103 vs 100, SDs 5.5 and 4.5, n = 50 each,
    d = 0.5970, var(d) = 0.0418, J = 0.9923, g = 0.5924, var(g) = 0.0411.

    >>> r = hedges_g(3.0, pooled_sd(5.5, 50, 4.5, 50), 50, 50)
    >>> round(r.d, 4), round(r.j, 4), round(r.g, 4), round(r.se ** 2, 4)
    (0.597, 0.9923, 0.5924, 0.0411)
    """
    nan = float("nan")
    j = hedges_correction(n1, n2)
    if not (np.isfinite(sd) and sd > 0) or not np.isfinite(j):
        return HedgesG(nan, nan, nan, nan, j, nan, "undefined")
    d = float(difference) / float(sd)
    g = j * d
    if difference_ci is not None:
        lo, hi = (j * float(x) / float(sd) for x in difference_ci)
        return HedgesG(g, lo, hi, d, j, nan, "model")
    var_d = (n1 + n2) / (n1 * n2) + d**2 / (2.0 * (n1 + n2))
    se = j * float(np.sqrt(var_d))
    z = float(normal_quantile(1 - alpha / 2))
    return HedgesG(g, g - z * se, g + z * se, d, j, se, "hedges_olkin")


def hedges_g_from_samples(x1, x2, *, alpha: float = 0.05) -> HedgesG:
    """Hedges g of ``mean(x1) - mean(x2)`` with the Hedges-Olkin CI (NaNs are ignored).

    Examples
    --------
    >>> r = hedges_g_from_samples([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    >>> round(r.g, 4)
    1.6
    """
    a = np.asarray(x1, dtype=float)
    b = np.asarray(x2, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = a.size, b.size
    if n1 < 2 or n2 < 2:
        nan = float("nan")
        return HedgesG(nan, nan, nan, nan, hedges_correction(n1, n2), nan, "undefined")
    sd = pooled_sd(a.std(ddof=1), n1, b.std(ddof=1), n2)
    return hedges_g(a.mean() - b.mean(), sd, n1, n2, alpha=alpha)
