"""Pandera schemas generated from a study configuration.

:func:`build_schema` turns a :class:`~prt_outcomes.config.StudyConfig` into one
``pandera.DataFrameSchema`` over the canonical long frame. Every check carries a *rule* name;
those names are what the validation report, ``failures.csv`` and the tests speak about.

Row-level rules (one failing cell quarantines its row):

==================  =========================================================================
rule                meaning
==================  =========================================================================
``missing_value``   participant_id, arm or visit is empty
``unknown_arm``     arm is not one of the config's arms (after code / label mapping)
``unknown_visit``   visit is not one of the config's visits
``not_finite``      an outcome or numeric covariate is infinite (``inf`` / ``-inf``), bounded
                    or not; ingest reports such text cells (and ``NaN`` written out) itself
``out_of_range``    an outcome outside its instrument's range, or a numeric covariate outside
                    its ``min`` / ``max``
``off_step``        an outcome between the steps of its instrument (e.g. 3.3 on a 0.5-step
                    item); a value within 1e-6 of a step is on the step (export rounding)
``unknown_level``   a categorical covariate value that is not one of its levels
``wrong_type``      a column has the wrong dtype (only for frames not made by ingest)
==================  =========================================================================

Cross-row rules (they quarantine the *whole participant*, every row of it, because with two
arms, a duplicated visit, no baseline, no covariate or dates out of order no row of that
participant can be trusted in a longitudinal model):

======================  =====================================================================
``duplicate_visit``     the participant has the same visit twice
``multiple_arms``       the participant's rows name more than one arm
``missing_baseline``    no row at the baseline visit (only when ``baseline_required: error``;
                        with ``warning`` validation adds a warning instead)
``missing_covariate``   a required covariate is empty on every row of the participant
``covariate_changes``   a baseline covariate has different values on the participant's rows
``dates_out_of_order``  a ``date`` column exists and dates decrease along the visit order
``ids_differ_only_in_   participant ids that are equal but for letter case (``P01``, ``p01``):
case``                  one person typed twice or two people; merging could be wrong, so every
                        row of each such id is quarantined
======================  =====================================================================

Cross-row checks treat rows with an empty participant id as passing (those rows already fail
``missing_value``).

Examples
--------
>>> from prt_outcomes.validate.schemas import build_schema
>>> schema = build_schema(cfg)                                   # doctest: +SKIP
>>> schema.validate(frame, lazy=True)                            # doctest: +SKIP
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..config import ARM, DATE, SUBJECT, VISIT, StudyConfig

__all__ = [
    "build_schema",
    "ROW_RULES",
    "PARTICIPANT_RULES",
    "STEP_TOLERANCE",
    "column_rules",
    "frame_check_rule",
    "on_step",
]


ROW_RULES = (
    "missing_value",
    "not_finite",
    "unknown_arm",
    "unknown_visit",
    "out_of_range",
    "off_step",
    "unknown_level",
    "wrong_type",
)
PARTICIPANT_RULES = (
    "duplicate_visit",
    "multiple_arms",
    "missing_baseline",
    "missing_covariate",
    "covariate_changes",
    "dates_out_of_order",
    "ids_differ_only_in_case",
)
#: A value counts as on a step when it is within this many steps of one (exports round).
STEP_TOLERANCE = 1e-6


def on_step(values: pd.Series | np.ndarray, start: float, step: float) -> np.ndarray:
    """True where ``values`` lie on the grid ``start + k * step`` (missing values pass).

    >>> on_step(pd.Series([0.0, 0.5, 0.3, np.nan]), 0.0, 0.5).tolist()
    [True, True, False, True]
    """
    x = (np.asarray(values, dtype="float64") - start) / step
    with np.errstate(invalid="ignore"):
        ok = np.abs(x - np.round(x)) <= STEP_TOLERANCE
    return ok | np.isnan(x)


def build_schema(config: StudyConfig) -> pa.DataFrameSchema:
    """The pandera schema of a study's canonical long frame.

    Parameters
    ----------
    config : StudyConfig

    Returns
    -------
    pandera.DataFrameSchema
        Column checks for ids, arms, visits, outcome ranges and steps, covariates; frame-wide
        checks for the cross-row rules. ``schema.metadata["rules"]`` maps each column to its
        check rule names in order (pandera reports built-in checks under their own names, so
        validation maps ``check_number`` back to the rule); frame-wide checks are named
        ``"<rule>:<column>"``.

    Examples
    --------
    >>> schema = build_schema(cfg)                                # doctest: +SKIP
    >>> sorted(schema.columns)[:3]                                # doctest: +SKIP
    ['age', 'arm', 'bpi_interference']
    """
    columns: dict[str, pa.Column] = {}
    rules: dict[str, list[str]] = {}

    def add(name: str, dtype, checks: list[tuple[str, pa.Check]], nullable: bool, required=True):
        columns[name] = pa.Column(dtype, checks=[c for _, c in checks], nullable=nullable, required=required)
        rules[name] = [r for r, _ in checks]

    add(SUBJECT, str, [], nullable=False)
    add(ARM, str, [("unknown_arm", pa.Check.isin(list(config.arm_names)))], nullable=False)
    add(VISIT, str, [("unknown_visit", pa.Check.isin(list(config.visit_names)))], nullable=False)

    for outcome in config.outcomes:
        checks = [("not_finite", _finite_check()), ("out_of_range", _range_check(outcome.min, outcome.max))]
        if outcome.step:
            checks.append(("off_step", _step_check(outcome.min, outcome.step)))
        add(outcome.name, "float64", checks, nullable=True)

    for cov in config.covariates:
        if cov.type == "numeric":
            checks = [("not_finite", _finite_check())]
            if cov.min is not None or cov.max is not None:
                checks.append(("out_of_range", _range_check(cov.min, cov.max)))
            add(cov.name, "float64", checks, nullable=True)
        else:
            checks = [("unknown_level", pa.Check.isin(list(cov.levels)))] if cov.levels else []
            add(cov.name, str, checks, nullable=True)

    columns[DATE] = pa.Column(None, nullable=True, required=False)
    rules[DATE] = []

    frame_checks = [
        _frame_check("ids_differ_only_in_case", SUBJECT, _ids_differ_only_in_case),
        _frame_check("duplicate_visit", VISIT, _duplicate_visit),
        _frame_check("multiple_arms", ARM, _single_value(ARM)),
    ]
    if config.baseline_visit is not None and config.baseline_required == "error":
        baseline = config.baseline_visit
        frame_checks.append(_frame_check("missing_baseline", VISIT, lambda df: _has_baseline(df, baseline)))
    for cov in config.covariates:
        if cov.required:
            frame_checks.append(_frame_check("missing_covariate", cov.name, _covariate_present(cov.name)))
        # covariates are baseline characteristics: one value per participant
        frame_checks.append(_frame_check("covariate_changes", cov.name, _single_value(cov.name)))
    order = {v.name: v.order for v in config.visits}
    frame_checks.append(_frame_check("dates_out_of_order", DATE, _dates_in_order(order)))

    return pa.DataFrameSchema(
        columns,
        checks=frame_checks,
        strict=False,
        name=f"{config.name} long frame",
        metadata={"rules": rules},
    )


def column_rules(schema: pa.DataFrameSchema) -> dict[str, list[str]]:
    """Rule names of each column's checks, in pandera's ``check_number`` order."""
    return dict((schema.metadata or {}).get("rules", {}))


def frame_check_rule(check_name: str) -> tuple[str, str]:
    """Split a frame-wide check name ``"rule:column"`` into its rule and column."""
    rule, _, column = check_name.partition(":")
    return rule, column


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _step_check(start: float, step: float) -> pa.Check:
    return pa.Check(
        lambda s: pd.Series(on_step(s, start, step), index=s.index),
        name=f"off_step({step:g})",
        error=f"value not on a {step:g} step",
    )


def _finite_check() -> pa.Check:
    # missing values (NaN) are skipped by pandera before the check; what is left must be finite
    return pa.Check(
        lambda s: pd.Series(np.isfinite(s.to_numpy(dtype="float64")), index=s.index),
        name="not_finite",
        error="value is infinite",
    )


def _range_check(lo: float | None, hi: float | None) -> pa.Check:
    """``lo <= value <= hi`` (either bound may be absent); infinite values pass here because
    ``not_finite`` reports them, so one bad cell breaks one rule."""

    def check(s: pd.Series) -> pd.Series:
        x = s.to_numpy(dtype="float64")
        ok = np.ones(len(x), dtype=bool)
        if lo is not None:
            ok &= x >= lo
        if hi is not None:
            ok &= x <= hi
        return pd.Series(ok | np.isinf(x), index=s.index)

    return pa.Check(check, name="in_range", error=f"value outside [{lo}, {hi}]")


def _frame_check(rule: str, column: str, fn: Callable[[pd.DataFrame], np.ndarray]) -> pa.Check:
    return pa.Check(
        lambda df: pd.Series(fn(df), index=df.index),
        name=f"{rule}:{column}",
    )


#: the last frame's participant codes: every cross-row check of one validation reads the same
#: frame, and factorising a million ids once instead of once per check halves their cost
_CODES_CACHE: list = [None, None, None]


def _participant_codes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    codes, _ = _participant_factors(df)
    return codes, codes >= 0


def _participant_factors(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Participant codes (-1 for a missing id) and the distinct ids, cached per frame."""
    ref, cached, uniques = _CODES_CACHE
    if ref is not None and ref() is df and len(cached) == len(df):
        return cached, uniques
    codes, uniques = pd.factorize(df[SUBJECT], use_na_sentinel=True)
    _CODES_CACHE[:] = [weakref.ref(df), codes, uniques]
    return codes, uniques


