"""The analyse stage: the configured trial model per outcome and responder analyses per threshold.

These functions only translate the study config into calls of the engine
(:func:`prt_outcomes.models.fit_trial_model`) and of
:func:`prt_outcomes.analyse.responders.responder_analysis`, and label the results with the outcome so
that tables of several outcomes can be stacked.

Each outcome is analysed on its own: when the data of one outcome cannot support the model (a
:class:`~prt_outcomes.errors.PrtOutcomesError`, e.g. a
:class:`~prt_outcomes.errors.ModelError`), that outcome is recorded as not fitted
(``model_info.status == "failed"`` with the reason in ``message``; no rows in the estimate tables)
and the other outcomes are still analysed.

The ``model_info`` table
------------------------
One row per outcome, columns :data:`MODEL_INFO_COLUMNS`, written as ``tables/model_info.csv``.
Every value is written so that it reads back as the value, never as text to be parsed:

* ``status``: ``fitted`` or ``failed``; ``message``: why a failed outcome was not fitted
  (empty when fitted);
* ``converged``: a bool, written ``True`` / ``False``;
* ``warnings``: the engine's warnings as a JSON list of strings, ``[]`` when there are none,
  e.g. ``["2 row(s) with an observed outcome were dropped because ..."]``. A warning may
  contain any character (``|`` and ``,`` included); :func:`encode_warnings` writes the cell and
  :func:`decode_warnings` reads it;
* ``visits``: the visits whose values are the model's responses, separated by spaces (for
  reading only; the config's visits are the typed source).

Read the CSV with :func:`read_model_info`, which applies :data:`MODEL_INFO_DTYPES`
(``converged`` as bool, ``warnings`` as a list) instead of parsing cells.

Examples
--------
>>> from prt_outcomes.config import load_config            # doctest: +SKIP
>>> from prt_outcomes.simulate import simulate_trial       # doctest: +SKIP
>>> cfg = load_config("config/config.yaml")                # doctest: +SKIP
>>> result = analyse_outcome(simulate_trial(), cfg, "pain_avg")   # doctest: +SKIP
>>> result.contrasts.columns[:4].tolist()                  # doctest: +SKIP
['outcome', 'visit', 'arm', 'reference']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..config import ARM, SUBJECT, VISIT, StudyConfig
from ..errors import ModelError, OutputError, PrtOutcomesError
from ..models import fit_trial_model
from ..models.result import CONTRAST_COLUMNS as ENGINE_CONTRAST_COLUMNS
from ..models.result import MEANS_COLUMNS
from .responders import RESPONDER_COLUMNS, responders_from_config

__all__ = [
    "OutcomeAnalysis",
    "analyse_outcome",
    "analyse_responders",
    "stack_tables",
    "MODEL_TABLES",
    "MARGINAL_MEANS_COLUMNS",
    "CONTRAST_COLUMNS",
    "MODEL_INFO_COLUMNS",
    "MODEL_INFO_DTYPES",
    "RESPONDER_COLUMNS",
    "encode_warnings",
    "decode_warnings",
    "read_model_info",
]

# The engine's and the responder module's tables, each with the outcome in front.
MARGINAL_MEANS_COLUMNS = ["outcome", *MEANS_COLUMNS]
CONTRAST_COLUMNS = ["outcome", *ENGINE_CONTRAST_COLUMNS]
# status: "fitted" or "failed"; message: why a failed outcome could not be fitted (empty when
# fitted); visits: the visits whose values are the model's responses.
MODEL_INFO_COLUMNS = [
    "outcome",
    "status",
    "message",
    "formula",
    "covariance",
    "method",
    "df_method",
    "visits",
    "n_obs",
    "n_subjects",
    "loglik",
    "aic",
    "converged",
    "warnings",
]
FITTED, FAILED = "fitted", "failed"
#: How :func:`read_model_info` reads the typed columns of ``model_info.csv``.
MODEL_INFO_DTYPES = {"converged": "bool"}


def encode_warnings(warnings: Iterable[str]) -> str:
    """The ``warnings`` cell of ``model_info``: a JSON list of strings.

    >>> encode_warnings(["a | b", "c"]), encode_warnings([])
    ('["a | b", "c"]', '[]')
    """
    return json.dumps([str(w) for w in warnings], ensure_ascii=False)


def decode_warnings(cell) -> list[str]:
    """The list of warnings :func:`encode_warnings` wrote into a ``model_info`` cell.

    Raises
    ------
    OutputError
        When the cell is not a JSON list of strings (a ``model_info.csv`` from an older
        version, or edited by hand); the message says to fit the models again.

    >>> decode_warnings('["a | b", "c"]'), decode_warnings("[]")
    (['a | b', 'c'], [])
    """
    try:
        value = json.loads(cell) if isinstance(cell, str) else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise OutputError(
            f"model_info: the warnings cell {cell!r} is not a JSON list of strings such as "
            '["a warning"] or [] (a model_info.csv written by an older prt-outcomes, or edited); '
            "run the analysis again so the table is rewritten."
        )
    return value


def read_model_info(path: str | Path) -> pd.DataFrame:
    """Read ``tables/model_info.csv`` with its types: ``converged`` bool, ``warnings`` lists.

    Examples
    --------
    >>> info = read_model_info("results/boulder_example/tables/model_info.csv")  # doctest: +SKIP
    >>> info["warnings"].iloc[0], info["converged"].dtype                        # doctest: +SKIP
    ([], dtype('bool'))
    """
    return pd.read_csv(path, dtype=MODEL_INFO_DTYPES, converters={"warnings": decode_warnings})


@dataclass(frozen=True)
class OutcomeAnalysis:
    """Result tables of one outcome's trial model, each with a leading ``outcome`` column.

    A failed outcome has one ``model_info`` row (``status == "failed"``, ``message`` says why)
    and empty ``marginal_means``, ``contrasts`` and ``change_contrasts``.
    """

    marginal_means: pd.DataFrame
    contrasts: pd.DataFrame
    change_contrasts: pd.DataFrame
    model_info: pd.DataFrame

    @property
    def fitted(self) -> bool:
        return bool((self.model_info["status"] == FITTED).all())

    @property
    def warnings(self) -> list[str]:
        """The engine's warnings for this outcome (empty for a failed one)."""
        return [w for cell in self.model_info["warnings"] for w in decode_warnings(cell)]


