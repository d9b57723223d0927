"""The analyse stage: the configured trial model per outcome and responder analyses per threshold.

These functions only translate the study config into calls of the engine
(:func:`prt_outcomes.models.fit_trial_model`) and of
:func:`prt_outcomes.responders.responder_analysis`, and label the results with the outcome so
that tables of several outcomes can be stacked.

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

from dataclasses import dataclass

import pandas as pd

from .config import ARM, SUBJECT, VISIT, StudyConfig
from .models import fit_trial_model
from .models.result import CONTRAST_COLUMNS as ENGINE_CONTRAST_COLUMNS
from .models.result import MEANS_COLUMNS
from .responders import RESPONDER_COLUMNS, responders_from_config

__all__ = [
    "OutcomeAnalysis",
    "analyse_outcome",
    "analyse_responders",
    "MARGINAL_MEANS_COLUMNS",
    "CONTRAST_COLUMNS",
    "MODEL_INFO_COLUMNS",
    "RESPONDER_COLUMNS",
]

# The engine's and the responder module's tables, each with the outcome in front.
MARGINAL_MEANS_COLUMNS = ["outcome", *MEANS_COLUMNS]
CONTRAST_COLUMNS = ["outcome", *ENGINE_CONTRAST_COLUMNS]
MODEL_INFO_COLUMNS = [
    "outcome", "formula", "covariance", "method", "df_method", "n_obs", "n_subjects", "loglik",
    "aic", "converged", "warnings",
]


@dataclass(frozen=True)
class OutcomeAnalysis:
    """Result tables of one outcome's trial model, each with a leading ``outcome`` column."""

    marginal_means: pd.DataFrame
    contrasts: pd.DataFrame
    change_contrasts: pd.DataFrame
    model_info: pd.DataFrame


def _with_outcome(
    frame: pd.DataFrame, outcome: str, columns: list[str], config: StudyConfig
) -> pd.DataFrame:
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


def analyse_outcome(data: pd.DataFrame, config: StudyConfig, outcome: str) -> OutcomeAnalysis:
    """Fit the configured trial model to one outcome.

    The model settings (covariance structure, covariates, REML/ML, df method, baseline
    adjustment, effect-size standardizer) come from ``config.model``.
    """
    settings = config.model
    covariates = [c for c in settings.covariates if c in data.columns]
    fit = fit_trial_model(
        data,
        outcome=outcome,
        arm=ARM,
        visit=VISIT,
        subject=SUBJECT,
        covariates=tuple(covariates),
        covariance=settings.covariance,
        reference_arm=config.reference_arm,
        method=settings.method,
        df_method=settings.df_method,
        arm_levels=[a for a in config.arm_names if a in set(data[ARM])],
        visit_levels=[v for v in config.visit_names if v in set(data.loc[data[outcome].notna(), VISIT])],
        baseline_visit=config.baseline_visit,
        baseline_adjusted=settings.baseline_adjusted,
        standardizer=settings.effect_size_standardizer,
    )
    info = pd.DataFrame(
        [
            {
                "outcome": outcome,
                "formula": fit.info.get("formula", ""),
                "covariance": settings.covariance,
                "method": settings.method,
                "df_method": settings.df_method,
                "n_obs": fit.n_obs,
                "n_subjects": fit.n_subjects,
                "loglik": fit.loglik,
                "aic": fit.aic,
                "converged": bool(fit.converged),
                "warnings": " | ".join(fit.warnings),
            }
        ],
        columns=MODEL_INFO_COLUMNS,
    )
    return OutcomeAnalysis(
        marginal_means=_with_outcome(fit.marginal_means, outcome, MARGINAL_MEANS_COLUMNS, config),
        contrasts=_with_outcome(fit.contrasts, outcome, CONTRAST_COLUMNS, config),
        change_contrasts=_with_outcome(fit.change_contrasts, outcome, CONTRAST_COLUMNS, config),
        model_info=info,
    )


def analyse_responders(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Every configured threshold x outcome x visit, stacked into the ``responders`` table.

    The denominator (``randomized`` or ``observed``) comes from ``config.responder_denominator``;
    every participant in ``data`` counts as randomized to their arm. See
    :func:`prt_outcomes.responders.responders_from_config`.
    """
    randomized = data.drop_duplicates(SUBJECT).set_index(SUBJECT)[ARM]
    return responders_from_config(data, config, randomized=randomized)