def forget_cached_codes() -> None:
    """Drop the cached participant codes (call after validating a frame that may change)."""
    _CODES_CACHE[:] = [None, None, None]


def _spread(codes: np.ndarray, bad_participant: np.ndarray) -> np.ndarray:
    """Row-level pass mask from a per-participant failure mask (missing ids pass)."""
    out = np.ones(len(codes), dtype=bool)
    has = codes >= 0
    out[has] = ~bad_participant[codes[has]]
    return out


def _ids_differ_only_in_case(df: pd.DataFrame) -> np.ndarray:
    """Rows whose id equals another id but for letter case fail (both spellings)."""
    codes, uniques = _participant_factors(df)
    if len(uniques) < 2:
        return np.ones(len(df), dtype=bool)
    lowered, _ = pd.factorize(pd.Series(uniques, dtype="str").str.lower())
    spellings = np.bincount(lowered)
    return _spread(codes, spellings[lowered] > 1)


def _duplicate_visit(df: pd.DataFrame) -> np.ndarray:
    codes, has = _participant_codes(df)
    if not has.any():
        return np.ones(len(df), dtype=bool)
    vcodes, vnames = pd.factorize(df[VISIT], use_na_sentinel=True)
    sel = has & (vcodes >= 0)
    # one integer per (participant, visit): counting those is a hash-free duplicate test
    key = codes[sel].astype(np.int64) * max(len(vnames), 1) + vcodes[sel]
    if codes.max() + 1 <= 50_000_000 // max(len(vnames), 1):
        counts = np.bincount(key)
        dup_key = counts[key] > 1
    else:  # many distinct visit texts: sort instead of a huge count table
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        dup_key = counts[inverse] > 1
    bad = np.zeros(codes.max() + 1, dtype=bool)
    bad[codes[sel][dup_key]] = True
    return _spread(codes, bad)


