"""Leave-participants-out refits by downdating the full fit (MMRMFit.refit_without, issue 12).

Every leave-one-out refit of the antidepressant trial's imputation MMRM is compared with a refit
from scratch of the same rows (:func:`prt_outcomes.mmrm`), and the sensitivity analysis with
the downdate with the one refitting from scratch.

Tolerance (``PHI_TOL``, ``BETA_TOL``, ``COV_RTOL``): both paths stop after Newton steps at a
decrement ``d = g' H^-1 g`` below 1e-12 (the engine's polish threshold) with the same (profiled
REML) criterion on the same rows, so each is within ``sqrt(d / lambda_min(H))`` of the optimum in
the covariance parameters; the full-data Hessian here has ``lambda_min ~ 86``, i.e. 1.1e-7 each,
2.2e-7 apart. ``PHI_TOL = 1e-6`` leaves a factor ~5 for the leave-one-out Hessian (O(1/n)
from the full one) and rounding in the deviance (~1e3 * eps). The covariance is
``sigma2 * L L'`` with the log-Cholesky ``L``: a change ``dphi`` moves it by about
``2 |V| dphi``, so ``COV_RTOL = 1e-5`` relative to its largest entry; beta is a GLS estimate
whose sensitivity to V is smaller still (observed 3e-8): ``BETA_TOL = 1e-6``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prt_outcomes as po
from prt_outcomes.analyse import sensitivity as S
from prt_outcomes.models import downdate
from prt_outcomes.models.fit import _GRADIENT_TOLERANCE, _profiled
from prt_outcomes.models.likelihood import PatternData

AD_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rbmi_antidepressant"
AD_CSV = AD_CSV / "antidepressant_chapter15.csv"
AD_KW = dict(
    outcome="change",
    arm="THERAPY",
    visit="VISIT",
    subject="PATIENT",
    baseline="basval",
    reference_arm="PLACEBO",
    visits=[4, 5, 6, 7],
)
PHI_TOL = 1e-6
BETA_TOL = 1e-6
COV_RTOL = 1e-5


@pytest.fixture(scope="module")
def ad_model():
    if not AD_CSV.exists():
        pytest.skip("../shared/data/rbmi_antidepressant not available")
    data = pd.read_csv(AD_CSV)
    kw = dict(AD_KW)
    trial = S._setup(
        data,
        outcome=kw["outcome"],
        arm=kw["arm"],
        visit=kw["visit"],
        subject=kw["subject"],
        baseline=kw["baseline"],
        covariates=(),
        reference_arm=kw["reference_arm"],
        visits=kw["visits"],
        strategy="J2R",
        events=None,
    )
    model = S._Model(trial, True)
    n = len(trial.subjects)
    model.fit(np.arange(n))  # the full fit, kept by the model
    return trial, model


def _gradient_at(fit, phi):
    """max |gradient| of the profiled deviance at ``phi`` on ``fit``'s own (fresh) pattern data."""
    objective, _ = _profiled(fit._core.pdata, fit._core.structure, fit._core.reml)
    return float(np.max(np.abs(objective(phi)[1])))


@pytest.mark.shared
def test_every_leave_one_out_matches_the_refit_from_scratch(ad_model):
    trial, model = ad_model
    full = model._full
    n = len(trial.subjects)
    worst = dict(phi=0.0, beta=0.0, cov=0.0)
    for i in range(n):
        rows = np.delete(np.arange(n), i)
        loo = full.refit_without([i])
        fresh = model._fit_from_scratch(rows)
        assert loo.method == "downdate", (i, loo.method, loo.reason)
        assert loo.converged and fresh.converged
        # the convergence claimed is checked on independently built pattern data of those rows
        assert _gradient_at(fresh, loo.phi) <= _GRADIENT_TOLERANCE
        assert np.array_equal(np.isnan(loo.beta), np.isnan(fresh.beta))
        V, Vf = loo.covariance.to_numpy(), fresh.covariance.to_numpy()
        worst["phi"] = max(worst["phi"], float(np.max(np.abs(loo.phi - fresh._core.phi))))
        worst["beta"] = max(worst["beta"], float(np.nanmax(np.abs(loo.beta - fresh.beta))))
        worst["cov"] = max(worst["cov"], float(np.max(np.abs(V - Vf)) / np.max(np.abs(Vf))))
    assert worst["phi"] <= PHI_TOL, worst
    assert worst["beta"] <= BETA_TOL, worst
    assert worst["cov"] <= COV_RTOL, worst


