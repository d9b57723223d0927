"""Missing-data sensitivity analyses over the project's MMRM engine (issue 12): one call each.

:func:`sensitivity_analysis` imputes the missing visits of a trial from an MMRM (unstructured
covariance, baseline and covariates by visit, arm by visit), under MAR or a reference-based
strategy (jump to reference "JR", copy reference "CR", copy increments in reference "CIR") per
participant, optionally shifts the imputed values by a delta, analyses every completed data set
with an ANCOVA at each visit and pools the results. :func:`tipping_point` repeats the analysis over
a grid of deltas and reports where its conclusion changes. The mathematics (reference-based means
and covariances, conditional normal, delta, Rubin's rules, jackknife, bootstrap) is
:mod:`prt_outcomes.stats.imputation`; this module fits the models, holds the data and keeps the
per-imputation results for checks.

The algorithms are rbmi's (openpharma/rbmi, R; vignettes ``stat_specs``, ``quickstart``,
``CondMean_Inference``):

* ``method="approximate_bayesian"`` is rbmi ``method_approxbayes``: each of the ``n_imputations``
  imputed data sets comes from the MMRM refitted (REML) on a bootstrap sample of participants
  (stratified by arm), then one random draw of every missing value of the original participants
  from the conditional normal under those parameters; pooled by Rubin's rules with Barnard-Rubin
  degrees of freedom (complete-data df: the ANCOVA's residual df).
* ``method="conditional_mean"`` is rbmi ``method_condmean(type = "jackknife")`` (Wolbers et al.
  2022): missing values replaced by their conditional means under the REML estimates
  (deterministic); the point estimate is the full-data one, the standard error the jackknife's
  over the ``n`` leave-one-participant-out refits (imputation model and analysis); normal-based
  inference (``df = inf``).
* ``method="conditional_mean_bootstrap"`` is ``method_condmean(type = "bootstrap")``: the same
  imputation on ``n_imputations`` bootstrap samples; percentile (default) or normal inference.

A true Bayesian posterior (rbmi ``method_bayes``, MCMC in Stan; SAS "five macros" of J. Roger,
``Ndraws``, ``thin``) is not available here: no MCMC sampler is a dependency, and writing one for
the unstructured covariance is a project of its own. The approximate Bayesian bootstrap has the
same large-sample distribution of parameter draws, so its results agree with the five macros'
within Monte-Carlo error (and a small method difference), never to the last digit.

Responder endpoints (``responder=``) are computed from the randomly imputed data sets and pooled by
Rubin's rules on the risk difference. They are refused with conditional mean imputation: the
conditional mean is the expected value of a missing outcome, and a threshold of an expected value
is not the expected value of the threshold indicator (the indicator is non-linear), so the
proportion of responders among conditional means is biased (conditional means are never extreme,
so e.g. a 30 % reduction is reached too rarely or too often depending on where the mean lies).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> n, visits = 40, ["w2", "w4", "w8"]
>>> ids = np.repeat(np.arange(n), 3)
>>> df = pd.DataFrame({"id": ids, "visit": np.tile(visits, n),
...                    "arm": np.where(ids % 2, "prt", "usual"),
...                    "base": np.repeat(rng.normal(6, 1, n), 3)})
>>> df["chg"] = (-0.4 * df["base"] - 1.5 * (df["arm"] == "prt") * (df["visit"] != "w2")
...              + np.repeat(rng.normal(0, 1, n), 3) + rng.normal(0, 1, 3 * n))
>>> df.loc[(df["id"] % 5 == 0) & (df["visit"] == "w8"), "chg"] = np.nan  # dropout at week 8
>>> res = sensitivity_analysis(df, outcome="chg", arm="arm", visit="visit", subject="id",
...                            baseline="base", reference_arm="usual", visits=visits,
...                            strategy="JR", method="conditional_mean")
>>> diff = res.table.query("reference == 'usual'")
>>> diff[["visit", "arm", "estimate", "se"]].round(2)
  visit  arm  estimate    se
0    w2  prt      0.35  0.35
3    w4  prt     -1.72  0.38
6    w8  prt     -1.98  0.45
>>> list(res.table.columns) == list(SENSITIVITY_COLUMNS)
True
"""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd
import threadpoolctl

from prt_outcomes.errors import ModelError
from prt_outcomes.stats.imputation import (
    delta_adjust,
    first_crossing,
    impute_conditional_mean,
    impute_draw,
    pool_bootstrap,
    pool_jackknife,
    reference_based_parameters,
    rubin_rules,
)
from prt_outcomes.thresholds import Threshold, parse_threshold

__all__ = [
    "missing_data_sensitivity",
    "SENSITIVITY_COLUMNS",
    "TIPPING_POINT_COLUMNS",
    "METHODS",
    "SensitivityResult",
    "TippingPointResult",
    "sensitivity_analysis",
    "tipping_point",
]

#: Columns of ``tables/sensitivity.csv`` (and of :attr:`SensitivityResult.table`).
SENSITIVITY_COLUMNS = (
    "outcome",
    "analysis",
    "strategy",
    "method",
    "visit",
    "arm",
    "reference",
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "p",
    "n_imputations",
)
#: Columns of ``tables/tipping_point.csv`` (and of :attr:`TippingPointResult.table`).
TIPPING_POINT_COLUMNS = ("outcome", "visit", "delta", "estimate", "ci_low", "ci_high", "p")

#: Imputation methods and their aliases (rbmi's names).
METHODS = {
    "approximate_bayesian": "approximate_bayesian",
    "approxbayes": "approximate_bayesian",
    "conditional_mean": "conditional_mean",
    "conditional_mean_jackknife": "conditional_mean",
    "condmean": "conditional_mean",
    "conditional_mean_bootstrap": "conditional_mean_bootstrap",
}
_STRATEGIES = ("MAR", "JR", "CR", "CIR")
_STRATEGY_ALIASES = {"J2R": "JR"}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class SensitivityResult:
    """The pooled table and what it was pooled from.

    Attributes
    ----------
    table : DataFrame
        :data:`SENSITIVITY_COLUMNS`. Per visit: the difference ``arm - reference`` of each
        non-reference arm (``reference`` = the reference arm), then the marginal (counterfactual)
        mean of every arm (``reference`` empty); with ``responder=``, the same for the
        proportion of responders (``analysis`` = ``responder_label``).
    estimates : DataFrame
        One row per imputed (or resampled) data set and parameter: ``sample`` (0 = the full data
        for conditional mean, then the leave-one-out / bootstrap samples; 1..M for multiple
        imputation), ``analysis``, ``visit``, ``arm``, ``reference``, ``estimate``, ``se``,
        ``df``. ``table`` is the pooling of these.
    events : DataFrame
        The intercurrent events used: ``subject``, ``visit`` (first affected visit),
        ``strategy``; participants without an event are not listed (MAR).
    method : str
    n_imputations : int
        Imputed data sets pooled (M), or leave-one-out / bootstrap samples.
    n_failed : int
        Bootstrap samples whose MMRM did not converge and were drawn again.
    seed : int or None
    seconds : float
        Wall time of the imputation and analysis.
    imputed : list of (ndarray, ndarray)
        Per sample (the order of ``estimates``' ``sample``): the participants' ids (repeats in
        a bootstrap sample) and their completed outcomes, participants x visits, before any delta.
    """

    table: pd.DataFrame
    estimates: pd.DataFrame
    events: pd.DataFrame
    method: str
    n_imputations: int
    n_failed: int = 0
    seed: int | None = None
    seconds: float = math.nan
    imputed: list = field(default_factory=list, repr=False)


