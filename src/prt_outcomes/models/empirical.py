"""Empirical (sandwich) covariance of the GLS estimate and its Satterthwaite df, as R mmrm.

With ``V_i^-1 = U_i U_i'`` per participant, the whitened design and residuals are
``Z_i = U_i' X_i`` and ``e_i = U_i' (y_i - X_i beta)``; ``C = (X'V^-1X)^-1 = (sum Z_i'Z_i)^-1``.
The three estimators (mmrm ``src/empirical.cpp``, ``get_empirical``) are::

    Cov_emp = C [sum_i Z_i' A_i e_i e_i' A_i Z_i] C
    A_i = I                                  "empirical"               (mmrm "Empirical", CR0,
                                                                        SAS EMPIRICAL)
    A_i = (I - Z_i C Z_i')^-1                "empirical_jackknife"     (mmrm "Empirical-Jackknife",
                                                                        CR3, no (n-1)/n factor)
    A_i = (I - Z_i C Z_i')^-1/2              "empirical_bias_reduced"  (mmrm
                                                                        "Empirical-Bias-Reduced",
                                                                        CR2, Bell & McCaffrey 2002)

(the symmetric inverse square root of a pseudo-inverse with mmrm's tolerance, eps * m * largest
singular value).

Satterthwaite df for ``l beta`` (mmrm ``h_df_1d_sat_empirical``, Bell & McCaffrey's df under the
working model): the estimate ``l Cov_emp l'`` is the quadratic form ``eps' Gamma Gamma' eps`` in the
whitened errors ``eps ~ N(0, I)``, with column ``i`` of ``Gamma`` equal to
``(I - Z C Z')[:, i] u_i`` and ``u_i = A_i Z_i C l'``; so ``df = tr(G)^2 / tr(G^2)`` with the
n x n matrix ``G = Gamma' Gamma``. Because ``Z'Z = C^-1``, ``G = diag(u_i'u_i) - w' C w`` with
``w_i = Z_i' u_i``: no N x N matrix is formed.

Examples
--------
>>> import numpy as np
>>> from prt_outcomes.models.likelihood import PatternData
>>> rng = np.random.default_rng(0)
>>> subj = np.repeat(np.arange(30), 2); visit = np.tile([0, 1], 30)
>>> X = np.column_stack([np.ones(60), visit]); y = X @ [1.0, 0.5] + rng.normal(size=60)
>>> pdata = PatternData.from_arrays(y, X, subject=subj, visit=visit, n_visits=2)
>>> V = np.eye(2); C = np.linalg.inv(pdata.evaluate(V, reml=True).xtvx)
>>> beta = pdata.evaluate(V, reml=True).beta
>>> emp = EmpiricalCovariance(pdata, V, C, beta, "empirical")
>>> emp.cov.shape, round(float(emp.df(np.array([[0.0, 1.0]]))[0]), 1)
((2, 2), 29.0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["EMPIRICAL_KINDS", "EmpiricalCovariance"]

EMPIRICAL_KINDS = ("empirical", "empirical_jackknife", "empirical_bias_reduced")


def _inverse_sqrt_psd(A: np.ndarray) -> np.ndarray:
    """Batched symmetric pseudo-inverse square root, mmrm's ``pseudoInverseSqrt`` tolerance."""
    vals, vecs = np.linalg.eigh(A)
    m = A.shape[-1]
    tol = np.finfo(float).eps * m * np.max(np.abs(vals), axis=-1, keepdims=True)
    inv_sqrt = np.where(vals > tol, 1.0 / np.sqrt(np.where(vals > tol, vals, 1.0)), 0.0)
    return np.einsum("nab,nb,ncb->nac", vecs, inv_sqrt, vecs)


class EmpiricalCovariance:
    """Sandwich covariance ``cov`` of beta and ``df(L)`` for its rows (see the module docstring).

    Parameters
    ----------
    pdata : PatternData
        Rows by missingness pattern (``pattern.y`` (m, n), ``pattern.X`` (m, n, p)); a pattern
        with a ``group`` attribute uses ``V[group]`` when ``V`` is a (G, k, k) stack.
    V : ndarray
        Estimated covariance over the visits, (k, k) or (G, k, k).
    C : ndarray
        Model-based ``(X'V^-1X)^-1``.
    beta : ndarray
        GLS estimate.
    kind : str
        One of :data:`EMPIRICAL_KINDS`.
    """

    def __init__(self, pdata, V, C, beta, kind: str):
        if kind not in EMPIRICAL_KINDS:
            raise ValueError(f"kind={kind!r}; use one of {list(EMPIRICAL_KINDS)}.")
        self.kind = kind
        self.C = C
        Z_all, A_all, scores = [], [], []
        for pat in pdata.patterns:
            Vp = V[getattr(pat, "group", 0)] if V.ndim == 3 else V
            Vp = Vp[np.ix_(pat.visits, pat.visits)]
            Lc = np.linalg.cholesky(Vp)
            Ut = np.linalg.inv(Lc)  # U' with U U' = V^-1
            Z = np.einsum("ab,bnp->nap", Ut, pat.X)  # (n, m, p)
            e = np.einsum("ab,bn->na", Ut, pat.y - pat.X @ beta)  # (n, m)
            m = Vp.shape[0]
            if kind == "empirical":
                A = np.broadcast_to(np.eye(m), (Z.shape[0], m, m))
            else:
                M = np.eye(m) - Z @ C @ np.swapaxes(Z, 1, 2)
                M = (M + np.swapaxes(M, 1, 2)) / 2
                A = np.linalg.inv(M) if kind == "empirical_jackknife" else _inverse_sqrt_psd(M)
            scores.append(np.einsum("nap,nab,nb->np", Z, A, e))
            Z_all.append(Z)
            A_all.append(A)
        self._Z, self._A = Z_all, A_all
        #: Per-participant scores ``Z_i' A_i e_i`` (n_subjects, p), in pattern order.
        self.scores = np.concatenate(scores) if scores else np.zeros((0, C.shape[0]))
        meat = self.scores.T @ self.scores
        cov = C @ meat @ C
        self.cov = (cov + cov.T) / 2

    def df(self, L: np.ndarray) -> np.ndarray:
        """Satterthwaite df ``tr(G)^2 / tr(G^2)`` for each row of ``L`` (mmrm's empirical df)."""
        L = np.atleast_2d(L)
        out = np.empty(L.shape[0])
        for r, row in enumerate(L):
            cl = self.C @ row
            d, w = [], []
            for Z, A in zip(self._Z, self._A):
                u = np.einsum("nab,nbp,p->na", A, Z, cl)  # u_i = A_i Z_i C l'
                d.append(np.einsum("na,na->n", u, u))
                w.append(np.einsum("nap,na->np", Z, u))  # w_i = Z_i' u_i
            d = np.concatenate(d)
            w = np.concatenate(w)  # (n, p)
            wc = w @ self.C  # rows w_i' C
            diag_wcw = np.einsum("np,np->n", wc, w)
            trace = float(d.sum() - diag_wcw.sum())
            # ||diag(d) - w C w'||_F^2 = sum d^2 - 2 sum d_i (wCw')_ii + tr((C w'w)^2)
            cww = self.C @ (w.T @ w)
            frob = float(np.sum(d**2) - 2 * np.sum(d * diag_wcw) + np.sum(cww * cww.T))
            out[r] = trace**2 / frob if frob > 0 else np.inf
        return out