@pytest.mark.shared
def test_jackknife_table_matches_the_refits_from_scratch(ad_model, monkeypatch):
    data = pd.read_csv(AD_CSV)
    new = S.sensitivity_analysis(data, strategy="J2R", method="conditional_mean", **AD_KW).table

    def from_scratch(self, rows):
        fit = self._fit_from_scratch(rows)
        return self._unpack(fit.beta, fit.covariance, fit.converged)

    monkeypatch.setattr(S._Model, "fit", from_scratch)
    old = S.sensitivity_analysis(data, strategy="J2R", method="conditional_mean", **AD_KW).table
    # the point estimates are the full-data fit's: the same code, the same bits
    assert np.array_equal(new["estimate"].to_numpy(), old["estimate"].to_numpy())
    # jackknife SE: sqrt((n-1)/n sum (theta_i - mean)^2), each theta_i within ~1e-7 (as above)
    assert np.allclose(new["se"], old["se"], rtol=1e-5, atol=0)


def test_pattern_downdate_equals_the_reduced_data():
    rng = np.random.default_rng(5)
    n, k = 120, 3  # 2 columns: the complete pattern (> k * 2 participants) is evaluated from moments
    subject = np.repeat(np.arange(n), k)
    visit = np.tile(np.arange(k), n)
    keep = ~((subject % 30 == 0) & (visit == 2))  # 4 (<= k * p) drop out: evaluated from rows
    X = np.column_stack([np.ones(n * k), rng.normal(size=n * k)])[keep]
    y = rng.normal(size=n * k)[keep]
    subject, visit = subject[keep], visit[keep]
    data = PatternData.from_arrays(y, X, subject=subject, visit=visit, n_visits=k)
    assert [m is None for m in data._moments()] == [True, False]
    V = np.array([[2.0, 0.5, 0.3], [0.5, 1.5, 0.4], [0.3, 0.4, 1.0]])
    for gone in ([30], [8], [0, 1, 3], [30, 61]):  # from the row pattern, the moment one, both
        rows = ~np.isin(subject, gone)
        fresh = PatternData.from_arrays(
            y[rows], X[rows], subject=subject[rows], visit=visit[rows], n_visits=k
        )
        down = data.without_subjects(gone)
        a = down.evaluate(V, reml=True, gradient=True)
        b = fresh.evaluate(V, reml=True, gradient=True)
        assert down.n_obs == fresh.n_obs
        assert [(q.visits.tolist(), q.n_subjects) for q in down.patterns] == [
            (q.visits.tolist(), q.n_subjects) for q in fresh.patterns
        ]
        assert np.isclose(a.deviance, b.deviance, rtol=1e-12)
        assert np.allclose(a.beta, b.beta, rtol=1e-10, atol=1e-12)
        assert np.allclose(a.g_fixed - a.g_resid, b.g_fixed - b.g_resid, rtol=1e-9, atol=1e-9)
    assert data.without_subjects([10_000]) is data  # nothing to leave out: the same object


def _trial_with_a_lone_site():
    """Two arms x 3 visits; covariate ``site`` with level "C" held by one participant only."""
    rng = np.random.default_rng(11)
    n = 40
    ids = np.repeat(np.arange(n), 3)
    df = pd.DataFrame(
        {
            "id": ids,
            "visit": np.tile(["w1", "w2", "w3"], n),
            "arm": np.where(ids % 2, "prt", "usual"),
            "site": np.where(ids == 5, "C", np.where(ids % 3, "A", "B")),
            "base": np.repeat(rng.normal(6, 1, n), 3),
        }
    )
    df["y"] = 0.5 * df["base"] + np.repeat(rng.normal(0, 1, n), 3) + rng.normal(0, 1, 3 * n)
    df.loc[(ids % 6 == 1) & (df["visit"] == "w3"), "y"] = np.nan
    return df