@dataclass
class TippingPointResult:
    """A tipping-point scan.

    Attributes
    ----------
    table : DataFrame
        :data:`TIPPING_POINT_COLUMNS`: the difference ``arm - reference`` at each visit and delta.
    tipping_points : DataFrame
        ``outcome, visit, tipping_delta, first_delta_changed``: per visit the delta at which the
        conclusion (``p < alpha``) first differs from that at the first delta of the grid,
        interpolated linearly in p between grid points
        (:func:`prt_outcomes.stats.imputation.first_crossing`), and the grid point itself; NaN when
        the conclusion never changes on the grid.
    results : dict
        delta -> :class:`SensitivityResult`.
    """

    table: pd.DataFrame
    tipping_points: pd.DataFrame
    results: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The trial in wide form
# --------------------------------------------------------------------------------------------


@dataclass
class _Trial:
    outcome: str
    arm: str
    visit: str
    subject: str
    baseline: str
    covariates: tuple
    visits: list  # original visit values, in order
    labels: list  # str(visit): the engine's factor levels
    arms: list  # reference first
    subjects: np.ndarray
    arm_of: np.ndarray  # (n,) arm per participant
    base: pd.DataFrame  # (n, baseline + covariates), one row per participant
    y: np.ndarray  # (n, J), NaN missing
    is_missing: np.ndarray
    is_post_ice: np.ndarray
    is_mar: np.ndarray
    strategy_of: np.ndarray  # (n,) str
    events: pd.DataFrame
    cov_levels: dict  # factor covariate -> levels
    z: np.ndarray  # (n, q) ANCOVA design
    z_arm_cols: list  # columns of z that are the arm indicators (one per non-reference arm)


def _normalise_strategy(s) -> str:
    key = _STRATEGY_ALIASES.get(str(s).upper(), str(s).upper())
    if key not in _STRATEGIES:
        raise ValueError(f"unknown strategy {s!r}; use one of MAR, JR (J2R), CR, CIR")
    return key


def _setup(
    data, *, outcome, arm, visit, subject, baseline, covariates, reference_arm, visits, strategy, events
) -> _Trial:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    covariates = tuple([covariates] if isinstance(covariates, str) else covariates)
    needed = [outcome, arm, visit, subject, baseline, *covariates]
    missing_cols = [c for c in needed if c not in data.columns]
    if missing_cols:
        raise ModelError(
            f"sensitivity analysis of {outcome!r}: column(s) {missing_cols} are not in the data "
            f"(columns: {list(data.columns)}); check the names (they are case-sensitive)."
        )
    visits = list(visits)
    if len(set(map(str, visits))) != len(visits) or len(visits) < 2:
        raise ValueError("visits must list at least two distinct visits, in their order")
    labels = [str(v) for v in visits]
    frame = data[needed].copy()
    frame = frame[frame[visit].astype(str).isin(labels)]
    frame["_visit"] = frame[visit].astype(str)
    if frame.duplicated([subject, "_visit"]).any():
        raise ModelError(
            f"sensitivity analysis of {outcome!r}: some participant has two rows at one visit; keep one "
            "row per participant and visit."
        )
    subjects = pd.unique(frame[subject])
    per_subject = frame.groupby(subject, sort=False)
    levels_seen = per_subject[[arm, baseline, *covariates]].nunique(dropna=False)
    varying = [c for c in levels_seen.columns if (levels_seen[c] > 1).any()]
    if varying:
        raise ModelError(
            f"sensitivity analysis of {outcome!r}: {varying} change within participant; the arm, "
            "the baseline and the covariates must be one value per participant (baseline "
            "characteristics)."
        )
    base = per_subject[[arm, baseline, *covariates]].first().loc[subjects]
    if base[[baseline, *covariates]].isna().any().any():
        bad = base.index[base[[baseline, *covariates]].isna().any(axis=1)].tolist()[:5]
        raise ModelError(
            f"sensitivity analysis of {outcome!r}: participants {bad} have no baseline or covariate "
            "value; they can be neither imputed nor analysed. Impute the baseline first (or drop them)."
        )
    arm_of = base[arm].astype(str).to_numpy()
    present = sorted(set(arm_of))
    if str(reference_arm) not in present:
        raise ValueError(f"reference_arm {reference_arm!r} is not an arm of the data ({present})")
    arms = [str(reference_arm)] + [a for a in present if a != str(reference_arm)]
    if len(arms) < 2:
        raise ValueError("a sensitivity analysis needs at least two arms")
    n, j = len(subjects), len(visits)
    pos = pd.Series(np.arange(n), index=subjects)
    y = np.full((n, j), np.nan)
    vindex = {v: k for k, v in enumerate(labels)}
    rows = pos.loc[frame[subject]].to_numpy()
    cols = frame["_visit"].map(vindex).to_numpy()
    y[rows, cols] = pd.to_numeric(frame[outcome]).to_numpy(dtype=float)
    is_missing = np.isnan(y)

    # Intercurrent events: first affected visit and strategy per participant.
    ice = np.full(n, j)  # j = no event
    strat = np.full(n, "MAR", dtype=object)
    if events is None:
        observed_any = ~is_missing
        last = np.where(observed_any.any(axis=1), j - 1 - np.argmax(observed_any[:, ::-1], axis=1), -1)
        ice = np.where(last < j - 1, last + 1, j)
        if isinstance(strategy, dict):
            per = {str(k): _normalise_strategy(v) for k, v in strategy.items()}
            strat[:] = [per.get(str(s), "MAR") for s in subjects]
        else:
            strat[:] = _normalise_strategy(strategy)
    else:
        ev = events.copy()
        s_col = subject if subject in ev.columns else "subject"
        v_col = visit if visit in ev.columns else "visit"
        if s_col not in ev.columns or v_col not in ev.columns:
            raise ValueError(
                f"events needs columns {subject!r} (or 'subject') and {visit!r} (or 'visit'), and "
                "optionally 'strategy'"
            )
        if ev[s_col].duplicated().any():
            raise ValueError("events has more than one row for a participant (one event per participant)")
        unknown = [s for s in ev[s_col] if s not in pos.index]
        if unknown:
            raise ValueError(f"events names participants that are not in the data: {unknown[:5]}")
        bad_v = [v for v in ev[v_col].astype(str) if v not in vindex]
        if bad_v:
            raise ValueError(f"events names visits that are not in visits={labels}: {bad_v[:5]}")
        for _, row in ev.iterrows():
            i = int(pos[row[s_col]])
            ice[i] = vindex[str(row[v_col])]
            if "strategy" in ev.columns and pd.notna(row["strategy"]):
                strat[i] = _normalise_strategy(row["strategy"])
            elif isinstance(strategy, dict):
                strat[i] = _normalise_strategy(strategy.get(row[s_col], strategy.get(str(row[s_col]), "MAR")))
            else:
                strat[i] = _normalise_strategy(strategy)
    has_event = ice < j
    strat = np.where(has_event, strat, "MAR")
    is_post_ice = np.arange(j)[None, :] >= ice[:, None]
    is_mar = np.where((strat != "MAR")[:, None], ~is_post_ice, True)
    ev_out = pd.DataFrame(
        {
            "subject": subjects[has_event],
            "visit": [visits[k] for k in ice[has_event]],
            "strategy": strat[has_event],
        }
    )

    cov_levels = {}
    for c in covariates:
        col = base[c]
        if not (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)):
            cov_levels[c] = sorted(pd.unique(col.astype(str)))
    # ANCOVA design: intercept, arm indicators, baseline, covariates (factors: treatment coding).
    parts = [np.ones((n, 1))]
    z_arm_cols = []
    for a in arms[1:]:
        z_arm_cols.append(sum(p.shape[1] for p in parts))
        parts.append((arm_of == a).astype(float)[:, None])
    parts.append(base[[baseline]].to_numpy(dtype=float))
    for c in covariates:
        if c in cov_levels:
            s = base[c].astype(str).to_numpy()
            parts.append(np.column_stack([(s == lv).astype(float) for lv in cov_levels[c][1:]]))
        else:
            parts.append(base[[c]].to_numpy(dtype=float))
    z = np.column_stack(parts)
    return _Trial(
        outcome=outcome,
        arm=arm,
        visit=visit,
        subject=subject,
        baseline=baseline,
        covariates=covariates,
        visits=visits,
        labels=labels,
        arms=arms,
        subjects=subjects,
        arm_of=arm_of,
        base=base,
        y=y,
        is_missing=is_missing,
        is_post_ice=is_post_ice,
        is_mar=is_mar,
        strategy_of=strat.astype(str),
        events=ev_out,
        cov_levels=cov_levels,
        z=z,
        z_arm_cols=z_arm_cols,
    )


