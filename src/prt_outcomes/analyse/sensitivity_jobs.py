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
without it, the visit after the last observed one. A ``strategy`` column of the side file (MAR,
J2R, CR, CIR per participant) adds one job per outcome, :data:`PER_PARTICIPANT`, applying
each participant's own strategy. A ``delta`` column of the side file (a number per participant,
blank: none) is added to that participant's imputed values from its event on in every strategy
job, the per-participant one included (rbmi's ``delta`` data frame); the tipping-point scan
shifts by its own grid alone.

``sensitivity.responders`` (rules of the threshold language) add to every strategy job the
responder rows of :func:`~prt_outcomes.analyse.sensitivity.sensitivity_analysis`'s
``responder=``: per visit the risk difference (arm minus reference) and each arm's proportion,
``analysis`` = :func:`responder_label`, pooled by Rubin's rules.

Examples
--------
>>> stack_sensitivity([], SENSITIVITY_COLUMNS).columns.tolist() == list(SENSITIVITY_COLUMNS)
True
"""

from __future__ import annotations

import logging
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
    "read_events_file",
    "events_strategies",
    "events_deltas",
    "responder_label",
    "STRATEGIES",
    "PER_PARTICIPANT",
]

SUBJECT, ARM, VISIT = "participant_id", "arm", "visit"
#: The config's strategy names (``J2R`` is the API's ``JR``).
STRATEGIES = ("MAR", "J2R", "CR", "CIR")
#: The job name (``strategy`` of ``tables/sensitivity.csv``) applying each participant's own
#: strategy from ``sensitivity.events.file``.
PER_PARTICIPANT = "per_participant"

logger = logging.getLogger(__name__)


def responder_label(rule: str) -> str:
    """The ``analysis`` of a ``sensitivity.responders`` rule's rows in ``tables/sensitivity.csv``.

    >>> responder_label("percent_reduction >= 30")
    'responder: percent_reduction >= 30'
    """
    return f"responder: {rule}"


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
        events=_events(data, config, visits, set(rows[SUBJECT])),
        method=s.method,
        n_imputations=s.n_imputations,
        seed=s.seed,
    )
    return rows, kwargs


def _responders(config: StudyConfig, outcome: str) -> dict:
    """The API's ``responder=`` and its companions for ``sensitivity.responders`` (empty: none).

    The rules read the score at the visit and the baseline: with a baseline visit the imputed
    outcome is the change from it (the score is baseline + change), with ``sensitivity.baseline``
    the outcome itself, that covariate being its baseline."""
    s = config.sensitivity
    if not s.responders:
        return {}
    return dict(
        responder={responder_label(rule): rule for rule in s.responders},
        outcome_is_change=s.baseline is None,
        higher_is_better=config.outcome(outcome).higher_is_better,
    )


def _events(
    data: pd.DataFrame, config: StudyConfig, visits: list[str], analysed: set[str]
) -> pd.DataFrame | None:
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
        given = read_events_file(s.events_file)
        where = f"file {s.events_file}"
    else:
        return None
    given = given.assign(participant_id=given[SUBJECT].astype(str), visit=given["visit"].astype(str))

    # the file's line of the first offending row (a column of the data has no lines)
    def at(rows):
        return f" (line {rows['line'].iloc[0]}, column {{}})" if "line" in rows.columns else " (column {})"

    twice = given[given[SUBJECT].duplicated()]
    if len(twice):
        raise ConfigError(
            f"sensitivity.events ({where}){at(twice).format('participant_id')} gives more than one first "
            f"affected visit for {twice[SUBJECT].nunique()} participant(s), e.g. {twice[SUBJECT].iloc[0]!r}; "
            "give one visit per participant."
        )
    off = given[~given["visit"].isin(visits)]
    if len(off):
        raise ConfigError(
            f"sensitivity.events ({where}){at(off).format('visit')} names visits "
            f"{sorted(set(off['visit']))}, which are not follow-up visits of the analysis {visits}; "
            "use the config's visit names."
        )
    known = set(data[SUBJECT].astype(str))
    strangers = given[~given[SUBJECT].isin(known)]
    if len(strangers):
        first = strangers.iloc[0]
        line = f"line {first['line']}, " if "line" in strangers.columns else ""
        raise ConfigError(
            f"sensitivity.events ({where}): {line}column participant_id: {first[SUBJECT]!r} is not a "
            f"participant of the analysis data ({len(strangers)} row(s) name unknown participants); "
            "correct the identifiers or drop the rows."
        )
    # in the data but without a row at the analysis's follow-up visits: not in the analysis, so
    # nothing to impute; reported, not refused (leaving before the first follow-up is an event)
    absent = given[~given[SUBJECT].isin(analysed)]
    if len(absent):
        logger.warning(
            "sensitivity.events (%s): %d participant(s) have no row at the follow-up visits %s and are "
            "not in the sensitivity analysis; their events are not used: %s",
            where,
            len(absent),
            visits,
            ", ".join(absent[SUBJECT].tolist()[:10]) + (" ..." if len(absent) > 10 else ""),
        )
        given = given[given[SUBJECT].isin(analysed)]
    columns = [SUBJECT, "visit"] + [c for c in ("strategy", "delta") if c in given.columns]
    return given[columns].rename(columns={SUBJECT: "subject"}).reset_index(drop=True)


def read_events_file(path) -> pd.DataFrame:
    """The rows of ``sensitivity.events.file`` that name an event, checked, with their ``line``.

    Columns ``participant_id``, ``visit`` (the first affected visit), ``strategy`` (the
    config's name, MAR, J2R, CR or CIR; blank: the job's fallback) and ``delta`` (a float; NaN
    for a blank cell: no delta) when the file has them, and ``line`` (the line of the file, the
    header being line 1). A strategy outside the four, a delta that is not a finite number, or a
    strategy or delta without a visit, is refused with its line and column. A row with neither a
    visit nor a strategy nor a delta names no event: it is left out and counted in a warning
    (every row of the file is used or reported).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
    >>> _ = f.write_text("participant_id,visit,strategy\\np1,m3,J2R\\np2,m3,\\n")
    >>> read_events_file(f)[["participant_id", "strategy", "line"]].values.tolist()
    [['p1', 'J2R', 2], ['p2', '', 3]]
    """
    if not path.exists():
        raise ConfigError(f"sensitivity.events.file {path} does not exist; correct the path.")
    given = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"participant_id", "visit"} <= set(given.columns):
        raise ConfigError(
            f"sensitivity.events.file {path} needs the columns participant_id and visit "
            f"(the first visit affected by the intercurrent event); it has {list(given.columns)}."
        )
    given = given.assign(line=range(2, len(given) + 2))
    given["visit"] = given["visit"].str.strip()
    if "strategy" in given.columns:
        given["strategy"] = given["strategy"].str.strip()
        bad = given[(given["strategy"] != "") & ~given["strategy"].isin(STRATEGIES)]
        if len(bad):
            first = bad.iloc[0]
            raise ConfigError(
                f"sensitivity.events.file {path}, line {first['line']}, column strategy: "
                f"{first['strategy']!r} is not a strategy (allowed: {', '.join(STRATEGIES)}; "
                f"{len(bad)} row(s) like it); correct the name or leave the cell blank."
            )
        orphan = given[(given["strategy"] != "") & (given["visit"] == "")]
        if len(orphan):
            first = orphan.iloc[0]
            raise ConfigError(
                f"sensitivity.events.file {path}, line {first['line']}, column visit: the strategy "
                f"{first['strategy']!r} is given without a first affected visit ({len(orphan)} row(s) "
                "like it); give the visit from which the strategy applies, or drop the strategy."
            )
    if "delta" in given.columns:
        given["delta"] = given["delta"].str.strip()
        number = pd.to_numeric(given["delta"], errors="coerce")
        bad = given[(given["delta"] != "") & ~(number.abs() < float("inf"))]
        if len(bad):
            first = bad.iloc[0]
            raise ConfigError(
                f"sensitivity.events.file {path}, line {first['line']}, column delta: "
                f"{first['delta']!r} is not a number ({len(bad)} row(s) like it); give the shift of that "
                "participant's imputed values in the outcome's units (e.g. 1.5 or -2), or leave the "
                "cell blank for none."
            )
        orphan = given[(given["delta"] != "") & (given["visit"] == "")]
        if len(orphan):
            first = orphan.iloc[0]
            raise ConfigError(
                f"sensitivity.events.file {path}, line {first['line']}, column visit: the delta "
                f"{first['delta']!r} is given without a first affected visit ({len(orphan)} row(s) like "
                "it); a delta shifts the imputed values from the event on: give the visit, or drop "
                "the delta."
            )
        given["delta"] = number
    empty = given[given["visit"] == ""]
    if len(empty):
        logger.warning(
            "sensitivity.events.file %s: %d row(s) name no visit (lines %s), so no intercurrent event; "
            "those participants' missing data are imputed under MAR.",
            path,
            len(empty),
            ", ".join(map(str, empty["line"].tolist()[:10])) + (" ..." if len(empty) > 10 else ""),
        )
    return given[given["visit"] != ""].reset_index(drop=True)


def events_strategies(settings) -> tuple[str, ...] | None:
    """The per-participant strategies of ``sensitivity.events.file`` (blank: none given), or
    None when the file has no ``strategy`` column with a value (no ``per_participant`` job).

    Read by :class:`~prt_outcomes.config.SensitivitySettings` (is there a per-participant job?)
    and by the report (how many participants follow each strategy)."""
    if settings.events_file is None or not settings.events_file.exists():
        return None
    given = read_events_file(settings.events_file)
    if "strategy" not in given.columns or not (given["strategy"] != "").any():
        return None
    return tuple(given["strategy"])


def events_deltas(settings) -> dict[str, float]:
    """``{participant_id: delta}`` of the ``delta`` column of ``sensitivity.events.file`` (blank
    and 0 cells left out); empty without a file or the column.

    Read by the jobs (the API's per-participant ``delta``) and by the report (the estimand in
    words)."""
    if settings.events_file is None or not settings.events_file.exists():
        return {}
    given = read_events_file(settings.events_file)
    if "delta" not in given.columns:
        return {}
    given = given[given["delta"].notna() & (given["delta"] != 0)]
    return dict(zip(given[SUBJECT].astype(str), given["delta"].astype(float)))


def _delta_mapping(events: pd.DataFrame | None) -> dict | None:
    """The per-participant deltas of the events the job uses (None: no delta)."""
    if events is None or "delta" not in events.columns:
        return None
    given = events[events["delta"].notna() & (events["delta"] != 0)]
    return dict(zip(given["subject"], given["delta"].astype(float))) or None


def _api_strategy(strategy: str) -> str:
    return "JR" if strategy == "J2R" else strategy


def sensitivity_job(
    data: pd.DataFrame, config: StudyConfig, outcome: str, strategy: str, workers: int = 1
) -> pd.DataFrame:
    """One job: ``outcome`` under ``strategy`` (a config name), :data:`SENSITIVITY_COLUMNS`.

    ``strategy`` :data:`PER_PARTICIPANT` applies each participant's strategy of
    ``sensitivity.events.file`` (a blank cell: the config's first strategy); any other applies
    that one strategy to every participant's event. The file's ``delta`` column shifts each
    named participant's imputed values from its event on, in every job.
    ``sensitivity.responders`` add their rows (:func:`responder_label`).

    The ``outcome`` column holds the config's outcome name (not the imputed column's);
    ``workers`` processes run the refits (the table does not depend on it).
    """
    rows, kwargs = sensitivity_inputs(data, config, outcome)
    events = kwargs.pop("events")
    delta = _delta_mapping(events)
    if events is not None:
        events = events.drop(columns="delta", errors="ignore")
    if strategy == PER_PARTICIPANT:
        # each event's own strategy; a blank one gets the config's first strategy (the issue's
        # default: "strategy from the config")
        fallback = config.sensitivity.strategies[0]
        if events is None or "strategy" not in events.columns:
            raise ConfigError(
                f"the {PER_PARTICIPANT} job needs a strategy column in sensitivity.events.file; add "
                "one or drop the job."
            )
        events = events.assign(strategy=[_api_strategy(x or fallback) for x in events["strategy"]])
        api_strategy = _api_strategy(fallback)
    else:
        # one strategy for every event: a per-participant column is the per_participant job's
        if events is not None:
            events = events.drop(columns="strategy", errors="ignore")
        api_strategy = _api_strategy(strategy)
    res = sensitivity_analysis(
        rows,
        strategy=api_strategy,
        events=events,
        delta=delta,
        workers=workers,
        **_responders(config, outcome),
        **kwargs,
    )
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
    if kwargs["events"] is not None:
        # the scan applies tipping_point.strategy to every event and shifts by its own grid: the
        # file's per-participant strategies and deltas are the strategy jobs' (a blank strategy
        # cell reached the API before, which refused it)
        kwargs["events"] = kwargs["events"].drop(columns=["strategy", "delta"], errors="ignore")
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
