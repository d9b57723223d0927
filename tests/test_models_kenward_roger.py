"""Kenward-Roger internals: SAS-style covariance parametrisations and a dense re-computation.

The dense reference builds the full N x N block-diagonal V and its derivatives and applies the
Kenward & Roger (1997) formulas literally (with pbkrtest's expected information and its
``Lb_ddf`` df), so it checks the pattern-wise sums of the engine. The random-intercept case is
also checked against pbkrtest itself in tests/test_models_reference_r.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from model_sims import ARGS, simulate
from prt_outcomes.models import COVARIANCE_STRUCTURES, fit_trial_model
from prt_outcomes.models.design import build_model_frame
from prt_outcomes.models.kenward_roger import _derivatives, natural_parametrisation


@pytest.mark.parametrize("structure", COVARIANCE_STRUCTURES)
def test_parametrisation_round_trip(structure):
    data = simulate(k=4, seed=40)
    if structure == "spatial_exponential":  # its times are the visit values: make them numeric
        data["visit"] = data["visit"].str[1:].astype(float)
    fit = fit_trial_model(data, **ARGS, covariance=structure)
    V = fit.covariance.to_numpy()
    to_tau, from_tau, linear = natural_parametrisation(structure, 4)
    np.testing.assert_allclose(from_tau(to_tau(V)), V, rtol=1e-10, atol=1e-12)
    d1, d2 = _derivatives(from_tau, to_tau(V), linear)
    if linear:
        assert not d2.any()


def test_ar1_derivatives_are_analytic():
    to_tau, from_tau, linear = natural_parametrisation("ar1", 4)
    tau = np.array([1.3, 0.4])
    d1, d2 = _derivatives(from_tau, tau, linear)
    lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    np.testing.assert_allclose(d1[0], 0.4**lag, rtol=1e-8)
    np.testing.assert_allclose(d1[1], 1.3 * lag * 0.4 ** np.maximum(lag - 1, 0), rtol=1e-8, atol=1e-10)
    expected = 1.3 * lag * (lag - 1) * 0.4 ** np.maximum(lag - 2, 0)
    np.testing.assert_allclose(d2[1, 1], expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d2[0, 1], lag * 0.4 ** np.maximum(lag - 1, 0), rtol=1e-6, atol=1e-8)


def _dense_kr(mf, V, structure):
    order = np.lexsort((mf.visit_code, mf.subject_code))
    X, subj, vis = mf.X[order], mf.subject_code[order], mf.visit_code[order]
    N, p = X.shape
    same = subj[:, None] == subj[None, :]

    def big(M):
        return np.where(same, M[np.ix_(vis, vis)], 0.0)

    to_tau, from_tau, linear = natural_parametrisation(structure, V.shape[0])
    tau = to_tau(V)
    d1, d2 = _derivatives(from_tau, tau, linear)
    Sigma = big(V)
    Si = np.linalg.inv(Sigma)
    Phi = np.linalg.inv(X.T @ Si @ X)
    G = [big(d) for d in d1]
    q = len(G)
    P = [X.T @ Si @ g @ Si @ X for g in G]
    Q = [[X.T @ Si @ G[i] @ Si @ G[j] @ Si @ X for j in range(q)] for i in range(q)]
    R = [[X.T @ Si @ big(d2[i, j]) @ Si @ X for j in range(q)] for i in range(q)]
    Pm = Si - Si @ X @ Phi @ X.T @ Si
    info = np.array([[0.5 * np.trace(Pm @ G[i] @ Pm @ G[j]) for j in range(q)] for i in range(q)])
    W = np.linalg.inv(info)
    U = sum(W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j] - 0.25 * R[i][j]) for i in range(q) for j in range(q))
    PhiA = Phi + 2 * Phi @ U @ Phi
    return Phi, PhiA, P, W


@pytest.mark.parametrize("structure", ["unstructured", "ar1", "heterogeneous_compound_symmetry"])
def test_engine_matches_dense_kenward_roger(structure):
    data = simulate(n_per_arm=(8, 9), k=3, seed=41, missing=0.25)
    fit = fit_trial_model(
        data, **ARGS, covariates=["age"], covariance=structure, df_method="kenward_roger_expected"
    )
    mf = build_model_frame(data, **ARGS, covariates=["age"])
    Phi, PhiA, P, W = _dense_kr(mf, fit.covariance.to_numpy(), structure)
    np.testing.assert_allclose(fit.vcov.to_numpy(), PhiA, rtol=1e-7, atol=1e-12)
    terms = list(fit.coefficients["term"])
    for term in ["arm[prt]", "arm[prt]:visit[v2]", "age"]:
        weights = np.zeros(len(terms))
        weights[terms.index(term)] = 1.0
        g = np.array([weights @ Phi @ Pi @ Phi @ weights for Pi in P])
        df = 2 * (weights @ Phi @ weights) ** 2 / (g @ W @ g)
        row = fit.coefficients.set_index("term").loc[term]
        assert row["se"] == pytest.approx(np.sqrt(weights @ PhiA @ weights), rel=1e-7)
        assert row["df"] == pytest.approx(df, rel=1e-6)