# --------------------------------------------------------------------------------------------
# The imputation model
# --------------------------------------------------------------------------------------------


class _Model:
    """Fits the imputation MMRM on a set of participants and imputes from it."""

    def __init__(self, trial: _Trial, same_cov: bool):
        self.t = trial
        self.same_cov = same_cov
        t = trial
        covs = "".join(f" + {c}*{t.visit}" for c in t.covariates)
        group = f"{t.arm} / " if not same_cov else ""
        self.formula = (
            f"{t.outcome} ~ {t.baseline}*{t.visit} + {t.arm}*{t.visit}{covs} + us({t.visit} | {group}_id)"
        )
        self.levels = {t.visit: t.labels, t.arm: t.arms, **t.cov_levels}
        n, j = t.y.shape
        # Prediction grids: every participant at every visit, own arm and reference arm.
        grid = t.base.loc[np.repeat(t.subjects, j)].reset_index(drop=True)
        grid[t.arm] = np.repeat(t.arm_of, j)
        for c in t.cov_levels:
            grid[c] = grid[c].astype(str)
        grid[t.visit] = np.tile(t.labels, n)
        self.grid_own = grid
        grid_ref = grid.copy()
        grid_ref[t.arm] = t.arms[0]
        self.grid_ref = grid_ref
        self._x = None
        self._full = None  # the MMRMFit on every participant, once fitted

    def fit(self, rows: np.ndarray):
        """(beta, sigma_by_arm, converged) from the participants ``rows`` (repeats allowed).

        Participants left out of the full data (a jackknife's rows: all but some, no repeats) are
        refitted by downdating the full fit (``MMRMFit.refit_without``: its pattern data less
        theirs, re-optimised from its optimum), which gives the refit from scratch to the
        optimiser's tolerance and falls back to it where it could differ (aliasing).
        """
        t = self.t
        n = len(t.subjects)
        if self._full is not None and rows.size < n and np.all(np.diff(rows) > 0):
            # the full fit's subject ids (``_id``) are the participants' indices
            left_out = np.setdiff1d(np.arange(n), rows).tolist()
            refit = self._full.refit_without(left_out)
            return self._unpack(refit.beta, refit.covariance, refit.converged)
        fit = self._fit_from_scratch(rows)
        if self._full is None and rows.size == n and np.array_equal(rows, np.arange(n)):
            self._full = fit
            # builds the downdate (with its full-data Hessian) now, in the parent: forked workers
            # share it, so every leave-one-out refit is the same whatever the number of workers
            fit.refit_without([])
        return self._unpack(fit.beta, fit.covariance, fit.converged)

    def _unpack(self, beta, covariance, converged):
        t = self.t
        beta = np.nan_to_num(beta)  # aliased columns: the solution with them at 0
        if self.same_cov:
            sigma = {a: covariance.to_numpy() for a in t.arms}
        else:
            sigma = {a: covariance[a].to_numpy() for a in t.arms}
        return beta, sigma, converged

    def _fit_from_scratch(self, rows: np.ndarray):
        """The imputation MMRM (an :class:`~prt_outcomes.models.mmrm_fit.MMRMFit`) on ``rows``."""
        t = self.t
        j = len(t.labels)
        use = (~t.is_missing & t.is_mar)[rows]
        r, c = np.nonzero(use)
        long = t.base.iloc[rows[r]].reset_index(drop=True)
        long[t.arm] = t.arm_of[rows[r]]
        for cv in t.cov_levels:
            long[cv] = long[cv].astype(str)
        long[t.visit] = np.asarray(t.labels, dtype=object)[c]
        long["_id"] = r
        long[t.outcome] = t.y[rows[r], c]
        # the engine loads with the first fit: the collect step reads this module's columns only
        from prt_outcomes.models.mmrm_fit import mmrm

        fit = mmrm(self.formula, long, df_method="residual", levels=self.levels, reference={t.arm: t.arms[0]})
        if self._x is None:
            self.terms = fit.terms
            self._x = (
                fit.design.matrix(self.grid_own).reshape(len(t.subjects), j, -1),
                fit.design.matrix(self.grid_ref).reshape(len(t.subjects), j, -1),
            )
        elif fit.terms != self.terms:
            raise ModelError(
                "the imputation model's coefficients differ between resamples"
            )  # pragma: no cover
        return fit

    def parameters(self, beta, sigma, rows):
        """Per participant mean (n, J) and covariance (n, J, J) under its strategy."""
        t = self.t
        x_own, x_ref = self._x
        mu_own = x_own[rows] @ beta
        mu_ref = x_ref[rows] @ beta
        s_ref = sigma[t.arms[0]]
        arm_r = t.arm_of[rows]
        sig = np.stack([sigma[a] for a in arm_r])
        mu = mu_own.copy()
        strat = t.strategy_of[rows]
        is_mar = t.is_mar[rows]
        for k in np.flatnonzero((strat != "MAR") & (arm_r != t.arms[0])):
            mu[k], sig[k] = reference_based_parameters(
                strat[k], mu_own[k], sig[k], mu_ref[k], s_ref, is_mar[k]
            )
        return mu, sig


def _stratified_sample(rng, arm_of, arms):
    return np.concatenate(
        [rng.choice(np.flatnonzero(arm_of == a), size=int((arm_of == a).sum())) for a in arms]
    )


def _supports_model(trial, rows) -> bool:
    """Whether a bootstrap sample has enough distinct participants for the unstructured MMRM.

    A sample repeats participants, so a visit can have fewer distinct values than the model has
    parameters for it: the regression of visit ``v`` on its ``q`` mean parameters (the ANCOVA's:
    intercept, arms, baseline, covariates) and the ``v`` earlier visits, plus its residual
    variance, needs more than ``q + v + 1`` distinct participants, else the covariance is singular
    at the optimum and the likelihood unbounded. Required here: ``q + v + 2`` (two residual df),
    and two distinct participants in every arm at every visit. Such samples are counted as failed
    and redrawn (as rbmi redraws failed samples) without calling the engine, which takes long to
    give up on them (its Nelder-Mead fallback; see the issue 12 report).
    """
    use = (~trial.is_missing & trial.is_mar)[rows]
    arm = trial.arm_of[rows]
    q = trial.z.shape[1]
    for v in range(use.shape[1]):
        if np.unique(rows[use[:, v]]).size < q + v + 2:
            return False
        for a in trial.arms:
            sel = arm == a
            if np.unique(rows[sel][use[sel, v]]).size < 2:
                return False
    return True


class _TooManyFailures(Exception):
    """A task redrew more bootstrap samples than allowed (the parent turns it into ModelError)."""


