"""The clinic-audit tables of one study, from its config, with disclosure control applied.

:func:`audit_tables` is what the workflow's ``audit`` rule (and :func:`prt_outcomes.pipeline.analyse`)
writes: the statistics of :mod:`prt_outcomes.analyse.audit` for every outcome, follow-up visit and
``audit.groups`` unit, then :func:`~prt_outcomes.analyse.audit.suppress_audit_table` with the
config's ``privacy:`` settings, so that no count from 1 to ``min_cell - 1`` (nor a cell that
would reveal one) reaches a file. A study that is not an audit gets the same tables, empty, with
their columns (the output contract is the same for every design).

Group labels are ``<column>=<value>`` (``site=A``; ``date_quarter=2024Q1`` for a period), so the
units of several groupings share one ``group`` column; the row ``all`` is every patient.
Attrition compares the patients followed up and lost at the last follow-up visit of the primary
outcome (the first outcome when none is marked primary).

Examples
--------
>>> from prt_outcomes.analyse.audit_tables import AUDIT_TABLES
>>> AUDIT_TABLES
('audit_completion', 'audit_attrition', 'audit_change', 'audit_responders', 'audit_funnel')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import DATE, SUBJECT, VISIT, StudyConfig
from .audit import (
    AUDIT_ATTRITION_COLUMNS,
    AUDIT_CHANGE_COLUMNS,
    AUDIT_COMPLETION_COLUMNS,
    AUDIT_FUNNEL_COLUMNS,
    AUDIT_RESPONDER_COLUMNS,
    audit_attrition,
    audit_change,
    audit_completion,
    audit_funnel,
    audit_responders,
    followed_up_flags,
    suppress_audit_table,
)

__all__ = ["AUDIT_TABLES", "AUDIT_TABLE_COLUMNS", "audit_tables", "empty_audit_tables", "audit_outcome"]

#: The audit tables, in the clinic's order of questions (the report's order).
AUDIT_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit_completion": AUDIT_COMPLETION_COLUMNS,
    "audit_attrition": AUDIT_ATTRITION_COLUMNS,
    "audit_change": AUDIT_CHANGE_COLUMNS,
    "audit_responders": AUDIT_RESPONDER_COLUMNS,
    "audit_funnel": AUDIT_FUNNEL_COLUMNS,
}
AUDIT_TABLES = tuple(AUDIT_TABLE_COLUMNS)
_PERIOD_CODES = {"month": "M", "quarter": "Q", "year": "Y"}
_GROUP = "_audit_unit"  # the temporary column holding one grouping's labels


def empty_audit_tables() -> dict[str, pd.DataFrame]:
    """The audit tables with their columns and no rows (a study that is not an audit)."""
    return {name: pd.DataFrame(columns=list(cols)) for name, cols in AUDIT_TABLE_COLUMNS.items()}


def audit_outcome(config: StudyConfig) -> str:
    """The outcome whose follow-up defines 'followed up' in the attrition table."""
    return next((o.name for o in config.outcomes if o.primary), config.outcome_names[0])


def _group_labels(data: pd.DataFrame, group) -> pd.Series:
    """``<name>=<value>`` per row; a period is read from the participant's baseline date."""
    if group.period is None:
        values = data[group.column]
    else:
        dates = pd.to_datetime(data[DATE], errors="coerce")
        first = dates.groupby(data[SUBJECT]).transform("min")
        values = first.dt.to_period(_PERIOD_CODES[group.period]).astype(str).where(first.notna())
    return (group.name + "=" + values.astype(str)).where(values.notna())


def _per_grouping(compute, data: pd.DataFrame, config: StudyConfig) -> list[pd.DataFrame]:
    """``compute(data, group, overall)`` once for the whole clinic, once per grouping."""
    parts = [compute(data, None, True)]
    for group in config.audit.groups:
        labelled = data.assign(**{_GROUP: _group_labels(data, group)})
        parts.append(compute(labelled, _GROUP, False))
    return parts