# The per-outcome tables and their columns, in the order the workflow writes them.
MODEL_TABLES = {
    "marginal_means": MARGINAL_MEANS_COLUMNS,
    "contrasts": CONTRAST_COLUMNS,
    "change_contrasts": CONTRAST_COLUMNS,
    "model_info": MODEL_INFO_COLUMNS,
}


def _with_outcome(frame: pd.DataFrame, outcome: str, columns: list[str], config: StudyConfig) -> pd.DataFrame:
    """Prefix the outcome and order rows as the config lists arms and visits."""
    out = frame.copy()
    out.insert(0, "outcome", outcome)
    arm_rank = {a: i for i, a in enumerate(config.arm_names)}
    visit_rank = {v: i for i, v in enumerate(config.visit_names)}
    if len(out):
        order = out["arm"].map(arm_rank) * 1000 + out["visit"].map(visit_rank)
        out = out.iloc[order.argsort(kind="stable")].reset_index(drop=True)
    extra = [c for c in out.columns if c not in columns]
    return out.reindex(columns=columns + extra)


def _model_visits(config: StudyConfig) -> list[str]:
    """The visits whose rows the trial model reads: ``models.visits`` plus the baseline visit."""
    chosen = set(config.model.visits or config.visit_names)
    if config.baseline_visit is not None:
        chosen.add(config.baseline_visit)
    return [v for v in config.visit_names if v in chosen]


def _check_analysable(data: pd.DataFrame, config: StudyConfig, outcome: str) -> list[str]:
    """The visits with values of ``outcome``; refuse an outcome without follow-up values.

    A model of baseline values alone estimates no treatment effect, yet the engine would fit it
    and the tables would look like a result; so it is refused here with the reason.
    """
    observed = data.loc[data[outcome].notna(), VISIT]
    present = [v for v in _model_visits(config) if v in set(observed)]
    where = (
        f" at the visits the model analyses ({', '.join(_model_visits(config))}; models.visits)"
        if config.model.visits
        else ""
    )
    if not present:
        raise ModelError(
            f"outcome {outcome!r} has no values{where} in the analysed rows, so its trial model "
            "cannot be fitted. Check that the data file has this outcome's column and that its "
            "column mapping under 'columns:' is right, or remove the outcome from 'outcomes:'."
        )
    follow_up = [v for v in present if v != config.baseline_visit]
    if not follow_up:
        raise ModelError(
            f"outcome {outcome!r} has values at the baseline visit {config.baseline_visit!r} only, "
            f"none at a follow-up visit{where}, so there is no treatment effect to estimate and its "
            "trial model is not fitted. Check that the data file has this outcome's follow-up "
            "columns or rows (for a wide file, its wide_pattern and visit_codes), or remove the "
            "outcome from 'outcomes:'."
        )
    return present