def _fit_ok(trial, model, rows, what):
    beta, sigma, ok = model.fit(rows)
    if not ok:
        raise ModelError(
            f"sensitivity analysis of {trial.outcome!r}: the imputation MMRM did not converge on {what}; "
            "simplify the model (fewer covariates) or check the data."
        )
    return beta, sigma


def _resample_fit(trial, model, rng, limit):
    """(rows, beta, sigma, failed): a stratified bootstrap sample the MMRM fits, redrawn on failure."""
    failed = 0
    while True:
        rows = _stratified_sample(rng, trial.arm_of, trial.arms)
        ok = False
        if _supports_model(trial, rows):
            try:
                beta, sigma, ok = model.fit(rows)
            except (ModelError, ValueError, ArithmeticError, np.linalg.LinAlgError):
                # a degenerate resample the engine refuses: draw another, as rbmi does for
                # failed samples
                ok = False
        if ok:
            return rows, beta, sigma, failed
        failed += 1
        if failed > limit:
            raise _TooManyFailures(failed)


def _one_task(trial, model, method, limit, task):
    """(rows, completed y, failed) of one sample: ``task`` is a participant index (jackknife, -1 =
    the full data) or a SeedSequence (one bootstrap sample or imputation)."""
    n = len(trial.subjects)
    everyone = np.arange(n)
    if method == "conditional_mean" or isinstance(task, (int, np.integer)):
        i = int(task)
        rows = everyone if i < 0 else np.delete(everyone, i)
        what = "the full data" if i < 0 else f"the data without participant {trial.subjects[i]!r}"
        beta, sigma = _fit_ok(trial, model, rows, what)
        mu, sig = model.parameters(beta, sigma, rows)
        return rows, impute_conditional_mean(mu, sig, trial.y[rows]), 0
    rng = np.random.default_rng(task)
    rows, beta, sigma, failed = _resample_fit(trial, model, rng, limit)
    if method == "conditional_mean_bootstrap":
        mu, sig = model.parameters(beta, sigma, rows)
        return rows, impute_conditional_mean(mu, sig, trial.y[rows]), failed
    # approximate Bayesian: parameters from the bootstrap refit, a random draw for everyone
    mu, sig = model.parameters(beta, sigma, everyone)
    return everyone, impute_draw(mu, sig, trial.y, rng=rng), failed


#: The state a forked worker inherits (set by :func:`_impute` just before the pool forks).
_WORKER_STATE: tuple | None = None
_WORKER_LIMITS = None


def _worker_init():
    global _WORKER_LIMITS
    # one BLAS thread per worker: the workers are the parallelism, and a fixed thread count keeps
    # every sample's floating-point sums the same whatever the number of workers
    _WORKER_LIMITS = threadpoolctl.threadpool_limits(1)


def _worker_task(task):
    trial, model, method, limit = _WORKER_STATE
    try:
        return _one_task(trial, model, method, limit, task)
    except _TooManyFailures as exc:
        return (None, None, int(exc.args[0]))


def _tasks(method, n, n_imputations, seed):
    """The samples in their order: jackknife participant indices (-1 = full data) or one
    SeedSequence per bootstrap sample / imputation, spawned from ``seed`` in advance, so that a
    sample's random numbers do not depend on which worker draws it or on the other samples' redraws."""
    if method == "conditional_mean":
        return [-1, *range(n)]
    children = np.random.SeedSequence(seed).spawn(n_imputations)
    return ([-1] if method == "conditional_mean_bootstrap" else []) + children


