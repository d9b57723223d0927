"""Kenward-Roger (1997) small-sample adjustment: bias-corrected Cov(beta_hat) and df.

For a covariance parameter vector ``tau`` with ``V = V(tau)``, ``Phi = (X'V^-1X)^-1`` and
``W = Cov(tau_hat)``::

    P_i  = X' V^-1 V_i V^-1 X                (V_i = dV/dtau_i)
    Q_ij = X' V^-1 V_i V^-1 V_j V^-1 X
    R_ij = X' V^-1 V_ij V^-1 X               (V_ij = d2V/dtau_i dtau_j)
    Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j - R_ij / 4)] Phi

For a single contrast ``l`` the KR scale factor is exactly 1 and the df reduce to
``2 (l Phi l')^2 / (g' W g)`` with ``g_i = l Phi P_i Phi l'``; the F test of several rows is in
:meth:`prt_outcomes.models.inference.Inference.f_test`.

``tau`` are the covariance parameters SAS PROC MIXED uses for each structure
(:func:`natural_parametrisation`: variance components for random intercept / CS, the entries of V
for UN, lag covariances for TOEP, variance and correlation for AR(1), visit variances and
correlations for the heterogeneous types). Three variants differ only in ``W`` and ``R``:

* ``information="observed"`` (SAS DDFM=KR, SAS's default, and R mmrm's "Kenward-Roger"):
  ``W = 2 H^-1`` with ``H`` the Hessian of the REML deviance ``-2 log L_R`` in ``tau`` at the
  estimate (the inverse observed information, SAS's ASYCOV matrix); ``R_ij`` is kept where V is
  not linear in ``tau``. mmrm computes the same in its own parametrisation (log-Cholesky for
  ``us``, log SD and transformed correlations otherwise; ``W`` is ``theta_vcov =
  solve(tmb_object$he(theta))``, the inverse Hessian of TMB's objective ``-log L_R``, R/tmb.R;
  ``P``, ``Q``, ``R`` in src/kr_comp.cpp, ``Phi_A`` and the df in R/kenwardroger.R). The df
  are invariant to the parametrisation at the optimum, the second-order term of ``Phi_A`` is
  not: SAS's ``us`` parameters are linear, so SAS KR = KR(LINEAR) there, and mmrm documents
  "Kenward-Roger-Linear" as its match to SAS for ``us``.
* ``second_order=False`` (SAS DDFM=KR(LINEAR), mmrm "Kenward-Roger-Linear"): ``R_ij = 0``
  whatever the parametrisation.
* ``information="expected"`` (pbkrtest ``KRmodcomp`` / ``Lb_ddf``, emmeans): ``W`` is the
  inverse expected REML information ``I_ij = tr(P V_i P V_j) / 2``,
  ``P = V^-1 - V^-1 X Phi X' V^-1``; for the linear structures ``R_ij = 0``, as pbkrtest
  assumes.

Examples
--------
>>> import numpy as np
>>> to_tau, from_tau, linear = natural_parametrisation("ar1", 3)
>>> np.round(from_tau(np.array([2.0, 0.5])), 2)
array([[2. , 1. , 0.5],
       [1. , 2. , 1. ],
       [0.5, 1. , 2. ]])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "natural_parametrisation",
    "grouped_parametrisation",
    "kenward_roger_pieces",
    "design_products",
    "block_of",
]


def natural_parametrisation(name: str, k: int, distance=None):
    """``(to_tau(V), from_tau(tau), linear)`` for structure ``name`` over ``k`` visits.

    ``distance`` (k, k): the spatial structures' distances between visits (default the visit
    positions' |i - j|).
    """
    idx = np.arange(k)
    lag = np.abs(idx[:, None] - idx[None, :])
    tril = np.tril_indices(k)

    if name in ("random_intercept", "compound_symmetry"):
        if k == 1:
            return (lambda V: np.array([V[0, 0]]), lambda t: np.array([[t[0]]]), True)
        return (
            lambda V: np.array([V[0, 1], V[0, 0] - V[0, 1]]),
            lambda t: t[0] * np.ones((k, k)) + t[1] * np.eye(k),
            True,
        )
    if name == "unstructured":

        def from_tau(t):
            V = np.zeros((k, k))
            V[tril] = t
            return V + V.T - np.diag(np.diag(V))

        return (lambda V: V[tril].copy(), from_tau, True)
    if name == "toeplitz":
        return (lambda V: V[0, :].copy(), lambda t: t[lag], True)
    if name == "ar1":
        if k == 1:
            return (lambda V: np.array([V[0, 0]]), lambda t: np.array([[t[0]]]), True)
        return (
            lambda V: np.array([V[0, 0], V[0, 1] / V[0, 0]]),
            lambda t: t[0] * t[1] ** lag,
            False,
        )

    def ante(r):
        # SAS ANTE(1): corr[a, b] = rho_a ... rho_(b-1)
        C = np.eye(k)
        for a in range(k):
            for b in range(a + 1, k):
                C[a, b] = C[b, a] = np.prod(r[a:b])
        return C

    if name == "spatial_exponential":
        D = lag.astype(float) if distance is None else np.asarray(distance, dtype=float)
        if k == 1:
            return (lambda V: np.array([V[0, 0]]), lambda t: np.array([[t[0]]]), True)
        # SAS SP(EXP): (Residual, range), V = sigma2 exp(-D / range)
        return (
            lambda V: np.array([V[0, 0], -D[0, 1] / np.log(V[0, 1] / V[0, 0])]),
            lambda t: t[0] * np.exp(-D / t[1]),
            False,
        )
    if name == "ante_dependence":
        return (
            lambda V: np.concatenate(([V[0, 0]], np.diag(V, 1) / V[0, 0])),
            lambda t: t[0] * ante(t[1:]),
            False,
        )
    if name.startswith("heterogeneous_"):
        base = name[len("heterogeneous_") :]
        n_corr = (
            {"compound_symmetry": 1, "ar1": 1, "toeplitz": k - 1, "ante_dependence": k - 1}[base]
            if k > 1
            else 0
        )

        def corr_of(t):
            if k == 1:
                return np.eye(1)
            r = t[k:]
            if base == "compound_symmetry":
                return np.where(lag == 0, 1.0, r[0])
            if base == "ar1":
                return r[0] ** lag
            if base == "ante_dependence":
                return ante(r)
            return np.concatenate(([1.0], r))[lag]

        def to_tau(V):
            sd = np.sqrt(np.diag(V))
            corr = V / np.outer(sd, sd)
            if base == "ante_dependence":
                return np.concatenate((np.diag(V), np.diag(corr, 1)))
            return np.concatenate((np.diag(V), corr[0, 1 : 1 + n_corr]))

        def from_tau(t):
            sd = np.sqrt(t[:k])
            return corr_of(t) * np.outer(sd, sd)

        return (to_tau, from_tau, False)
    raise ValueError(f"no Kenward-Roger parametrisation for covariance={name!r}")


def _derivatives(from_tau, tau, linear):
    q = tau.size
    shape = from_tau(tau).shape  # (k, k), or (G, k, k) for group-specific covariances
    d1 = np.empty((q,) + shape)
    d2 = np.zeros((q, q) + shape)
    # tau is on the normalised scale (variances ~1, correlations in (-1, 1)): absolute-ish
    # steps; second differences use a larger step so that rounding (eps / h^2) stays ~1e-9.
    h = 1e-4 * np.maximum(np.abs(tau), 0.1)
    for i in range(q):
        e = np.zeros(q)
        e[i] = h[i]
        d1[i] = (from_tau(tau + e) - from_tau(tau - e)) / (2 * h[i])
    if not linear:
        h = 1e-3 * np.maximum(np.abs(tau), 0.1)
        for i in range(q):
            for j in range(i, q):
                ei = np.zeros(q)
                ej = np.zeros(q)
                ei[i], ej[j] = h[i], h[j]
                val = (
                    from_tau(tau + ei + ej)
                    - from_tau(tau + ei - ej)
                    - from_tau(tau - ei + ej)
                    + from_tau(tau - ei - ej)
                ) / (4 * h[i] * h[j])
                d2[i, j] = d2[j, i] = val
    return d1, d2


def grouped_parametrisation(name: str, V: np.ndarray, distance=None):
    """:func:`natural_parametrisation` for ``V`` of shape (k, k), or per group for (G, k, k).

    Group-specific covariances (SAS ``GROUP=``, mmrm ``us(AVISIT | ARM / USUBJID)``) have one
    parameter vector per group, concatenated in group order; ``from_tau`` returns the stack.
    """
    if V.ndim == 2:
        return natural_parametrisation(name, V.shape[0], distance)
    G, k = V.shape[0], V.shape[-1]
    to_tau, from_tau, linear = natural_parametrisation(name, k, distance)
    q = to_tau(V[0]).size
    return (
        lambda M: np.concatenate([to_tau(M[g]) for g in range(G)]),
        lambda t: np.stack([from_tau(t[g * q : (g + 1) * q]) for g in range(G)]),
        linear,
    )


def design_products(pdata, V):
    """``(group, visits, n, Vinv, H)`` per pattern (and covariance group).

    Uses ``pdata.pattern_products`` where the likelihood has covariance groups; otherwise wraps
    ``weighted_design_products`` with group 0, so callers need not know which they have.
    """
    if hasattr(pdata, "pattern_products"):
        yield from pdata.pattern_products(V)
        return
    for visits, n, Vinv, H in pdata.weighted_design_products(V):
        yield 0, visits, n, Vinv, H


def block_of(M, group, visits):
    """``M[visits, visits]`` of a (k, k) matrix or of group ``group`` of a (G, k, k) stack."""
    if M.ndim == 3:
        M = M[group]
    return M[np.ix_(visits, visits)]


def observed_information(pdata, from_tau, tau, scale, linear=True):
    """Observed REML information ``H / 2`` (``H`` the Hessian of ``-2 log L_R``) in ``tau``.

    ``V = scale * from_tau(tau)``. Central differences of the analytic gradient
    (:meth:`PatternData.evaluate`), step 1e-4 relative: truncation ~1e-8, far below what
    the df and the adjustment need. At a boundary a step that leaves the parameter space is
    replaced by a one-sided difference.
    """
    q = tau.size

    def grad(t):
        d1, _ = _derivatives(from_tau, t, True)
        ev = pdata.evaluate(scale * from_tau(t), reml=True, gradient=True)
        return ev.gradient(scale * d1)

    H = np.zeros((q, q))
    for j in range(q):
        h = 1e-4 * max(abs(tau[j]), 0.1)
        up, down = tau.copy(), tau.copy()
        up[j] += h
        down[j] -= h
        try:
            H[:, j] = (grad(up) - grad(down)) / (2 * h)
        except np.linalg.LinAlgError:
            try:
                H[:, j] = (grad(tau) - grad(down)) / h
            except np.linalg.LinAlgError:
                H[:, j] = (grad(up) - grad(tau)) / h
    return (H + H.T) / 4


def kenward_roger_pieces(
    pdata,
    V: np.ndarray,
    C: np.ndarray,
    structure_name: str,
    reml: bool = True,
    *,
    information: str = "expected",
    second_order: bool = True,
    warnings: list | None = None,
    distance=None,
):
    """Adjusted covariance ``Phi_A``, the derivative matrices ``P`` (q, p, p), ``W`` and a scale.

    ``C`` is the unadjusted ``(X'V^-1X)^-1`` at the estimate ``V``. The work is done on
    ``V / scale`` (scale = mean visit variance) so that finite-difference steps do not depend
    on the outcome's units; ``Phi_A`` is returned on the original scale, ``P`` and ``W`` on the
    normalised one (use them with ``C / scale``: the KR df are scale-invariant).

    ``information`` is ``"expected"`` (pbkrtest) or ``"observed"`` (SAS, mmrm);
    ``second_order=False`` drops ``R_ij`` (SAS KR(LINEAR), mmrm Kenward-Roger-Linear).
    An information matrix that is not positive definite (a fit on the boundary) is
    pseudo-inverted, with a message appended to ``warnings``.
    """
    if information not in ("expected", "observed"):
        raise ValueError(f"information={information!r}; use 'expected' or 'observed'.")
    scale = float(np.mean(np.diagonal(V, axis1=-2, axis2=-1)))
    V = V / scale
    C = C / scale
    to_tau, from_tau, linear = grouped_parametrisation(structure_name, V, distance)
    tau = to_tau(V)
    dV, d2V = _derivatives(from_tau, tau, linear)
    use_r = second_order and not linear
    q = tau.size
    p = C.shape[0]
    P = np.zeros((q, p, p))
    Q = np.zeros((q, q, p, p))
    R = np.zeros((q, q, p, p))
    trace_vv = np.zeros((q, q))
    for group, visits, n, Vinv, H in design_products(pdata, V):
        dVp = np.array([block_of(d, group, visits) for d in dV])
        VinvdV = np.einsum("ab,jbc->jac", Vinv, dVp)
        for i in range(q):
            P[i] += np.einsum("ab,abpq->pq", dVp[i], H)
            for j in range(q):
                Q[i, j] += np.einsum("ab,abpq->pq", dVp[i] @ Vinv @ dVp[j], H)
                trace_vv[i, j] += n * np.trace(VinvdV[i] @ VinvdV[j])
                if use_r:
                    R[i, j] += np.einsum("ab,abpq->pq", block_of(d2V[i, j], group, visits), H)
    if information == "expected":
        info = np.empty((q, q))
        for i in range(q):
            for j in range(q):
                info[i, j] = trace_vv[i, j] - 2 * np.trace(C @ Q[i, j]) + np.trace(C @ P[i] @ C @ P[j])
        info = (info + info.T) / 4  # I = tr(P V_i P V_j) / 2, symmetrised
    else:
        # the deviance of the data at V = scale * from_tau(tau): the derivatives in tau (on the
        # normalised scale) are those of the expected information above, so W is consistent
        info = observed_information(pdata, from_tau, tau, scale, linear)
    diag = np.diag(info)
    positive = bool(np.all(diag > 0)) and np.linalg.eigvalsh(info / np.sqrt(np.outer(diag, diag)))[0] > 1e-10
    if positive:
        W = np.linalg.inv(info)
    else:
        W = np.linalg.pinv(info)
        if warnings is not None:
            warnings.append(
                f"the {information} information of the covariance parameters is not positive "
                "definite (boundary fit); the Kenward-Roger adjustment and df use its pseudo-inverse"
            )
    U = np.zeros((p, p))
    for i in range(q):
        for j in range(q):
            U += W[i, j] * (Q[i, j] - P[i] @ C @ P[j] - 0.25 * R[i, j])
    C_adj = C + 2 * C @ U @ C
    return scale * (C_adj + C_adj.T) / 2, P, W, scale