def test_a_leave_out_that_aliases_a_column_is_refitted_from_scratch():
    df = _trial_with_a_lone_site()
    formula = "y ~ base*visit + arm*visit + site*visit + us(visit | id)"
    levels = {"site": ["A", "B", "C"]}
    fit = po.mmrm(formula, df, levels=levels)
    assert not np.isnan(fit.beta).any()
    loo = fit.refit_without([5])  # the only participant of site C: site[C] columns become zero
    fresh = po.mmrm(formula, df[df["id"] != 5], levels=levels)
    assert loo.method == "refit" and "aliased" in loo.reason
    # mmrm drops the absent level's columns; in the full model's coordinates they are zero
    # columns, i.e. aliased: NaN, and the other coefficients are the refit's, bit for bit
    gone = [j for j, t in enumerate(fit.terms) if t not in fresh.terms]
    assert [fit.terms[j] for j in gone] == ["site[C]", "visit[w2]:site[C]", "visit[w3]:site[C]"]
    assert np.isnan(loo.beta[gone]).all()
    assert np.array_equal(np.delete(loo.beta, gone), fresh.beta)
    other = fit.refit_without([6])
    assert other.method == "downdate" and not np.isnan(other.beta).any()


def test_sensitivity_uses_the_fallback_where_the_downdate_could_alias():
    df = _trial_with_a_lone_site()
    kw = dict(outcome="y", arm="arm", visit="visit", subject="id", baseline="base", covariates=["site"])
    trial = S._setup(df, **kw, reference_arm="usual", visits=["w1", "w2", "w3"], strategy="J2R", events=None)
    model = S._Model(trial, True)
    n = len(trial.subjects)
    model.fit(np.arange(n))
    i = int(np.flatnonzero(trial.subjects == 5)[0])
    rows = np.delete(np.arange(n), i)
    beta, sigma, ok = model.fit(rows)  # the refit from scratch used to raise here (other terms)
    fresh = model._full.refit_without([i])
    assert fresh.method == "refit"
    assert ok and np.array_equal(beta, np.nan_to_num(fresh.beta))  # aliased at 0, as before
    assert np.array_equal(sigma["usual"], fresh.covariance.to_numpy())
    # and the whole jackknife runs through it
    res = S.sensitivity_analysis(
        df, **kw, reference_arm="usual", visits=["w1", "w2", "w3"], strategy="J2R", method="conditional_mean"
    )
    assert np.isfinite(res.table["se"]).all()


def test_no_convergence_is_claimed_where_the_warm_newton_falls_short(ad_model, monkeypatch):
    trial, model = ad_model
    full = model._full
    n = len(trial.subjects)
    fresh = model._fit_from_scratch(np.delete(np.arange(n), 3))
    # no Newton step allowed: the full optimum is not the leave-one-out one, so the warm path
    # must not accept it, and the engine's optimiser (its own convergence test) takes over
    monkeypatch.setattr(downdate, "_MAX_STEPS", 0)
    loo = full.refit_without([3])
    assert loo.method == "downdate, engine optimiser"
    assert loo.converged == fresh.converged
    assert np.max(np.abs(loo.phi - fresh._core.phi)) <= PHI_TOL
    # an impossible gradient criterion: the warm point is refused, and the engine reports it
    monkeypatch.setattr(downdate, "_MAX_STEPS", 30)
    monkeypatch.setattr(downdate, "_GRADIENT_TOLERANCE", 0.0)
    again = full.refit_without([3])
    assert again.method == "downdate, engine optimiser"
    assert _gradient_at(fresh, again.phi) <= _GRADIENT_TOLERANCE


def test_leaving_out_a_participant_without_rows_changes_nothing():
    df = _trial_with_a_lone_site()
    fit = po.mmrm("y ~ arm*visit + us(visit | id)", df)
    same = fit.refit_without(["not a participant"])
    assert same.method == "downdate" and same.evaluations == 0
    assert np.array_equal(same.beta, fit.beta)