def _impute(trial, model, method, n_imputations, seed, max_failures, workers=1):
    """[(rows, completed y)], n_failed: every sample, serially or over ``workers`` forked processes.

    Results are identical whatever ``workers``: each sample is computed from its own task (a
    participant index or a pre-spawned seed) with one BLAS thread, and they are returned in task
    order.
    """
    global _WORKER_STATE
    tasks = _tasks(method, len(trial.subjects), n_imputations, seed)
    limit = int(max_failures)
    workers = max(1, min(int(workers or 1), len(tasks)))
    if workers == 1:
        results = []
        with threadpoolctl.threadpool_limits(1):
            for task in tasks:
                try:
                    results.append(_one_task(trial, model, method, limit, task))
                except _TooManyFailures as exc:
                    results.append((None, None, int(exc.args[0])))
    else:
        # the full-data fit in the parent first: it raises the clear error for data the model
        # cannot fit before any worker starts, and fixes the model's design once for all of them
        if tasks[0] == -1:
            first = [_one_task(trial, model, method, limit, -1)]
            tasks = tasks[1:]
        else:
            first = []
        _WORKER_STATE = (trial, model, method, limit)
        try:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                results = first + pool.map(_worker_task, tasks, chunksize=max(1, len(tasks) // (4 * workers)))
        finally:
            _WORKER_STATE = None
    failed = sum(r[2] for r in results)
    if failed > limit or any(r[0] is None for r in results):
        raise ModelError(
            f"sensitivity analysis of {trial.outcome!r}: the imputation MMRM failed on {failed} "
            "bootstrap samples; the data support the unstructured model poorly (few participants "
            "per visit); use fewer covariates."
        )
    return [(r[0], r[1]) for r in results], failed


# --------------------------------------------------------------------------------------------
# Analysis of one completed data set
# --------------------------------------------------------------------------------------------


def _parameter_labels(trial):
    """(arm, reference) per parameter: differences first, then marginal means."""
    ref = trial.arms[0]
    return [(a, ref) for a in trial.arms[1:]] + [(a, "") for a in trial.arms]


def _ancova(trial, rows, values):
    """estimate, se (P, J) and residual df of ``y_v ~ arm + baseline + covariates`` per visit.

    rbmi ``ancova_single``: ordinary least squares at each visit; the differences are the arm
    coefficients, the marginal means rbmi's ``weights = "counterfactual"`` (the mean prediction
    with every participant set to the arm), with the residual degrees of freedom.
    """
    z = trial.z[rows]
    n, q = z.shape
    zinv = np.linalg.pinv(z.T @ z)
    coef = zinv @ (z.T @ values)
    resid = values - z @ coef
    dfres = n - np.linalg.matrix_rank(z)
    s2 = (resid**2).sum(axis=0) / dfres
    zbar = z.mean(axis=0)
    lvec = []
    for k in range(len(trial.arms) - 1):
        e = np.zeros(q)
        e[trial.z_arm_cols[k]] = 1.0
        lvec.append(e)
    for a in range(len(trial.arms)):
        v = zbar.copy()
        v[trial.z_arm_cols] = 0.0
        if a > 0:
            v[trial.z_arm_cols[a - 1]] = 1.0
        lvec.append(v)
    lmat = np.array(lvec)
    est = lmat @ coef
    var_unit = np.einsum("pq,qr,pr->p", lmat, zinv, lmat)
    se = np.sqrt(var_unit[:, None] * s2[None, :])
    return est, se, float(dfres)


def _responders(trial, rows, values, rule):
    """risk difference and proportions (P, J) with their Wald standard errors.

    ``rule`` is ``(label, threshold, on_score)`` of :func:`_responder_rule`: the threshold of the
    project's language (:class:`prt_outcomes.thresholds.Threshold`, its one evaluator) applied to
    the completed data, every participant x visit. With ``on_score`` its outcome column is the
    score at the visit (``baseline + values`` when the imputed outcome is the change) and
    ``<outcome>_baseline`` the baseline; else the imputed outcome itself. An undecidable response
    (a percent kind at a baseline of 0) counts as a non-responder: the denominator is everyone
    analysed, as the responder tables' ``randomized`` denominator.
    """
    _, threshold, on_score = rule
    n, j = values.shape
    name = threshold.outcomes[0]
    frame = {name: values.reshape(-1)}
    if on_score is not None:
        base = np.repeat(trial.base[trial.baseline].to_numpy(dtype=float)[rows], j)
        frame = {name: (values.reshape(-1) + base) if on_score == "change" else values.reshape(-1)}
        frame[name + "_baseline"] = base
    decided = threshold.evaluate(pd.DataFrame(frame))
    hit = decided.fillna(False).to_numpy(dtype=bool).reshape(n, j)
    arm_r = trial.arm_of[rows]
    props, var = [], []
    for a in trial.arms:
        h = hit[arm_r == a]
        p = h.mean(axis=0)
        props.append(p)
        var.append(p * (1 - p) / h.shape[0])
    est = [props[k] - props[0] for k in range(1, len(props))] + props
    v = [var[k] + var[0] for k in range(1, len(var))] + var
    return np.array(est), np.sqrt(np.array(v)), math.inf


def _delta_values(trial, rows, values, delta, delta_arms, cumulative):
    if delta is None:
        return values
    if isinstance(delta, Mapping):
        # per participant (rbmi's delta data frame): participant i's own delta on its imputed
        # post-ICE values (never observed ones, nor MAR gaps before the ICE), whatever its arm
        per = np.array([delta.get(s, 0.0) for s in trial.subjects], dtype=float)[rows]
        if not np.any(per):
            return values
        shift = (trial.is_post_ice[rows] & trial.is_missing[rows]) * per[:, None]
        return values + shift
    d = np.broadcast_to(np.asarray(delta, dtype=float), (len(trial.labels),))
    if not np.any(d):
        return values
    shifted = delta_adjust(values, trial.is_post_ice[rows], trial.is_missing[rows], d, cumulative=cumulative)
    in_arm = np.isin(trial.arm_of[rows], list(delta_arms))
    return np.where(in_arm[:, None], shifted, values)


def _check_delta(data, subject, delta, delta_arms, cumulative):
    """Refuse a per-participant delta the analysis could not use as given (before any fit)."""
    if not isinstance(delta, Mapping):
        return delta
    if delta_arms is not None or cumulative:
        raise ValueError(
            "a per-participant delta ({subject: delta}) applies to the participants it names, once from "
            "their event on; it takes neither delta_arms nor delta_cumulative."
        )
    known = set(pd.unique(data[subject]))
    strangers = [k for k in delta if k not in known]
    if strangers:
        raise ValueError(f"delta names participants that are not in the data: {strangers[:5]}")
    out = {}
    for k, v in delta.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"delta of participant {k!r} is {v!r}, not a number") from None
        if not math.isfinite(out[k]):
            raise ValueError(f"delta of participant {k!r} is {v!r}; give a finite number")
    return out


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


def _pool(method, est, se, df, alpha, bootstrap_type):
    """PooledEstimate per (parameter, visit) from est/se arrays (S, P, J)."""
    level = 1.0 - alpha
    s, p, j = est.shape
    out = np.empty((p, j), dtype=object)
    for a in range(p):
        for v in range(j):
            if method == "approximate_bayesian":
                out[a, v] = rubin_rules(est[:, a, v], se[:, a, v] ** 2, df_complete=df, conf_level=level)
            elif method == "conditional_mean":
                out[a, v] = pool_jackknife(est[0, a, v], est[1:, a, v], conf_level=level)
            else:
                out[a, v] = pool_bootstrap(est[0, a, v], est[1:, a, v], type=bootstrap_type, conf_level=level)
    return out


def _rows(trial, pooled, *, outcome, analysis, strategy_label, method_label, n_imp):
    rows = []
    labels = _parameter_labels(trial)
    for v, visit in enumerate(trial.visits):
        for a, (arm_name, ref) in enumerate(labels):
            r = pooled[a, v]
            rows.append(
                {
                    "outcome": outcome,
                    "analysis": analysis,
                    "strategy": strategy_label,
                    "method": method_label,
                    "visit": visit,
                    "arm": arm_name,
                    "reference": ref,
                    "estimate": r.estimate,
                    "se": r.se,
                    "df": r.df,
                    "ci_low": r.ci_lower,
                    "ci_high": r.ci_upper,
                    "p": r.p_value,
                    "n_imputations": n_imp,
                }
            )
    return rows


def _strategy_label(trial, strategy, events, delta, cumulative):
    if events is None and not isinstance(strategy, dict):
        label = _normalise_strategy(strategy)
    else:
        used = sorted(set(trial.events["strategy"])) or ["MAR"]
        label = used[0] if len(used) == 1 else "per participant (" + ", ".join(used) + ")"
    if isinstance(delta, Mapping):
        shifted = sum(1 for s in trial.subjects if delta.get(s, 0.0) != 0)
        if shifted:
            label += f" + per-participant delta ({shifted} participants)"
    elif delta is not None and np.any(np.asarray(delta, dtype=float)):
        d = np.atleast_1d(np.asarray(delta, dtype=float))
        text = f"{d[0]:g}" if np.all(d == d[0]) else "(" + ", ".join(f"{x:g}" for x in d) + ")"
        label += f" + delta {text}" + (" cumulative" if cumulative else "")
    return label


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _check_method(method, n_imputations, responder):
    if method == "bayes":
        raise ValueError(
            "method='bayes' (a Bayesian posterior by MCMC, rbmi method_bayes / SAS five macros) is not "
            "available: no MCMC sampler is a dependency. Use method='approximate_bayesian' (bootstrap "
            "refits, rbmi method_approxbayes), which agrees within Monte-Carlo error."
        )
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {sorted(set(METHODS))}")
    key = METHODS[method]
    if key != "conditional_mean" and (n_imputations is None or int(n_imputations) < 2):
        raise ValueError(f"method={method!r} needs n_imputations >= 2")
    if responder is not None and key != "approximate_bayesian":
        raise ValueError(
            "responder endpoints need random imputations (method='approximate_bayesian'): a threshold "
            "applied to conditional means is not the expected responder indicator (conditional means "
            "are never extreme), so conditional mean imputation biases the proportion of responders."
        )
    return key


def _run(
    data,
    *,
    outcome,
    arm,
    visit,
    subject,
    baseline,
    covariates,
    reference_arm,
    visits,
    strategy,
    events,
    method,
    n_imputations,
    seed,
    same_cov,
    max_failures,
    workers=1,
):
    trial = _setup(
        data,
        outcome=outcome,
        arm=arm,
        visit=visit,
        subject=subject,
        baseline=baseline,
        covariates=covariates,
        reference_arm=reference_arm,
        visits=visits,
        strategy=strategy,
        events=events,
    )
    model = _Model(trial, same_cov)
    n_imp = 0 if n_imputations is None else int(n_imputations)
    limit = n_imp if max_failures is None else int(max_failures)
    imputations, failed = _impute(trial, model, method, n_imp, seed, limit, workers)
    return trial, imputations, failed


def _analyse_all(trial, imputations, *, delta, delta_arms, cumulative, responder):
    """{analysis: (est, se arrays (S, P, J), df)}: the ANCOVA, then each responder rule by its label."""
    rules = responder or []
    res, resp = [], [[] for _ in rules]
    for rows, values in imputations:
        shifted = _delta_values(trial, rows, values, delta, delta_arms, cumulative)
        res.append(_ancova(trial, rows, shifted))
        for k, rule in enumerate(rules):
            resp[k].append(_responders(trial, rows, shifted, rule))
    out = {"ancova": (np.array([r[0] for r in res]), np.array([r[1] for r in res]), res[0][2])}
    for rule, got in zip(rules, resp):
        out[rule[0]] = (np.array([r[0] for r in got]), np.array([r[1] for r in got]), math.inf)
    return out


def _responder_rule(responder, *, label="responder", outcome, change=False, higher_is_better=False):
    """[(label, Threshold, on_score)] of ``responder=`` (None: no responder analysis).

    A number or ``("<=" | ">=", t)`` is the old form, a threshold on the analysed outcome itself
    (``on_score`` None); a rule of the threshold language (text or a parsed
    :class:`~prt_outcomes.thresholds.Threshold`) reads the score and the baseline (``on_score``
    "change" when the imputed outcome is the change from the baseline, else "value"); a mapping
    is ``{label: rule}``, one analysis each.
    """
    if responder is None:
        return None
    if isinstance(responder, Mapping):
        if not responder:
            raise ValueError("responder is an empty mapping; give {label: rule} pairs or None")
        given = list(responder.items())
    else:
        given = [(label, responder)]
    rules = []
    for name, rule in given:
        if isinstance(rule, bool):
            rule = None  # not a threshold: refused below
        if isinstance(rule, (int, float)):
            rule = ("<=", rule)
        if isinstance(rule, tuple) and len(rule) == 2 and rule[0] in ("<=", ">="):
            parsed = parse_threshold(f"value {rule[0]} {float(rule[1])!r}", outcome="outcome")
            rules.append((str(name), parsed, None))
            continue
        if isinstance(rule, (str, Threshold)):
            parsed = parse_threshold(rule, outcome=outcome, higher_is_better=higher_is_better)
            # a parsed rule names its outcome as its caller did; a text names the imputed outcome
            reads = (outcome,) if isinstance(rule, str) else parsed.outcomes[:1]
            if parsed.outcomes != reads:
                raise ValueError(
                    f"responder rule {str(rule)!r} reads {list(parsed.outcomes)}; a sensitivity analysis "
                    "imputes one outcome: write the rule on it alone (e.g. 'percent_reduction >= 30')"
                )
            rules.append((str(name), parsed, "change" if change else "value"))
            continue
        raise ValueError(
            "responder must be a threshold (responder: value <= threshold), ('<=' | '>=', threshold), "
            "a rule of the threshold language (e.g. 'percent_reduction >= 30') or {label: rule}"
        )
    return rules


def _result(
    trial,
    imputations,
    failed,
    *,
    key,
    method,
    outcome,
    analysis,
    responder_label,
    strategy,
    events,
    delta,
    delta_arms,
    cumulative,
    responder,
    alpha,
    bootstrap_type,
    seed,
    started,
):
    analysed = _analyse_all(
        trial, imputations, delta=delta, delta_arms=delta_arms, cumulative=cumulative, responder=responder
    )
    label = _strategy_label(trial, strategy, events, delta, cumulative)
    method_label = {
        "approximate_bayesian": "approximate Bayesian MI, Rubin",
        "conditional_mean": "conditional mean, jackknife",
        "conditional_mean_bootstrap": f"conditional mean, bootstrap ({bootstrap_type})",
    }[key]
    n_imp = len(imputations) - (0 if key == "approximate_bayesian" else 1)
    rows, est_rows = [], []
    plabels = _parameter_labels(trial)
    for name, (est, se, df) in analysed.items():
        a_label = analysis if name == "ancova" else name
        pooled = _pool(key, est, se, df, alpha, bootstrap_type)
        rows += _rows(
            trial,
            pooled,
            outcome=outcome,
            analysis=a_label,
            strategy_label=label,
            method_label=method_label,
            n_imp=n_imp,
        )
        s, p, j = est.shape
        first = 1 if key == "approximate_bayesian" else 0
        est_rows.append(
            pd.DataFrame(
                {
                    "sample": np.repeat(np.arange(s) + first, p * j),
                    "analysis": a_label,
                    "visit": np.tile(np.tile(np.asarray(trial.visits, dtype=object), p), s),
                    "arm": np.tile(np.repeat([x[0] for x in plabels], j), s),
                    "reference": np.tile(np.repeat([x[1] for x in plabels], j), s),
                    "estimate": est.reshape(-1),
                    "se": se.reshape(-1),
                    "df": df,
                }
            )
        )
    table = pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))
    return SensitivityResult(
        table=table,
        estimates=pd.concat(est_rows, ignore_index=True),
        events=trial.events,
        method=key,
        n_imputations=n_imp,
        n_failed=failed,
        seed=seed,
        seconds=time.perf_counter() - started,
        imputed=[(trial.subjects[rows], values) for rows, values in imputations],
    )