def _suppress(parts: list[pd.DataFrame], count, denominator, by, privacy) -> pd.DataFrame:
    """Suppress each grouping with the ``all`` rows (their published totals), then hide an
    ``all`` cell when any grouping hid it; the whole clinic alone is its own one-unit table."""
    kw = dict(
        count=count, denominator=denominator, by=by, min_cell=privacy.min_cell, round_to=privacy.round_to
    )
    overall = parts[0]
    alone = suppress_audit_table(overall.assign(_unit="clinic"), group="_unit", **kw).drop(columns="_unit")
    hidden = alone[count].isna().to_numpy().copy()
    blocks = []
    for part in parts[1:]:
        if part.empty:
            continue
        both = suppress_audit_table(pd.concat([overall, part], ignore_index=True), **kw)
        hidden |= both[count].iloc[: len(overall)].isna().to_numpy()
        if denominator is not None:
            hidden |= both[denominator].iloc[: len(overall)].isna().to_numpy()
        blocks.append(both.iloc[len(overall) :])
    dependent = [
        c for c in alone.columns if pd.api.types.is_float_dtype(alone[c]) and c not in (count, denominator)
    ]
    for col in [count, denominator, *dependent]:
        if col is not None:
            alone.loc[hidden, col] = pd.NA if col in (count, denominator) else np.nan
    return pd.concat([alone, *blocks], ignore_index=True)


def _hide_small(values: pd.Series, privacy) -> pd.Series:
    """Counts 1 .. min_cell - 1 hidden (``<NA>``); the others rounded when ``round_to`` is set."""
    v = pd.to_numeric(values).astype("Int64")
    v = v.mask((v >= 1) & (v < privacy.min_cell))
    if privacy.round_to:
        v = (v / privacy.round_to).round().astype("Int64") * privacy.round_to
    return v


def _suppress_attrition(table: pd.DataFrame, privacy) -> pd.DataFrame:
    """Hide the percentages of a level held by 1 .. min_cell - 1 patients (or all but that many)
    on either side, the statistics of a side with too few patients, and small missing counts."""
    out = table.reset_index(drop=True).copy()
    n1 = pd.to_numeric(out["n_followed"]).astype(float)
    n0 = pd.to_numeric(out["n_lost"]).astype(float)
    small = lambda k: (k >= 1) & (k < privacy.min_cell)  # noqa: E731
    hide = small(n1) | small(n0)
    pct = out["statistic"] == "percent"
    for n, col in ((n1, "followed"), (n0, "lost")):
        k = (pd.to_numeric(out[col]) * n / 100).round()
        hide |= pct & (small(k) | small(n - k))
    # the levels' percentages add up to 100: one hidden level among shown ones would be 100 minus
    # their sum, so a second level (the smallest) is hidden with it
    levels = (out["kind"] == "categorical") & (out["level"] != "(overall)")
    for _, part in out[levels].groupby("variable", sort=False):
        if hide[part.index].sum() == 1 and len(part) > 1:
            shown = part.index[~hide[part.index].to_numpy()]
            sizes = pd.concat(
                [
                    pd.to_numeric(out.loc[shown, c]) * out.loc[shown, n] / 100
                    for c, n in (("followed", "n_followed"), ("lost", "n_lost"))
                ],
                axis=1,
            ).min(axis=1)
            hide[sizes.idxmin()] = True
    for col in ("followed", "lost", "followed_sd", "lost_sd", "std_difference"):
        out[col] = pd.to_numeric(out[col]).astype(float).where(~hide)
    for col in ("n_followed", "n_lost", "missing_followed", "missing_lost"):
        out[col] = _hide_small(out[col], privacy)
    return out


def _hide_funnel_units(funnel: pd.DataFrame, published: dict[str, pd.DataFrame], ratio: bool) -> pd.DataFrame:
    """A unit's funnel point shows only what its published audit row shows: its volume is the
    published (possibly rounded) denominator, and a hidden row hides the point."""
    if funnel.empty:
        return funnel
    out = funnel.copy()
    for i, row in out.iterrows():
        if row["measure"] == "completion":
            t, n = published["audit_completion"], "eligible"
            match = t[
                (t["outcome"] == row["outcome"]) & (t["visit"] == row["visit"]) & (t["group"] == row["group"])
            ]
            cols = ["assessed", n]
        elif row["measure"] == "mean_change":
            t, n = published["audit_change"], "n"
            match = t[
                (t["outcome"] == row["outcome"]) & (t["visit"] == row["visit"]) & (t["group"] == row["group"])
            ]
            cols = [n]
        else:
            t, n = published["audit_responders"], "denominator"
            match = t[
                (t["outcome"] == row["outcome"])
                & (t["visit"] == row["visit"])
                & (t["group"] == row["group"])
                & (t["threshold"] == row["measure"])
                & (t["denominator_basis"] == "observed")
            ]
            cols = ["responders", n]
        hidden = match.empty or bool(match[cols].isna().any(axis=None))
        if hidden:
            for col in out.columns:
                if col not in ("outcome", "measure", "visit", "group", "adjustment"):
                    out.at[i, col] = np.nan
        elif not (ratio and row["measure"] != "mean_change") and not pd.isna(match[n].iloc[0]):
            # with case mix a proportion's volume is the expected count, not a head count
            out.at[i, "volume"] = float(match[n].iloc[0])
    return out