def _fit(data: pd.DataFrame, config: StudyConfig, outcome: str):
    settings = config.model
    rows = data[data[VISIT].isin(_model_visits(config))]
    present = _check_analysable(rows, config, outcome)
    covariates = [c for c in settings.covariates if c in rows.columns]
    return fit_trial_model(
        rows,
        outcome=outcome,
        arm=ARM,
        visit=VISIT,
        subject=SUBJECT,
        covariates=tuple(covariates),
        covariance=settings.covariance,
        reference_arm=config.reference_arm,
        method=settings.method,
        df_method=settings.df_method,
        vcov=settings.vcov,
        arm_levels=[a for a in config.arm_names if a in set(rows[ARM])],
        visit_levels=present,
        baseline_visit=config.baseline_visit,
        baseline_adjusted=settings.baseline_adjusted,
        standardizer=settings.effect_size_standardizer,
    )


def analyse_outcome(data: pd.DataFrame, config: StudyConfig, outcome: str) -> OutcomeAnalysis:
    """Fit the configured trial model to one outcome.

    The model settings (covariance structure, covariates, REML/ML, df method, baseline
    adjustment, analysed visits, effect-size standardizer) come from ``config.model``. When the
    data of this outcome cannot support the model (any
    :class:`~prt_outcomes.errors.PrtOutcomesError`), the outcome is returned as not fitted: one
    ``model_info`` row with ``status == "failed"`` and the reason in ``message``, and empty
    estimate tables. An outcome without follow-up values is refused this way.
    """
    settings = config.model
    info = {
        "outcome": outcome,
        "covariance": settings.covariance,
        "method": settings.method,
        "df_method": settings.df_method,
    }
    try:
        fit = _fit(data, config, outcome)
    except PrtOutcomesError as error:
        failed = {
            **info,
            "status": FAILED,
            "message": str(error),
            "formula": "",
            "visits": "",
            "converged": False,
            "warnings": encode_warnings([]),
        }
        empty = {name: pd.DataFrame(columns=columns) for name, columns in MODEL_TABLES.items()}
        empty["model_info"] = pd.DataFrame([failed], columns=MODEL_INFO_COLUMNS)
        return OutcomeAnalysis(**empty)
    fitted = {
        **info,
        "status": FITTED,
        "message": "",
        "formula": fit.info.get("formula", ""),
        "visits": " ".join(str(v) for v in fit.info["levels"][VISIT]),
        "n_obs": fit.n_obs,
        "n_subjects": fit.n_subjects,
        "loglik": fit.loglik,
        "aic": fit.aic,
        "converged": bool(fit.converged),
        "warnings": encode_warnings(fit.warnings),
    }
    return OutcomeAnalysis(
        marginal_means=_with_outcome(fit.marginal_means, outcome, MARGINAL_MEANS_COLUMNS, config),
        contrasts=_with_outcome(fit.contrasts, outcome, CONTRAST_COLUMNS, config),
        change_contrasts=_with_outcome(fit.change_contrasts, outcome, CONTRAST_COLUMNS, config),
        model_info=pd.DataFrame([fitted], columns=MODEL_INFO_COLUMNS),
    )


def stack_tables(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Stack per-outcome tables; a failed outcome's empty table adds no rows.

    Empty frames are left out before stacking, so that they neither change the column dtypes
    of the others nor trigger pandas' warning about concatenating empty frames.

    >>> a = pd.DataFrame({"outcome": ["pain"], "estimate": [1.5]})
    >>> stack_tables([a, pd.DataFrame(columns=["outcome", "estimate"])], ["outcome", "estimate"])
      outcome  estimate
    0    pain       1.5
    """
    kept = [f for f in frames if len(f)]
    if not kept:
        return pd.DataFrame(columns=list(columns))
    stacked = pd.concat(kept, ignore_index=True)
    extra = [c for c in stacked.columns if c not in columns]
    return stacked.reindex(columns=list(columns) + extra)


def analyse_responders(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Every configured threshold x outcome x visit, stacked into the ``responders`` table.

    The denominator (``randomized`` or ``observed``) comes from ``config.responder_denominator``;
    every participant in ``data`` counts as randomized to their arm. See
    :func:`prt_outcomes.analyse.responders.responders_from_config`.
    """
    randomized = data.drop_duplicates(SUBJECT).set_index(SUBJECT)[ARM]
    return responders_from_config(data, config, randomized=randomized)