def sensitivity_analysis(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    visit: str,
    subject: str,
    baseline: str,
    reference_arm,
    visits,
    covariates=(),
    strategy="MAR",
    events: pd.DataFrame | None = None,
    method: str = "conditional_mean",
    n_imputations: int | None = None,
    seed: int | None = None,
    delta=None,
    delta_arms=None,
    delta_cumulative: bool = False,
    responder=None,
    outcome_is_change: bool = False,
    higher_is_better: bool = False,
    same_cov: bool = True,
    alpha: float = 0.05,
    bootstrap_type: str = "percentile",
    analysis: str = "ancova",
    responder_label: str = "responder",
    max_failures: int | None = None,
    workers: int = 1,
) -> SensitivityResult:
    """Impute, analyse (ANCOVA per visit) and pool: a missing-data sensitivity analysis in one call.

    Imputation model: the MMRM ``outcome ~ baseline*visit + arm*visit + covariate*visit +
    us(visit | subject)`` fitted by REML on the engine (:func:`prt_outcomes.mmrm`), one
    unstructured covariance shared by the arms (rbmi's default ``same_cov = TRUE``; ``same_cov=
    False`` fits one per arm). Visits after a participant's intercurrent event (ICE) are imputed
    under its strategy, with the reference arm's means and covariance for JR, CR and CIR
    (Carpenter, Roger & Kenward 2013; :func:`prt_outcomes.stats.imputation.reference_based_parameters`);
    observed values after an ICE with a non-MAR strategy are left out of the imputation model's
    fit (rbmi) but kept in the analysis. Missing values before the ICE (intermittent) are MAR.
    Analysis: at each visit ``y_v ~ arm + baseline + covariates`` by least squares (rbmi
    ``ancova``), the difference of each arm from the reference arm and the marginal mean of each
    arm; pooled by Rubin's rules, the jackknife or the bootstrap (see the module docstring).

    Parameters
    ----------
    data : DataFrame
        Long data, one row per participant and visit (rows of missing visits may be absent or
        have a NaN outcome). Rows at visits not in ``visits`` are ignored.
    outcome, arm, visit, subject, baseline : str
        Column names. The outcome is what is imputed and analysed (e.g. change from baseline);
        ``baseline`` and ``covariates`` must be one value per participant.
    reference_arm
        The arm whose means and covariance JR / CR / CIR borrow, and the reference of the
        differences.
    visits : sequence
        All visits of the imputation model, in order.
    covariates : sequence of str
        Further baseline covariates (numeric, or factors), in the imputation model by visit and
        in the ANCOVA.
    strategy : {"MAR", "JR", "J2R", "CR", "CIR"} or dict
        The strategy after the ICE, for everyone or per participant (``{subject: strategy}``,
        others MAR). Without ``events`` a participant's ICE is the first visit after its last
        observed one (nothing when the last visit is observed).
    events : DataFrame, optional
        One row per participant with an ICE: ``subject`` (or the ``subject`` column's name),
        ``visit`` (the first affected visit) and optionally ``strategy`` (else ``strategy``).
    method : {"conditional_mean", "conditional_mean_bootstrap", "approximate_bayesian"}
        See the module docstring; ``"bayes"`` is refused with an explanation.
    n_imputations : int
        Imputations M (approximate Bayesian) or bootstrap samples; not used by the jackknife
        (it has one sample per participant).
    seed : int, optional
        Seed of the bootstrap samples and the random draws: each sample or imputation gets its own
        generator from ``numpy.random.SeedSequence(seed).spawn(n_imputations)``.
    delta : float, sequence of float (one per visit), or mapping subject -> float, optional
        Added to the imputed values at and after the ICE (never to observed values, nor to MAR
        intermittent gaps) in the arms ``delta_arms`` (default: every arm but the reference);
        ``delta_cumulative=True`` makes them increments summed from the ICE on
        (:func:`prt_outcomes.stats.imputation.delta_adjust`). A mapping is a delta per
        participant (rbmi's ``delta`` data frame from ``delta_template``, one value for all its
        post-ICE visits): each named participant's own number, whatever its arm and strategy
        (others: none); it takes neither ``delta_arms`` nor ``delta_cumulative``. Under
        conditional mean imputation the estimate is linear in it: a delta ``d`` on one
        participant moves the difference at each of its imputed visits by ``d`` times its weight
        in the ANCOVA's arm coefficient (its entry of ``(Z'Z)^-1 Z'``, close to ``1 / n_arm``;
        see the example).
    responder : rule, or mapping label -> rule, optional
        Also analyse responders: the proportion of responders per arm and the risk difference
        (arm minus reference) at each visit, Wald standard errors, pooled by Rubin's rules
        (normal complete-data df); rows with ``analysis`` = the label (``responder_label`` for
        one rule), differences first then each arm's proportion (``reference`` empty), as the
        ANCOVA's. A rule is a text of the threshold language (:mod:`prt_outcomes.thresholds`,
        e.g. ``"percent_reduction >= 30"``, ``"value <= 1"``, ``"change <= -2"``) on the
        imputed outcome, evaluated by :class:`~prt_outcomes.thresholds.Threshold` on each
        completed data set, the score at the visit being ``baseline + outcome`` when
        ``outcome_is_change`` else the outcome itself, and the baseline ``baseline``; an
        undecidable response (a percent kind at a baseline of 0) counts as a non-responder. The
        older forms, a number ``t`` or ``("<=" | ">=", t)``, compare the imputed outcome itself
        with ``t``. Only with ``method="approximate_bayesian"`` (module docstring: why not with
        conditional means).
    outcome_is_change : bool, default False
        Whether ``outcome`` is the change from ``baseline`` (for the responder rules' score).
    higher_is_better : bool, default False
        The outcome's direction, for the rules' ``improvement`` kinds.
    same_cov : bool, default True
    alpha : float, default 0.05
        1 - confidence level.
    bootstrap_type : {"percentile", "normal"}
        Inference of ``conditional_mean_bootstrap``.
    analysis, responder_label : str
        Written to the ``analysis`` column.
    max_failures : int, optional
        Bootstrap samples whose MMRM fails that may be redrawn (default ``n_imputations``).
    workers : int, default 1
        Processes the refits run in (forked; one BLAS thread each). The results do not depend on
        it: every bootstrap sample or imputation draws from its own seed, spawned in advance from
        ``seed`` (:class:`numpy.random.SeedSequence`), and the samples are pooled in their order.

    Returns
    -------
    SensitivityResult

    Raises
    ------
    ModelError
        When the imputation model cannot be fitted (full data or a leave-one-out sample), or a
        participant has no baseline.

    Examples
    --------
    The trial of the module docstring: a delta on the imputed values of one dropout of the
    ``prt`` arm moves the week-8 difference in proportion to it (conditional mean: linear), by
    about ``delta / n_prt``.

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n, visits = 40, ["w2", "w4", "w8"]
    >>> ids = np.repeat(np.arange(n), 3)
    >>> df = pd.DataFrame({"id": ids, "visit": np.tile(visits, n),
    ...                    "arm": np.where(ids % 2, "prt", "usual"),
    ...                    "base": np.repeat(rng.normal(6, 1, n), 3)})
    >>> df["chg"] = (-0.4 * df["base"] - 1.5 * (df["arm"] == "prt") * (df["visit"] != "w2")
    ...              + np.repeat(rng.normal(0, 1, n), 3) + rng.normal(0, 1, 3 * n))
    >>> df.loc[(df["id"] % 5 == 0) & (df["visit"] == "w8"), "chg"] = np.nan  # ids 0, 5, 10, ...
    >>> kw = dict(outcome="chg", arm="arm", visit="visit", subject="id", baseline="base",
    ...           reference_arm="usual", visits=visits, method="conditional_mean")
    >>> def w8(res):
    ...     return res.table.query("reference == 'usual' and visit == 'w8'")["estimate"].item()
    >>> none = w8(sensitivity_analysis(df, **kw))
    >>> one, two = (w8(sensitivity_analysis(df, delta={5: d}, **kw)) - none for d in (1.0, 2.0))
    >>> round(two / one, 10), round(one * 20, 2)  # 20 participants in prt
    (2.0, 1.0)
    """
    started = time.perf_counter()
    key = _check_method(method, n_imputations, responder)
    if bootstrap_type not in ("percentile", "normal"):
        raise ValueError("bootstrap_type must be 'percentile' or 'normal'")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    rule = _responder_rule(
        responder,
        label=responder_label,
        outcome=outcome,
        change=outcome_is_change,
        higher_is_better=higher_is_better,
    )
    delta = _check_delta(data, subject, delta, delta_arms, delta_cumulative)
    trial, imputations, failed = _run(
        data,
        outcome=outcome,
        arm=arm,
        visit=visit,
        subject=subject,
        baseline=baseline,
        covariates=covariates,
        reference_arm=reference_arm,
        visits=visits,
        strategy=strategy,
        events=events,
        method=key,
        n_imputations=n_imputations,
        seed=seed,
        same_cov=same_cov,
        max_failures=max_failures,
        workers=workers,
    )
    d_arms = trial.arms[1:] if delta_arms is None else [str(a) for a in np.atleast_1d(delta_arms)]
    return _result(
        trial,
        imputations,
        failed,
        key=key,
        method=method,
        outcome=outcome,
        analysis=analysis,
        responder_label=responder_label,
        strategy=strategy,
        events=events,
        delta=delta,
        delta_arms=d_arms,
        cumulative=delta_cumulative,
        responder=rule,
        alpha=alpha,
        bootstrap_type=bootstrap_type,
        seed=seed,
        started=started,
    )


