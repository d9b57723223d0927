"""The ``sensitivity:`` section as jobs: one per outcome x strategy, one tipping-point scan per outcome.

:func:`sensitivity_job` and :func:`tipping_point_job` map a study's analysis data and its
:class:`~prt_outcomes.config.SensitivitySettings` onto
:func:`prt_outcomes.analyse.sensitivity.sensitivity_analysis` and
:func:`~prt_outcomes.analyse.sensitivity.tipping_point`; :func:`stack_sensitivity` stacks the
jobs' tables into ``tables/sensitivity.csv`` and ``tables/tipping_point.csv``.
:func:`sensitivity_tables` does all of it in one process (:func:`prt_outcomes.pipeline.analyse`).

What is imputed: with a baseline visit, the change from it (``<outcome>_change``) at every
follow-up visit the primary analysis reads, conditional on the baseline value
(``<outcome>_baseline``); without one, the outcome itself, conditional on the covariate
``sensitivity.baseline``. The primary analysis's covariates enter the imputation model and the
ANCOVA. Each participant's intercurrent event (the first affected visit) comes from
``sensitivity.events`` (a column of the data or a side file of ``participant_id, visit``);
without it, the visit after the last observed one.

Examples
--------
>>> stack_sensitivity([], SENSITIVITY_COLUMNS).columns.tolist() == list(SENSITIVITY_COLUMNS)
True
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from prt_outcomes.analyse.sensitivity import (
    SENSITIVITY_COLUMNS,
    TIPPING_POINT_COLUMNS,
    sensitivity_analysis,
    tipping_point,
)
from prt_outcomes.config import ConfigError, StudyConfig
from prt_outcomes.derive import baseline_column, change_column
from prt_outcomes.errors import ModelError

__all__ = [
    "SENSITIVITY_COLUMNS",
    "TIPPING_POINT_COLUMNS",
    "sensitivity_job",
    "tipping_point_job",
    "stack_sensitivity",
    "sensitivity_tables",
    "sensitivity_inputs",
]

SUBJECT, ARM, VISIT = "participant_id", "arm", "visit"


def _settings(config: StudyConfig):
    if config.sensitivity is None:
        raise ConfigError("the config has no 'sensitivity:' section; add one to run sensitivity analyses.")
    return config.sensitivity


def sensitivity_inputs(data: pd.DataFrame, config: StudyConfig, outcome: str) -> tuple[pd.DataFrame, dict]:
    """The rows and keyword arguments of the API calls for ``outcome`` (all but strategy/delta).

    Returns the long data restricted to the imputation model's visits (visit names as the config
    has them) and ``dict(outcome=, arm=, visit=, subject=, baseline=, reference_arm=, visits=,
    covariates=, events=, method=, n_imputations=, seed=)``.
    """
    s = _settings(config)
    spec = config.primary_analysis
    chosen = set(spec.model.visits) if spec.model.visits else set(config.visit_names)
    visits = [v for v in config.visit_names if v in chosen and v != config.baseline_visit]
    if s.baseline is None:
        response, baseline = change_column(outcome), baseline_column(outcome)
    else:
        response, baseline = outcome, s.baseline
    # the baseline is in the imputation model already (by visit), whether or not the primary
    # analysis also lists it as a covariate
    covariates = tuple(c for c in spec.model.covariates if c != baseline)
    missing = [c for c in (response, baseline, *covariates) if c not in data.columns]
    if missing:
        raise ModelError(
            f"sensitivity of {outcome!r}: the analysis data has no column(s) {missing}; check "
            "sensitivity.baseline and the covariates of the primary analysis."
        )
    rows = data[data[VISIT].astype(str).isin(visits)].copy()
    rows[VISIT] = rows[VISIT].astype(str)
    rows[SUBJECT] = rows[SUBJECT].astype(str)
    kwargs = dict(
        outcome=response,
        arm=ARM,
        visit=VISIT,
        subject=SUBJECT,
        baseline=baseline,
        reference_arm=config.reference_arm,
        visits=visits,
        covariates=covariates,
        events=_events(data, config, visits),
        method=s.method,
        n_imputations=s.n_imputations,
        seed=s.seed,
    )
    return rows, kwargs


def _events(data: pd.DataFrame, config: StudyConfig, visits: list[str]) -> pd.DataFrame | None:
    s = config.sensitivity
    if s.events_column is not None:
        if s.events_column not in data.columns:
            raise ConfigError(
                f"sensitivity.events.column is {s.events_column!r}, which is not a column of the analysis "
                "data; map it under 'columns:' or correct the name."
            )
        given = data[[SUBJECT, s.events_column]].dropna().drop_duplicates()
        given = given.rename(columns={s.events_column: "visit"})
        where = f"column {s.events_column!r}"
    elif s.events_file is not None:
        if not s.events_file.exists():
            raise ConfigError(f"sensitivity.events.file {s.events_file} does not exist; correct the path.")
        given = pd.read_csv(s.events_file, dtype=str, keep_default_na=False)
        if not {"participant_id", "visit"} <= set(given.columns):
            raise ConfigError(
                f"sensitivity.events.file {s.events_file} needs the columns participant_id and visit "
                f"(the first visit affected by the intercurrent event); it has {list(given.columns)}."
            )
        if "strategy" in given.columns and (given["strategy"] != "").any():
            raise ConfigError(
                f"sensitivity.events.file {s.events_file} has a strategy column: per-participant strategies "
                "are not run by the workflow yet (each job applies one strategy of sensitivity.strategies); "
                "drop the column, or call prt_outcomes.analyse.sensitivity.sensitivity_analysis with "
                "strategy={participant: strategy}."
            )
        given = given[given["visit"] != ""]
        where = f"file {s.events_file}"
    else:
        return None
    given = given.assign(participant_id=given[SUBJECT].astype(str), visit=given["visit"].astype(str))
    twice = given[given[SUBJECT].duplicated()][SUBJECT].tolist()
    if twice:
        raise ConfigError(
            f"sensitivity.events ({where}) gives more than one first affected visit for {len(twice)} "
            "participant(s); give one visit per participant."
        )
    unknown = sorted(set(given["visit"]) - set(visits))
    if unknown:
        raise ConfigError(
            f"sensitivity.events ({where}) names visits {unknown}, which are not follow-up visits of the "
            f"analysis {visits}; use the config's visit names."
        )
    return given[[SUBJECT, "visit"]].rename(columns={SUBJECT: "subject"}).reset_index(drop=True)


def _api_strategy(strategy: str) -> str:
    return "JR" if strategy == "J2R" else strategy


def sensitivity_job(
    data: pd.DataFrame, config: StudyConfig, outcome: str, strategy: str, workers: int = 1
) -> pd.DataFrame:
    """One job: ``outcome`` under ``strategy`` (a config name), :data:`SENSITIVITY_COLUMNS`.

    The ``outcome`` column holds the config's outcome name (not the imputed column's);
    ``workers`` processes run the refits (the table does not depend on it).
    """
    rows, kwargs = sensitivity_inputs(data, config, outcome)
    res = sensitivity_analysis(rows, strategy=_api_strategy(strategy), workers=workers, **kwargs)
    table = res.table.assign(outcome=outcome, strategy=strategy)
    table["visit"] = table["visit"].astype(str)
    return table[list(SENSITIVITY_COLUMNS)]


def tipping_point_job(
    data: pd.DataFrame, config: StudyConfig, outcome: str, workers: int = 1
) -> pd.DataFrame:
    """The tipping-point scan of ``outcome`` (:data:`TIPPING_POINT_COLUMNS`); empty without
    ``sensitivity.tipping_point``; ``workers`` as :func:`sensitivity_job`."""
    s = _settings(config)
    if not s.tipping_deltas:
        return pd.DataFrame(columns=list(TIPPING_POINT_COLUMNS))
    rows, kwargs = sensitivity_inputs(data, config, outcome)
    res = tipping_point(
        rows,
        deltas=list(s.tipping_deltas),
        strategy=_api_strategy(s.tipping_strategy),
        delta_arms=list(s.tipping_arms) or None,
        delta_cumulative=s.tipping_cumulative,
        workers=workers,
        **kwargs,
    )
    table = res.table.assign(outcome=outcome)
    table["visit"] = table["visit"].astype(str)
    return table[list(TIPPING_POINT_COLUMNS)]


def stack_sensitivity(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """The jobs' tables one under the other, in the given columns (empty frames are dropped; no
    frames at all give an empty table with the columns)."""
    kept = [f[list(columns)] for f in frames if len(f)]
    if not kept:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(kept, ignore_index=True)


def sensitivity_tables(data: pd.DataFrame, config: StudyConfig) -> dict[str, pd.DataFrame]:
    """``sensitivity`` and ``tipping_point`` in one process: every job of the config, stacked
    (both empty, with their columns, without a ``sensitivity:`` section)."""
    s = config.sensitivity
    if s is None:
        return {
            "sensitivity": stack_sensitivity([], SENSITIVITY_COLUMNS),
            "tipping_point": stack_sensitivity([], TIPPING_POINT_COLUMNS),
        }
    return {
        "sensitivity": stack_sensitivity(
            [sensitivity_job(data, config, o, st) for o, st in s.jobs], SENSITIVITY_COLUMNS
        ),
        "tipping_point": stack_sensitivity(
            [tipping_point_job(data, config, o) for o in s.outcomes], TIPPING_POINT_COLUMNS
        ),
    }