def audit_tables(data: pd.DataFrame, config: StudyConfig) -> dict[str, pd.DataFrame]:
    """The audit tables of :data:`AUDIT_TABLES` for the analysis data, disclosure-controlled.

    Parameters
    ----------
    data : DataFrame
        The analysis data (long, one row per participant x visit).
    config : StudyConfig
        An audit (``config.is_audit``); any other design gets :func:`empty_audit_tables`.

    Returns
    -------
    dict of DataFrame
        Name -> table with the columns :data:`AUDIT_TABLE_COLUMNS` names. Hidden counts are
        ``<NA>``, their percentages, means and intervals NaN.

    Examples
    --------
    >>> from prt_outcomes.config import load_config
    >>> tables = audit_tables(data, load_config("config/studies/choir_registry.yaml"))  # doctest: +SKIP
    """
    if not config.is_audit:
        return empty_audit_tables()
    audit, privacy = config.audit, config.privacy
    baseline = config.baseline_visit
    outcomes = list(config.outcome_names)
    follow = [v for v in config.visit_names if v != baseline]
    direction = {o.name: o.higher_is_better for o in config.outcomes}
    common = dict(baseline_visit=baseline, visits=follow, subject=SUBJECT, visit=VISIT)

    completion = _per_grouping(
        lambda d, g, overall: audit_completion(d, outcomes, group=g, overall=overall, **common), data, config
    )
    change = _per_grouping(
        lambda d, g, overall: audit_change(
            d, outcomes, group=g, overall=overall, standardizer=audit.effect_size_sd, **common
        ),
        data,
        config,
    )
    rules: dict[str, list[str]] = {}
    for t in config.thresholds:
        for o in t.outcomes:
            rules.setdefault(o, []).append(t.rule)
    if rules:
        responders = _per_grouping(
            lambda d, g, overall: audit_responders(
                d, rules, group=g, overall=overall, higher_is_better=direction, **common
            ),
            data,
            config,
        )
    else:
        responders = [pd.DataFrame(columns=list(AUDIT_RESPONDER_COLUMNS))]

    by = ("outcome", "visit")
    tables = {
        "audit_completion": _suppress(completion, "assessed", "eligible", by, privacy),
        "audit_change": _suppress(change, "n", None, by, privacy),
    }
    if rules:
        resp = _suppress(
            responders, "responders", "denominator", (*by, "threshold", "denominator_basis"), privacy
        )
        # the observed and eligible rows of a rule share the responders: hide both when either is hidden
        key = ["outcome", "threshold", "group", "visit"]
        any_hidden = resp["responders"].isna().groupby([resp[k] for k in key]).transform("any")
        floats = [c for c in ("percent", "ci_low", "ci_high") if c in resp]
        resp.loc[any_hidden.to_numpy(), "responders"] = pd.NA
        resp.loc[any_hidden.to_numpy(), floats] = np.nan
        tables["audit_responders"] = resp
    else:
        tables["audit_responders"] = responders[0]

    outcome = audit_outcome(config)
    categorical = [c.name for c in config.covariates if c.type == "categorical"]
    variables = list(audit.attrition) if audit.attrition is not None else [c.name for c in config.covariates]
    variables = [v for v in variables if v in data.columns]
    if follow:
        flags = followed_up_flags(
            data, outcome, baseline_visit=baseline, followup_visit=follow[-1], characteristics=variables
        )
        attrition = audit_attrition(flags, [outcome, *variables], categorical=categorical)
    else:
        attrition = pd.DataFrame(columns=list(AUDIT_ATTRITION_COLUMNS))
    tables["audit_attrition"] = _suppress_attrition(attrition, privacy)

    funnels = []
    for group in audit.groups:
        labelled = data.assign(**{_GROUP: _group_labels(data, group)})
        for o in outcomes:
            for v in follow:
                for measure in audit.funnel_measures:
                    funnels.append(
                        audit_funnel(
                            labelled,
                            o,
                            group=_GROUP,
                            baseline_visit=baseline,
                            visit=v,
                            measure=measure,
                            adjustment=audit.funnel_adjustment,
                            case_mix=list(audit.case_mix),
                            higher_is_better=direction[o],
                        )
                    )
    funnel = (
        pd.concat(funnels, ignore_index=True) if funnels else pd.DataFrame(columns=list(AUDIT_FUNNEL_COLUMNS))
    )
    tables["audit_funnel"] = _hide_funnel_units(funnel, tables, ratio=bool(audit.case_mix))
    return {name: tables[name][list(cols)] for name, cols in AUDIT_TABLE_COLUMNS.items()}