def tipping_point(
    data: pd.DataFrame,
    *,
    deltas,
    outcome: str,
    arm: str,
    visit: str,
    subject: str,
    baseline: str,
    reference_arm,
    visits,
    covariates=(),
    strategy="MAR",
    events: pd.DataFrame | None = None,
    method: str = "conditional_mean",
    n_imputations: int | None = None,
    seed: int | None = None,
    delta_arms=None,
    delta_cumulative: bool = False,
    same_cov: bool = True,
    alpha: float = 0.05,
    bootstrap_type: str = "percentile",
    max_failures: int | None = None,
    workers: int = 1,
) -> TippingPointResult:
    """A tipping-point analysis: :func:`sensitivity_analysis` over a grid of deltas.

    The imputations are made once (same seed, same draws) and each delta is added to the imputed
    post-ICE values of ``delta_arms`` (default: the arm compared with the reference) before the
    analysis, as rbmi's delta adjustment does (rbmi ``analyse(delta = ...)``), so the scan is
    smooth in delta (common random numbers). Needs exactly two arms (one difference per visit).

    Parameters
    ----------
    deltas : sequence of float
        Strictly monotone grid (e.g. ``np.arange(0, 10.5, 0.5)``); each one number for all visits.
    others
        As :func:`sensitivity_analysis`.

    Returns
    -------
    TippingPointResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n, visits = 40, ["w2", "w4", "w8"]
    >>> ids = np.repeat(np.arange(n), 3)
    >>> df = pd.DataFrame({"id": ids, "visit": np.tile(visits, n),
    ...                    "arm": np.where(ids % 2, "prt", "usual"),
    ...                    "base": np.repeat(rng.normal(6, 1, n), 3)})
    >>> df["chg"] = (-0.4 * df["base"] - 1.5 * (df["arm"] == "prt") * (df["visit"] != "w2")
    ...              + np.repeat(rng.normal(0, 1, n), 3) + rng.normal(0, 1, 3 * n))
    >>> df.loc[(df["id"] % 3 == 0) & (df["visit"] == "w8"), "chg"] = np.nan
    >>> tp = tipping_point(df, deltas=[0, 1, 2, 3, 4], outcome="chg", arm="arm", visit="visit",
    ...                    subject="id", baseline="base", reference_arm="usual", visits=visits)
    >>> tp.tipping_points.query("visit == 'w8'")[["tipping_delta", "first_delta_changed"]].round(2)
       tipping_delta  first_delta_changed
    2           3.67                  4.0
    """
    deltas = np.asarray(deltas, dtype=float).reshape(-1)
    if deltas.size < 2:
        raise ValueError("deltas needs at least two values")
    key = _check_method(method, n_imputations, None)
    started = time.perf_counter()
    trial, imputations, failed = _run(
        data,
        outcome=outcome,
        arm=arm,
        visit=visit,
        subject=subject,
        baseline=baseline,
        covariates=covariates,
        reference_arm=reference_arm,
        visits=visits,
        strategy=strategy,
        events=events,
        method=key,
        n_imputations=n_imputations,
        seed=seed,
        same_cov=same_cov,
        max_failures=max_failures,
        workers=workers,
    )
    if len(trial.arms) != 2:
        raise ValueError("tipping_point needs exactly two arms (one difference per visit)")
    d_arms = trial.arms[1:] if delta_arms is None else [str(a) for a in np.atleast_1d(delta_arms)]
    results, rows = {}, []
    for d in deltas:
        res = _result(
            trial,
            imputations,
            failed,
            key=key,
            method=method,
            outcome=outcome,
            analysis="ancova",
            responder_label="responder",
            strategy=strategy,
            events=events,
            delta=float(d),
            delta_arms=d_arms,
            cumulative=delta_cumulative,
            responder=None,
            alpha=alpha,
            bootstrap_type=bootstrap_type,
            seed=seed,
            started=started,
        )
        results[float(d)] = res
        diff = res.table[res.table["reference"] == trial.arms[0]]
        for _, r in diff.iterrows():
            rows.append(
                {"outcome": outcome, "visit": r["visit"], "delta": float(d)}
                | {c: r[c] for c in ("estimate", "ci_low", "ci_high", "p")}
            )
    table = pd.DataFrame(rows, columns=list(TIPPING_POINT_COLUMNS))
    tips = []
    for v in trial.visits:
        sub = table[table["visit"] == v]
        tips.append(
            {
                "outcome": outcome,
                "visit": v,
                "tipping_delta": first_crossing(sub["delta"], sub["p"], alpha),
                "first_delta_changed": first_crossing(sub["delta"], sub["p"], alpha, interpolate=False),
            }
        )
    return TippingPointResult(table=table, tipping_points=pd.DataFrame(tips), results=results)


