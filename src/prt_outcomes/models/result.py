"""The result object of :func:`prt_outcomes.models.fit_trial_model`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["TrialModelResult", "COEFFICIENT_COLUMNS", "MEANS_COLUMNS", "CONTRAST_COLUMNS"]

COEFFICIENT_COLUMNS = ["term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
MEANS_COLUMNS = ["arm", "visit", "estimate", "se", "df", "ci_low", "ci_high", "n_observed"]
CONTRAST_COLUMNS = [
    "visit",
    "arm",
    "reference",
    "estimate",
    "se",
    "df",
    "t",
    "p",
    "ci_low",
    "ci_high",
    "hedges_g",
    "hedges_g_ci_low",
    "hedges_g_ci_high",
    "hedges_g_sd",
]


@dataclass
class TrialModelResult:
    """A fitted trial model: tables computed once at fit time; see ``fit_trial_model``.

    Attributes
    ----------
    coefficients, marginal_means, contrasts, change_contrasts : DataFrame
        Tidy tables (columns listed in the module constants).
    covariance : DataFrame
        Estimated within-participant covariance, visits x visits.
    variance_components : DataFrame
        ``parameter, estimate``.
    vcov : DataFrame
        Covariance matrix of the fixed-effect estimates (terms x terms).
    loglik, aic, bic : float
        REML or ML log-likelihood (lme4 / SAS scale) and information criteria.
    converged : bool
    warnings : list of str
    n_obs, n_subjects : int
    info : dict
        Formula, covariance, method, df_method, optimizer, iterations, reference arm, levels.
    model : MMRMFit or None
        The fitted model itself (:class:`prt_outcomes.models.MMRMFit`), to ask it new questions:
        ``result.model.emmeans("arm", by="visit")``, ``.pairs``, ``.contrast``, ``.type3()``.
    """

    coefficients: pd.DataFrame
    marginal_means: pd.DataFrame
    contrasts: pd.DataFrame
    change_contrasts: pd.DataFrame
    covariance: pd.DataFrame
    variance_components: pd.DataFrame
    vcov: pd.DataFrame
    loglik: float
    aic: float
    bic: float
    converged: bool
    warnings: list[str]
    n_obs: int
    n_subjects: int
    info: dict = field(default_factory=dict)
    model: object = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        """A short plain-text summary (formula, fit, coefficients, contrasts)."""
        i = self.info
        lines = [
            f"Trial model: {i.get('formula')}",
            f"covariance={i.get('covariance')}  method={i.get('method')}  "
            f"df={i.get('df_method')}  converged={self.converged}",
            f"observations={self.n_obs}  participants={self.n_subjects}  "
            f"loglik={self.loglik:.4f}  AIC={self.aic:.2f}  BIC={self.bic:.2f}",
            "",
            "Fixed effects:",
            self.coefficients.to_string(index=False, float_format=lambda x: f"{x:.4g}"),
        ]
        if len(self.contrasts):
            lines += [
                "",
                f"Contrasts vs {i.get('reference_arm')}:",
                self.contrasts[["visit", "arm", "estimate", "se", "df", "p", "hedges_g"]].to_string(
                    index=False, float_format=lambda x: f"{x:.4g}"
                ),
            ]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:  # keep notebook output short
        return (
            f"TrialModelResult({self.info.get('formula')!r}, covariance={self.info.get('covariance')!r}, "
            f"n_obs={self.n_obs}, n_subjects={self.n_subjects}, converged={self.converged})"
        )
