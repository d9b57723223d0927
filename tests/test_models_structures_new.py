"""Ante-dependence, spatial exponential and per-group covariance structures (issue 11).

What is checked, and against what:

* ``d_relative`` of every new structure against a central finite-difference Jacobian of
  ``relative`` (the engine's Satterthwaite df and gradients use it): step 1e-6, so truncation
  (~h^2) and rounding (~eps/h ~ 1e-10) errors are far below the 1e-7 tolerance.
* Identities: ante-dependence with equal adjacent correlations is AR(1); over 2 visits it is
  compound symmetry; spatial exponential at coordinates 0..k-1 is AR(1) with ``rho =
  exp(-1/range)``; Euclidean distances of 2-d coordinates.
* The grouped likelihood against a textbook dense one (a loop over participants, numpy
  ``slogdet``/``solve``), deviance to 1e-11 relative (rounding of sums of ~500 terms) and its
  gradient against finite differences; and a grouped fit against separate fits per group
  when the mean model is separate per group: the REML (and ML) deviance then is the sum of the
  groups' deviances exactly (block-diagonal V and X), so the maximised log-likelihoods must add
  up, to 1e-8 (each optimised to a projected gradient < 1e-5). The separate fits use the
  ungrouped engine, itself checked against SAS and nlme elsewhere.
* SAS PROC MIXED on mmrm's ``fev_data`` (../shared/data/mmrm_fev_data; skipped when absent):
  outputs in github.com/openpharma/mmrm ``design/SAS/`` (commit
  ec290b2695b25057b31bc98e27c39d3f498cd0d6), the code in ``sas_adh.R``, ``sas_sp_exp.R``,
  ``sas_cs.R`` beside them: ``sas_adh_{reml,ml}.txt`` (TYPE=ANTE(1), intercept-only model),
  ``sas_group_adh_{reml,ml}.txt`` (the same with GROUP=ARMCD), ``sas_sp_exp_{reml,ml}.txt``
  (SP(EXP)(visitn)), ``sas_sp_exp2_{reml,ml}.txt`` (SP(EXP)(visitn visitn2): 537 distinct
  2-d coordinates, so k = 537 "visits"), ``sas_group_cs_reml.txt`` (CS, GROUP=ARMCD),
  ``sas_resid_un_grp.txt`` (``FEV1 = ARMCD``, TYPE=UN GROUP=ARMCD). SAS prints the -2 log
  likelihood of each iteration to 8 decimals: the engine's optimum must be at most 1e-6 above
  SAS's last iterate and at most 5e-5 below it (SAS stops on its relative-Hessian criterion,
  1.3e-5 above the optimum at most here). Estimates: SAS prints 4-5 significant digits and its
  last iterate is that close to the optimum along flat directions (SP(EXP) range: SAS 1.1751,
  tight optimum 1.17567), so variances, range and SEs to 1e-3 relative, correlations and
  intercepts to 1e-3 absolute, covariances to 1e-3 x sqrt(v_aa v_bb). The intercept's
  Satterthwaite df, computed here from ``d_relative`` and ``pattern_products`` (textbook formula),
  within 1 of SAS's printed integer (as tests/test_models_reference_sas.py).
* nlme::gls with ``corExp(form = ~ time | id)`` (no nugget) on a simulated trial with
  unequal visit spacing (0, 0.5, 1, 2, 3, 6, 12 months) and on the antidepressant trial with
  actual days (RELDAYS, 46 distinct days): values stored in
  tests/references/models/structures/ref_gls_spatial.csv by ``gls_spatial.R`` (beside it; rerun
  live when Rscript is installed). nlme's optimizer stops within ~1e-9 of the same REML/ML
  maximum: log-likelihood to 1e-8 relative (and never more than 1e-6 below nlme's), estimates to
  1e-4 SE, SEs and range to 1e-4 relative.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from prt_outcomes.models.covariance import COVARIANCE_REGISTRY, make_structure
from prt_outcomes.models.likelihood import PatternData

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "references" / "models" / "structures"
FEV = ROOT.parent / "shared" / "data" / "mmrm_fev_data" / "fev_data.csv"
ANTIDEP = ROOT.parent / "shared" / "data" / "rbmi_antidepressant" / "antidepressant_chapter15.csv"
SIM = HERE / "sim_spatial_unequal.csv"
REF_GLS = HERE / "ref_gls_spatial.csv"
LOG_2PI = np.log(2 * np.pi)

needs_fev = pytest.mark.skipif(not FEV.exists(), reason="../shared/data/mmrm_fev_data not available")
needs_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")


# ------------------------------------------------------------------------------ a small fitter
def _empirical(pdata):
    """Pairwise-complete residual covariance per group, nudged positive definite (a start only)."""
    X = np.vstack([p.X.reshape(-1, pdata.p) for p in pdata.patterns])
    y = np.concatenate([p.y.reshape(-1) for p in pdata.patterns])
    resid = pdata.residual_matrix(np.linalg.lstsq(X, y, rcond=None)[0])
    groups = pdata.residual_groups()
    out = []
    for g in range(pdata.n_groups):
        r = resid[groups == g]
        emp = pd.DataFrame(r).cov(min_periods=3).to_numpy().copy()
        diag = np.diag(emp).copy()
        diag[~np.isfinite(diag) | (diag <= 0)] = np.nanmean(r**2)
        emp[~np.isfinite(emp)] = 0.0
        emp[np.diag_indices_from(emp)] = diag
        w, v = np.linalg.eigh(emp)
        emp = (v * np.clip(w, 1e-3 * diag.mean(), None)) @ v.T
        out.append((emp + emp.T) / 2)
    return np.array(out) if pdata.n_groups > 1 else out[0]


def _fit(pdata, structure, reml=True):
    """(RE)ML with sigma2 profiled, by L-BFGS-B on the analytic gradient: independent of fit.py's
    optimizer, so these tests check the structures and the likelihood, not fit_trial_model."""
    dof = pdata.n_obs - (pdata.p if reml else 0)

    def objective(phi):
        try:
            ev = pdata.evaluate(structure.relative(phi), reml=reml, gradient=True)
        except np.linalg.LinAlgError:
            return 1e100, np.zeros_like(phi)
        s = ev.quad / dof
        dev = dof * (LOG_2PI + np.log(s) + 1) + ev.logdet_v + (ev.logdet_xtvx if reml else 0.0)
        G = ev.g_fixed - ev.g_resid / s
        dR = structure.d_relative(phi)
        grad = np.einsum("gab,jgab->j", G, dR) if G.ndim == 3 else np.einsum("ab,jab->j", G, dR)
        return dev, grad

    best = None
    for start in (structure.start(_empirical(pdata)), structure.neutral_start()):
        res = optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=structure.bounds(),
            options=dict(maxiter=5000, ftol=1e-15, gtol=1e-10, maxcor=30),
        )
        if best is None or res.fun < best.fun:
            best = res
    phi = best.x
    sigma2 = pdata.evaluate(structure.relative(phi), reml=reml).quad / dof
    V = sigma2 * structure.relative(phi)
    ev = pdata.evaluate(V, reml=reml)
    C = np.linalg.inv(ev.xtvx)
    grad = objective(phi)[1]
    for j, (lo, hi) in enumerate(structure.bounds()):  # projected: a bound holds against it
        if (lo is not None and phi[j] <= lo and grad[j] > 0) or (
            hi is not None and phi[j] >= hi and grad[j] < 0
        ):
            grad[j] = 0.0
    return dict(
        n_obs=pdata.n_obs,
        m2ll=ev.deviance,
        beta=ev.beta,
        C=C,
        se=np.sqrt(np.diag(C)),
        phi=phi,
        sigma2=sigma2,
        V=V,
        grad=grad,
    )


def _satterthwaite_df(pdata, structure, fit, reml, L):
    """Textbook Satterthwaite df of ``L beta`` (SAS DDFM=SATTERTH): ``2 (L C L')^2 / (g' A g)``,
    ``A = 2 H^-1`` the inverse observed information of (phi, log sigma2), ``g_j = d(L C L')/dtheta_j
    = L C (sum_p <dV_j, H_p>) C L'`` from :meth:`PatternData.pattern_products`; the Hessian by
    central differences of the analytic gradient. It uses ``structure.d_relative`` throughout."""
    theta = np.concatenate((fit["phi"], [np.log(fit["sigma2"])]))

    def V_of(t):
        return np.exp(t[-1]) * structure.relative(t[:-1])

    def dV_of(t):
        return np.concatenate((np.exp(t[-1]) * structure.d_relative(t[:-1]), V_of(t)[None]))

    def grad(t):
        return pdata.evaluate(V_of(t), reml=reml, gradient=True).gradient(dV_of(t))

    q = theta.size
    H = np.empty((q, q))
    for j in range(q):
        h = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(q)
        e[j] = h
        H[:, j] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    A = 2 * np.linalg.inv((H + H.T) / 2)
    V, dV = V_of(theta), dV_of(theta)
    C = np.linalg.inv(pdata.evaluate(V, reml=reml).xtvx)
    g = np.zeros(q)
    for group, visits, _n, _vinv, Hp in pdata.pattern_products(V):
        ix = np.ix_(visits, visits)
        for j in range(q):
            dVj = dV[j][group] if dV.ndim == 4 else dV[j]
            M = np.einsum("ab,abpq->pq", dVj[ix], Hp)
            g[j] += L @ C @ M @ C @ L
    return 2 * (L @ C @ L) ** 2 / (g @ A @ g)


def _fd_jacobian(func, phi, h=1e-6):
    out = []
    for j in range(phi.size):
        up, down = phi.copy(), phi.copy()
        up[j] += h
        down[j] -= h
        out.append((func(up) - func(down)) / (2 * h))
    return np.array(out)


# ------------------------------------------------------------------------ structure definitions
def _cases():
    rng = np.random.default_rng(11)
    t = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0])
    yield "ante_dependence", make_structure("ante_dependence", 5), np.array([0.6, -0.3, 0.0, 0.85])
    het = make_structure("heterogeneous_ante_dependence", 4)
    yield "heterogeneous_ante_dependence", het, np.concatenate((rng.normal(0, 0.3, 3), [0.7, 0.2, -0.5]))
    yield "spatial_exponential 1-d", make_structure("spatial_exponential", 7, coordinates=t), np.log([2.5])
    xy = rng.uniform(0, 3, (6, 2))
    yield "spatial_exponential 2-d", make_structure("spatial_exponential", 6, coordinates=xy), np.log([0.8])
    un = make_structure("unstructured", 3, n_groups=3)
    yield "grouped unstructured", un, rng.normal(0, 0.4, un.n_params)
    ri = make_structure("random_intercept", 4, n_groups=2)
    yield "grouped random_intercept", ri, np.array([0.7, 0.3, 1.2])
    adh = make_structure("heterogeneous_ante_dependence", 3, n_groups=2)
    yield (
        "grouped heterogeneous_ante_dependence",
        adh,
        np.array([0.1, -0.2, 0.5, 0.3, 0.4, 0.2, 0.1, -0.6, 0.9]),
    )
    sp = make_structure("spatial_exponential", 7, n_groups=2, coordinates=t)
    yield "grouped spatial_exponential", sp, np.array([np.log(2.0), -0.4, np.log(5.0)])


@pytest.mark.parametrize("label, structure, phi", list(_cases()), ids=[c[0] for c in _cases()])
def test_d_relative_matches_finite_differences(label, structure, phi):
    assert phi.size == structure.n_params
    analytic = structure.d_relative(phi)
    numeric = _fd_jacobian(structure.relative, phi)
    assert analytic.shape == numeric.shape
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-7)
    # every relative matrix is a valid (positive-definite) covariance
    R = structure.relative(phi)
    assert np.all(np.linalg.eigvalsh(R.reshape((-1,) + R.shape[-2:])) > 0)


def test_ante_dependence_special_cases():
    ad = make_structure("ante_dependence", 5)
    ar1 = make_structure("ar1", 5)
    np.testing.assert_allclose(ad.relative(np.full(4, 0.6)), ar1.relative(np.array([0.6])), rtol=1e-14)
    np.testing.assert_allclose(
        make_structure("ante_dependence", 2).relative(np.array([-0.4])),
        make_structure("compound_symmetry", 2).relative(np.array([-0.4])),
        rtol=1e-14,
    )
    # the product rule itself: corr(v1, v4) = rho_1 rho_2 rho_3
    R = ad.relative(np.array([0.9, 0.5, -0.4, 0.2]))
    assert R[0, 3] == pytest.approx(0.9 * 0.5 * -0.4) and R[4, 1] == pytest.approx(0.5 * -0.4 * 0.2)
    # any adjacent correlations in (-1, 1) give a positive-definite matrix
    rng = np.random.default_rng(3)
    for _ in range(50):
        assert np.linalg.eigvalsh(ad.relative(rng.uniform(-0.99, 0.99, 4)))[0] > 0
    adh = make_structure("heterogeneous_ante_dependence", 3)
    names = [n for n, _ in adh.components(np.array([0.0, 0.0, 0.5, 0.1]), 2.0, ["a", "b", "c"])]
    assert names == ["variance[a]", "variance[b]", "variance[c]", "correlation[a,b]", "correlation[b,c]"]
    assert ad.boundary_messages(np.array([0.2, 1 - 1e-6, 0.1, 0.1])) and not ad.boundary_messages(np.zeros(4))


def test_spatial_exponential_distances_and_parameters():
    xy = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 0.0]])
    s = make_structure("spatial_exponential", 3, coordinates=xy)
    np.testing.assert_allclose(s.distance, [[0, 5, 6], [5, 0, 5], [6, 5, 0]])
    rng_ = 4.0
    np.testing.assert_allclose(s.relative(np.log([rng_])), np.exp(-s.distance / rng_), rtol=1e-14)
    # at coordinates 0..k-1 (the default) it is AR(1) with rho = exp(-1 / range)
    default = make_structure("spatial_exponential", 4)
    rho = np.exp(-1 / rng_)
    np.testing.assert_allclose(
        default.relative(np.log([rng_])), make_structure("ar1", 4).relative(np.array([rho])), rtol=1e-13
    )
    comps = dict(default.components(np.log([rng_]), 2.5, list("abcd")))
    assert comps == pytest.approx({"variance": 2.5, "correlation[distance 1]": rho, "range": rng_})
    lo, hi = default.bounds()[0]
    assert np.exp(-default.d_typical / np.exp(lo)) == pytest.approx(1e-6)
    assert default.boundary_messages(np.array([lo])) and default.boundary_messages(np.array([hi]))
    assert not default.boundary_messages(np.log([rng_]))
    with pytest.raises(ValueError, match="distinct"):
        make_structure("spatial_exponential", 2, coordinates=[[1.0], [1.0]])
    with pytest.raises(ValueError, match="shape"):
        make_structure("spatial_exponential", 3, coordinates=[[1.0], [2.0]])
    with pytest.raises(ValueError, match="only used by spatial_exponential"):
        make_structure("ar1", 2, coordinates=[[1.0], [2.0]])


def test_grouped_structure_layout():
    base = make_structure("unstructured", 4)
    g = make_structure("unstructured", 4, n_groups=2)
    assert (g.n_groups, base.n_groups) == (2, 1)
    # SAS counts 2 x 10 covariance parameters for TYPE=UN GROUP=ARMCD; sigma2 is profiled here
    assert g.n_params + 1 == 20 and len(g.bounds()) == g.n_params
    phi = np.random.default_rng(5).normal(0, 0.3, g.n_params)
    R = g.relative(phi)
    assert R.shape == (2, 4, 4) and g.d_relative(phi).shape == (g.n_params, 2, 4, 4)
    # group 1 is the base structure at phi_1; group 2 is exp(s_2) times the base at phi_2
    np.testing.assert_array_equal(R[0], base.relative(phi[:9]))
    np.testing.assert_allclose(R[1], np.exp(phi[9]) * base.relative(phi[10:]), rtol=1e-15)
    comps = g.components(phi, 3.0, ["v1", "v2", "v3", "v4"], ["PBO", "TRT"])
    assert len(comps) == 20 and comps[0][0] == "variance[v1] (PBO)" and comps[10][0] == "variance[v1] (TRT)"
    assert comps[10][1] == pytest.approx(3.0 * R[1, 0, 0])
    # a start from per-group empirical covariances reproduces them (the UN start is exact)
    emp = np.array([np.eye(4) * 2 + 0.5, np.eye(4) * 6 + 1.0])
    start = g.start(emp)
    np.testing.assert_allclose(emp[0, 0, 0] * g.relative(start), emp, rtol=1e-12)
    assert g.start(emp[0]).shape == (g.n_params,) and g.neutral_start().shape == (g.n_params,)
    ri = make_structure("random_intercept", 3, n_groups=2)
    inward = ri.inward_derivatives(np.array([0.0, 0.2, 0.5]))
    assert len(inward) == 1 and inward[0].shape == (2, 3, 3) and not inward[0][1].any()
    assert all(x.shape == (3,) for x in ri.interior_starts(np.array([0.0, 0.2, 0.0])))
    assert make_structure("ar1", 3, n_groups=1).name == "ar1"
    with pytest.raises(ValueError):
        make_structure("ar1", 3, n_groups=0)


def test_registry_names_every_structure_in_mmrm_sas_and_r():
    codes = {name: spec.mmrm for name, spec in COVARIANCE_REGISTRY.items()}
    assert codes == {
        "random_intercept": "(1 | id)",
        "compound_symmetry": "cs",
        "heterogeneous_compound_symmetry": "csh",
        "unstructured": "us",
        "ar1": "ar1",
        "heterogeneous_ar1": "ar1h",
        "toeplitz": "toep",
        "heterogeneous_toeplitz": "toeph",
        "ante_dependence": "ad",
        "heterogeneous_ante_dependence": "adh",
        "spatial_exponential": "sp_exp",
    }
    assert COVARIANCE_REGISTRY["heterogeneous_ante_dependence"].sas == "TYPE=ANTE(1)"
    assert COVARIANCE_REGISTRY["spatial_exponential"].sas == "TYPE=SP(EXP)(coords)"


# --------------------------------------------------------------------------- pattern machinery
def _simulated(n_subj=120, k=4, G=2, p_missing=0.25, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_subj):
        g = i % G
        for v in range(k):
            if v == 0 or rng.uniform() > p_missing:
                rows.append((i, v, g))
    subj, vis, grp = (np.array(c) for c in zip(*rows))
    X = np.column_stack((np.ones(subj.size), grp == 1, vis == 1, rng.normal(size=subj.size)))
    y = X @ np.array([1.0, 0.5, -0.3, 0.2]) + rng.normal(size=subj.size) * (1 + grp)
    y += rng.normal(size=n_subj)[subj] * (1 + 0.5 * grp) + 0.3 * rng.normal(size=n_subj)[subj] * vis
    return y, X, subj, vis, grp


def _dense_deviance(y, X, subj, vis, grp, V, reml):
    """Textbook (RE)ML deviance by a loop over participants."""
    p = X.shape[1]
    blocks = []
    for i in np.unique(subj):
        at = np.flatnonzero(subj == i)
        Vi = V[grp[at[0]]][np.ix_(vis[at], vis[at])]
        blocks.append((at, Vi))
    xtvx = sum(X[at].T @ np.linalg.solve(Vi, X[at]) for at, Vi in blocks)
    xtvy = sum(X[at].T @ np.linalg.solve(Vi, y[at]) for at, Vi in blocks)
    beta = np.linalg.solve(xtvx, xtvy)
    quad = sum((y[at] - X[at] @ beta) @ np.linalg.solve(Vi, y[at] - X[at] @ beta) for at, Vi in blocks)
    logdet = sum(np.linalg.slogdet(Vi)[1] for at, Vi in blocks)
    if reml:
        return (y.size - p) * LOG_2PI + logdet + np.linalg.slogdet(xtvx)[1] + quad, xtvx
    return y.size * LOG_2PI + logdet + quad, xtvx


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("n_subj", [120, 15], ids=["moment patterns", "row patterns"])
def test_grouped_likelihood_equals_the_dense_textbook_one(reml, n_subj):
    y, X, subj, vis, grp = _simulated(n_subj=n_subj)
    pdata = PatternData.from_arrays(y, X, subject=subj, visit=vis, n_visits=4, group=grp)
    assert pdata.n_groups == 2 and {p.group for p in pdata.patterns} == {0, 1}
    assert all(np.all(grp[p.rows] == p.group) for p in pdata.patterns)
    s = make_structure("heterogeneous_ante_dependence", 4, n_groups=2)
    phi = np.array([0.2, -0.1, 0.3, 0.5, 0.2, 0.4, np.log(3.0), 0.1, 0.0, -0.2, 0.6, 0.1, 0.3])
    V = 1.7 * s.relative(phi)
    ev = pdata.evaluate(V, reml=reml, gradient=True)
    dense, xtvx = _dense_deviance(y, X, subj, vis, grp, V, reml)
    assert ev.deviance == pytest.approx(dense, rel=1e-11)
    np.testing.assert_allclose(ev.xtvx, xtvx, rtol=1e-11)
    assert ev.g_fixed.shape == (2, 4, 4)
    # the gradient in the structure's parameters, through Evaluation.gradient's (q, G, k, k) form
    dV = 1.7 * s.d_relative(phi)
    numeric = [
        (
            _dense_deviance(y, X, subj, vis, grp, 1.7 * s.relative(phi + h), reml)[0]
            - _dense_deviance(y, X, subj, vis, grp, 1.7 * s.relative(phi - h), reml)[0]
        )
        / 2e-6
        for h in 1e-6 * np.eye(phi.size)
    ]
    np.testing.assert_allclose(ev.gradient(dV), numeric, rtol=1e-5, atol=1e-5)
    # pattern_products: sum of H over patterns along dV is d(X'V^-1X)
    dxtvx = np.zeros_like(xtvx)
    for g, visits, n, Vinv, H in pdata.pattern_products(V):
        dxtvx -= np.einsum("ab,abpq->pq", dV[0, g][np.ix_(visits, visits)], H)
        np.testing.assert_allclose(Vinv, np.linalg.inv(V[g][np.ix_(visits, visits)]), rtol=1e-10, atol=1e-14)
    h = 1e-6 * np.eye(phi.size)[0]
    fd = (
        _dense_deviance(y, X, subj, vis, grp, 1.7 * s.relative(phi + h), reml)[1]
        - _dense_deviance(y, X, subj, vis, grp, 1.7 * s.relative(phi - h), reml)[1]
    ) / 2e-6
    np.testing.assert_allclose(dxtvx, fd, rtol=1e-5, atol=1e-6)


def test_grouping_is_checked_and_ungrouped_data_are_unchanged():
    y, X, subj, vis, grp = _simulated(n_subj=40)
    bad = grp.copy()
    bad[1] = 1 - bad[1]  # row 1 belongs to participant 0, whose row 0 has the other group
    with pytest.raises(ValueError, match="constant within a participant"):
        PatternData.from_arrays(y, X, subject=subj, visit=vis, n_visits=4, group=bad)
    with pytest.raises(ValueError, match="non-negative integer"):
        PatternData.from_arrays(y, X, subject=subj, visit=vis, n_visits=4, group=grp - 1)
    plain = PatternData.from_arrays(y, X, subject=subj, visit=vis, n_visits=4)
    assert plain.n_groups == 1 and all(p.group == 0 for p in plain.patterns)
    # patterns in ascending order of the observed-visit bit mask, as before groups existed
    masks = [sum(1 << int(v) for v in p.visits) for p in plain.patterns]
    assert masks == sorted(masks) and len(set(masks)) == len(masks)
    # a common (k, k) V on grouped data is the ungrouped likelihood
    grouped = PatternData.from_arrays(y, X, subject=subj, visit=vis, n_visits=4, group=grp)
    V = make_structure("ar1", 4).relative(np.array([0.4])) * 2
    assert grouped.evaluate(V, reml=True).deviance == pytest.approx(plain.evaluate(V, reml=True).deviance)
    assert grouped.evaluate(np.stack([V, V]), reml=True).deviance == pytest.approx(
        plain.evaluate(V, reml=True).deviance, rel=1e-13
    )
    with pytest.raises(ValueError, match="does not fit"):
        grouped.evaluate(V[None], reml=True)


def test_more_than_62_visits():
    """Actual days as spatial coordinates: patterns keyed without a 64-bit mask."""
    rng = np.random.default_rng(8)
    days = np.sort(rng.choice(np.arange(1, 400), size=150, replace=False)).astype(float)
    subj = np.repeat(np.arange(60), 5)
    vis = np.concatenate([np.sort(rng.choice(150, 5, replace=False)) for _ in range(60)])
    s = make_structure("spatial_exponential", 150, coordinates=days)
    V = 2.0 * s.relative(np.log([30.0]))
    y = np.concatenate([np.linalg.cholesky(V[np.ix_(v, v)]) @ rng.normal(size=5) for v in vis.reshape(60, 5)])
    X = np.ones((300, 1))
    pdata = PatternData.from_arrays(y, X, subject=subj, visit=vis, n_visits=150)
    assert sorted(tuple(p.visits) for p in pdata.patterns) == sorted(set(map(tuple, vis.reshape(60, 5))))
    grp = np.zeros(300, dtype=int)
    dense = _dense_deviance(y, X, subj, vis, grp, V[None], reml=True)[0]
    assert pdata.evaluate(V, reml=True).deviance == pytest.approx(dense, rel=1e-11)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name", ["unstructured", "heterogeneous_ante_dependence", "spatial_exponential"])
def test_grouped_fit_is_the_separate_fits_per_group(name, reml):
    """With the mean model separate per group (X block-diagonal by group) and V block-diagonal,
    the deviance is a sum over groups, so the grouped maximum is the sum of the separate maxima."""
    y, X, subj, vis, grp = _simulated(n_subj=90, seed=2)
    Xg = np.column_stack([X[:, [0, 2, 3]] * (grp == g)[:, None] for g in (0, 1)])
    coords = {"coordinates": np.array([0.0, 1.0, 3.0, 6.0])} if name == "spatial_exponential" else {}
    grouped = _fit(
        PatternData.from_arrays(y, Xg, subject=subj, visit=vis, n_visits=4, group=grp),
        make_structure(name, 4, n_groups=2, **coords),
        reml,
    )
    assert np.max(np.abs(grouped["grad"])) < 1e-5
    separate = []
    for g in (0, 1):
        at = grp == g
        pd_g = PatternData.from_arrays(
            y[at], X[at][:, [0, 2, 3]], subject=subj[at], visit=vis[at], n_visits=4
        )
        fit_g = _fit(pd_g, make_structure(name, 4, **coords), reml)
        assert np.max(np.abs(fit_g["grad"])) < 1e-5
        separate.append(fit_g)
        np.testing.assert_allclose(grouped["V"][g], fit_g["V"], rtol=2e-5)
    assert grouped["m2ll"] == pytest.approx(sum(f["m2ll"] for f in separate), abs=2e-8)
    np.testing.assert_allclose(grouped["beta"], np.concatenate([f["beta"] for f in separate]), atol=1e-6)


# ------------------------------------------------------------------------------ SAS on fev_data
# SAS final-iteration -2LL, covariance estimates, intercept (estimate, SE, Satterthwaite df)
SAS = {
    "adh_reml": dict(
        m2ll=3713.49317786,
        var=[[114.89, 44.6313, 26.8922, 158.47]],
        rho=[[0.7106, 0.1033, 0.3657]],
        intercept=(42.9009, 0.3529, 171),
    ),
    "adh_ml": dict(
        m2ll=3713.24501787,
        var=[[114.78, 44.5191, 26.7673, 158.33]],
        rho=[[0.7104, 0.09992, 0.3650]],
        intercept=(42.9019, 0.3519, 171),
    ),
    "group_adh_reml": dict(
        m2ll=3688.84024388,
        var=[[134.41, 51.5930, 19.9393, 114.99], [83.7418, 32.9411, 38.7701, 215.53]],
        rho=[[0.8039, 0.02646, 0.1643], [0.5178, 0.2002, 0.5655]],
        intercept=(42.5293, 0.3349, 174),
    ),
    "group_adh_ml": dict(
        m2ll=3688.48731427,
        var=[[134.26, 51.4797, 19.8318, 114.89], [83.6194, 32.8289, 38.6672, 215.45]],
        rho=[[0.8038, 0.02288, 0.1635], [0.5169, 0.1976, 0.5654]],
        intercept=(42.5284, 0.3339, 174),
    ),
    "sp_exp_reml": dict(m2ll=3875.49946734, range=1.1751, residual=88.9768, intercept=(42.3254, 0.5012, 188)),
    "sp_exp_ml": dict(m2ll=3875.95353357, range=1.1680, residual=88.7005, intercept=(42.3252, 0.4999, 189)),
    "sp_exp2_reml": dict(
        m2ll=3894.60123182, range=1.2418, residual=87.8870, intercept=(42.2202, 0.4754, 194)
    ),
    "sp_exp2_ml": dict(m2ll=3894.94943409, range=1.2339, residual=87.6472, intercept=(42.2203, 0.4742, 196)),
    # SAS CS: Variance = within-participant variance, CS = the common covariance
    "group_cs_reml": dict(
        m2ll=3915.41985780, cs=[(74.8951, 3.2130), (87.3254, 9.0248)], intercept=(41.9734, 0.4247, 183)
    ),
    # FEV1 = ARMCD; predicted means PBO 41.1517 (SE 0.40805), TRT 44.6795 (0.49709)
    "group_un_reml": dict(
        m2ll=3662.66059721,
        un=[
            [110.73, 49.1944, 40.0749, -6.9791, -2.7015, 23.4985, -47.0069, -22.4250, 17.7001, 131.95],
            [106.77, 42.6121, 40.6660, 2.7452, 4.5650, 25.9531, -46.3357, -4.7493, 20.5110, 172.93],
        ],
        means=[(41.1517, 0.40805), (44.6795, 0.49709)],
    ),
}


def _fev_fit(case):
    d = pd.read_csv(FEV)
    d = d[d["FEV1"].notna()].reset_index(drop=True)
    assert len(d) == 537
    subj = pd.factorize(d["USUBJID"])[0]
    visit = d["AVISIT"].map({"VIS1": 0, "VIS2": 1, "VIS3": 2, "VIS4": 3}).to_numpy()
    trt = (d["ARMCD"] == "TRT").to_numpy().astype(np.int64)
    reml = case.endswith("_reml")
    X = np.ones((len(d), 1))
    group = None if not case.startswith("group") else trt
    if case.startswith("group_un"):
        # SAS's less-than-full-rank (1, PBO, TRT) spans the same space: same REML likelihood
        X = np.column_stack((X, trt))
    coords = None
    k = 4
    if case.startswith("sp_exp2"):
        coords, visit = np.unique(d[["VISITN", "VISITN2"]].to_numpy(dtype=float), axis=0, return_inverse=True)
        k = len(coords)
        assert k == 537
    elif case.startswith("sp_exp"):
        coords = np.arange(1.0, 5.0)[:, None]  # VISITN = 1..4
    name = {"adh": "heterogeneous_ante_dependence", "gro": None, "sp_": "spatial_exponential"}[case[:3]]
    if case.startswith("group"):
        name = {"adh": "heterogeneous_ante_dependence", "cs_": "compound_symmetry", "un_": "unstructured"}[
            case[6:9]
        ]
    pdata = PatternData.from_arrays(
        d["FEV1"].to_numpy(), X, subject=subj, visit=np.asarray(visit).reshape(-1), n_visits=k, group=group
    )
    structure = make_structure(name, k, n_groups=2 if group is not None else 1, coordinates=coords)
    return _fit(pdata, structure, reml), pdata, structure


@needs_fev
@pytest.mark.shared
@pytest.mark.parametrize("case", list(SAS))
def test_against_sas_proc_mixed_on_fev_data(case):
    ref = SAS[case]
    fit, pdata, structure = _fev_fit(case)
    assert np.max(np.abs(fit["grad"])) < 1e-4
    assert -1e-6 <= ref["m2ll"] - fit["m2ll"] <= 5e-5, fit["m2ll"]
    V = fit["V"] if fit["V"].ndim == 3 else fit["V"][None]
    for g, variances in enumerate(ref.get("var", [])):
        np.testing.assert_allclose(np.diag(V[g]), variances, rtol=1e-3)
        sd = np.sqrt(np.diag(V[g]))
        rho = np.diag(V[g], 1) / (sd[:-1] * sd[1:])
        np.testing.assert_allclose(rho, ref["rho"][g], atol=1e-3)
        # ante-dependence: the other correlations are the products of the adjacent ones
        assert V[g][0, 3] / (sd[0] * sd[3]) == pytest.approx(np.prod(rho))
    if "range" in ref:
        assert np.exp(fit["phi"][0]) == pytest.approx(ref["range"], rel=1e-3)
        assert fit["sigma2"] == pytest.approx(ref["residual"], rel=1e-3)
    for g, (within, cs) in enumerate(ref.get("cs", [])):
        assert V[g][1, 0] == pytest.approx(cs, abs=1e-3 * V[g][0, 0])
        assert V[g][0, 0] == pytest.approx(within + cs, rel=1e-3)
    for g, un in enumerate(ref.get("un", [])):
        sd = np.sqrt(np.diag(V[g]))
        tri = np.tril_indices(4)
        np.testing.assert_array_less(np.abs(V[g][tri] - un) / np.outer(sd, sd)[tri], 1e-3)
    if "intercept" in ref:
        est, se, df = ref["intercept"]
        assert abs(fit["beta"][0] - est) <= 1e-3 and fit["se"][0] == pytest.approx(se, rel=1e-3)
        # SAS prints integer df; its optimum is ~1e-4 away: within 1 (as test_models_reference_sas)
        assert abs(_satterthwaite_df(pdata, structure, fit, case.endswith("_reml"), np.eye(1)[0]) - df) <= 1.0
    for L, (est, se) in zip(np.array([[1.0, 0.0], [1.0, 1.0]]), ref.get("means", [])):
        assert abs(L @ fit["beta"] - est) <= 1e-3
        assert np.sqrt(L @ fit["C"] @ L) == pytest.approx(se, rel=1e-3)


# ------------------------------------------------------------------------------------ nlme gls
def _design_sim(s):
    arm = (s["arm"] == "prt").to_numpy(dtype=float)
    times = sorted(s["time"].unique())
    cols = [np.ones(len(s)), arm]
    cols += [(s["time"] == t).to_numpy(dtype=float) for t in times[1:]]
    cols += [arm * (s["time"] == t).to_numpy(dtype=float) for t in times[1:]]
    return np.column_stack(cols), np.searchsorted(times, s["time"].to_numpy()), np.array(times, dtype=float)


def _design_antidep(a):
    drug = (a["THERAPY"] == "DRUG").to_numpy(dtype=float)
    cols = [np.ones(len(a)), a["basval"].to_numpy(dtype=float), drug]
    cols += [(a["VISIT"] == v).to_numpy(dtype=float) for v in (5, 6, 7)]
    cols += [drug * (a["VISIT"] == v).to_numpy(dtype=float) for v in (5, 6, 7)]
    days = np.sort(a["RELDAYS"].unique()).astype(float)
    return np.column_stack(cols), np.searchsorted(days, a["RELDAYS"].to_numpy()), days


def _spatial_fit(model):
    if model.startswith("sim"):
        data = pd.read_csv(SIM)
        X, code, coords = _design_sim(data)
        y, subj = data["y"].to_numpy(), pd.factorize(data["participant_id"])[0]
    else:
        data = pd.read_csv(ANTIDEP)
        X, code, coords = _design_antidep(data)
        y, subj = data["change"].to_numpy(dtype=float), data["PATIENT"].to_numpy()
    pdata = PatternData.from_arrays(y, X, subject=subj, visit=code, n_visits=coords.size)
    structure = make_structure("spatial_exponential", coords.size, coordinates=coords[:, None])
    return _fit(pdata, structure, reml=model.endswith("_reml"))


def _compare_nlme(model, rows):
    if model.startswith("antidepressant") and not ANTIDEP.exists():
        pytest.skip("../shared/data/rbmi_antidepressant not available")
    fit = _spatial_fit(model)
    scalar = rows.set_index("term")["est"]
    coef = rows[~rows["term"].isin(["loglik", "range", "sigma2"])]
    loglik = -0.5 * fit["m2ll"]
    assert loglik >= scalar["loglik"] - 1e-6
    assert loglik == pytest.approx(scalar["loglik"], rel=1e-8)
    se = coef["se"].to_numpy()
    np.testing.assert_array_less(np.abs(fit["beta"] - coef["est"].to_numpy()) / se, 1e-4)
    if model.endswith("_ml"):
        # nlme's vcov of an ML fit scales sigma2 by N / (N - p) (its summary's REML-like sigma);
        # the engine's ML SEs use the ML sigma2, as SAS METHOD=ML and mmrm do
        se = se * np.sqrt(1 - len(coef) / fit["n_obs"])
    np.testing.assert_allclose(fit["se"], se, rtol=1e-4)
    assert np.exp(fit["phi"][0]) == pytest.approx(scalar["range"], rel=1e-4)
    assert fit["sigma2"] == pytest.approx(scalar["sigma2"], rel=1e-4)


@pytest.mark.skipif(not REF_GLS.exists(), reason="stored nlme reference missing")
@pytest.mark.parametrize("model", ["sim_reml", "sim_ml", "antidepressant_reml"])
def test_spatial_exponential_against_stored_nlme(model):
    ref = pd.read_csv(REF_GLS)
    _compare_nlme(model, ref[ref["model"] == model])


@needs_r
@pytest.mark.r
def test_spatial_exponential_against_live_nlme(tmp_path):
    out = tmp_path / "ref.csv"
    antidep = str(ANTIDEP) if ANTIDEP.exists() else "-"
    done = subprocess.run(
        ["Rscript", str(HERE / "gls_spatial.R"), str(SIM), antidep, str(out)], capture_output=True, text=True
    )
    if done.returncode != 0 and "there is no package called" in done.stderr:
        pytest.skip("R package nlme is not installed")
    assert done.returncode == 0, done.stderr
    ref = pd.read_csv(out)
    assert set(ref["model"]) >= {"sim_reml", "sim_ml"}
    for model, rows in ref.groupby("model", sort=False):
        _compare_nlme(model, rows)


# ------------------------------------------------------------------------- through fit_trial_model
def test_fit_trial_model_fits_ante_dependence_nested_between_ar1_and_unstructured():
    """AR(1) is ante-dependence with equal correlations, which is heterogeneous ante-dependence
    with equal variances, which is an unstructured covariance: the maximised REML
    log-likelihoods must be ordered so (to the optimizer's 1e-6), and fit_trial_model's fit must
    be the optimum the independent fitter above finds on the same design."""
    from prt_outcomes.models import fit_trial_model
    from prt_outcomes.models.design import build_model_frame

    data = pd.read_csv(ROOT / "tests" / "references" / "models" / "sim2_two_arm_cs.csv")
    args = dict(
        outcome="y", arm="arm", visit="visit", subject="participant_id", covariates=["age", "sex", "site"]
    )
    levels = dict(arm_levels=["usual_care", "prt"], visit_levels=["v1", "v2", "v3", "v4"])
    ll = {}
    for name in ("ar1", "ante_dependence", "heterogeneous_ante_dependence", "unstructured"):
        fit = fit_trial_model(data, **args, **levels, covariance=name)
        assert fit.converged and not fit.warnings
        ll[name] = fit.loglik
    assert ll["ar1"] <= ll["ante_dependence"] + 1e-6
    assert ll["ante_dependence"] <= ll["heterogeneous_ante_dependence"] + 1e-6
    assert ll["heterogeneous_ante_dependence"] <= ll["unstructured"] + 1e-6
    mf = build_model_frame(
        data, **args, **levels, reference_arm=None, baseline_visit=None, baseline_adjusted=False
    )
    pdata = PatternData.from_arrays(mf.y, mf.X, subject=mf.subject_code, visit=mf.visit_code, n_visits=4)
    for name in ("ante_dependence", "heterogeneous_ante_dependence"):
        independent = _fit(pdata, make_structure(name, 4))
        assert ll[name] == pytest.approx(-0.5 * independent["m2ll"], abs=1e-7)