#: :func:`missing_data_sensitivity`'s method names (the issue's) -> :data:`METHODS` keys.
_ONE_CALL_METHODS = {
    "approx_bayes": "approximate_bayesian",
    "approximate_bayesian": "approximate_bayesian",
    "conditional_mean": "conditional_mean",
    "bootstrap": "conditional_mean_bootstrap",
    "conditional_mean_bootstrap": "conditional_mean_bootstrap",
}


def missing_data_sensitivity(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    visit: str,
    subject: str,
    covariates=(),
    covariates_by_visit=(),
    reference_arm,
    strategy="MAR",
    method: str = "conditional_mean",
    n_imputations: int | None = None,
    seed: int | None = None,
    delta=None,
    ice: pd.DataFrame | None = None,
    visits=None,
) -> pd.DataFrame:
    """One call: a missing-data sensitivity analysis as the ``tables/sensitivity.csv`` rows.

    The imputation model is rbmi's / the SAS five macros': ``outcome ~ c*visit + arm*visit`` for
    every ``c`` in ``covariates_by_visit`` (e.g. the baseline score ``basval``, as
    ``basval*VISIT`` in the SAS model), unstructured covariance; the analysis is the ANCOVA of
    ``outcome`` at each visit on ``arm`` and those covariates. The first of
    ``covariates_by_visit`` is the baseline the ANCOVA adjusts for. See
    :func:`sensitivity_analysis` for the methods, the strategies and the references.

    Parameters
    ----------
    covariates : sequence of str
        Covariates without a visit interaction are not offered (rbmi and the five macros enter
        every covariate by visit); give them in ``covariates_by_visit``. Passing any raises
        ``ValueError``.
    method : {"conditional_mean", "approx_bayes", "bootstrap"}
        Conditional mean imputation with jackknife SEs (deterministic, Wolbers et al. 2022), the
        approximate Bayesian multiple imputation (bootstrap refits, Rubin's rules), or
        conditional mean imputation with bootstrap SEs (rbmi ``method_condmean(type =
        "bootstrap")``).
    ice : DataFrame, optional
        Intercurrent events: ``subject``, the first affected ``visit`` and ``strategy`` per
        participant (``events`` of :func:`sensitivity_analysis`); default: data missing after
        the last observed visit, under ``strategy``.
    visits : sequence, optional
        Visit order; default the sorted visit values.

    Returns
    -------
    DataFrame
        :data:`SENSITIVITY_COLUMNS`; ``estimate`` is arm minus reference, one row per visit
        and non-reference arm (plus each arm's mean, ``reference`` empty).

    Examples
    --------
    >>> import pandas as pd                                                  # doctest: +SKIP
    >>> d = pd.read_csv("../shared/data/rbmi_antidepressant/antidepressant_chapter15.csv")  # doctest: +SKIP
    >>> missing_data_sensitivity(d, outcome="change", arm="THERAPY", visit="VISIT",  # doctest: +SKIP
    ...     subject="PATIENT", covariates_by_visit=["basval"], reference_arm="PLACEBO",
    ...     strategy="J2R").query("visit == 7 and reference == 'PLACEBO'")["estimate"].round(3)
    """
    if len(tuple(covariates)):
        raise ValueError(
            f"covariates={tuple(covariates)!r}: every covariate enters the imputation model by visit "
            "here (as in rbmi and the SAS five macros); give them in covariates_by_visit."
        )
    by_visit = [covariates_by_visit] if isinstance(covariates_by_visit, str) else list(covariates_by_visit)
    if not by_visit:
        raise ValueError(
            "covariates_by_visit is empty: give at least the baseline score (e.g. ['basval']), "
            "which the imputation model takes by visit and the ANCOVA adjusts for."
        )
    if method not in _ONE_CALL_METHODS:
        raise ValueError(f"method={method!r}; use one of {sorted(_ONE_CALL_METHODS)}.")
    order = sorted(pd.unique(data[visit].dropna())) if visits is None else list(visits)
    result = sensitivity_analysis(
        data,
        outcome=outcome,
        arm=arm,
        visit=visit,
        subject=subject,
        baseline=by_visit[0],
        covariates=tuple(by_visit[1:]),
        reference_arm=reference_arm,
        visits=order,
        strategy=strategy,
        events=ice,
        method=_ONE_CALL_METHODS[method],
        n_imputations=n_imputations,
        seed=seed,
        delta=delta,
    )
    return result.table
