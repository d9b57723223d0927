"""Responder analyses per arm x visit: rates with Wilson CIs, risk differences, odds ratios, NNT.

A responder is defined by a rule of the threshold language (grammar, kinds, missing values:
:mod:`prt_outcomes.thresholds`, whose names are re-exported here for one release).

Denominators
------------
``observed``: participants whose response can be decided at that visit (value present and, for
baseline-based rules, baseline present and non-zero for percent kinds). ``randomized``: every
randomized participant of the arm; undecidable responses (missing visit, missing baseline,
undefined percent) count as non-responders, as Ashar et al. (2022) did.

Baseline visit
--------------
Rules that need a baseline (any kind other than ``value``) get no rows for the baseline visit
itself (change from baseline to baseline is 0 by construction); rules on values alone (e.g.
``value <= 1``) get a baseline row too, which shows the proportion already below the threshold
at entry. Visit levels without any row in the data are left out.

Examples
--------
>>> from prt_outcomes.analyse.responders import RESPONDER_COLUMNS
>>> RESPONDER_COLUMNS[:4]
('outcome', 'threshold', 'visit', 'arm')
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from ..levels import ordered_levels
from ..stats.proportions import proportion_statistics
from ..thresholds import (
    KINDS,
    THRESHOLD_KINDS,
    Threshold,
    ThresholdError,
    ThresholdKind,
    names_its_outcomes,
    parse_threshold,
)

__all__ = [
    "ThresholdError",
    "Threshold",
    "parse_threshold",
    "responder_analysis",
    "responders_from_config",
    "RESPONDER_COLUMNS",
    "RESPONDER_EXTRA_COLUMNS",
    "KINDS",
    "THRESHOLD_KINDS",
    "ThresholdKind",
]

#: Output contract of ``tables/responders.csv`` (order matters).
RESPONDER_COLUMNS = (
    "outcome",
    "threshold",
    "visit",
    "arm",
    "responders",
    "denominator",
    "percent",
    "reference",
    "risk_difference",
    "rd_ci_low",
    "rd_ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "p",
)
#: Extra columns after the contract columns.
RESPONDER_EXTRA_COLUMNS = (
    "denominator_type",
    "percent_ci_low",
    "percent_ci_high",
    "nnt",
    "nnt_ci_low",
    "nnt_ci_high",
    "nnt_label",
    "or_corrected",
    "test",
    "n_missing",
    "n_undefined",
)


# ----------------------------------------------------------------------------------------------
# Responder analysis
# ----------------------------------------------------------------------------------------------
def _levels(values: pd.Series, given: Sequence | None, what: str, param: str) -> list:
    return ordered_levels(values, given, parameter=param, column=what)


def _randomized_arms(randomized, data: pd.DataFrame, subject: str, arm: str) -> pd.Series:
    from_data = data[[subject, arm]].dropna().drop_duplicates()
    conflicting = from_data[from_data[subject].duplicated(keep=False)]
    if len(conflicting):
        ids = list(pd.unique(conflicting[subject]))[:5]
        raise ValueError(
            f"responder_analysis: participants {ids} appear in more than one arm; "
            "each participant must have exactly one arm."
        )
    if randomized is None:
        return from_data.set_index(subject)[arm]
    if isinstance(randomized, pd.DataFrame):
        if subject not in randomized.columns or arm not in randomized.columns:
            raise ValueError(
                f"responder_analysis: 'randomized' must have columns {subject!r} and {arm!r} "
                f"(or be a Series indexed by participant); it has {list(randomized.columns)}."
            )
        series = randomized.set_index(subject)[arm]
    elif isinstance(randomized, pd.Series):
        series = randomized
    else:
        raise TypeError("responder_analysis: 'randomized' must be a DataFrame, a Series, or None.")
    if series.index.duplicated().any():
        ids = list(series.index[series.index.duplicated()][:5])
        raise ValueError(f"responder_analysis: 'randomized' lists participants {ids} more than once.")
    if series.isna().any():
        ids = list(series.index[series.isna()][:5])
        raise ValueError(f"responder_analysis: 'randomized' has no arm for participants {ids}.")
    known = from_data.set_index(subject)[arm]
    absent = known.index.difference(series.index)
    if len(absent):
        raise ValueError(
            f"responder_analysis: {len(absent)} participants in the data are not in 'randomized' "
            f"(e.g. {list(absent[:5])}); list every randomized participant."
        )
    mismatch = known[known != series.reindex(known.index)]
    if len(mismatch):
        raise ValueError(
            f"responder_analysis: participants {list(mismatch.index[:5])} have a different arm "
            "in the data than in 'randomized'."
        )
    return series


def responder_analysis(
    data: pd.DataFrame,
    *,
    threshold: str | Threshold,
    outcome: str | Sequence[str] | None = None,
    arm: str = "arm",
    visit: str = "visit",
    subject: str = "participant_id",
    baseline_visit=None,
    reference_arm=None,
    denominator: str = "observed",
    higher_is_better: bool | Mapping[str, bool] = False,
    arm_levels: Sequence | None = None,
    visit_levels: Sequence | None = None,
    randomized: pd.DataFrame | pd.Series | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Responders per arm x visit for one threshold rule, compared with the reference arm.

    Parameters
    ----------
    data : DataFrame
        Long data: one row per participant x visit, with the outcome column(s).
    threshold : str or Threshold
        Rule such as ``"value <= 1"`` (see :mod:`prt_outcomes.analyse.responders`).
    outcome : str or list of str, optional
        Outcome a rule's bare kinds refer to; may be omitted when the rule names its outcomes.
    arm, visit, subject : str
        Column names (canonical names by default).
    baseline_visit : optional
        Visit holding baseline values; default the first visit level.
    reference_arm : optional
        Arm the others are compared with; default the last arm level (the config's convention),
        none for single-arm data.
    denominator : {"observed", "randomized"}
        ``observed``: participants whose response can be decided at the visit; ``randomized``:
        all randomized participants of the arm, undecided counting as non-responders.
    higher_is_better : bool or mapping
        Direction per outcome, for the ``improvement`` kinds.
    arm_levels, visit_levels : sequence, optional
        Order of arms and visits; default the categorical order if the column is categorical,
        otherwise sorted values. Pass ``visit_levels`` for named visits (``"baseline"``,
        ``"post"``, ...), whose alphabetical order is rarely chronological.
    randomized : DataFrame or Series, optional
        Every randomized participant with their arm: a Series indexed by participant, or a
        DataFrame with ``subject`` and ``arm`` columns. Default: everyone appearing in ``data``.
    alpha : float
        1 - confidence level of every interval.

    Returns
    -------
    DataFrame
        :data:`RESPONDER_COLUMNS` then :data:`RESPONDER_EXTRA_COLUMNS`, one row per visit x arm.
        ``percent`` is 0-100; ``risk_difference`` is a difference of proportions (0-1);
        ``reference`` names the reference arm on comparison rows and is empty on the reference
        arm's own row. ``n_missing`` counts randomized participants whose response could not be
        decided; ``n_undefined`` those among them with all values present but a percent kind
        undefined because the baseline is 0. See :mod:`prt_outcomes.stats.proportions` for the methods.

    Raises
    ------
    ThresholdError
        For an unreadable rule or outcome columns the data lack.
    ValueError
        For inconsistent data (duplicate participant x visit rows, a participant in two arms,
        unknown arms or visits, a bad ``denominator``).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({
    ...     "participant_id": [1, 1, 2, 2, 3, 3, 4, 4],
    ...     "arm": ["prt"] * 4 + ["uc"] * 4,
    ...     "visit": ["pre", "post"] * 4,
    ...     "pain": [5, 1, 4, 2, 5, 4, 6, 6]})
    >>> table = responder_analysis(data, outcome="pain", threshold="value <= 1",
    ...                            visit_levels=["pre", "post"], reference_arm="uc")
    >>> table[["visit", "arm", "responders", "denominator"]].values.tolist()
    [['pre', 'prt', 0, 2], ['pre', 'uc', 0, 2], ['post', 'prt', 1, 2], ['post', 'uc', 0, 2]]
    """
    if denominator not in ("observed", "randomized"):
        raise ValueError(
            f"responder_analysis: denominator must be 'observed' or 'randomized', got {denominator!r}."
        )
    if not 0 < alpha < 1:
        raise ValueError(f"responder_analysis: alpha must lie between 0 and 1, got {alpha}.")
    rule = (
        threshold
        if isinstance(threshold, Threshold)
        else parse_threshold(threshold, outcome, higher_is_better)
    )
    missing = [c for c in (subject, arm, visit) if c not in data.columns]
    if missing:
        raise ValueError(
            f"responder_analysis: the data lack the columns {missing}; pass subject=, arm=, "
            f"visit= naming them (columns present: {list(map(str, data.columns))})."
        )
    absent = [o for o in rule.outcomes if o not in data.columns]
    if absent:
        raise ThresholdError(
            f"threshold {rule.text!r} reads outcomes {absent}, which are not columns of the data "
            f"(columns present: {list(map(str, data.columns))})."
        )
    rows = data[data[visit].notna()]
    duplicated = rows.duplicated([subject, visit], keep=False)
    if duplicated.any():
        example = rows.loc[duplicated, [subject, visit]].drop_duplicates().head(3).values.tolist()
        raise ValueError(
            f"responder_analysis: {int(duplicated.sum())} rows repeat a participant x visit "
            f"(e.g. {example}); keep one row per participant and visit."
        )

    arms_of = _randomized_arms(randomized, rows, subject, arm)
    arm_order = _levels(arms_of, arm_levels, "arm", "arm_levels")
    visit_order = _levels(rows[visit], visit_levels, "visit", "visit_levels")
    if reference_arm is None and len(arm_order) > 1:
        reference_arm = arm_order[-1]
    if reference_arm is not None and reference_arm not in arm_order:
        raise ValueError(
            f"responder_analysis: reference_arm {reference_arm!r} is not one of the arms {arm_order}."
        )
    if baseline_visit is None:
        baseline_visit = visit_order[0] if visit_order else None
    if rule.needs_baseline and baseline_visit not in visit_order:
        raise ValueError(
            f"responder_analysis: threshold {rule.text!r} needs a baseline, but the baseline visit "
            f"{baseline_visit!r} is not among the visits {visit_order}; pass baseline_visit=."
        )

    subjects = arms_of.index
    baseline = rows[rows[visit] == baseline_visit].set_index(subject)[list(rule.outcomes)].reindex(subjects)
    counts = []
    # A visit level without a single row (e.g. a follow-up not yet reached) is left out rather
    # than reported as 0 responders out of everyone randomized.
    visits_with_rows = set(pd.unique(rows[visit]))
    report_visits = [
        v for v in visit_order if v in visits_with_rows and not (rule.needs_baseline and v == baseline_visit)
    ]
    for v in report_visits:
        current = rows[rows[visit] == v].set_index(subject)[list(rule.outcomes)].reindex(subjects)
        decided = rule.evaluate(current, baseline)
        present = rule.inputs_present(current, baseline)
        for a in arm_order:
            members = (arms_of == a).to_numpy()
            result = decided[members]
            n_decided = int(result.notna().sum())
            n_members = int(members.sum())
            counts.append(
                {
                    "outcome": rule.outcome_label,
                    "threshold": rule.text,
                    "visit": v,
                    "arm": a,
                    "responders": int(result.fillna(False).sum()),
                    "denominator": n_decided if denominator == "observed" else n_members,
                    "n_missing": n_members - n_decided,
                    "n_undefined": int((present[members] & result.isna()).sum()),
                }
            )
    counts = pd.DataFrame(
        counts,
        columns=[
            "outcome",
            "threshold",
            "visit",
            "arm",
            "responders",
            "denominator",
            "n_missing",
            "n_undefined",
        ],
    )
    table = proportion_statistics(counts, reference_arm=reference_arm, by=["visit"], alpha=alpha)
    table["denominator_type"] = denominator
    return table[list(RESPONDER_COLUMNS) + list(RESPONDER_EXTRA_COLUMNS)].reset_index(drop=True)


