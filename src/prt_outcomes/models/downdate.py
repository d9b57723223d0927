"""Refits of a fitted MMRM without some of its participants, by downdating the full fit.

A jackknife (rbmi ``method_condmean(type = "jackknife")``) refits the model once per left-out
participant. Refitting from scratch repeats the formula, the model frame, the design, the
pattern data and the optimisation from a cold start every time; here they are built once, for
the full data, and each refit:

1. removes the participants from the pattern data (:meth:`PatternData.without_subjects`: every
   other pattern's moments are reused, the left-out participants' contributions subtracted from
   their own pattern's);
2. re-optimises the same (RE)ML criterion from the full-data optimum with Newton steps in the
   metric of the full-data Hessian (computed once): leaving one of n participants out moves the
   optimum by O(1/n) and the Hessian by O(1/n), so each step gains about a factor n;
3. accepts the point only where the engine's convergence criterion holds there (max |gradient|
   of the deviance at most the engine's ``_GRADIENT_TOLERANCE``) after the Newton decrement has
   reached the engine's polish threshold; else it runs the engine's optimiser (L-BFGS-B +
   Newton, with its fallbacks) from the same warm start, whose convergence flag is the engine's.

What the downdate cannot reproduce falls back to the refit from scratch (:func:`mmrm` on the
analysed rows without the participants), which gives the engine's result, errors included: a
left-out participant whose absence could alias a column of the design (the certificate below),
or that leaves too few participants, residual degrees of freedom or pairs of visits for the
covariance; a structure with bounded parameters goes to the engine's optimiser directly.

No new aliasing, certified: for a unit vector v, ``|X_(-i) v|^2 = |X v|^2 - |X_i v|^2 >= (1 -
h_i) |X v|^2`` with ``h_i`` the largest eigenvalue of the participant's leverage ``X_i (X'X)^-1
X_i'``; and Gram-Schmidt's residual of a column (the aliasing test of :func:`aliased_columns`,
relative to the column's norm) is at least the smallest singular value of the column-normalised
matrix, which a row deletion lowers by at most ``sqrt(1 - h_i)`` (deleting rows also shrinks the
column norms, which only raises it). So with ``sigma`` that smallest singular value of the full
design, ``sqrt(1 - h) sigma`` more than ten times the aliasing tolerance proves no column of the
reduced design is aliased; otherwise the refit from scratch decides.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import prt_outcomes as po
>>> rng = np.random.default_rng(3)
>>> ids = np.repeat(np.arange(30), 3)
>>> df = pd.DataFrame({"id": ids, "arm": np.where(ids < 15, "pbo", "trt"),
...                    "visit": np.tile(["w1", "w2", "w3"], 30)})
>>> df["y"] = rng.normal(0, 1, 90) + np.repeat(rng.normal(0, 1, 30), 3) - (df.arm == "trt")
>>> df = df.drop(index=[5, 8, 11])  # three participants miss the last visit
>>> fit = po.mmrm("y ~ arm * visit + us(visit | id)", df)
>>> loo = fit.refit_without([3])
>>> loo.method, loo.converged
('downdate', True)
>>> fresh = po.mmrm("y ~ arm * visit + us(visit | id)", df[df.id != 3])
>>> bool(np.allclose(loo.beta, fresh.beta, atol=1e-6))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve

from .blas import one_blas_thread
from .fit import _GRADIENT_TOLERANCE, _optimize, _profiled
from .formula import _ALIAS_TOLERANCE

__all__ = ["Downdater", "RefitWithout"]

_POLISH = 1e-12  # Newton decrement at which the engine's _newton_polish stops: the same target
_MAX_STEPS = 30
_ALIAS_MARGIN = 10.0  # the certificate must beat the aliasing tolerance by this factor


@dataclass
class RefitWithout:
    """The fit of an :class:`~prt_outcomes.models.mmrm_fit.MMRMFit`'s model without some
    participants.

    Attributes
    ----------
    subjects : list
        The left-out participants (values of the subject column).
    beta : ndarray
        Coefficients in the model's coordinates (NaN for aliased ones), as ``MMRMFit.beta``.
    covariance : DataFrame or dict of DataFrame
        Within-subject covariance, as ``MMRMFit.covariance`` (per group level when grouped).
    phi : ndarray
        Covariance parameters (the engine's parametrisation); ``sigma2`` the profiled scale.
    converged : bool
        The engine's criterion, checked at the returned point.
    method : str
        ``"downdate"`` (warm Newton on the downdated data), ``"downdate, engine optimiser"``
        (the engine's optimiser from the warm start on the downdated data) or ``"refit"`` (from
        scratch through :func:`~prt_outcomes.models.mmrm`).
    iterations, evaluations : int
        Newton or optimiser iterations, and likelihood evaluations (0 for a refit).
    reason : str
        Why a refit was needed ("" otherwise).
    """

    subjects: list
    beta: np.ndarray
    covariance: object
    phi: np.ndarray
    sigma2: float
    converged: bool
    method: str
    iterations: int
    evaluations: int
    reason: str = ""


class Downdater:
    """Refits of ``fit`` without given participants; see the module docstring.

    Built once per fit (:meth:`MMRMFit.refit_without` keeps one): it holds the subject codes
    of the pattern data, the full design's cross-product and the full-data Hessian of the
    profiled deviance (one finite-difference Hessian of the analytic gradient, as the engine's
    Newton polish takes it).
    """

    def __init__(self, fit):
        core = fit._core
        self.fit = fit
        self.core = core
        cov = fit.info["covariance_term"]
        self.cov = cov
        ids = fit.frame[cov.subject]
        codes, uniques = pd.factorize(ids)  # rows are in (subject, visit) order: codes = the engine's
        self._code = {u: int(c) for c, u in enumerate(uniques)}
        self._rows_of = np.split(np.arange(len(ids)), np.flatnonzero(np.diff(codes)) + 1)
        self.Xk = fit._X[:, fit._kept]
        xtx = self.Xk.T @ self.Xk
        scale = np.sqrt(np.diag(xtx))
        self._xtx_chol = cho_factor((xtx + xtx.T) / 2)
        normalised = xtx / np.outer(scale, scale)
        self._sigma_min = float(np.sqrt(max(np.linalg.eigvalsh(normalised)[0], 0.0)))
        self._objective, self._sigma2_at = _profiled(core.pdata, core.structure, core.reml)
        self._hessian = None
        with one_blas_thread():
            self._full_hessian()

    # ----------------------------------------------------------------------------------
    def _full_hessian(self):
        """Cholesky factor of the full-data Hessian of the profiled deviance at its optimum
        (None when it is not positive definite: then the engine's optimiser is used)."""
        if self._hessian is None:
            phi = self.core.phi
            g = self._objective(phi)[1]
            H = np.empty((phi.size, phi.size))
            for j in range(phi.size):
                h = 1e-6 * max(1.0, abs(phi[j]))
                up = phi.copy()
                up[j] += h
                H[:, j] = (self._objective(up)[1] - g) / h
            H = (H + H.T) / 2
            try:
                self._hessian = (cho_factor(H),)
            except np.linalg.LinAlgError:
                self._hessian = (None,)
        return self._hessian[0]

    def _refuse(self, codes, pdata) -> str:
        """Why the downdate may differ from a refit from scratch ("" when it may not)."""
        fit, core = self.fit, self.core
        rows = np.concatenate([self._rows_of[c] for c in codes])
        Xi = self.Xk[rows]
        lev = Xi @ cho_solve(self._xtx_chol, Xi.T)
        h = float(np.linalg.eigvalsh((lev + lev.T) / 2)[-1]) if rows.size else 0.0
        if not np.sqrt(max(1.0 - h, 0.0)) * self._sigma_min > _ALIAS_MARGIN * _ALIAS_TOLERANCE:
            return f"a column of the design may become aliased (leverage {h:.6g})"
        n_subjects = fit.n_subjects - len(codes)
        q = core.structure.n_params + 1
        available = pdata.n_obs - (pdata.p if core.reml else 0)
        if n_subjects < 2 or available < 1 or q > available:
            return "too few participants or residual degrees of freedom"
        if self.cov.structure == "unstructured" and self.cov.group is None:
            k = pdata.k
            seen = np.zeros((k, k), dtype=int)
            for pat in pdata.patterns:
                seen[np.ix_(pat.visits, pat.visits)] += pat.n_subjects
            if not np.all(seen > 0):
                return "a pair of visits is no longer observed together"
        return ""

    def _warm_newton(self, objective, phi):
        """Newton steps in the full-data Hessian's metric: (phi, ok, steps, evaluations)."""
        chol = self._full_hessian()
        if chol is None or any(lo is not None or hi is not None for lo, hi in self.core.structure.bounds()):
            return phi, False, 0, 0
        f, g = objective(phi)
        evaluations, steps = 1, 0
        reached = False
        while steps < _MAX_STEPS:
            step = cho_solve(chol, g)
            decrement = float(g @ step)
            if not np.isfinite(decrement):
                break
            if decrement < _POLISH:
                reached = True
                break
            t = 1.0
            while t > 1e-3:
                trial = phi - t * step
                f_trial, g_trial = objective(trial)
                evaluations += 1
                if f_trial <= f + 1e-12 * abs(f):
                    break
                t /= 2
            else:
                break  # no decrease along the Newton direction: rounding, or not near an optimum
            phi, f, g = trial, f_trial, g_trial
            steps += 1
        ok = reached and f < 1e100 and float(np.max(np.abs(g), initial=0.0)) <= _GRADIENT_TOLERANCE
        return phi, ok, steps, evaluations

    def refit(self, subjects) -> RefitWithout:
        """The model fitted without the participants ``subjects`` (values of the subject column).

        Participants that are not in the analysed rows are ignored (leaving them out changes
        nothing). Raises what :func:`~prt_outcomes.models.mmrm` raises on those rows when the
        refit from scratch is needed and fails.
        """
        with one_blas_thread():
            return self._refit(list(subjects))

    def _refit(self, subjects) -> RefitWithout:
        codes = sorted({self._code[s] for s in subjects if s in self._code})
        fit, core = self.fit, self.core
        if not codes:
            return RefitWithout(
                subjects,
                fit.beta.copy(),
                fit.covariance,
                core.phi,
                core.sigma2,
                fit.converged,
                "downdate",
                0,
                0,
            )
        pdata = core.pdata.without_subjects(codes)
        reason = self._refuse(codes, pdata)
        if reason:
            return self._from_scratch(subjects, reason)
        structure, reml = core.structure, core.reml
        objective, sigma2_at = _profiled(pdata, structure, reml)
        phi, ok, steps, evaluations = self._warm_newton(objective, core.phi.copy())
        method = "downdate"
        if not ok:
            opt = _optimize(pdata, structure, reml, core.V)  # the engine's start from V: phi_full
            phi, ok, steps, method = (
                opt["phi"],
                opt["converged"],
                opt["iterations"],
                "downdate, engine optimiser",
            )
            evaluations = -1  # not counted
        sigma2 = float(sigma2_at(phi))
        V = sigma2 * structure.relative(phi)
        ev = pdata.evaluate(V, reml=reml)
        beta = np.full(len(fit.terms), np.nan)
        beta[fit._kept] = ev.beta
        return RefitWithout(
            subjects,
            beta,
            self._covariance_frames(V),
            phi,
            sigma2,
            bool(ok),
            method,
            int(steps),
            int(evaluations),
        )

    def _covariance_frames(self, V):
        if V.ndim == 2:
            names = list(self.fit.covariance.index)
            return pd.DataFrame(V, index=names, columns=names)
        out = {}
        for i, (g, frame) in enumerate(self.fit.covariance.items()):
            out[g] = pd.DataFrame(V[i], index=frame.index, columns=frame.columns)
        return out

    def _from_scratch(self, subjects, reason) -> RefitWithout:
        from .mmrm_fit import mmrm

        fit = self.fit
        frame = fit.frame[~fit.frame[self.cov.subject].isin(subjects)]
        new = mmrm(
            fit.info["formula"],
            frame,
            method=fit.method,
            df_method=fit.df_method,
            levels=fit.info["levels"],
            alpha=fit.alpha,
        )
        # A factor level no longer present loses its columns in the refit's design; in the full
        # model's coordinates those columns are zero, i.e. aliased: NaN, as mmrm reports them.
        position = {t: j for j, t in enumerate(fit.terms)}
        if any(t not in position for t in new.terms) or sorted(position[t] for t in new.terms) != [
            position[t] for t in new.terms
        ]:  # pragma: no cover - the refit's columns are a subset of the full model's
            raise ValueError(f"the refit without {subjects} has other coefficients: {new.terms}")
        beta = np.full(len(fit.terms), np.nan)
        beta[[position[t] for t in new.terms]] = new.beta
        return RefitWithout(
            subjects,
            beta,
            new.covariance,
            new._core.phi,
            new._core.sigma2,
            new.converged,
            "refit",
            int(new.info["iterations"]),
            0,
            reason,
        )
