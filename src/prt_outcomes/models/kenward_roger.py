"""Kenward-Roger (1997) small-sample adjustment: bias-corrected Cov(beta_hat) and df.

For a covariance parameter vector ``tau`` with ``V = V(tau)``, ``Phi = (X'V^-1X)^-1`` and
``W = Cov(tau_hat)``::

    P_i  = X' V^-1 V_i V^-1 X                (V_i = dV/dtau_i)
    Q_ij = X' V^-1 V_i V^-1 V_j V^-1 X
    R_ij = X' V^-1 V_ij V^-1 X               (V_ij = d2V/dtau_i dtau_j)
    Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j - R_ij / 4)] Phi

and, for a single contrast ``l`` (the only kind reported here), the KR scale factor is exactly
1 and the df reduce to ``2 (l Phi_A l')^2 / (g' W g)`` with ``g_i = l Phi P_i Phi l'``.

``tau`` are the covariance parameters SAS PROC MIXED uses for each structure (variance
components for random intercept / CS, the entries of V for UN, lag covariances for TOEP,
variance and correlation for AR(1), visit variances and correlations for the heterogeneous
types): for the linear ones ``R_ij = 0``, as pbkrtest assumes. ``W`` is the inverse expected
(REML) information ``I_ij = tr(P V_i P V_j) / 2``, ``P = V^-1 - V^-1 X Phi X' V^-1``, as in
pbkrtest.

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

__all__ = ["natural_parametrisation", "kenward_roger_pieces"]


def natural_parametrisation(name: str, k: int):
    """``(to_tau(V), from_tau(tau), linear)`` for structure ``name`` over ``k`` visits."""
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
    if name.startswith("heterogeneous_"):
        base = name[len("heterogeneous_") :]
        n_corr = {"compound_symmetry": 1, "ar1": 1, "toeplitz": k - 1}[base] if k > 1 else 0

        def corr_of(t):
            if k == 1:
                return np.eye(1)
            r = t[k:]
            if base == "compound_symmetry":
                return np.where(lag == 0, 1.0, r[0])
            if base == "ar1":
                return r[0] ** lag
            return np.concatenate(([1.0], r))[lag]

        def to_tau(V):
            sd = np.sqrt(np.diag(V))
            corr = V / np.outer(sd, sd)
            return np.concatenate((np.diag(V), corr[0, 1 : 1 + n_corr]))

        def from_tau(t):
            sd = np.sqrt(t[:k])
            return corr_of(t) * np.outer(sd, sd)

        return (to_tau, from_tau, False)
    raise ValueError(f"no Kenward-Roger parametrisation for covariance={name!r}")


def _derivatives(from_tau, tau, linear):
    q = tau.size
    k = from_tau(tau).shape[0]
    d1 = np.empty((q, k, k))
    d2 = np.zeros((q, q, k, k))
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


def kenward_roger_pieces(pdata, V: np.ndarray, C: np.ndarray, structure_name: str, reml: bool = True):
    """Adjusted covariance ``Phi_A``, the derivative matrices ``P`` (q, p, p), ``W`` and a scale.

    ``C`` is the unadjusted ``(X'V^-1X)^-1`` at the estimate ``V``. The work is done on
    ``V / scale`` (scale = mean visit variance) so that finite-difference steps do not depend
    on the outcome's units; ``Phi_A`` is returned on the original scale, ``P`` and ``W`` on the
    normalised one (use them with ``C / scale``: the KR df are scale-invariant).
    """
    scale = float(np.mean(np.diag(V)))
    V = V / scale
    C = C / scale
    to_tau, from_tau, linear = natural_parametrisation(structure_name, V.shape[0])
    tau = to_tau(V)
    dV, d2V = _derivatives(from_tau, tau, linear)
    q = tau.size
    p = C.shape[0]
    P = np.zeros((q, p, p))
    Q = np.zeros((q, q, p, p))
    R = np.zeros((q, q, p, p))
    trace_vv = np.zeros((q, q))
    for visits, n, Vinv, H in pdata.weighted_design_products(V):
        ix = np.ix_(visits, visits)
        dVp = np.array([d[ix] for d in dV])
        VinvdV = np.einsum("ab,jbc->jac", Vinv, dVp)
        for i in range(q):
            P[i] += np.einsum("ab,abpq->pq", dVp[i], H)
            for j in range(q):
                Q[i, j] += np.einsum("ab,abpq->pq", dVp[i] @ Vinv @ dVp[j], H)
                trace_vv[i, j] += n * np.trace(VinvdV[i] @ VinvdV[j])
                if not linear:
                    R[i, j] += np.einsum("ab,abpq->pq", d2V[i, j][ix], H)
    info = np.empty((q, q))
    for i in range(q):
        for j in range(q):
            info[i, j] = trace_vv[i, j] - 2 * np.trace(C @ Q[i, j]) + np.trace(C @ P[i] @ C @ P[j])
    info = (info + info.T) / 4  # I = tr(P V_i P V_j) / 2, symmetrised
    W = np.linalg.inv(info)
    U = np.zeros((p, p))
    for i in range(q):
        for j in range(q):
            U += W[i, j] * (Q[i, j] - P[i] @ C @ P[j] - 0.25 * R[i, j])
    C_adj = C + 2 * C @ U @ C
    return scale * (C_adj + C_adj.T) / 2, P, W, scale
