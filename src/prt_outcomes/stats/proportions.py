"""Statistics for responder proportions: Wilson intervals, risk difference, odds ratio, NNT, tests.

Every function takes counts (responders ``x`` out of ``n``) so it can be checked against any
other implementation; :func:`compare_proportions` bundles the comparison of one arm with the
reference arm, and :func:`proportion_statistics` turns a table of counts into the statistics
columns of the ``responders`` table.

Methods
-------
* Percent with a **Wilson score** interval (``statsmodels`` ``proportion_confint(method="wilson")``).
* **Risk difference** ``p_arm - p_reference`` with the **Newcombe hybrid score** interval
  (Newcombe 1998, method 10): ``statsmodels`` ``confint_proportions_2indep(compare="diff",
  method="newcomb")``.
* **Odds ratio** with the **Woolf logit** interval. When any cell of the 2x2 table is 0 the
  Haldane-Anscombe correction adds 0.5 to *every* cell, for the estimate and the interval alike
  (``or_corrected`` says so); without a zero cell this equals ``statsmodels``
  ``method="logit"``, with one it equals ``method="logit-adjusted"``.
* **Number needed to treat** (Bender 2001): ``NNT = 1 / RD`` with the interval from inverting the
  RD interval. Signs carry the direction: a positive NNT is a number needed to treat for one more
  responder (NNTB), a negative one a number needed to treat for one fewer responder (NNTH).
  ``nnt_ci_low = 1 / rd_ci_high`` and ``nnt_ci_high = 1 / rd_ci_low``. When the RD interval
  excludes 0 the NNT interval is the ordinary interval between them. When it includes 0 the
  confidence set runs through infinity in two pieces, NNTB from ``1/rd_ci_high`` to inf and NNTH
  from ``1/|rd_ci_low|`` to inf; then ``nnt_ci_low > 0 > nnt_ci_high`` and ``nnt_label`` spells it
  out as ``"NNTB 3.1 (NNTH 25.0 to inf to NNTB 2.0)"``. An RD (or RD bound) of exactly 0 gives an
  infinite NNT (bound), stored as ``inf``.
* **p value**: Fisher's exact test (two-sided, ``scipy.stats.fisher_exact``) when any expected
  count of the 2x2 table is below 5, otherwise Pearson's chi-square without continuity correction
  (``scipy.stats.chi2_contingency(correction=False)``); ``test`` says which.

Empty arms (``n = 0``) give NaN for everything that needs them.

References
----------
Newcombe RG (1998). Interval estimation for the difference between independent proportions:
comparison of eleven methods. Stat Med 17:873-890.
Bender R (2001). Calculating confidence intervals for the number needed to treat. Control Clin
Trials 22:102-110.
Altman DG (1998). Confidence intervals for the number needed to treat. BMJ 317:1309-1312.

Examples
--------
>>> from prt_outcomes.stats.proportions import compare_proportions
>>> res = compare_proportions(33, 50, 5, 50)
>>> round(res.risk_difference, 2), res.test
(0.56, 'chi2')
>>> res.nnt_label
'NNTB 1.8 (1.5 to 2.6)'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# scipy.stats and statsmodels (~0.7 s of imports) load in the functions that compute: the
# render and report jobs import this module's table columns (through the responder tables)
# without computing an interval.

__all__ = [
    "wilson_interval",
    "risk_difference",
    "odds_ratio",
    "number_needed_to_treat",
    "nnt_label",
    "two_by_two_test",
    "ProportionComparison",
    "compare_proportions",
    "proportion_statistics",
    "COMPARISON_COLUMNS",
]

#: Columns :func:`proportion_statistics` adds to a counts table, in order.
COMPARISON_COLUMNS = (
    "percent",
    "percent_ci_low",
    "percent_ci_high",
    "risk_difference",
    "rd_ci_low",
    "rd_ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "or_corrected",
    "nnt",
    "nnt_ci_low",
    "nnt_ci_high",
    "nnt_label",
    "p",
    "test",
)

_NAN = float("nan")


def _check_counts(x: int, n: int, what: str) -> None:
    if not (float(x).is_integer() and float(n).is_integer()):
        raise ValueError(f"{what}: counts must be whole numbers, got {x} of {n}.")
    if n < 0 or x < 0 or x > n:
        raise ValueError(f"{what}: responders must lie between 0 and the denominator, got {x} of {n}.")


def wilson_interval(x: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for the proportion ``x / n``.

    Returns ``(nan, nan)`` when ``n == 0``.

    Examples
    --------
    >>> low, high = wilson_interval(33, 50)
    >>> round(low, 4), round(high, 4)
    (0.5215, 0.7756)
    """
    _check_counts(x, n, "wilson_interval")
    if n == 0:
        return _NAN, _NAN
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(x, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def risk_difference(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """Risk difference ``x1/n1 - x0/n0`` with the Newcombe hybrid score interval (method 10).

    Group 1 is the compared arm, group 0 the reference arm.

    Examples
    --------
    >>> rd, low, high = risk_difference(33, 50, 5, 50)
    >>> round(rd, 2), round(low, 4), round(high, 4)
    (0.56, 0.3809, 0.6887)
    """
    _check_counts(x1, n1, "risk_difference (arm)")
    _check_counts(x0, n0, "risk_difference (reference)")
    if n1 == 0 or n0 == 0:
        return _NAN, _NAN, _NAN
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(x1, n1, x0, n0, compare="diff", method="newcomb", alpha=alpha)
    return x1 / n1 - x0 / n0, float(low), float(high)


def odds_ratio(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05) -> tuple[float, float, float, bool]:
    """Odds ratio (arm vs reference) with the Woolf logit interval.

    When any of the four cells is 0, 0.5 is added to every cell (Haldane-Anscombe) for the
    estimate and the interval; the fourth return value says whether that happened.

    Examples
    --------
    >>> est, low, high, corrected = odds_ratio(33, 50, 5, 50)
    >>> round(est, 3), corrected
    (17.471, False)
    """
    _check_counts(x1, n1, "odds_ratio (arm)")
    _check_counts(x0, n0, "odds_ratio (reference)")
    if n1 == 0 or n0 == 0:
        return _NAN, _NAN, _NAN, False
    cells = (x1, n1 - x1, x0, n0 - x0)
    corrected = min(cells) == 0
    a, b, c, d = (v + 0.5 for v in cells) if corrected else (float(v) for v in cells)
    estimate = (a * d) / (b * c)
    se_log = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    from scipy import stats

    z = stats.norm.isf(alpha / 2)
    log_or = math.log(estimate)
    return estimate, math.exp(log_or - z * se_log), math.exp(log_or + z * se_log), corrected


def _reciprocal(value: float) -> float:
    if math.isnan(value):
        return _NAN
    if value == 0:
        return math.inf
    return 1.0 / value


def number_needed_to_treat(rd: float, rd_ci_low: float, rd_ci_high: float) -> tuple[float, float, float]:
    """Signed NNT and its interval bounds from a risk difference and its interval (Bender 2001).

    Returns ``(nnt, nnt_ci_low, nnt_ci_high) = (1/rd, 1/rd_ci_high, 1/rd_ci_low)``; positive
    values are NNTB, negative NNTH, and a zero denominator gives ``inf``. When the RD interval
    contains 0, ``nnt_ci_low > 0 > nnt_ci_high`` and the confidence set is
    ``[nnt_ci_low, inf) U (-inf, nnt_ci_high]``, i.e. NNTB ``nnt_ci_low`` to inf and NNTH
    ``|nnt_ci_high|`` to inf.

    Examples
    --------
    >>> number_needed_to_treat(0.25, -0.04, 0.5)
    (4.0, 2.0, -25.0)
    """
    return _reciprocal(rd), _reciprocal(rd_ci_high), _reciprocal(rd_ci_low)


def _nnt_word(value: float) -> str:
    return "NNTB" if value > 0 else "NNTH"


def _fmt(value: float, digits: int) -> str:
    return "inf" if math.isinf(value) else f"{abs(value):.{digits}f}"


def nnt_label(rd: float, rd_ci_low: float, rd_ci_high: float, digits: int = 1) -> str:
    """Readable NNT with its interval, after Altman (1998).

    Examples
    --------
    >>> nnt_label(0.25, 0.1, 0.4)
    'NNTB 4.0 (2.5 to 10.0)'
    >>> nnt_label(0.25, -0.04, 0.5)
    'NNTB 4.0 (NNTH 25.0 to inf to NNTB 2.0)'
    >>> nnt_label(-0.25, -0.4, -0.1)
    'NNTH 4.0 (2.5 to 10.0)'
    """
    if any(math.isnan(v) for v in (rd, rd_ci_low, rd_ci_high)):
        return ""
    nnt, from_high, from_low = number_needed_to_treat(rd, rd_ci_low, rd_ci_high)
    head = "NNT inf" if math.isinf(nnt) else f"{_nnt_word(nnt)} {_fmt(nnt, digits)}"
    if rd_ci_low > 0 or rd_ci_high < 0:
        near, far = sorted((abs(from_high), abs(from_low)))
        return f"{head} ({_fmt(near, digits)} to {_fmt(far, digits)})"
    # The RD interval touches or contains 0: the NNT set passes through infinity.
    return f"{head} (NNTH {_fmt(from_low, digits)} to inf to NNTB {_fmt(from_high, digits)})"


def two_by_two_test(x1: int, n1: int, x0: int, n0: int) -> tuple[float, str]:
    """p value for the 2x2 table arm x response: Fisher exact if any expected count < 5, else chi-square.

    The chi-square test is Pearson's without continuity correction. Returns ``(nan, "")`` when an
    arm is empty.

    Examples
    --------
    >>> p, test = two_by_two_test(3, 10, 8, 10)
    >>> test
    'fisher'
    """
    _check_counts(x1, n1, "two_by_two_test (arm)")
    _check_counts(x0, n0, "two_by_two_test (reference)")
    if n1 == 0 or n0 == 0:
        return _NAN, ""
    from scipy import stats

    table = np.array([[x1, n1 - x1], [x0, n0 - x0]], dtype=float)
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    if (expected < 5).any():
        # A column of zeros (nobody or everybody responds) has expected count 0, so it lands here.
        return float(stats.fisher_exact(table.astype(int), alternative="two-sided").pvalue), "fisher"
    result = stats.chi2_contingency(table, correction=False)
    return float(result.pvalue), "chi2"


@dataclass(frozen=True)
class ProportionComparison:
    """One arm against the reference arm; see the module docstring for the methods."""

    responders: int
    denominator: int
    reference_responders: int
    reference_denominator: int
    percent: float
    percent_ci_low: float
    percent_ci_high: float
    risk_difference: float
    rd_ci_low: float
    rd_ci_high: float
    odds_ratio: float
    or_ci_low: float
    or_ci_high: float
    or_corrected: bool
    nnt: float
    nnt_ci_low: float
    nnt_ci_high: float
    nnt_label: str
    p: float
    test: str

    def as_dict(self) -> dict:
        return asdict(self)


def compare_proportions(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05) -> ProportionComparison:
    """Compare ``x1/n1`` (arm) with ``x0/n0`` (reference): percent, RD, OR, NNT and p.

    Percent and its Wilson interval are on the 0-100 scale; the risk difference is a
    difference of proportions (0-1 scale), as the output contract's ``risk_difference``.

    Examples
    --------
    >>> res = compare_proportions(10, 51, 5, 50)
    >>> round(res.percent, 1), res.test
    (19.6, 'chi2')
    """
    x1, n1, x0, n0 = (int(v) for v in (x1, n1, x0, n0))
    low, high = wilson_interval(x1, n1, alpha)
    rd, rd_low, rd_high = risk_difference(x1, n1, x0, n0, alpha)
    or_est, or_low, or_high, corrected = odds_ratio(x1, n1, x0, n0, alpha)
    nnt, nnt_low, nnt_high = number_needed_to_treat(rd, rd_low, rd_high)
    p, test = two_by_two_test(x1, n1, x0, n0)
    return ProportionComparison(
        responders=x1,
        denominator=n1,
        reference_responders=x0,
        reference_denominator=n0,
        percent=100 * x1 / n1 if n1 else _NAN,
        percent_ci_low=100 * low,
        percent_ci_high=100 * high,
        risk_difference=rd,
        rd_ci_low=rd_low,
        rd_ci_high=rd_high,
        odds_ratio=or_est,
        or_ci_low=or_low,
        or_ci_high=or_high,
        or_corrected=corrected,
        nnt=nnt,
        nnt_ci_low=nnt_low,
        nnt_ci_high=nnt_high,
        nnt_label=nnt_label(rd, rd_low, rd_high),
        p=p,
        test=test,
    )


def proportion_statistics(
    counts: pd.DataFrame,
    *,
    reference_arm: str | None,
    arm: str = "arm",
    by: tuple[str, ...] | list[str] = ("visit",),
    responders: str = "responders",
    denominator: str = "denominator",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Add percent, Wilson CI and the comparison with the reference arm to a table of counts.

    Parameters
    ----------
    counts : DataFrame
        One row per arm within each group of ``by`` columns, with integer ``responders`` and
        ``denominator`` columns.
    reference_arm : str or None
        Arm every other arm is compared with inside each group; ``None`` (single-arm data)
        gives only the per-arm columns.
    arm, by, responders, denominator : str
        Column names.
    alpha : float
        1 - confidence level.

    Returns
    -------
    DataFrame
        ``counts`` with :data:`COMPARISON_COLUMNS` and ``reference`` added. The reference arm's
        row (and every row when there is no reference) has the comparison columns empty (NaN).

    Examples
    --------
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"visit": ["post", "post"], "arm": ["prt", "uc"],
    ...                        "responders": [33, 5], "denominator": [50, 50]})
    >>> out = proportion_statistics(counts, reference_arm="uc")
    >>> out["risk_difference"].round(2).tolist()
    [0.56, nan]
    """
    by = list(by)
    missing = [c for c in [arm, responders, denominator, *by] if c not in counts.columns]
    if missing:
        raise KeyError(f"proportion_statistics: counts table lacks columns {missing}.")
    rows = []
    for _, group in counts.groupby(by, sort=False, dropna=False) if by else [(None, counts)]:
        ref_rows = group[group[arm] == reference_arm] if reference_arm is not None else group.iloc[:0]
        if len(ref_rows) > 1:
            raise ValueError(
                f"proportion_statistics: the reference arm {reference_arm!r} appears "
                f"{len(ref_rows)} times in one group of {by}; give one row per arm."
            )
        has_ref = len(ref_rows) == 1
        x0 = int(ref_rows[responders].iloc[0]) if has_ref else 0
        n0 = int(ref_rows[denominator].iloc[0]) if has_ref else 0
        for _, row in group.iterrows():
            x1, n1 = int(row[responders]), int(row[denominator])
            record = row.to_dict()
            is_comparison = has_ref and row[arm] != reference_arm
            res = compare_proportions(x1, n1, x0 if is_comparison else 0, n0 if is_comparison else 0, alpha)
            stats_row = res.as_dict()
            if not is_comparison:
                for key in COMPARISON_COLUMNS[3:]:
                    stats_row[key] = (
                        "" if key in ("nnt_label", "test") else (pd.NA if key == "or_corrected" else _NAN)
                    )
            record["reference"] = reference_arm if is_comparison else ""
            record.update({k: stats_row[k] for k in COMPARISON_COLUMNS})
            rows.append(record)
    out = pd.DataFrame(rows, columns=[*counts.columns, "reference", *COMPARISON_COLUMNS])
    out["or_corrected"] = out["or_corrected"].astype("boolean")
    return out
