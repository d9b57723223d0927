"""Var(L beta), denominator df and F tests of a fitted trial model, named as SAS and R mmrm name them.

Two independent choices (registries :data:`DF_METHODS` and :data:`VCOV_METHODS`):

* ``df_method``: how the denominator df of every t (and F) statistic are computed; the
  Kenward-Roger methods also replace the covariance of beta by its bias-adjusted version.
* ``vcov``: ``model`` (the asymptotic ``(X'V^-1X)^-1``) or a sandwich estimator
  (:mod:`prt_outcomes.models.empirical`); not combinable with Kenward-Roger (as in mmrm).

For one row ``l`` every method reproduces the single-contrast formulas of the engine
(Satterthwaite ``2 (l C l')^2 / (g' A g)``; KR the same with the KR ``P``, ``W`` and the
unadjusted C in the numerator, as pbkrtest ``Lb_ddf`` and mmrm ``h_df_1d_kr``). For several rows
:meth:`Inference.f_test` follows lmerTest ``contestMD`` / mmrm ``h_df_md_sat`` (Satterthwaite),
pbkrtest ``.KR_adjust`` / mmrm ``h_kr_df`` (Kenward-Roger, with its scale factor lambda), and a
plain Wald F for ``residual`` and ``between_within`` (mmrm ``h_test_md``).

Examples
--------
>>> [m.name for m in DF_METHODS]  # doctest: +NORMALIZE_WHITESPACE
['satterthwaite', 'kenward_roger', 'kenward_roger_linear', 'kenward_roger_expected',
 'residual', 'between_within']
>>> [m.name for m in VCOV_METHODS]
['model', 'empirical', 'empirical_jackknife', 'empirical_bias_reduced']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..stats.distributions import f_upper_p
from .empirical import EMPIRICAL_KINDS, EmpiricalCovariance
from .kenward_roger import block_of, design_products, kenward_roger_pieces

__all__ = [
    "DF_METHODS",
    "DF_METHOD_NAMES",
    "VCOV_METHODS",
    "VCOV_NAMES",
    "InferenceMethod",
    "Inference",
    "combine_satterthwaite_df",
]


@dataclass(frozen=True)
class InferenceMethod:
    """One row of :data:`DF_METHODS` or :data:`VCOV_METHODS`.

    Attributes
    ----------
    name : str
        The value of ``df_method`` / ``vcov``.
    sas : str
        SAS PROC MIXED equivalent.
    r : str
        R equivalent (mmrm argument, or the package that defines it).
    description : str
        What it computes, in a sentence.
    """

    name: str
    sas: str
    r: str
    description: str


#: Denominator-df methods, in the order the docs list them (the config schema's enum is pinned
#: to the names).
DF_METHODS: tuple[InferenceMethod, ...] = (
    InferenceMethod(
        "satterthwaite",
        "DDFM=SATTERTHWAITE",
        'mmrm method = "Satterthwaite"; lmerTest',
        "Satterthwaite df from the observed information of the covariance parameters "
        "(F tests: lmerTest contestMD)",
    ),
    InferenceMethod(
        "kenward_roger",
        "DDFM=KR",
        'mmrm method = "Kenward-Roger", vcov = "Kenward-Roger"',
        "Kenward-Roger adjusted covariance and df with the observed information of SAS's "
        "covariance parameters (SAS and mmrm default); REML only",
    ),
    InferenceMethod(
        "kenward_roger_linear",
        "DDFM=KR(LINEAR)",
        'mmrm method = "Kenward-Roger", vcov = "Kenward-Roger-Linear"',
        "Kenward-Roger with the second-derivative term of the adjustment dropped (R_ij = 0); REML only",
    ),
    InferenceMethod(
        "kenward_roger_expected",
        "(none: DDFM=KR with the expected information)",
        "pbkrtest KRmodcomp / Lb_ddf; emmeans",
        "Kenward-Roger with the expected REML information, as pbkrtest; REML only",
    ),
    InferenceMethod(
        "residual",
        "DDFM=RESIDUAL",
        'mmrm method = "Residual"',
        "N - rank(X) for every test",
    ),
    InferenceMethod(
        "between_within",
        "DDFM=BETWITHIN",
        'mmrm method = "Between-Within"',
        "subjects - between-subject columns - intercept for contrasts of between-subject "
        "columns, N - subjects - within-subject columns otherwise (mmrm's rule)",
    ),
)
DF_METHOD_NAMES = tuple(m.name for m in DF_METHODS)

#: Covariance estimators of beta.
VCOV_METHODS: tuple[InferenceMethod, ...] = (
    InferenceMethod("model", "(default)", 'mmrm vcov = "Asymptotic"', "(X' V^-1 X)^-1"),
    InferenceMethod(
        "empirical",
        "EMPIRICAL",
        'mmrm vcov = "Empirical"; clubSandwich CR0',
        "sandwich estimator over participants",
    ),
    InferenceMethod(
        "empirical_jackknife",
        "(none)",
        'mmrm vcov = "Empirical-Jackknife"; clubSandwich CR3',
        "jackknife-type sandwich, residuals inflated by (I - H_ii)^-1",
    ),
    InferenceMethod(
        "empirical_bias_reduced",
        "(none)",
        'mmrm vcov = "Empirical-Bias-Reduced"; clubSandwich CR2',
        "Bell & McCaffrey bias-reduced sandwich, (I - H_ii)^-1/2",
    ),
)
VCOV_NAMES = tuple(m.name for m in VCOV_METHODS)

_KR = {
    "kenward_roger": dict(information="observed", second_order=True),
    "kenward_roger_linear": dict(information="observed", second_order=False),
    "kenward_roger_expected": dict(information="expected", second_order=True),
}


def combine_satterthwaite_df(nu: np.ndarray, tol: float = 1e-8) -> float:
    """One denominator df from per-direction df (lmerTest ``get_Fstat_ddf``, mmrm ``h_md_denom_df``).

    ``2 E / (E - q)`` with ``E = sum nu / (nu - 2)``; the mean when all are equal (within
    ``tol``), 2 when any is at most 2.

    Examples
    --------
    >>> round(combine_satterthwaite_df(np.array([10.0, 20.0])), 4)
    13.0769
    """
    nu = np.asarray(nu, dtype=float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2)))
    return 2 * e / (e - nu.size)


class Inference:
    """Var(L beta), denominator df and F tests for rows of L.

    Parameters
    ----------
    pdata : PatternData
        The analysed rows by missingness pattern.
    structure : CovarianceStructure
        The fitted structure, ``V = sigma2 * structure.relative(phi)``.
    phi, sigma2 :
        Covariance estimates.
    C : ndarray
        ``(X' V^-1 X)^-1`` at the estimate.
    reml : bool
    df_method : str
        One of :data:`DF_METHOD_NAMES`.
    mf : ModelFrame or None
        Gives the term names (``between_within`` treats ``(Intercept)`` as mmrm does).
    warnings : list
        Messages are appended to it.
    vcov : str
        One of :data:`VCOV_NAMES`.
    beta : ndarray, optional
        The GLS estimate (:meth:`f_test` needs it; computed from ``V`` when not given).

    Attributes
    ----------
    C_used : ndarray
        The covariance of beta that every SE uses (KR-adjusted or sandwich where chosen).
    C : ndarray
        The unadjusted covariance the df formulas use (on the KR work scale for KR).

    Examples
    --------
    >>> from prt_outcomes.models.covariance import make_structure
    >>> from prt_outcomes.models.likelihood import PatternData
    >>> rng = np.random.default_rng(0)
    >>> subj, visit = np.repeat(np.arange(20), 2), np.tile([0, 1], 20)
    >>> X = np.column_stack([np.ones(40), visit]); y = X @ [1.0, 0.5] + rng.normal(size=40)
    >>> pdata = PatternData.from_arrays(y, X, subject=subj, visit=visit, n_visits=2)
    >>> st, phi, sigma2 = make_structure("compound_symmetry", 2), np.array([0.3]), 1.0
    >>> C = np.linalg.inv(pdata.evaluate(sigma2 * st.relative(phi), reml=True).xtvx)
    >>> test = Inference(pdata, st, phi, sigma2, C, True, "residual", None, []).f_test(np.eye(2))
    >>> test["num_df"], test["den_df"]
    (2, 38.0)
    """

    def __init__(
        self, pdata, structure, phi, sigma2, C, reml, df_method, mf, warnings, *, vcov="model", beta=None
    ):
        if df_method not in DF_METHOD_NAMES:
            raise ValueError(f"df_method={df_method!r}; use one of {list(DF_METHOD_NAMES)}.")
        if vcov not in VCOV_NAMES:
            raise ValueError(f"vcov={vcov!r}; use one of {list(VCOV_NAMES)}.")
        if df_method in _KR and not reml:
            raise ModelError(
                f"df_method={df_method!r} is defined for REML fits only (its bias correction uses "
                "the REML information); set the model method to 'reml' or the df method to "
                "'satterthwaite'."
            )
        if df_method in _KR and vcov != "model":
            raise ValueError(
                f"df_method={df_method!r} adjusts the model-based covariance; it cannot be combined "
                f"with vcov={vcov!r} (as in mmrm): use 'satterthwaite', 'residual' or 'between_within'."
            )
        self.C = C
        self.C_used = C
        self.df_method = df_method
        self.vcov = vcov
        self.n_obs = pdata.n_obs
        self.p = pdata.p
        self._pdata = pdata
        self._V = sigma2 * structure.relative(phi)
        self._beta = beta
        self._term_names = list(getattr(mf, "term_names", None) or [])
        self.empirical = None
        if vcov in EMPIRICAL_KINDS:
            self.empirical = EmpiricalCovariance(pdata, self._V, C, self.beta, vcov)
            self.C_used = self.empirical.cov
        if df_method in _KR:
            V = self._V
            # a grouped structure (G, k, k) has the base's parametrisation in every group
            base = structure.base if getattr(structure, "n_groups", 1) > 1 else structure
            self.C_used, self.P, self.A, scale = kenward_roger_pieces(
                pdata,
                V,
                C,
                base.name,
                warnings=warnings,
                distance=getattr(base, "distance", None),
                **_KR[df_method],
            )
            # P and W are on the scale V / scale; the df only need them consistent with C.
            self.C = C / scale
            return
        if df_method in ("residual", "between_within"):
            return
        if self.empirical is not None:
            return  # Satterthwaite df of the sandwich come from its own quadratic form
        # Covariance parameters (phi, log sigma): phi is scale-free, so finite-difference steps
        # and the positive-definiteness check do not depend on the outcome's units. The df are
        # invariant to this choice at interior points and, at the random-intercept boundary,
        # agree with lmerTest's (theta, sigma) because the deviance is even in theta there.
        theta = np.concatenate((phi, [0.5 * np.log(sigma2)]))
        self.theta = theta
        q = theta.size

        def V_of(t):
            return np.exp(2 * t[-1]) * structure.relative(t[:-1])

        def dV_of(t):
            scale = np.exp(2 * t[-1])
            dR = structure.d_relative(t[:-1])
            return np.concatenate((scale * dR, (2 * scale * structure.relative(t[:-1]))[None]))

        def grad_full(t):
            ev = pdata.evaluate(V_of(t), reml=reml, gradient=True)
            return ev.gradient(dV_of(t))

        # Hessian of the unprofiled deviance by central differences of the analytic gradient:
        # truncation error ~h^2 ~ 1e-8 relative, far below what df need.
        H = np.zeros((q, q))
        for j in range(q):
            h = 1e-4 if j == q - 1 else 1e-4 * max(abs(theta[j]), 0.1)
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            try:
                H[:, j] = (grad_full(up) - grad_full(down)) / (2 * h)
            except np.linalg.LinAlgError:  # a step left the parameter space: go one-sided
                try:
                    H[:, j] = (grad_full(theta) - grad_full(down)) / h
                except np.linalg.LinAlgError:
                    H[:, j] = (grad_full(up) - grad_full(theta)) / h
        H = (H + H.T) / 2
        diag = np.diag(H)
        positive = bool(np.all(diag > 0))
        if positive:
            scaled = H / np.sqrt(np.outer(diag, diag))
            positive = np.linalg.eigvalsh(scaled)[0] > 1e-10
        if positive:
            A = 2 * np.linalg.inv(H)
        else:
            A = 2 * np.linalg.pinv(H)
            warnings.append(
                "the Hessian of the deviance in the covariance parameters is not positive "
                "definite (boundary fit); Satterthwaite df use its pseudo-inverse"
            )
        self.A = A
        V = V_of(theta)
        dV = dV_of(theta)
        P = np.zeros((q, self.p, self.p))
        for group, visits, _n, _vinv, Hp in design_products(pdata, V):
            dVp = np.array([block_of(d, group, visits) for d in dV])
            P += np.einsum("jab,abpq->jpq", dVp, Hp, optimize=True)
        self.P = P

    # ------------------------------------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        if self._beta is None:
            self._beta = self._pdata.evaluate(self._V, reml=True).beta
        return self._beta

    def _between_within(self):
        """mmrm ``h_df_bw_calc``: each column is intercept, between or within subjects."""
        kinds = []
        n_subjects = sum(pat.n_subjects for pat in self._pdata.patterns)
        for c in range(self.p):
            if c < len(self._term_names) and self._term_names[c] == "(Intercept)":
                kinds.append("intercept")
                continue
            within = any(
                pat.visits.size > 1 and np.any(np.ptp(pat.X[:, :, c], axis=0) > 0)
                for pat in self._pdata.patterns
            )
            kinds.append("within" if within else "between")
        kinds = np.array(kinds)
        ddf_between = n_subjects - np.sum(kinds == "between") - np.sum(kinds == "intercept")
        ddf_within = self.n_obs - n_subjects - np.sum(kinds == "within")
        return np.where(kinds == "between", float(ddf_between), float(ddf_within))

    def variance_and_df(self, L: np.ndarray):
        """``Var(l beta)`` (with :attr:`C_used`) and the denominator df, for each row ``l``."""
        L = np.atleast_2d(L)
        LC = L @ self.C_used
        var = np.einsum("rp,rp->r", LC, L)
        if self.df_method == "residual":
            return var, np.full(var.shape, float(self.n_obs - self.p))
        if self.df_method == "between_within":
            col_df = self._between_within()
            df = np.array([col_df[row != 0].min() if np.any(row != 0) else np.nan for row in L])
            return var, df
        if self.empirical is not None:
            return var, self.empirical.df(L)
        LCu = L @ self.C
        # The df numerator uses the unadjusted variance for Kenward-Roger too, as
        # pbkrtest::Lb_ddf (emmeans) and R mmrm do; for Satterthwaite C_used is C.
        var0 = np.einsum("rp,rp->r", LCu, L)
        g = np.einsum("rp,jpq,rq->rj", LCu, self.P, LCu)
        denom = np.einsum("rj,jk,rk->r", g, self.A, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(denom > 0, 2 * var0**2 / denom, np.inf)
        return var, df

    def f_test(self, L: np.ndarray) -> dict:
        """F test of ``L beta = 0``: ``dict(num_df, den_df, F, p)``.

        The hypothesis is reduced to the eigenvectors of ``L C_used L'`` with eigenvalue above
        ``sqrt(eps)`` times the largest (lmerTest / mmrm), so ``num_df`` is the rank of ``L``.
        One direction gives the t test squared with the df of :meth:`variance_and_df`.
        Satterthwaite combines per-direction df with :func:`combine_satterthwaite_df`;
        Kenward-Roger scales the Wald F on ``Phi_A`` by lambda and uses its df ``m``.
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        beta = self.beta
        if L.shape[0] == 1:
            return self._f_one(L)
        d, vecs = np.linalg.eigh(L @ self.C_used @ L.T)
        order = np.argsort(d)[::-1]
        d, vecs = d[order], vecs[:, order]
        pos = d > max(np.sqrt(np.finfo(float).eps) * d[0], 0.0)
        q = int(pos.sum())
        if q == 0:
            return dict(num_df=0, den_df=np.nan, F=np.nan, p=np.nan)
        PtL = vecs[:, pos].T @ L
        if q == 1:
            return self._f_one(PtL)
        F = float(np.sum((PtL @ beta) ** 2 / d[pos]) / q)
        if self.df_method == "satterthwaite":
            _, nu = self.variance_and_df(PtL)
            den = combine_satterthwaite_df(nu)
        elif self.df_method in _KR:
            lam, den = self._kr_f_scale(PtL)
            F = lam * F
        elif self.df_method == "residual":
            den = float(self.n_obs - self.p)
        else:  # between_within: the smallest df of the columns the hypothesis involves
            den = float(self._between_within()[np.any(L != 0, axis=0)].min())
        return dict(num_df=q, den_df=float(den), F=F, p=float(f_upper_p(F, q, den)))

    def _f_one(self, L):
        var, df = self.variance_and_df(L)
        est = float(L[0] @ self.beta)
        F = est**2 / float(var[0])
        return dict(num_df=1, den_df=float(df[0]), F=F, p=float(f_upper_p(F, 1, df[0])))

    def _kr_f_scale(self, L):
        """``(lambda, m)`` of Kenward & Roger (1997), as pbkrtest ``.KR_adjust`` / mmrm ``h_kr_df``."""
        Phi = self.C
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        U = np.array([Theta @ Phi @ Pi @ Phi for Pi in self.P])
        tr = np.einsum("iaa->i", U)
        W = self.A
        A1 = float(tr @ W @ tr)
        A2 = float(np.einsum("ij,iab,jba->", W, U, U))
        q = L.shape[0]
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        e_star = 1 / (1 - A2 / q)
        v_star = 2 / q * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
        rho = v_star / (2 * e_star**2)
        m = 4 + (q + 2) / (q * rho - 1)
        # pbkrtest keeps lambda = 1 when m is (nearly) 2, where m / (m - 2) is undefined
        lam = 1.0 if abs(m - 2) < 0.01 else m / (e_star * (m - 2))
        return lam, m