def _single_value(column: str) -> Callable[[pd.DataFrame], np.ndarray]:
    """Rows of participants whose non-missing ``column`` takes more than one value fail."""

    def check(df: pd.DataFrame) -> np.ndarray:
        codes, has = _participant_codes(df)
        if column not in df.columns or not has.any():
            return np.ones(len(df), dtype=bool)
        vcodes, _ = pd.factorize(df[column], use_na_sentinel=True)
        sel = has & (vcodes >= 0)
        p, v = codes[sel], vcodes[sel]
        # a participant has one value when every row equals one of its rows (any one will do)
        one = np.full(codes.max() + 1, -1, dtype=v.dtype)
        one[p] = v
        differs = np.bincount(p[v != one[p]], minlength=codes.max() + 1)
        return _spread(codes, differs > 0)

    return check


def _has_baseline(df: pd.DataFrame, baseline: str) -> np.ndarray:
    codes, has = _participant_codes(df)
    if not has.any():
        return np.ones(len(df), dtype=bool)
    at_base = (df[VISIT] == baseline).fillna(False).to_numpy(dtype=bool)
    n_base = np.bincount(codes[has & at_base], minlength=codes.max() + 1)
    return _spread(codes, n_base == 0)


def _covariate_present(column: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def check(df: pd.DataFrame) -> np.ndarray:
        codes, has = _participant_codes(df)
        if column not in df.columns or not has.any():
            return np.ones(len(df), dtype=bool)
        present = df[column].notna().to_numpy(dtype=bool)
        n_present = np.bincount(codes[has & present], minlength=codes.max() + 1)
        return _spread(codes, n_present == 0)

    return check


def _dates_in_order(order: dict[str, int]) -> Callable[[pd.DataFrame], np.ndarray]:
    def check(df: pd.DataFrame) -> np.ndarray:
        if DATE not in df.columns:
            return np.ones(len(df), dtype=bool)
        codes, has = _participant_codes(df)
        dates = pd.to_datetime(df[DATE], errors="coerce")
        visit_order = df[VISIT].map(order).to_numpy(dtype="float64", na_value=np.nan)
        sel = has & dates.notna().to_numpy() & ~np.isnan(visit_order)
        if not sel.any():
            return np.ones(len(df), dtype=bool)
        sub = pd.DataFrame({"p": codes[sel], "o": visit_order[sel], "d": dates[sel].to_numpy()}).sort_values(
            ["p", "o"], kind="stable"
        )
        same_p = sub["p"].to_numpy()[1:] == sub["p"].to_numpy()[:-1]
        earlier = sub["d"].to_numpy()[1:] < sub["d"].to_numpy()[:-1]
        bad_p = sub["p"].to_numpy()[1:][same_p & earlier]
        bad = np.zeros(codes.max() + 1, dtype=bool)
        bad[bad_p] = True
        return _spread(codes, bad)

    return check
