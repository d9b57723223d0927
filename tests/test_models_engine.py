"""Internals of the trial-model engine: likelihood, gradients, pattern grouping, optimizer, tables.

Independent references here are dense textbook computations written in the test (block-diagonal
V over all observations, per-participant loops, ordinary least squares); R / SAS comparisons
live in tests/test_models_reference_*.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_sims import ARGS, simulate
from prt_outcomes.models import COVARIANCE_STRUCTURES, TrialModelResult, fit_trial_model
from prt_outcomes.models.covariance import make_structure
from prt_outcomes.models.design import build_model_frame
from prt_outcomes.models.fit import _profiled
from prt_outcomes.models.likelihood import PatternData
from prt_outcomes.models.result import CONTRAST_COLUMNS, MEANS_COLUMNS


def dense_deviance(y, X, V_blocks, reml):
    """-2 log-likelihood from the full block-diagonal V (no pattern tricks)."""
    V = np.zeros((y.size, y.size))
    start = 0
    for block in V_blocks:
        m = block.shape[0]
        V[start : start + m, start : start + m] = block
        start += m
    Vinv = np.linalg.inv(V)
    xtvx = X.T @ Vinv @ X
    beta = np.linalg.solve(xtvx, X.T @ Vinv @ y)
    r = y - X @ beta
    n, p = X.shape
    dev = np.linalg.slogdet(V)[1] + r @ Vinv @ r
    if reml:
        return dev + (n - p) * np.log(2 * np.pi) + np.linalg.slogdet(xtvx)[1]
    return dev + n * np.log(2 * np.pi)


def _subject_blocks(mf, V):
    order = np.lexsort((mf.visit_code, mf.subject_code))
    blocks = []
    for s in np.unique(mf.subject_code[order]):
        vis = mf.visit_code[order][mf.subject_code[order] == s]
        blocks.append(V[np.ix_(vis, vis)])
    return order, blocks


# ----- likelihood ------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize("covariance", ["unstructured", "random_intercept", "ar1", "toeplitz"])
def test_loglik_equals_dense_direct_computation(method, covariance):
    data = simulate()
    fit = fit_trial_model(data, **ARGS, covariates=["age", "sex"], covariance=covariance, method=method)
    mf = build_model_frame(data, **ARGS, covariates=["age", "sex"])
    order, blocks = _subject_blocks(mf, fit.covariance.to_numpy())
    dev = dense_deviance(mf.y[order], mf.X[order], blocks, reml=method == "reml")
    assert -2 * fit.loglik == pytest.approx(dev, rel=1e-10)


def test_pattern_grouping_equals_naive_per_subject_sum():
    data = simulate(seed=3, missing=0.3)
    mf = build_model_frame(data, **ARGS, covariates=["age"])
    pdata = PatternData.from_arrays(mf.y, mf.X, subject=mf.subject_code, visit=mf.visit_code, n_visits=3)
    assert len(pdata.patterns) > 1
    V = np.array([[2.0, 0.8, 0.3], [0.8, 1.5, 0.6], [0.3, 0.6, 2.5]])
    ev = pdata.evaluate(V, reml=True, gradient=True)
    # naive: one participant at a time
    p = mf.X.shape[1]
    xtvx, xtvy, logdet = np.zeros((p, p)), np.zeros(p), 0.0
    for s in np.unique(mf.subject_code):
        rows = np.flatnonzero(mf.subject_code == s)
        rows = rows[np.argsort(mf.visit_code[rows])]
        Vi = V[np.ix_(mf.visit_code[rows], mf.visit_code[rows])]
        Vinv = np.linalg.inv(Vi)
        xtvx += mf.X[rows].T @ Vinv @ mf.X[rows]
        xtvy += mf.X[rows].T @ Vinv @ mf.y[rows]
        logdet += np.linalg.slogdet(Vi)[1]
    np.testing.assert_allclose(ev.xtvx, xtvx, rtol=1e-12)
    np.testing.assert_allclose(ev.beta, np.linalg.solve(xtvx, xtvy), rtol=1e-10)
    assert ev.logdet_v == pytest.approx(logdet, rel=1e-12)
    order, blocks = _subject_blocks(mf, V)
    assert ev.deviance == pytest.approx(dense_deviance(mf.y[order], mf.X[order], blocks, True), rel=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_unprofiled_gradient_matches_finite_differences(reml):
    data = simulate(seed=5)
    mf = build_model_frame(data, **ARGS)
    pdata = PatternData.from_arrays(mf.y, mf.X, subject=mf.subject_code, visit=mf.visit_code, n_visits=3)
    structure = make_structure("unstructured", 3)
    phi = np.array([0.1, -0.2, 0.3, 0.2, -0.1])
    sigma = 1.3

    def dev(t):
        return pdata.evaluate(t[-1] ** 2 * structure.relative(t[:-1]), reml=reml).deviance

    t = np.concatenate((phi, [sigma]))
    dV = np.concatenate((sigma**2 * structure.d_relative(phi), [2 * sigma * structure.relative(phi)]))
    analytic = pdata.evaluate(sigma**2 * structure.relative(phi), reml=reml, gradient=True).gradient(dV)
    numeric = np.array([(dev(t + h) - dev(t - h)) / 2e-6 for h in np.eye(t.size) * 1e-6])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("covariance", COVARIANCE_STRUCTURES)
def test_profiled_gradient_matches_finite_differences(covariance):
    data = simulate(k=4, seed=7)
    mf = build_model_frame(data, **ARGS, covariates=["sex"])
    pdata = PatternData.from_arrays(mf.y, mf.X, subject=mf.subject_code, visit=mf.visit_code, n_visits=4)
    structure = make_structure(covariance, 4)
    objective, _ = _profiled(pdata, structure, reml=True)
    rng = np.random.default_rng(0)
    phi = rng.uniform(0.05, 0.4, structure.n_params)
    f0, grad = objective(phi)
    h = 1e-6
    numeric = np.array(
        [(objective(phi + e)[0] - objective(phi - e)[0]) / (2 * h) for e in np.eye(phi.size) * h]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_profiled_and_unprofiled_optimum_agree():
    # sigma2 profiled out: at the fit, the unprofiled gradient (including sigma) must vanish.
    data = simulate(seed=11)
    fit = fit_trial_model(data, **ARGS, covariance="unstructured")
    mf = build_model_frame(data, **ARGS)
    pdata = PatternData.from_arrays(mf.y, mf.X, subject=mf.subject_code, visit=mf.visit_code, n_visits=3)
    V = fit.covariance.to_numpy()
    k = 3
    basis = []
    for a in range(k):
        for b in range(a + 1):
            E = np.zeros((k, k))
            E[a, b] = E[b, a] = 1.0
            basis.append(E)
    g = pdata.evaluate(V, reml=True, gradient=True).gradient(np.array(basis))
    assert np.max(np.abs(g)) < 1e-4


# ----- optimizer and structures --------------------------------------------------------------
def test_random_intercept_boundary_reaches_exact_zero():
    rng = np.random.default_rng(2)
    rows = []
    for i in range(40):
        e = rng.standard_normal(4)
        e = e - 0.9 * e.mean()  # strongly negative within-participant correlation
        for j in range(4):
            rows.append((f"P{i}", "a" if i % 2 else "b", f"v{j}", 3 + e[j]))
    data = pd.DataFrame(rows, columns=["id", "arm", "visit", "y"])
    fit = fit_trial_model(data, **ARGS, covariance="random_intercept")
    comp = fit.variance_components.set_index("parameter")["estimate"]
    assert comp["subject_intercept_variance"] == 0.0
    assert "subject intercept variance estimated at 0 (boundary)" in fit.warnings
    assert fit.converged
    # On the boundary the model is OLS: residual variance = RSS / (N - p).
    mf = build_model_frame(data, **ARGS)
    beta, rss, *_ = np.linalg.lstsq(mf.X, mf.y, rcond=None)
    assert comp["residual_variance"] == pytest.approx(rss[0] / (mf.y.size - mf.X.shape[1]), rel=1e-10)
    np.testing.assert_allclose(fit.coefficients["estimate"], beta, rtol=1e-9, atol=1e-12)


def test_saturated_structures_agree_for_two_visits():
    data = simulate(k=2, seed=4)
    fits = {
        c: fit_trial_model(data, **ARGS, covariance=c)
        for c in [
            "unstructured",
            "heterogeneous_compound_symmetry",
            "heterogeneous_ar1",
            "heterogeneous_toeplitz",
        ]
    }
    ll = [f.loglik for f in fits.values()]
    np.testing.assert_allclose(ll, ll[0], rtol=1e-9)
    # homogeneous two-visit structures are all compound symmetry
    homo = [
        fit_trial_model(data, **ARGS, covariance=c).loglik for c in ["compound_symmetry", "ar1", "toeplitz"]
    ]
    np.testing.assert_allclose(homo, homo[0], rtol=1e-9)


def test_compound_symmetry_equals_random_intercept_when_correlation_positive():
    data = simulate(seed=8, rho=0.6)
    cs = fit_trial_model(data, **ARGS, covariance="compound_symmetry")
    ri = fit_trial_model(data, **ARGS, covariance="random_intercept")
    assert cs.loglik == pytest.approx(ri.loglik, rel=1e-10)
    np.testing.assert_allclose(cs.covariance, ri.covariance, rtol=1e-5)
    np.testing.assert_allclose(cs.contrasts["se"], ri.contrasts["se"], rtol=1e-5)


def test_row_order_does_not_change_the_fit():
    data = simulate(seed=9)
    a = fit_trial_model(data, **ARGS, covariates=["age"])
    b = fit_trial_model(data.sample(frac=1.0, random_state=3), **ARGS, covariates=["age"])
    # The optimizer stops at a Newton decrement < 1e-12, so estimates and SEs agree far below
    # 1e-7; df rest on a finite-difference Hessian (Richardson, error ~1e-7 relative).
    for name in ["coefficients", "contrasts"]:
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x[["estimate", "se"]], y[["estimate", "se"]], rtol=1e-7)
        np.testing.assert_allclose(x["df"], y["df"], rtol=1e-5)


# ----- inference ---------------------------------------------------------------------------
def test_single_visit_reml_is_ols_with_residual_df():
    data = simulate(k=1, seed=6)
    fit = fit_trial_model(data, **ARGS, covariates=["age"], covariance="unstructured")
    mf = build_model_frame(data, **ARGS, covariates=["age"])
    n, p = mf.X.shape
    beta, rss, *_ = np.linalg.lstsq(mf.X, mf.y, rcond=None)
    cov = rss[0] / (n - p) * np.linalg.inv(mf.X.T @ mf.X)
    np.testing.assert_allclose(fit.coefficients["estimate"], beta, rtol=1e-10)
    np.testing.assert_allclose(fit.coefficients["se"], np.sqrt(np.diag(cov)), rtol=1e-8)
    # Satterthwaite reproduces the exact residual df of a linear model.
    np.testing.assert_allclose(fit.coefficients["df"], n - p, rtol=1e-6)


def test_baseline_adjusted_two_visits_is_ancova():
    data = simulate(k=2, seed=12, missing=0.1)
    fit = fit_trial_model(data, **ARGS, covariates=["age"], baseline_adjusted=True)
    wide = data.pivot(index="id", columns="visit", values="y").dropna()
    info = data.drop_duplicates("id").set_index("id").loc[wide.index]
    X = np.column_stack([np.ones(len(wide)), (info["arm"] == "prt").astype(float), wide["v0"], info["age"]])
    beta, rss, *_ = np.linalg.lstsq(X, wide["v1"].to_numpy(), rcond=None)
    n, p = X.shape
    se = np.sqrt(np.diag(rss[0] / (n - p) * np.linalg.inv(X.T @ X)))
    coef = fit.coefficients.set_index("term")
    assert list(coef.index) == ["(Intercept)", "arm[prt]", "baseline_y", "age"]
    np.testing.assert_allclose(coef["estimate"], beta, rtol=1e-9)
    np.testing.assert_allclose(coef["se"], se, rtol=1e-8)
    assert fit.info["formula"] == "y ~ arm + baseline_y + age"
    assert fit.contrasts["estimate"].iloc[0] == pytest.approx(beta[1], rel=1e-9)
    pd.testing.assert_frame_equal(fit.change_contrasts, fit.contrasts)
    assert list(fit.marginal_means["visit"]) == ["v1", "v1"]


def test_change_contrast_is_the_interaction_coefficient():
    data = simulate(seed=13)
    fit = fit_trial_model(data, **ARGS, covariates=["age", "sex"])
    coef = fit.coefficients.set_index("term")
    cc = fit.change_contrasts.set_index("visit")
    for v in ["v1", "v2"]:
        row = coef.loc[f"arm[prt]:visit[{v}]"]
        assert cc.loc[v, "estimate"] == pytest.approx(row["estimate"], rel=1e-12)
        assert cc.loc[v, "se"] == pytest.approx(row["se"], rel=1e-12)
        assert cc.loc[v, "df"] == pytest.approx(row["df"], rel=1e-9)


def test_marginal_means_use_emmeans_reference_grid():
    data = simulate(seed=14)
    fit = fit_trial_model(data, **ARGS, covariates=["age", "sex"])
    b = fit.coefficients.set_index("term")["estimate"]
    age_mean = data.loc[data["y"].notna(), "age"].mean()
    expected = (
        b["(Intercept)"]
        + b["arm[prt]"]
        + b["visit[v2]"]
        + b["arm[prt]:visit[v2]"]
        + b["age"] * age_mean
        + 0.5 * b["sex[male]"]
    )
    mm = fit.marginal_means.set_index(["arm", "visit"])
    assert mm.loc[("prt", "v2"), "estimate"] == pytest.approx(expected, rel=1e-12)
    observed = data.dropna(subset=["y"]).groupby(["arm", "visit"]).size()
    assert (mm["n_observed"] == observed.reindex(mm.index)).all()


def test_satterthwaite_df_matches_dense_computation_in_another_parametrisation():
    # Satterthwaite df are invariant to the covariance parametrisation at an interior optimum:
    # recompute them with V's own entries as parameters, dense algebra and finite differences.
    data = simulate(seed=15, n_per_arm=(15, 15))
    fit = fit_trial_model(data, **ARGS, covariance="unstructured")
    mf = build_model_frame(data, **ARGS)
    V0 = fit.covariance.to_numpy()
    k = 3
    il = np.tril_indices(k)

    def V_of(t):
        V = np.zeros((k, k))
        V[il] = t
        return V + V.T - np.diag(np.diag(V))

    order = np.lexsort((mf.visit_code, mf.subject_code))

    def dev_and_C(t):
        _, blocks = _subject_blocks(mf, V_of(t))
        y, X = mf.y[order], mf.X[order]
        Vfull = np.zeros((y.size, y.size))
        s = 0
        for blk in blocks:
            Vfull[s : s + len(blk), s : s + len(blk)] = blk
            s += len(blk)
        Vinv = np.linalg.inv(Vfull)
        xtvx = X.T @ Vinv @ X
        return dense_deviance(y, X, blocks, True), np.linalg.inv(xtvx)

    t0 = V0[il]
    n = t0.size
    h = 1e-4 * np.maximum(np.abs(t0), 0.1)
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):

            def f(a, b):
                t = t0.copy()
                t[i] += a * h[i]
                t[j] += b * h[j]
                return dev_and_C(t)[0]

            H[i, j] = H[j, i] = (f(1, 1) - f(1, -1) - f(-1, 1) + f(-1, -1)) / (4 * h[i] * h[j])
    A = 2 * np.linalg.inv(H)
    C0 = dev_and_C(t0)[1]
    L = fit.contrasts.shape[0]
    dC = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = h[j]
        dC.append((dev_and_C(t0 + e)[1] - dev_and_C(t0 - e)[1]) / (2 * h[j]))
    terms = list(fit.coefficients["term"])
    for term in ["arm[prt]", "arm[prt]:visit[v2]"]:
        weights = np.zeros(len(terms))
        weights[terms.index(term)] = 1
        g = np.array([weights @ d @ weights for d in dC])
        df = 2 * (weights @ C0 @ weights) ** 2 / (g @ A @ g)
        got = fit.coefficients.set_index("term").loc[term, "df"]
        assert got == pytest.approx(df, rel=1e-3)
    assert L == 3


def test_residual_df_method():
    data = simulate(seed=16)
    fit = fit_trial_model(data, **ARGS, df_method="residual")
    n, p = fit.n_obs, len(fit.coefficients)
    assert (fit.coefficients["df"] == n - p).all()
    assert (fit.contrasts["df"] == n - p).all()


def test_ml_and_reml_information_criteria():
    data = simulate(seed=17)
    reml = fit_trial_model(data, **ARGS, covariance="ar1")
    ml = fit_trial_model(data, **ARGS, covariance="ar1", method="ml")
    q, p = 2, len(ml.coefficients)
    assert reml.aic == pytest.approx(-2 * reml.loglik + 2 * q)
    assert ml.aic == pytest.approx(-2 * ml.loglik + 2 * (q + p))
    assert ml.bic == pytest.approx(-2 * ml.loglik + (q + p) * np.log(ml.n_subjects))
    assert ml.loglik > reml.loglik  # ML drops the log|X'V^-1X| penalty


def test_kenward_roger_adjusts_se_upwards_and_is_parametrisation_consistent():
    data = simulate(seed=18, rho=0.6)
    sat = fit_trial_model(data, **ARGS, covariance="random_intercept")
    kr = fit_trial_model(data, **ARGS, covariance="random_intercept", df_method="kenward_roger_expected")
    np.testing.assert_allclose(kr.coefficients["estimate"], sat.coefficients["estimate"], rtol=1e-12)
    # Phi_A - Phi is positive semi-definite for linear covariance structures (KR 1997)
    assert np.all(kr.contrasts["se"] >= sat.contrasts["se"] - 1e-12)
    assert np.linalg.eigvalsh(kr.vcov.to_numpy() - sat.vcov.to_numpy()).min() > -1e-12
    # CS (SAS type=CS) has the same linear parametrisation as the random intercept: with a
    # positive correlation both give the same model and the same KR numbers.
    cs = fit_trial_model(data, **ARGS, covariance="compound_symmetry", df_method="kenward_roger_expected")
    np.testing.assert_allclose(cs.contrasts[["se", "df"]], kr.contrasts[["se", "df"]], rtol=1e-5)


def test_kenward_roger_needs_reml():
    with pytest.raises(ValueError, match="REML"):
        fit_trial_model(simulate(), **ARGS, method="ml", df_method="kenward_roger")


# ----- tables and input handling -----------------------------------------------------------
def test_tables_have_the_documented_columns_and_terms():
    data = simulate(arms=("usual_care", "placebo", "prt"), n_per_arm=(8, 9, 10))
    fit = fit_trial_model(
        data,
        **ARGS,
        covariates=["age", "sex"],
        reference_arm="usual_care",
        arm_levels=["prt", "placebo", "usual_care"],
    )
    assert isinstance(fit, TrialModelResult)
    assert list(fit.marginal_means.columns) == MEANS_COLUMNS
    assert list(fit.contrasts.columns) == CONTRAST_COLUMNS
    assert list(fit.change_contrasts.columns) == CONTRAST_COLUMNS
    assert list(fit.coefficients["term"][:3]) == ["(Intercept)", "arm[prt]", "arm[placebo]"]
    assert "arm[prt]:visit[v2]" in set(fit.coefficients["term"])
    assert set(fit.contrasts["reference"]) == {"usual_care"}
    assert len(fit.contrasts) == 2 * 3 and len(fit.change_contrasts) == 2 * 2
    assert fit.info["formula"] == "y ~ arm * visit + age + sex"
    assert fit.info["levels"]["arm"] == ["usual_care", "prt", "placebo"]
    assert "Trial model" in fit.summary()
    assert list(fit.covariance.index) == ["v0", "v1", "v2"]


def test_single_arm_returns_means_and_empty_contrasts():
    data = simulate(arms=("clinic",), n_per_arm=(20,))
    fit = fit_trial_model(data, **ARGS)
    assert len(fit.marginal_means) == 3
    assert fit.contrasts.empty and list(fit.contrasts.columns) == CONTRAST_COLUMNS
    assert fit.change_contrasts.empty and list(fit.change_contrasts.columns) == CONTRAST_COLUMNS
    assert fit.info["formula"] == "y ~ visit"


def test_missing_covariate_rows_are_dropped_with_a_count():
    data = simulate(seed=19)
    data.loc[[0, 1, 5], "age"] = np.nan
    n_dropped = int(data.loc[[0, 1, 5], "y"].notna().sum())
    fit = fit_trial_model(data, **ARGS, covariates=["age"])
    assert any(w.startswith(f"{n_dropped} row(s)") and "age" in w for w in fit.warnings)
    assert fit.n_obs == int(data["y"].notna().sum()) - n_dropped


def test_categorical_and_bool_covariates():
    data = simulate(seed=20)
    data["sex"] = pd.Categorical(data["sex"], categories=["male", "female"])
    data["smoker"] = data["id"].str[-1].isin(["1", "4", "7"])
    fit = fit_trial_model(data, **ARGS, covariates=["sex", "smoker"])
    terms = set(fit.coefficients["term"])
    assert {"sex[female]", "smoker[True]"} <= terms


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(outcome="pain"), "not in the data"),
        (dict(covariance="banded"), "covariance='banded'"),
        (dict(method="bayes"), "method="),
        (dict(reference_arm="surgery"), "reference_arm='surgery'"),
        (dict(visit_levels=["v0", "v1", "v2", "v3"]), "no observed"),
        (dict(arm_levels=["control"]), "not in arm_levels"),
        (dict(baseline_visit="v9"), "baseline_visit='v9'"),
        (dict(standardizer="sd"), "standardizer"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, message):
    data = simulate()
    args = {**ARGS, **kwargs}
    with pytest.raises(ValueError, match=message):
        fit_trial_model(data, **args)


def test_bad_data_raises_a_clear_error():
    data = simulate()
    with pytest.raises(ValueError, match="repeat a participant x visit"):
        fit_trial_model(pd.concat([data, data.iloc[[0]]]), **ARGS)
    text = data.assign(y=data["y"].astype(str))
    with pytest.raises(ValueError, match="not numbers"):
        fit_trial_model(text, **ARGS)
    no_arm = data.copy()
    no_arm.loc[3, "arm"] = None
    with pytest.raises(ValueError, match="missing value"):
        fit_trial_model(no_arm, **ARGS)
    empty_cell = data[~((data["arm"] == "prt") & (data["visit"] == "v2"))]
    with pytest.raises(ValueError, match="arm x visit cell"):
        fit_trial_model(empty_cell, **ARGS)
    with pytest.raises(ValueError, match="rank"):
        fit_trial_model(data.assign(age2=2 * data["age"]), **ARGS, covariates=["age", "age2"])


# ----- invariances and robustness ------------------------------------------------------------
@pytest.mark.parametrize("covariance", ["unstructured", "random_intercept", "heterogeneous_ar1"])
def test_affine_transformation_of_the_outcome(covariance):
    # y -> a + b y: contrasts scale by b, SEs by |b|, df and t are unchanged (the covariance
    # parameters are scale-equivariant) and the REML log-likelihood shifts by -(N - p) log|b|
    # (the Jacobian of the transformation of the N - p error contrasts).
    data = simulate(seed=21)
    base = fit_trial_model(data, **ARGS, covariates=["age"], covariance=covariance)
    moved = fit_trial_model(
        data.assign(y=10 - 3 * data["y"]), **ARGS, covariates=["age"], covariance=covariance
    )
    np.testing.assert_allclose(moved.contrasts["estimate"], -3 * base.contrasts["estimate"], rtol=1e-6)
    np.testing.assert_allclose(moved.contrasts["se"], 3 * base.contrasts["se"], rtol=1e-6)
    np.testing.assert_allclose(moved.contrasts["df"], base.contrasts["df"], rtol=1e-5)
    np.testing.assert_allclose(moved.covariance, 9 * base.covariance, rtol=1e-6)
    n, p = base.n_obs, len(base.coefficients)
    assert moved.loglik == pytest.approx(base.loglik - (n - p) * np.log(3), rel=1e-9)
    # Hedges g is scale-free (sign follows the outcome)
    np.testing.assert_allclose(moved.contrasts["hedges_g"], -base.contrasts["hedges_g"], rtol=1e-6)


def test_non_convergence_is_reported(monkeypatch):
    import prt_outcomes.models.fit as engine

    monkeypatch.setattr(engine, "_GRADIENT_TOLERANCE", -1.0)
    monkeypatch.setattr(engine, "_DECREMENT_TOLERANCE", -1.0)
    fit = fit_trial_model(simulate(seed=22), **ARGS, covariance="ar1")
    assert fit.converged is False
    assert any("fallback optimizer used" in w for w in fit.warnings)
    assert any("did not converge" in w for w in fit.warnings)
    assert "did not converge" in fit.summary()


def test_nullable_and_numeric_codes():
    data = simulate(seed=23)
    data["y"] = data["y"].astype("Float64")
    data["age"] = data["age"].round().astype("Int64")
    data["arm"] = data["arm"].map({"control": 1, "prt": 2})
    data["visit"] = data["visit"].str[1:].astype(int)
    fit = fit_trial_model(data, **ARGS, covariates=["age"], reference_arm=2)
    assert list(fit.coefficients["term"][:2]) == ["(Intercept)", "arm[1]"]
    assert list(fit.marginal_means["visit"][:3]) == [0, 1, 2]
    assert fit.info["reference_arm"] == 2


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger", "kenward_roger_expected"])
def test_complete_balanced_unstructured_reduces_to_two_sample_t(df_method):
    # Complete, balanced data with arm x visit means and an unstructured covariance: GLS = OLS,
    # the REML covariance is the pooled within-arm sample covariance S (divisor N - 2), so each
    # visit contrast is the exact two-sample t-test: SE^2 = S_vv (1/n1 + 1/n2), df = N - 2.
    # Kenward-Roger adds no bias correction here (beta_hat does not depend on V, and S is
    # unbiased), so its SE is the unadjusted one.
    data = simulate(n_per_arm=(9, 13), k=3, seed=24, missing=0.0)
    fit = fit_trial_model(data, **ARGS, covariance="unstructured", df_method=df_method)
    wide = data.pivot(index="id", columns="visit", values="y")
    arm = data.drop_duplicates("id").set_index("id")["arm"].loc[wide.index]
    a, b = wide[arm == "prt"], wide[arm == "control"]
    n1, n2 = len(a), len(b)
    S = ((n1 - 1) * a.cov() + (n2 - 1) * b.cov()) / (n1 + n2 - 2)
    np.testing.assert_allclose(fit.covariance.to_numpy(), S.to_numpy(), rtol=1e-7)
    c = fit.contrasts.set_index("visit")
    for v in ["v0", "v1", "v2"]:
        assert c.loc[v, "estimate"] == pytest.approx(a[v].mean() - b[v].mean(), rel=1e-9)
        assert c.loc[v, "se"] == pytest.approx(np.sqrt(S.loc[v, v] * (1 / n1 + 1 / n2)), rel=1e-7)
        assert c.loc[v, "df"] == pytest.approx(n1 + n2 - 2, rel=1e-5)


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger"])
@pytest.mark.parametrize("factor", [1e-6, 1e6])
def test_df_do_not_depend_on_the_outcome_units(df_method, factor):
    # Finite-difference steps work on scale-free parameters, so extreme units change nothing.
    data = simulate(seed=25)
    for covariance in ["random_intercept", "unstructured"]:
        base = fit_trial_model(data, **ARGS, covariance=covariance, df_method=df_method)
        scaled = fit_trial_model(
            data.assign(y=factor * data["y"]), **ARGS, covariance=covariance, df_method=df_method
        )
        np.testing.assert_allclose(scaled.contrasts["df"], base.contrasts["df"], rtol=1e-5)
        np.testing.assert_allclose(scaled.contrasts["se"], factor * base.contrasts["se"], rtol=1e-6)
        assert scaled.warnings == base.warnings


def test_visits_without_this_outcome_can_be_left_out_of_visit_levels():
    data = simulate(k=4, seed=26)
    data.loc[data["visit"] == "v3", "y"] = np.nan  # outcome not collected at v3
    with pytest.raises(ValueError, match=r"visit\(s\) \['v3'\] have no observed"):
        fit_trial_model(data, **ARGS)
    fit = fit_trial_model(data, **ARGS, visit_levels=["v0", "v1", "v2"])
    assert list(fit.covariance.index) == ["v0", "v1", "v2"]
    with pytest.raises(ValueError, match="not in visit_levels"):
        fit_trial_model(data, **ARGS, visit_levels=["v0", "v1"])


def test_visits_before_the_baseline_visit():
    data = simulate(k=4, seed=27)  # v0 = screening, v1 = baseline
    fit = fit_trial_model(data, **ARGS, baseline_visit="v1")
    assert list(fit.change_contrasts["visit"]) == ["v2", "v3"]
    coef = fit.coefficients.set_index("term")
    expected = coef.loc["arm[prt]:visit[v3]", "estimate"] - coef.loc["arm[prt]:visit[v1]", "estimate"]
    assert fit.change_contrasts.set_index("visit").loc["v3", "estimate"] == pytest.approx(expected, rel=1e-12)
    adjusted = fit_trial_model(data, **ARGS, baseline_visit="v1", baseline_adjusted=True)
    assert list(adjusted.contrasts["visit"]) == ["v2", "v3"]
    assert any("before the baseline visit" in w for w in adjusted.warnings)


def test_info_is_json_serialisable():
    import json

    data = simulate(seed=28)
    data["arm"] = data["arm"].map({"control": 1, "prt": 2})
    fit = fit_trial_model(data, **ARGS, covariates=["sex"])
    text = json.dumps(fit.info)
    assert '"reference_arm": 1' in text


def test_moment_and_row_evaluations_agree(monkeypatch):
    # Large patterns are evaluated from per-pattern moments, small ones from their rows; both
    # must give the same deviance, GLS estimate, gradient matrices and design products.
    data = simulate(n_per_arm=(30, 30), seed=29, missing=0.2)
    mf = build_model_frame(data, **ARGS, covariates=["age", "sex"])
    V = np.array([[2.0, 0.8, 0.3], [0.8, 1.5, 0.6], [0.3, 0.6, 2.5]])
    results = {}
    for use in (True, False):
        monkeypatch.setattr(PatternData, "_uses_moments", staticmethod(lambda pat, use=use: use))
        pdata = PatternData.from_arrays(mf.y, mf.X, subject=mf.subject_code, visit=mf.visit_code, n_visits=3)
        ev = pdata.evaluate(V, reml=True, gradient=True)
        H = sum(h[3].sum() for h in pdata.weighted_design_products(V))
        results[use] = (ev.deviance, ev.beta, ev.g_fixed, ev.g_resid, H)
    for a, b in zip(results[True], results[False]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_participant_in_two_arms_is_reported():
    data = simulate(seed=30)
    first = data["id"] == data["id"].iloc[0]
    other_arm = "prt" if data.loc[first, "arm"].iloc[0] == "control" else "control"
    data.loc[first & (data["visit"] == "v2"), "arm"] = other_arm
    fit = fit_trial_model(data, **ARGS)
    assert any("more than one arm" in w for w in fit.warnings)


# ----- input row order -------------------------------------------------------------------------
@pytest.mark.parametrize("covariance", ["unstructured", "random_intercept", "heterogeneous_ar1"])
@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger"])
def test_shuffled_rows_give_bit_identical_results(covariance, df_method):
    """The engine sorts rows canonically (participant, visit position) before any sum, so the
    order of the input rows cannot move a result even in the last bit (it used to move df in
    the 9th-10th digit, and heterogeneous AR(1) df by 3e-6)."""
    data = simulate(n_per_arm=(30, 34), k=4, seed=3)
    kwargs = dict(ARGS, covariates=["age", "sex"], covariance=covariance, df_method=df_method)
    fit = fit_trial_model(data, **kwargs)
    for seed in range(3):
        other = fit_trial_model(data.sample(frac=1, random_state=seed), **kwargs)
        for table in (
            "coefficients",
            "marginal_means",
            "contrasts",
            "change_contrasts",
            "covariance",
            "vcov",
        ):
            pd.testing.assert_frame_equal(getattr(other, table), getattr(fit, table), check_exact=True)
        assert other.loglik == fit.loglik
