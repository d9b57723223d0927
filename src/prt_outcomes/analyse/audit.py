"""Clinic-audit views: completion, change from the first visit, responders, attrition, funnels.

A clinic audit has one "arm" (the patients seen), no randomisation and much loss to follow-up.
Its questions: how many eligible patients were assessed at each follow-up visit, how much did
the assessed patients change, how many improved by a clinically important amount, and do the
patients followed up differ from those lost? Optionally by ``group`` (a site, a clinician, a
pathway); units are then compared on funnel plots (:mod:`prt_outcomes.stats.funnel`).

Every function takes the long analysis frame (one row per participant x visit, canonical
columns ``participant_id``, ``visit``, one column per outcome; see docs/architecture.md) and plain
arguments, and returns a tidy table with the documented columns. Baseline, change and percent
change come from :mod:`prt_outcomes.derive`, responder rules from
:mod:`prt_outcomes.thresholds`, Wilson intervals from :mod:`prt_outcomes.stats.proportions`.
Disclosure control is applied afterwards (:mod:`prt_outcomes.stats.disclosure`).

Definitions
-----------
* **Eligible** at a follow-up visit: the participant has an observed baseline value of the
  outcome (and, when ``eligible`` pairs are given, is listed for that visit, e.g. because the
  visit's due date has passed). A participant's ``group`` is read from the baseline row.
* **Assessed**: eligible and the outcome is observed at the visit.
* **Change**: ``value - baseline`` over the participants with both
  (:func:`~prt_outcomes.derive.change_from_baseline`); its CI is the t interval
  ``mean +- t_{n-1} sd / sqrt(n)``.
* **Effect size** ``mean_change / SD`` with the SD named in ``effect_size_sd``
  (:data:`AUDIT_EFFECT_SIZES`).
* **Responder rates** on two denominators (``denominator_basis``): ``observed`` (the assessed
  patients for whom the rule can be decided) and ``eligible`` (every eligible patient, those not
  assessed counted as non-responders, a worst-case rate).
* **Attrition**: standardized differences, followed up minus lost (:data:`ATTRITION_SD_CONVENTIONS`).

References
----------
Kazis LE, Anderson JJ, Meenan RF (1989). Effect sizes for interpreting changes in health status.
Med Care 27(3 Suppl):S178-S189.
Liang MH, Fossel AH, Larson MG (1990). Comparisons of five health status instruments for
orthopedic evaluation. Med Care 28:632-642.
Austin PC (2009); Yang D, Dalton JE (2012): see :func:`audit_attrition`.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"participant_id": ["a", "a", "b", "b", "c"],
...                   "visit": ["baseline", "3 months", "baseline", "3 months", "baseline"],
...                   "pain": [8.0, 4.0, 6.0, 5.0, 7.0]})
>>> audit_completion(d, "pain", baseline_visit="baseline")[["visit", "eligible", "assessed"]].values.tolist()
[['3 months', 3, 2]]
>>> audit_change(d, "pain", baseline_visit="baseline")[["n", "mean_change"]].to_dict("records")
[{'n': 2, 'mean_change': -2.5}]
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import SUBJECT, VISIT
from ..derive import change_from_baseline
from ..stats.distributions import t_quantile
from ..stats.effects import pooled_sd
from ..stats.funnel import FUNNEL_COLUMNS, funnel_table, indirect_standardisation, pooled_within_sd
from ..stats.proportions import wilson_interval
from ..thresholds import parse_threshold

__all__ = [
    "ALL_GROUPS",
    "MISSING_GROUP",
    "AUDIT_COMPLETION_COLUMNS",
    "AUDIT_CHANGE_COLUMNS",
    "AUDIT_RESPONDER_COLUMNS",
    "AUDIT_ATTRITION_COLUMNS",
    "AUDIT_FUNNEL_COLUMNS",
    "AUDIT_EFFECT_SIZES",
    "ATTRITION_SD_CONVENTIONS",
    "DENOMINATOR_BASES",
    "audit_completion",
    "audit_change",
    "audit_responders",
    "audit_attrition",
    "followed_up_flags",
    "audit_funnel",
    "suppress_audit_table",
]

#: The ``group`` value of rows over every participant.
ALL_GROUPS = "all"

#: The ``group`` of participants whose group is missing at baseline.
MISSING_GROUP = "(missing)"

#: Columns of :func:`audit_completion`, in order.
AUDIT_COMPLETION_COLUMNS = (
    "outcome",
    "group",
    "visit",
    "eligible",
    "assessed",
    "percent",
    "ci_low",
    "ci_high",
)

#: Columns of :func:`audit_change`, in order.
AUDIT_CHANGE_COLUMNS = (
    "outcome",
    "group",
    "visit",
    "n",
    "mean_baseline",
    "mean_followup",
    "mean_change",
    "sd_change",
    "ci_low",
    "ci_high",
    "effect_size",
    "effect_size_sd",
)

#: Columns of :func:`audit_responders`, in order.
AUDIT_RESPONDER_COLUMNS = (
    "outcome",
    "threshold",
    "group",
    "visit",
    "denominator_basis",
    "responders",
    "denominator",
    "percent",
    "ci_low",
    "ci_high",
)

#: Columns of :func:`audit_attrition`, in order.
AUDIT_ATTRITION_COLUMNS = (
    "variable",
    "level",
    "kind",
    "statistic",
    "n_followed",
    "n_lost",
    "followed",
    "lost",
    "followed_sd",
    "lost_sd",
    "std_difference",
    "missing_followed",
    "missing_lost",
)

#: Columns of :func:`audit_funnel`: the funnel table's columns after the measure's names.
AUDIT_FUNNEL_COLUMNS = ("outcome", "measure", "visit", *FUNNEL_COLUMNS)

#: The SD an audit's effect size divides the mean change by (``effect_size_sd`` names it).
AUDIT_EFFECT_SIZES: dict[str, str] = {
    "baseline_sd": "SD of the baseline values of the participants with both visits (the 'effect size' "
    "of Kazis, Anderson & Meenan 1989)",
    "change_sd": "SD of the change of the participants with both visits (the 'standardized response mean' "
    "of Liang, Fossel & Larson 1990)",
}

#: The SD of a standardized difference between followed-up and lost participants.
ATTRITION_SD_CONVENTIONS: dict[str, str] = {
    "average_variance": "sqrt((s_followed^2 + s_lost^2) / 2), binary sqrt((p1 (1 - p1) + p2 (1 - p2)) / 2) "
    "(Austin 2009); categorical: Mahalanobis distance over the levels (Yang & Dalton 2012)",
    "pooled": "the n-weighted pooled SD (prt_outcomes.stats.effects.pooled_sd) for numeric variables; "
    "binary and categorical as average_variance",
}

#: Denominators of :func:`audit_responders`.
DENOMINATOR_BASES: dict[str, str] = {
    "observed": "eligible participants assessed at the visit whose response can be decided",
    "eligible": "every eligible participant; those not assessed count as non-responders",
}


# ----------------------------------------------------------------------------------------------
# Shared pieces
# ----------------------------------------------------------------------------------------------
def _as_list(x) -> list:
    return [x] if isinstance(x, str) else list(x)


def _visits(data, visit, baseline_visit, visits):
    if visits is not None:
        return [v for v in _as_list(visits) if v != baseline_visit]
    column = data[visit]
    values = list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype) else column.unique()
    return [v for v in values if v != baseline_visit and (column == v).any()]


def _baseline_frame(data, outcomes, *, baseline_visit, group, subject, visit):
    """One row per participant with a baseline row: its baseline values and group."""
    base = data[data[visit] == baseline_visit]
    if base[subject].duplicated().any():
        raise ValueError(
            f"audit: some participants have more than one row at visit {baseline_visit!r}; "
            "assign visits first (prt_outcomes.visit_windows) and validate (rule unique_participant_visit)."
        )
    out = base.set_index(subject)[list(outcomes)].astype("float64")
    if group is None:
        out["_group"] = ALL_GROUPS
    else:
        labels = base.set_index(subject)[group]
        out["_group"] = labels.astype(str).where(labels.notna(), MISSING_GROUP)
    return out


def _followup_values(data, outcomes, v, *, subject, visit):
    rows = data[data[visit] == v]
    if rows[subject].duplicated().any():
        raise ValueError(
            f"audit: some participants have more than one row at visit {v!r}; assign visits by windows "
            "first (prt_outcomes.visit_windows.assign_visit_windows keeps the one nearest the target)."
        )
    return rows.set_index(subject)[list(outcomes)].astype("float64")


def _groups(base: pd.DataFrame, group, overall: bool) -> list[tuple[str, pd.Index]]:
    if group is None:
        return [(ALL_GROUPS, base.index)]
    out = [(str(g), idx.index) for g, idx in base.groupby("_group", sort=True)]
    if overall:
        out.append((ALL_GROUPS, base.index))
    return out


def _eligible_pairs(eligible, subject, visit):
    if eligible is None:
        return None
    return set(zip(eligible[subject], eligible[visit]))


def _percent_ci(x: int, n: int, alpha: float):
    low, high = wilson_interval(int(x), int(n), alpha)
    return (100 * x / n if n else np.nan), 100 * low, 100 * high


# ----------------------------------------------------------------------------------------------
# Completion
# ----------------------------------------------------------------------------------------------
def audit_completion(
    data: pd.DataFrame,
    outcomes,
    *,
    baseline_visit,
    visits=None,
    group: str | None = None,
    overall: bool = True,
    eligible: pd.DataFrame | None = None,
    alpha: float = 0.05,
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> pd.DataFrame:
    """Eligible and assessed participants per outcome, group and follow-up visit, with Wilson CIs.

    Parameters
    ----------
    data : DataFrame
        Long frame (one row per participant x visit).
    outcomes : str or list of str
        Outcome columns.
    baseline_visit : str
        The first visit (the baseline).
    visits : list, optional
        Follow-up visits (default: every other visit in the data, in order).
    group : str, optional
        Column of the unit compared (site, clinician); read from the baseline row.
    overall : bool
        With ``group``, also give the rows over every group (``group == "all"``).
    eligible : DataFrame, optional
        ``subject`` x ``visit`` pairs eligible for the visit (e.g. due date passed); default all
        participants with a baseline value.
    alpha : float
        1 - confidence level of the Wilson interval.

    Returns
    -------
    DataFrame
        :data:`AUDIT_COMPLETION_COLUMNS`; ``percent`` and its CI on the 0-100 scale.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"participant_id": list("aabbc"), "visit": ["b", "f", "b", "f", "b"],
    ...                   "pain": [8.0, 4.0, 6.0, None, 7.0]})
    >>> audit_completion(d, "pain", baseline_visit="b")[["eligible", "assessed", "percent"]].round(2)
       eligible  assessed  percent
    0         3         1    33.33
    """
    outcomes = _as_list(outcomes)
    base = _baseline_frame(
        data, outcomes, baseline_visit=baseline_visit, group=group, subject=subject, visit=visit
    )
    pairs = _eligible_pairs(eligible, subject, visit)
    rows = []
    for outcome in outcomes:
        for v in _visits(data, visit, baseline_visit, visits):
            follow = _followup_values(data, outcomes, v, subject=subject, visit=visit)[outcome]
            for label, members in _groups(base, group, overall):
                ok = base.loc[members, outcome].notna()
                ids = ok.index[ok.to_numpy()]
                if pairs is not None:
                    ids = pd.Index([p for p in ids if (p, v) in pairs])
                n = len(ids)
                x = int(follow.reindex(ids).notna().sum())
                pct, low, high = _percent_ci(x, n, alpha)
                rows.append((outcome, label, v, n, x, pct, low, high))
    return pd.DataFrame(rows, columns=list(AUDIT_COMPLETION_COLUMNS)).astype(
        {"eligible": int, "assessed": int}
    )


# ----------------------------------------------------------------------------------------------
# Change from baseline
# ----------------------------------------------------------------------------------------------
def audit_change(
    data: pd.DataFrame,
    outcomes,
    *,
    baseline_visit,
    visits=None,
    group: str | None = None,
    overall: bool = True,
    standardizer: str = "baseline_sd",
    alpha: float = 0.05,
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> pd.DataFrame:
    """Mean baseline, follow-up and change of the participants assessed at both, with a t CI.

    Parameters
    ----------
    data, outcomes, baseline_visit, visits, group, overall, alpha, subject, visit
        As in :func:`audit_completion`.
    standardizer : {"baseline_sd", "change_sd"}
        SD of the effect size (:data:`AUDIT_EFFECT_SIZES`).

    Returns
    -------
    DataFrame
        :data:`AUDIT_CHANGE_COLUMNS`. ``mean_change`` is follow-up minus baseline (negative =
        decrease); ``ci_low``/``ci_high`` its ``1 - alpha`` t interval with ``n - 1`` df.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"participant_id": list("aabbcc"), "visit": ["b", "f"] * 3,
    ...                   "pain": [8.0, 4.0, 6.0, 5.0, 7.0, 4.0]})
    >>> r = audit_change(d, "pain", baseline_visit="b").iloc[0]
    >>> [round(float(r[c]), 3) for c in ("n", "mean_change", "ci_low", "effect_size")]
    [3.0, -2.667, -6.461, -2.667]
    """
    if standardizer not in AUDIT_EFFECT_SIZES:
        raise ValueError(
            f"audit_change: standardizer is one of {list(AUDIT_EFFECT_SIZES)}, got {standardizer!r}."
        )
    outcomes = _as_list(outcomes)
    base = _baseline_frame(
        data, outcomes, baseline_visit=baseline_visit, group=group, subject=subject, visit=visit
    )
    rows = []
    for outcome in outcomes:
        for v in _visits(data, visit, baseline_visit, visits):
            follow = _followup_values(data, outcomes, v, subject=subject, visit=visit)[outcome]
            for label, members in _groups(base, group, overall):
                b = base.loc[members, outcome]
                f = follow.reindex(members)
                both = b.notna() & f.notna()
                b, f = b[both], f[both]
                change = change_from_baseline(f, b)
                n = int(both.sum())
                mean_change = float(change.mean()) if n else np.nan
                sd_change = float(change.std(ddof=1)) if n > 1 else np.nan
                if n > 1:
                    half = float(t_quantile(1 - alpha / 2, n - 1)) * sd_change / np.sqrt(n)
                    low, high = mean_change - half, mean_change + half
                else:
                    low = high = np.nan
                sd = float(b.std(ddof=1)) if standardizer == "baseline_sd" else sd_change
                es = mean_change / sd if n > 1 and sd > 0 else np.nan
                rows.append(
                    (
                        outcome,
                        label,
                        v,
                        n,
                        float(b.mean()) if n else np.nan,
                        float(f.mean()) if n else np.nan,
                        mean_change,
                        sd_change,
                        low,
                        high,
                        es,
                        standardizer,
                    )
                )
    return pd.DataFrame(rows, columns=list(AUDIT_CHANGE_COLUMNS))


# ----------------------------------------------------------------------------------------------
# Responders and recovery
# ----------------------------------------------------------------------------------------------
def audit_responders(
    data: pd.DataFrame,
    thresholds: Mapping[str, Sequence[str]],
    *,
    baseline_visit,
    visits=None,
    group: str | None = None,
    overall: bool = True,
    higher_is_better: bool | Mapping[str, bool] = False,
    alpha: float = 0.05,
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> pd.DataFrame:
    """Responder (and recovery) rates per threshold rule, on the observed and the eligible denominators.

    Parameters
    ----------
    thresholds : mapping outcome -> list of rules
        Rules of the threshold language (:func:`prt_outcomes.thresholds.parse_threshold`), e.g.
        ``{"pain": ["percent_reduction >= 30", "percent_reduction >= 50", "reduction >= 2",
        "value <= 3"]}``; a bare kind refers to the mapping's outcome.
    higher_is_better : bool or mapping
        Direction per outcome (for the ``improvement`` kinds).
    data, baseline_visit, visits, group, overall, alpha, subject, visit
        As in :func:`audit_completion`.

    Returns
    -------
    DataFrame
        :data:`AUDIT_RESPONDER_COLUMNS`, two rows per rule, group and visit
        (``denominator_basis`` ``observed`` and ``eligible``: :data:`DENOMINATOR_BASES`).
        Eligible: an observed baseline of every outcome the rule reads.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"participant_id": list("aabbc"), "visit": ["b", "f", "b", "f", "b"],
    ...                   "pain": [8.0, 4.0, 6.0, 5.0, 7.0]})
    >>> r = audit_responders(d, {"pain": ["percent_reduction >= 30"]}, baseline_visit="b")
    >>> r[["denominator_basis", "responders", "denominator"]].values.tolist()
    [['observed', 1, 2], ['eligible', 1, 3]]
    """
    rules = [
        (outcome, parse_threshold(text, outcome=outcome, higher_is_better=higher_is_better))
        for outcome, texts in thresholds.items()
        for text in _as_list(texts)
    ]
    read = list(dict.fromkeys(name for _, rule in rules for name in rule.outcomes))
    base = _baseline_frame(
        data, read, baseline_visit=baseline_visit, group=group, subject=subject, visit=visit
    )
    rows = []
    for outcome, rule in rules:
        for v in _visits(data, visit, baseline_visit, visits):
            follow = _followup_values(data, read, v, subject=subject, visit=visit)
            for label, members in _groups(base, group, overall):
                b = base.loc[members, list(rule.outcomes)]
                eligible_ids = b.index[b.notna().all(axis=1).to_numpy()]
                frame = follow.reindex(eligible_ids)[list(rule.outcomes)]
                for name in rule.outcomes:
                    frame[f"{name}_baseline"] = b.loc[eligible_ids, name]
                response = rule.evaluate(frame)
                decided = int(response.notna().sum())
                x = int(response.fillna(False).sum())
                for basis, n in (("observed", decided), ("eligible", len(eligible_ids))):
                    pct, low, high = _percent_ci(x, n, alpha)
                    rows.append((outcome, rule.text, label, v, basis, x, n, pct, low, high))
    return pd.DataFrame(rows, columns=list(AUDIT_RESPONDER_COLUMNS))


# ----------------------------------------------------------------------------------------------
# Attrition
# ----------------------------------------------------------------------------------------------
def followed_up_flags(
    data: pd.DataFrame,
    outcome: str,
    *,
    baseline_visit,
    followup_visit,
    characteristics=(),
    subject: str = SUBJECT,
    visit: str = VISIT,
) -> pd.DataFrame:
    """One row per eligible participant: baseline characteristics and ``followed_up`` (bool).

    Eligible: an observed baseline ``outcome``. Followed up: ``outcome`` observed at
    ``followup_visit``. The characteristics are read from the baseline row (the baseline
    outcome is included under its own name).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"participant_id": list("aabc"), "visit": ["b", "f", "b", "b"],
    ...                   "pain": [8.0, 4.0, 6.0, None], "age": [50, 50, 60, 70]})
    >>> followed_up_flags(d, "pain", baseline_visit="b", followup_visit="f", characteristics=["age"])
                    pain  age  followed_up
    participant_id
    a                8.0   50         True
    b                6.0   60        False
    """
    base = data[data[visit] == baseline_visit].set_index(subject)
    cols = list(dict.fromkeys([outcome, *_as_list(characteristics)]))
    out = base.loc[base[outcome].notna(), cols].copy()
    follow = _followup_values(data, [outcome], followup_visit, subject=subject, visit=visit)[outcome]
    out["followed_up"] = follow.reindex(out.index).notna().to_numpy()
    return out


def _yang_dalton(p1: np.ndarray, p0: np.ndarray) -> float:
    """Mahalanobis SMD of a categorical variable (Yang & Dalton 2012), first level dropped."""
    t, c = p1[1:], p0[1:]
    s = -(np.outer(t, t) + np.outer(c, c)) / 2
    np.fill_diagonal(s, (t * (1 - t) + c * (1 - c)) / 2)
    diff = t - c
    return float(np.sqrt(diff @ np.linalg.pinv(s) @ diff))


def audit_attrition(
    participants: pd.DataFrame,
    variables,
    *,
    followed_up: str = "followed_up",
    categorical=(),
    sd_convention: str = "average_variance",
) -> pd.DataFrame:
    """Baseline characteristics of the participants followed up vs those lost: standardized differences.

    Parameters
    ----------
    participants : DataFrame
        One row per eligible participant (:func:`followed_up_flags`).
    variables : list of str
        Characteristics to compare. Numeric columns are compared by mean and SD, unless listed
        in ``categorical``; a numeric column holding only 0/1 (or a bool column) is binary (the
        percent of 1); any other column is categorical.
    followed_up : str
        Bool column: followed up (True) or lost (False).
    sd_convention : {"average_variance", "pooled"}
        :data:`ATTRITION_SD_CONVENTIONS`.

    Returns
    -------
    DataFrame
        :data:`AUDIT_ATTRITION_COLUMNS`. ``std_difference`` is followed minus lost over the
        SD. A categorical variable gives one row per level (``statistic`` ``percent``, the
        binary formula for that level's indicator) and, with three or more levels, a row with
        ``level == "(overall)"`` holding the Yang & Dalton Mahalanobis difference (never negative).
        Missing values are left out of each variable's statistics and counted in ``missing_*``.

    References
    ----------
    Austin PC (2009). Balance diagnostics for comparing the distribution of baseline covariates
    between treatment groups in propensity-score matched samples. Stat Med 28:3083-3107.
    Yang D, Dalton JE (2012). A unified approach to measuring the effect size between two groups
    using SAS. SAS Global Forum, paper 335-2012.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"age": [40.0, 50.0, 60.0, 70.0], "followed_up": [True, True, False, False]})
    >>> r = audit_attrition(p, ["age"]).iloc[0]
    >>> float(r["followed"]), float(r["lost"]), round(float(r["std_difference"]), 4)
    (45.0, 65.0, -2.8284)
    """
    if sd_convention not in ATTRITION_SD_CONVENTIONS:
        raise ValueError(
            f"audit_attrition: sd_convention is one of {list(ATTRITION_SD_CONVENTIONS)}, "
            f"got {sd_convention!r}."
        )
    flags = participants[followed_up].astype(bool).to_numpy()
    categorical = set(_as_list(categorical))
    rows = []
    for name in _as_list(variables):
        col = participants[name]
        a, b = col[flags], col[~flags]
        miss = (int(a.isna().sum()), int(b.isna().sum()))
        a, b = a.dropna(), b.dropna()
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        binary01 = numeric and set(np.unique(col.dropna())) <= {0, 1}
        if pd.api.types.is_bool_dtype(col) or (binary01 and name not in categorical):
            p1, p0 = float(a.astype(float).mean()), float(b.astype(float).mean())
            sd = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
            smd = (p1 - p0) / sd if sd > 0 else np.nan
            rows.append(
                (
                    name,
                    "1",
                    "binary",
                    "percent",
                    len(a),
                    len(b),
                    100 * p1,
                    100 * p0,
                    np.nan,
                    np.nan,
                    smd,
                    *miss,
                )
            )
        elif numeric and name not in categorical:
            m1, m0 = float(a.mean()), float(b.mean())
            s1, s0 = float(a.std(ddof=1)), float(b.std(ddof=1))
            sd = (
                np.sqrt((s1**2 + s0**2) / 2)
                if sd_convention == "average_variance"
                else pooled_sd(s1, len(a), s0, len(b))
            )
            smd = (m1 - m0) / sd if sd > 0 else np.nan
            rows.append((name, "", "numeric", "mean", len(a), len(b), m1, m0, s1, s0, smd, *miss))
        else:
            levels = sorted(pd.unique(col.dropna()), key=str)
            p1 = np.array([(a == lev).mean() if len(a) else np.nan for lev in levels], dtype=float)
            p0 = np.array([(b == lev).mean() if len(b) else np.nan for lev in levels], dtype=float)
            for lev, q1, q0 in zip(levels, p1, p0):
                sd = np.sqrt((q1 * (1 - q1) + q0 * (1 - q0)) / 2)
                smd = (q1 - q0) / sd if sd > 0 else np.nan
                rows.append(
                    (
                        name,
                        str(lev),
                        "categorical",
                        "percent",
                        len(a),
                        len(b),
                        100 * q1,
                        100 * q0,
                        np.nan,
                        np.nan,
                        smd,
                        *miss,
                    )
                )
            if len(levels) > 2:
                overall = _yang_dalton(p1, p0)
                rows.append(
                    (
                        name,
                        "(overall)",
                        "categorical",
                        "",
                        len(a),
                        len(b),
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        overall,
                        *miss,
                    )
                )
    return pd.DataFrame(rows, columns=list(AUDIT_ATTRITION_COLUMNS))


# ----------------------------------------------------------------------------------------------
# Funnel plots across units
# ----------------------------------------------------------------------------------------------
def audit_funnel(
    data: pd.DataFrame,
    outcome: str,
    *,
    group: str,
    baseline_visit,
    visit,
    measure: str = "mean_change",
    adjustment: str | None = None,
    case_mix=(),
    trim: float = 0.1,
    higher_is_better: bool = False,
    subject: str = SUBJECT,
    visit_column: str = VISIT,
) -> pd.DataFrame:
    """Funnel table of the units of ``group`` for one outcome and follow-up visit.

    Parameters
    ----------
    measure : str
        ``"mean_change"`` (a mean funnel of the change, volume = patients with both visits,
        SD = pooled within-unit SD of the change), ``"completion"`` (a proportion funnel of
        assessed / eligible), or a threshold rule such as ``"percent_reduction >= 30"`` (a
        proportion funnel of responders among the observed).
    adjustment : {None, "multiplicative", "additive"}
        Overdispersion adjustment (:func:`prt_outcomes.stats.funnel.funnel_table`).
    case_mix : list of str
        Baseline covariates (columns of the baseline rows) for indirect standardisation. For
        ``mean_change`` the plotted value is the indirectly standardised mean change (observed
        - expected + overall mean, linear model, SD = residual SD); for a proportion measure the
        standardised ratio observed / expected against the expected count (logistic model).
    trim : float
        Winsorising fraction of the overdispersion estimate.

    Returns
    -------
    DataFrame
        :data:`AUDIT_FUNNEL_COLUMNS`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> ids = np.arange(300)
    >>> d = pd.DataFrame({"participant_id": np.repeat(ids, 2), "visit": ["b", "f"] * 300,
    ...                   "site": np.repeat(rng.choice(list("abcde"), 300), 2),
    ...                   "pain": rng.normal(6, 2, 600)})
    >>> t = audit_funnel(d, "pain", group="site", baseline_visit="b", visit="f")
    >>> t["group"].tolist(), t["measure"].iloc[0]
    (['a', 'b', 'c', 'd', 'e'], 'mean_change')
    """
    case_mix = _as_list(case_mix)
    base_rows = data[data[visit_column] == baseline_visit].set_index(subject)
    base = _baseline_frame(
        data, [outcome], baseline_visit=baseline_visit, group=group, subject=subject, visit=visit_column
    )
    follow = _followup_values(data, [outcome], visit, subject=subject, visit=visit_column)[outcome]
    per = pd.DataFrame(
        {"unit": base["_group"], "baseline": base[outcome], "followup": follow.reindex(base.index)}
    )
    for c in case_mix:
        per[c] = base_rows[c].reindex(per.index)
    per = per[per["baseline"].notna()]
    if measure == "mean_change":
        per["y"] = change_from_baseline(per["followup"], per["baseline"])
        per = per[per["y"].notna()]
        kind = "mean"
    elif measure == "completion":
        per["y"] = per["followup"].notna().astype(float)
        kind = "proportion"
    else:
        rule = parse_threshold(measure, outcome=outcome, higher_is_better=higher_is_better)
        frame = pd.DataFrame({outcome: per["followup"], f"{outcome}_baseline": per["baseline"]})
        response = rule.evaluate(frame)
        per["y"] = response.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        per = per[per["y"].notna()]
        kind = "proportion"
    if case_mix:
        family = "gaussian" if kind == "mean" else "binomial"
        table, resid_sd = indirect_standardisation(per, "y", case_mix, "unit", family=family)
        if kind == "mean":
            out = funnel_table(
                table["adjusted"],
                table["n"],
                table["group"],
                kind="mean",
                sd=resid_sd,
                adjustment=adjustment,
                trim=trim,
            )
        else:
            out = funnel_table(
                table["ratio"],
                table["expected"],
                table["group"],
                kind="ratio",
                adjustment=adjustment,
                trim=trim,
            )
    else:
        agg = per.groupby("unit", sort=True)["y"].agg(["mean", "size"])
        sd = pooled_within_sd(per["y"], per["unit"]) if kind == "mean" else None
        out = funnel_table(
            agg["mean"], agg["size"], agg.index, kind=kind, sd=sd, adjustment=adjustment, trim=trim
        )
    out.insert(0, "visit", visit)
    out.insert(0, "measure", measure)
    out.insert(0, "outcome", outcome)
    return out[list(AUDIT_FUNNEL_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# Disclosure control of the audit tables
# ----------------------------------------------------------------------------------------------
def suppress_audit_table(
    table: pd.DataFrame,
    count: str,
    *,
    denominator: str | None = None,
    by=("outcome", "visit"),
    dependent=None,
    min_cell: int = 5,
    round_to: int | None = None,
    group: str = "group",
) -> pd.DataFrame:
    """Small-cell suppression of an audit table, protecting the groups' sums and the ``all`` row.

    Within each slice of ``by`` the groups form a two-way table: rows the groups, columns
    ``count`` and ``denominator - count`` (e.g. assessed / not assessed, responders /
    non-responders), row totals the ``denominator`` and, when published, the ``all`` row the
    column totals. :func:`prt_outcomes.stats.disclosure.suppress_table` hides every count from 1
    to ``min_cell - 1`` (the complement ``denominator - count`` included) and the cells that
    would reveal one. Without ``denominator`` the table has the one column ``count`` (e.g. the
    ``n`` of :func:`audit_change`).

    Parameters
    ----------
    table : DataFrame
        An audit table with a ``group`` column.
    count, denominator : str
        Count columns.
    by : tuple of str
        Columns of one slice (one table of groups).
    dependent : list of str, optional
        Columns hidden (NaN) in a row where its count or denominator is hidden; default every
        float column of the table.
    min_cell, round_to
        As in :func:`~prt_outcomes.stats.disclosure.suppress_table`. Rounding leaves the
        dependent columns (percent, CI) as computed from the exact counts.

    Returns
    -------
    DataFrame
        ``table`` (index reset) with hidden counts ``<NA>`` (``Int64``) and their dependent columns NaN.

    Notes
    -----
    The protection holds within one slice. Rows of different slices that share a count (the
    ``observed`` and ``eligible`` rows of a responder rule have the same responders) should be
    published from one basis, or suppressed together by the caller.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"outcome": "pain", "visit": "3 months", "group": ["x", "y", "all"],
    ...                   "eligible": [40, 12, 52], "assessed": [30, 9, 39], "percent": [75.0, 75.0, 75.0]})
    >>> suppress_audit_table(t, "assessed", denominator="eligible")[["group", "eligible", "assessed"]]
      group  eligible  assessed
    0     x        40      <NA>
    1     y        12      <NA>
    2   all        52        39
    """
    from ..stats.disclosure import TOTAL, suppress_table

    out = table.reset_index(drop=True)  # positions label the cells of the suppressed grid
    if dependent is None:
        dependent = [
            c for c in out.columns if pd.api.types.is_float_dtype(out[c]) and c not in (count, denominator)
        ]
    out[count] = pd.to_numeric(out[count]).astype("Int64")
    if denominator is not None:
        out[denominator] = pd.to_numeric(out[denominator]).astype("Int64")
    hidden_rows = pd.Series(False, index=out.index)
    by = [c for c in by if c in out.columns]
    slices = out.groupby(by, sort=False, dropna=False) if by else [(None, out)]
    for _, part in slices:
        inner = part[part[group] != ALL_GROUPS]
        total_rows = part.index[(part[group] == ALL_GROUPS).to_numpy()]
        if inner.empty:
            continue
        cells = pd.DataFrame({"count": inner[count].astype("int64")}, index=inner.index)
        if denominator is not None:
            cells["rest"] = inner[denominator].astype("int64") - cells["count"]
        res = suppress_table(cells, min_cell=min_cell, round_to=round_to)
        shown = res.result
        out.loc[inner.index, count] = shown.loc[inner.index, "count"]
        hide = res.hidden.loc[inner.index, "count"].to_numpy()
        if denominator is not None:
            out.loc[inner.index, denominator] = shown.loc[inner.index, TOTAL]
            hide = hide | res.hidden.loc[inner.index, TOTAL].to_numpy()
        hidden_rows.loc[inner.index] |= hide
        for idx in total_rows:
            out.loc[idx, count] = shown.loc[TOTAL, "count"]
            if denominator is not None:
                out.loc[idx, denominator] = shown.loc[TOTAL, TOTAL]
            hidden_rows.loc[idx] = bool(res.hidden.loc[TOTAL, "count"]) or (
                denominator is not None and bool(res.hidden.loc[TOTAL, TOTAL])
            )
    for col in dependent:
        out[col] = out[col].where(~hidden_rows)
    return out