def responders_from_config(
    data: pd.DataFrame,
    config,
    *,
    randomized: pd.DataFrame | pd.Series | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every threshold of a :class:`~prt_outcomes.config.StudyConfig`, as one responders table.

    Uses the canonical columns (``participant_id``, ``arm``, ``visit``), the config's arm and
    visit order, baseline visit, reference arm, ``responders.denominator`` and each outcome's
    direction. A rule written with bare kinds (``value <= 1``) is applied to each of the
    threshold's ``outcomes`` in turn; a rule naming its outcomes (``pain_avg <= 1 and odi <= 10``)
    is applied once. The extra column ``threshold_label`` holds the config's label.

    Examples
    --------
    >>> from prt_outcomes.config import load_config                # doctest: +SKIP
    >>> table = responders_from_config(data, load_config("config/config.yaml"))  # doctest: +SKIP
    """
    direction = {o.name: o.higher_is_better for o in config.outcomes}
    visits_present = set(pd.unique(data["visit"].dropna())) if "visit" in data.columns else set()
    visit_levels = [v for v in config.visit_names if v in visits_present] or list(config.visit_names)
    tables = []
    for spec in config.thresholds:
        targets = [None] if names_its_outcomes(spec.rule) else list(spec.outcomes)
        for target in targets:
            rule = parse_threshold(spec.rule, target, direction)
            table = responder_analysis(
                data,
                threshold=rule,
                baseline_visit=config.baseline_visit,
                reference_arm=config.reference_arm if len(config.arms) > 1 else None,
                denominator=config.responder_denominator,
                arm_levels=list(config.arm_names),
                visit_levels=visit_levels,
                randomized=randomized,
                alpha=alpha,
            )
            table["threshold_label"] = spec.label
            tables.append(table)
    if not tables:
        return pd.DataFrame(columns=[*RESPONDER_COLUMNS, *RESPONDER_EXTRA_COLUMNS, "threshold_label"])
    return pd.concat(tables, ignore_index=True)
