"""``mmrm(formula, data)``: an mmrm-style formula interface and a fitted object that answers new
questions (coefficients, emmeans, any contrast, pairwise differences, Type III tests).

The formula is parsed by :mod:`prt_outcomes.models.formula` (R's terms and ``model.matrix``
coding); the fit is the engine's :func:`~prt_outcomes.models.fit.fit_core`, the same
optimisation that :func:`~prt_outcomes.models.fit_trial_model` runs; variances and denominator
df of any ``L beta`` come from the engine's inference object (Satterthwaite, Kenward-Roger or
residual df), which the result keeps, so new questions cost no refit.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import prt_outcomes as po
>>> rng = np.random.default_rng(3)
>>> ids = np.repeat(np.arange(30), 3)
>>> df = pd.DataFrame({"id": ids, "arm": np.where(ids < 15, "pbo", "trt"),
...                    "visit": np.tile(["w1", "w2", "w3"], 30)})
>>> df["y"] = rng.normal(0, 1, 90) + np.repeat(rng.normal(0, 1, 30), 3) - (df.arm == "trt")
>>> fit = po.mmrm("y ~ arm * visit + us(visit | id)", df)
>>> fit.coefficients["term"].tolist()[:3]
['(Intercept)', 'arm[trt]', 'visit[w2]']
>>> fit.pairs("arm", by="visit")[["contrast", "visit"]].iloc[0].tolist()
['pbo - trt', 'w1']
>>> fit.type3()["term"].tolist()
['arm', 'visit', 'arm:visit']
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..errors import ModelError
from ..stats.distributions import t_inference
from .blas import one_blas_thread
from .covariance import make_structure
from .design import _positions, _present
from .fit import fit_core
from .formula import Design, Formula, aliased_columns, factor_levels, parse_formula
from .inference import DF_METHOD_NAMES, VCOV_NAMES, Inference

__all__ = ["mmrm", "MMRMFit"]

_ESTIMABLE_TOLERANCE = 1e-6  # |L n| / max|L| for n an orthonormal null vector of X (emmeans: 1e-8 on a
# differently scaled basis; any estimable L gives ~1e-12 here, a non-estimable one O(1))


def _zapsmall(x, digits=7):
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest entry."""
    x = np.asarray(x, dtype=float)
    mx = np.max(np.abs(x), initial=0.0)
    if not mx > 0:
        return x
    return np.round(x, int(max(0, digits - np.ceil(np.log10(mx)))))


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


class MMRMFit:
    """A fitted model of :func:`mmrm` (or the ``model`` of a ``fit_trial_model`` result).

    Attributes
    ----------
    coefficients : DataFrame
        ``term, estimate, se, df, t, p, ci_low, ci_high``; aliased terms have NaN.
    covariance : DataFrame or dict of DataFrame
        Estimated within-subject covariance (visits x visits); per group level when grouped.
    variance_components : DataFrame or None
        ``parameter, estimate`` as ``fit_trial_model`` names them (None when grouped).
    vcov : DataFrame
        Covariance of the estimated (non-aliased) coefficients, the one used for every SE
        (Kenward-Roger adjusted with ``df_method="kenward_roger"``).
    loglik, aic, bic : float
    converged : bool
    warnings : list of str
    n_obs, n_subjects : int
    info : dict
    """

    def __init__(
        self,
        *,
        formula: Formula,
        design: Design,
        frame: pd.DataFrame,
        X: np.ndarray,
        aliased: np.ndarray,
        core,
        inference,
        method: str,
        df_method: str,
        alpha: float,
        warnings: list,
        n_subjects: int,
        visit_names: list,
        group_names: list | None = None,
        info: dict | None = None,
    ):
        self.formula = formula
        self.design = design
        self.frame = frame
        self._X = X
        self.aliased = np.asarray(aliased, dtype=bool)
        self._kept = np.flatnonzero(~self.aliased)
        self._core = core
        self._inference = inference
        self.method = method
        self.df_method = df_method
        self.alpha = alpha
        self.warnings = warnings
        self.n_obs = int(X.shape[0])
        self.n_subjects = int(n_subjects)
        self.converged = bool(core.opt["converged"])
        self.info = dict(info or {})
        self.terms = list(design.column_names)
        beta = np.full(len(self.terms), np.nan)
        beta[self._kept] = core.beta
        self.beta = beta
        loglik = -0.5 * core.ev.deviance
        q_cov = core.structure.n_params + 1
        n_params = q_cov if method == "reml" else q_cov + self._kept.size
        self.loglik = float(loglik)
        self.aic = float(-2 * loglik + 2 * n_params)
        self.bic = float(-2 * loglik + n_params * np.log(self.n_subjects))
        self.n_covariance_parameters = q_cov
        V = core.V
        self.variance_components = None
        if V.ndim == 2:
            self.covariance = pd.DataFrame(V, index=visit_names, columns=visit_names)
            comps = core.structure.components(core.phi, core.sigma2, visit_names)
            self.variance_components = pd.DataFrame(
                {"parameter": [c[0] for c in comps], "estimate": [float(c[1]) for c in comps]}
            )
        else:
            self.covariance = {
                g: pd.DataFrame(V[i], index=visit_names, columns=visit_names)
                for i, g in enumerate(group_names)
            }
        kept_names = [self.terms[i] for i in self._kept]
        self.vcov = pd.DataFrame(inference.C_used, index=kept_names, columns=kept_names)
        self._null = self._null_basis()
        self.coefficients = self.conf_int(alpha, full=True)

    # ------------------------------------------------------------------ linear functions
    def _null_basis(self):
        """Orthonormal basis of the null space of X (non-empty only with aliased columns)."""
        if not self.aliased.any():
            return np.zeros((len(self.terms), 0))
        Xk = self._X[:, self._kept]
        vectors = []
        for j in np.flatnonzero(self.aliased):
            b = np.linalg.lstsq(Xk, self._X[:, j], rcond=None)[0]
            n = np.zeros(len(self.terms))
            n[self._kept] = -b
            n[j] = 1.0
            vectors.append(n)
        return np.linalg.qr(np.column_stack(vectors))[0]

    def _estimable(self, L):
        if self._null.shape[1] == 0:
            return np.ones(L.shape[0], dtype=bool)
        scale = np.maximum(np.max(np.abs(L), axis=1), 1e-300)
        return np.max(np.abs(L @ self._null), axis=1) / scale <= _ESTIMABLE_TOLERANCE

    def _table(self, L, alpha=None, *, check=True):
        """estimate, se, df, t, p, ci_low, ci_high of each row of ``L`` (full coefficient
        coordinates); NaN for non-estimable rows (``check=False``: the coefficients of the
        solution with the aliased ones at 0, which R, mmrm and SAS print)."""
        alpha = self.alpha if alpha is None else alpha
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[1] != len(self.terms):
            raise ValueError(
                f"L has {L.shape[1]} columns; the model has {len(self.terms)} coefficients {self.terms}."
            )
        ok = self._estimable(L) if check else np.ones(L.shape[0], dtype=bool)
        Lk = L[:, self._kept]
        est = Lk @ self._core.beta
        var, df = self._inference.variance_and_df(Lk)
        var = np.asarray(var, dtype=float)
        df = np.asarray(df, dtype=float)
        se = np.sqrt(np.clip(var, 0, None))
        out = pd.DataFrame({"estimate": est, "se": se, "df": df, **t_inference(est, se, df, alpha)})
        out.loc[~ok, :] = np.nan
        return out

    def conf_int(self, alpha: float = 0.05, *, full: bool = False) -> pd.DataFrame:
        """Coefficient table at confidence level ``1 - alpha``: ``term, estimate, ci_low, ci_high``
        (all columns of :attr:`coefficients` with ``full=True``)."""
        L = np.eye(len(self.terms))[self._kept]
        tab = self._table(L, alpha, check=False)
        out = pd.DataFrame(np.nan, index=range(len(self.terms)), columns=tab.columns)
        out.iloc[self._kept] = tab.to_numpy()
        out.insert(0, "term", self.terms)
        return out if full else out[["term", "estimate", "ci_low", "ci_high"]]

    def contrast(self, L, labels=None) -> pd.DataFrame:
        """Any linear functions ``L beta``: one row of ``L`` (length = number of coefficients,
        aliased ones included) per contrast. A DataFrame ``L`` may name its columns by term."""
        if isinstance(L, pd.DataFrame):
            missing = [c for c in L.columns if c not in self.terms]
            if missing:
                raise ValueError(f"L names unknown terms {missing}; the terms are {self.terms}.")
            labels = list(L.index) if labels is None else labels
            L = L.reindex(columns=self.terms, fill_value=0.0).to_numpy(dtype=float)
        L = np.atleast_2d(np.asarray(L, dtype=float))
        tab = self._table(L)
        tab.insert(0, "label", list(labels) if labels is not None else [f"c{i + 1}" for i in range(len(tab))])
        return tab

    # ------------------------------------------------------------------ reference grid
    def _factor_names(self, names, what):
        if names is None:
            return []
        names = [names] if isinstance(names, str) else list(names)
        bad = [n for n in names if n not in self.design.factors]
        if bad:
            raise ValueError(
                f"{what} {bad} are not factors of the model's fixed effects {self.design.factors}."
            )
        return names

    def _grid(self, specs, by, weights):
        """(combinations, L): one row of L per level combination of ``specs + by``, the other
        factors averaged (emmeans' reference grid; numeric variables at their mean)."""
        if weights not in ("equal", "proportional"):
            raise ValueError(f"weights={weights!r}; use 'equal' or 'proportional'.")
        specs = self._factor_names(specs, "specs")
        by = self._factor_names(by, "by")
        if not specs:
            raise ValueError("specs names at least one factor.")
        wanted = specs + by
        if len(set(wanted)) != len(wanted):
            raise ValueError(f"specs and by repeat a factor: {wanted}.")
        others = [f for f in self.design.factors if f not in wanted]
        lv = self.design.levels
        # emmeans' order: the first factor varies fastest
        combos = [tuple(reversed(c)) for c in itertools.product(*[lv[f] for f in reversed(wanted)])]
        other_combos = [tuple(reversed(c)) for c in itertools.product(*[lv[f] for f in reversed(others)])]
        if weights == "equal" or not others:
            w = np.ones(len(other_combos))
        else:
            counts = self.frame.groupby(others, observed=True).size()
            w = np.array([float(counts.get(c if len(others) > 1 else c[0], 0)) for c in other_combos])
        w = w / w.sum()
        rows = []
        for combo in combos:
            for oc in other_combos:
                rows.append(dict(zip(wanted, combo)) | dict(zip(others, oc)))
        grid = pd.DataFrame(rows, columns=wanted + others)
        for v, m in self.design.means.items():
            grid[v] = m
        Xg = self.design.matrix(grid).reshape(len(combos), len(other_combos), -1)
        L = np.einsum("o,cop->cp", w, Xg)
        return wanted, combos, L

    def emmeans(self, specs, by=None, weights: str = "equal") -> pd.DataFrame:
        """Estimated marginal means (R emmeans, SAS LSMEANS).

        Parameters
        ----------
        specs, by : str or list of str
            Factors whose level combinations are estimated (``by`` only groups the rows).
        weights : {"equal", "proportional"}
            How the other factors are averaged: equal weights (emmeans' default, SAS LSMEANS),
            or weights proportional to the observed frequencies of their level combinations in
            the analysed rows (emmeans ``weights = "proportional"``, SAS ``OBSMARGINS``).
            Numeric variables are at their mean over the analysed rows in both.

        Returns
        -------
        DataFrame
            One column per factor in specs and by, then ``estimate, se, df, ci_low, ci_high``;
            rows with the first factor varying fastest. A non-estimable mean is NaN.
        """
        wanted, combos, L = self._grid(specs, by, weights)
        tab = self._table(L)
        out = pd.DataFrame(combos, columns=wanted)
        for c in ("estimate", "se", "df", "ci_low", "ci_high"):
            out[c] = tab[c].to_numpy()
        return out

    def pairs(self, specs, by=None, weights: str = "equal") -> pd.DataFrame:
        """All pairwise differences of the marginal means of ``specs`` within each ``by`` group,
        earlier minus later level (SAS ``PDIFF=ALL``; emmeans ``pairs(adjust = "none")``): no
        multiplicity adjustment of p or CI.

        Returns
        -------
        DataFrame
            ``contrast`` (e.g. ``"DRUG - PLACEBO"``; combinations of several specs factors are
            joined by spaces), the ``by`` columns, ``estimate, se, df, t, p, ci_low, ci_high``.
        """
        specs_l = self._factor_names(specs, "specs")
        by_l = self._factor_names(by, "by")
        wanted, combos, L = self._grid(specs_l, by_l, weights)
        ns = len(specs_l)
        groups: dict = {}
        for i, combo in enumerate(combos):
            groups.setdefault(combo[ns:], []).append(i)
        labels, by_values, Ls = [], [], []
        for key, idx in groups.items():
            for a, b in itertools.combinations(idx, 2):
                name = " ".join(map(str, combos[a][:ns])) + " - " + " ".join(map(str, combos[b][:ns]))
                labels.append(name)
                by_values.append(key)
                Ls.append(L[a] - L[b])
        tab = self._table(np.array(Ls)) if Ls else self._table(np.zeros((0, len(self.terms))))
        out = pd.DataFrame({"contrast": labels})
        for j, f in enumerate(by_l):
            out[f] = [k[j] for k in by_values]
        return pd.concat([out, tab.reset_index(drop=True)], axis=1)

    # ------------------------------------------------------------------ Type III
    def type3_contrasts(self) -> dict:
        """Type III hypothesis matrices per term (full coefficient coordinates), as lmerTest's
        ``get_contrasts_type3`` (SAS HTYPE=3 for treatment-coded models)."""
        design, frame = self.design, self.frame
        f = design.formula
        kept = self._kept
        Xk = self._X[:, kept]
        kept_names = [self.terms[i] for i in kept]
        kept_term = [design.column_term[i] for i in kept]
        # rdX: every term with all its factors as full indicators (lmerTest get_rdX)
        rd_cols, rd_names = [], []
        if f.intercept:
            rd_cols.append(np.ones(len(frame)))
            rd_names.append("(Intercept)")
        full = Design(
            f,
            design.kinds,
            design.levels,
            [{v: 2 for v in t} for t in f.terms],
            design.factor_codes,
            [],
            [],
        )
        for j in range(len(f.terms)):
            names = full._term_column_names(j)
            sub = Design(
                Formula(f.text, f.response, [f.terms[j]], False, None, list(f.terms[j])),
                design.kinds,
                design.levels,
                [full.codes[j]],
                [full.codes[j]],
                [],
                [],
            )
            rd_cols.append(sub.matrix(frame))
            rd_names += names
        rdX = np.column_stack(rd_cols)
        L = _zapsmall((np.linalg.pinv(Xk) @ rdX).T)  # rows: rdX columns, columns: kept X columns
        term_cols = {j: [c for c, t in enumerate(kept_term) if t == j] for j in range(len(f.terms))}
        # containment (lmerTest term_contain): variables coded by contrasts (terms() code 1)
        vars_ = [{v for v, code in design.factor_codes[j].items() if code == 1} for j in range(len(f.terms))]
        nums = [{v for v in vs if design.kinds[v] == "numeric"} for vs in vars_]

        def contains(a, b):  # term b contains term a
            return vars_[a] <= vars_[b] and bool(vars_[b] - vars_[a]) and nums[a] == nums[b]

        order = sorted(range(len(f.terms)), key=lambda j: -len(f.terms[j]))
        for j in order:
            containers = [b for b in range(len(f.terms)) if contains(j, b)]
            cols = term_cols[j]
            ccols = [c for b in containers for c in term_cols[b]]
            if containers and cols and ccols:
                A, Y = L[:, ccols], L[:, cols]
                coef = np.linalg.lstsq(A, Y, rcond=None)[0]
                L[:, cols] = _zapsmall(Y - A @ coef)
        index = {n: i for i, n in enumerate(rd_names)}
        L = L[[index[n] for n in kept_names]]
        out = {}
        for j, term in enumerate(f.terms):
            Lt = L[:, term_cols[j]].T
            Lt = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
            Lfull = np.zeros((Lt.shape[0], len(self.terms)))
            Lfull[:, kept] = Lt
            out[":".join(term)] = Lfull
        return out

    def f_test(self, L) -> dict:
        """F test of ``L beta = 0`` (rows of ``L`` in full coefficient coordinates)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        Lk = L[:, self._kept]
        return dict(self._inference.f_test(Lk))

    def type3(self) -> pd.DataFrame:
        """Type III tests of every fixed-effect term: ``term, num_df, den_df, F, p``
        (SAS ``HTYPE=3``, lmerTest ``anova(type = 3)``)."""
        rows = []
        for term, L in self.type3_contrasts().items():
            if L.shape[0] == 0:
                rows.append(dict(term=term, num_df=0, den_df=np.nan, F=np.nan, p=np.nan))
                continue
            res = self.f_test(L)
            rows.append(dict(term=term, **{k: res[k] for k in ("num_df", "den_df", "F", "p")}))
        return pd.DataFrame(rows, columns=["term", "num_df", "den_df", "F", "p"])

    # ------------------------------------------------------------------ leave-out refits
    def refit_without(self, subjects):
        """The same model fitted without the participants ``subjects`` (values of the subject
        column), as :func:`mmrm` of the analysed rows without them would fit it, but from this
        fit's pattern data and optimum (:mod:`prt_outcomes.models.downdate`): a jackknife's
        leave-one-out refits cost a few likelihood evaluations each.

        Returns
        -------
        RefitWithout
            ``beta`` (NaN where aliased), ``covariance`` (as :attr:`covariance`), ``converged``
            (the engine's criterion at the returned point), ``method`` (``"downdate"``, or
            ``"refit"`` where the downdate could differ from a refit from scratch, e.g. a column
            that may become aliased; then :func:`mmrm` refits the rows and decides).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import prt_outcomes as po
        >>> rng = np.random.default_rng(3)
        >>> df = pd.DataFrame({"id": np.repeat(np.arange(30), 3), "visit": np.tile(["a", "b", "c"], 30)})
        >>> df["y"] = rng.normal(0, 1, 90) + np.repeat(rng.normal(0, 1, 30), 3)
        >>> fit = po.mmrm("y ~ visit + us(visit | id)", df)
        >>> loo = fit.refit_without([7])
        >>> fresh = po.mmrm("y ~ visit + us(visit | id)", df[df.id != 7])
        >>> loo.method, bool(np.allclose(loo.beta, fresh.beta, atol=1e-6))
        ('downdate', True)
        """
        if getattr(self, "_downdater", None) is None:
            from .downdate import Downdater

            self._downdater = Downdater(self)
        return self._downdater.refit(subjects)

    # ------------------------------------------------------------------ printing
    def summary(self) -> str:
        i = self.info
        lines = [
            f"MMRM: {self.formula.text}",
            f"covariance={i.get('covariance')}  method={self.method}  df={self.df_method}  "
            f"converged={self.converged}",
            f"observations={self.n_obs}  subjects={self.n_subjects}  loglik={self.loglik:.4f}  "
            f"AIC={self.aic:.2f}  BIC={self.bic:.2f}",
            "",
            "Fixed effects:",
            self.coefficients.to_string(index=False, float_format=lambda x: f"{x:.4g}"),
        ]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MMRMFit({self.formula.text!r}, n_obs={self.n_obs}, n_subjects={self.n_subjects}, "
            f"converged={self.converged})"
        )


# ---------------------------------------------------------------------------------- entry point
def _structure_for(name, k, n_groups, coordinates):
    return make_structure(name, k, n_groups=n_groups, coordinates=coordinates)


def mmrm(
    formula: str,
    data: pd.DataFrame,
    *,
    method: str = "reml",
    df_method: str = "satterthwaite",
    vcov: str = "model",
    levels: dict | None = None,
    reference: dict | None = None,
    alpha: float = 0.05,
) -> MMRMFit:
    """Fit a mixed model for repeated measures from an mmrm / R formula.

    Parameters
    ----------
    formula : str
        ``response ~ fixed terms + covariance term``. Fixed terms as in R (``a*b``, ``a:b``,
        ``(a + b)*c``, ``-1``, ``+ 0``); numeric columns enter as is, string / category / bool
        columns as factors coded as R's ``model.matrix`` does (treatment contrasts where the
        term's margin is in the model, full indicators where it is not). Exactly one covariance
        term: ``us(VISIT | ID)``, ``cs``, ``csh``, ``ar1``, ``ar1h``, ``toep``, ``toeph``, ``ad``,
        ``adh``, ``sp_exp(T1[, T2] | ID)``, grouped ``us(VISIT | ARM / ID)``, or lme4's
        random intercept ``(1 | ID)``.
    data : DataFrame
        Long data, one row per subject x visit.
    method : {"reml", "ml"}
    df_method : str
        One of :data:`prt_outcomes.models.inference.DF_METHODS` (each row names its SAS and R
        option): ``satterthwaite`` (default; SAS DDFM=SATTERTH, mmrm, lmerTest),
        ``kenward_roger`` (SAS DDFM=KR, mmrm "Kenward-Roger": observed information),
        ``kenward_roger_linear`` (SAS DDFM=KR(LINEAR)), ``kenward_roger_expected`` (pbkrtest),
        ``residual``, ``between_within``.
    vcov : str
        Covariance of the estimates (:data:`prt_outcomes.models.inference.VCOV_METHODS`):
        ``model`` (default), ``empirical`` (SAS EMPIRICAL, mmrm "Empirical"),
        ``empirical_jackknife``, ``empirical_bias_reduced``.
    levels : dict, optional
        Level order per factor column, e.g. ``{"VISIT": ["4", "5", "6", "7"]}``; a numeric column
        named here becomes a factor.
    reference : dict, optional
        Reference level per factor, moved first, e.g. ``{"THERAPY": "PLACEBO"}``.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    MMRMFit

    Raises
    ------
    ModelError
        On a formula error, a missing covariance term, unknown columns, a non-numeric response,
        duplicated subject x visit rows, a group that varies within subject, or data that cannot
        support the covariance.

    Notes
    -----
    Rows with a missing response, covariate, visit or subject are not analysed; the count is in
    ``warnings`` and ``info["n_rows_dropped"]``. Aliased (linearly dependent) columns of the
    design are dropped from the fit and reported as NaN with a warning, as mmrm
    ``accept_singular = TRUE`` and SAS do. For ``(1 | ID)`` the rows of a subject are its
    observations in order (the exchangeable covariance does not depend on which visit is which).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import prt_outcomes as po
    >>> rng = np.random.default_rng(0)
    >>> ids = np.repeat(np.arange(40), 3)
    >>> df = pd.DataFrame({"id": ids, "arm": np.where(ids % 2, "drug", "placebo"),
    ...                    "visit": np.tile(["w1", "w2", "w4"], 40),
    ...                    "base": np.repeat(rng.normal(20, 3, 40), 3)})
    >>> df["chg"] = (-0.3 * df["base"] + rng.normal(0, 2, 120)
    ...              - 2 * (df["arm"] == "drug") * (df["visit"] != "w1"))
    >>> fit = po.mmrm("chg ~ visit + base:visit + arm:visit + us(visit | id)", df,
    ...               reference={"arm": "placebo"})
    >>> fit.pairs("arm", by="visit")[["contrast", "visit", "estimate", "se"]].round(2)
             contrast visit  estimate    se
    0  placebo - drug    w1     -1.13  0.56
    1  placebo - drug    w2      2.68  0.64
    2  placebo - drug    w4      3.00  0.73
    >>> fit.type3()[["term", "num_df"]]
             term  num_df
    0       visit       2
    1  visit:base       3
    2   visit:arm       3
    """
    if method not in ("reml", "ml"):
        raise ValueError(f"method={method!r}; use 'reml' or 'ml'.")
    if df_method not in DF_METHOD_NAMES:
        raise ValueError(f"df_method={df_method!r}; use one of {list(DF_METHOD_NAMES)}.")
    if vcov not in VCOV_NAMES:
        raise ValueError(f"vcov={vcov!r}; use one of {list(VCOV_NAMES)}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be between 0 and 1.")
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if df_method.startswith("kenward_roger") and method != "reml":
        raise ModelError(
            f"df_method={df_method!r} is defined for REML fits only (its bias correction uses the "
            "REML information); use method='reml' or df_method='satterthwaite'."
        )
    f = parse_formula(formula)
    cov = f.covariance
    if cov is None:
        raise ModelError(
            f"formula {formula!r} has no covariance term, so the within-subject covariance is not "
            "defined; add one such as us(VISIT | SUBJECT) (unstructured), cs(VISIT | SUBJECT) or "
            "(1 | SUBJECT) (random intercept)."
        )
    structural = [*cov.visit, cov.subject] + ([cov.group] if cov.group else [])
    needed = list(dict.fromkeys([f.response, *f.variables, *structural]))
    missing_cols = [c for c in needed if c not in data.columns]
    if missing_cols:
        raise ModelError(
            f"formula {formula!r}: column(s) {missing_cols} are not in the data; available columns: "
            f"{list(data.columns)}. Check the spelling (names are case-sensitive)."
        )
    for name in (levels or {}, reference or {}):
        unknown = [c for c in name if c not in f.variables and c not in structural]
        if unknown:
            raise ModelError(
                f"formula {formula!r}: levels / reference name column(s) {unknown} that are not in "
                f"the formula (its variables: {f.variables + structural}); remove them or fix the name."
            )
    y_col = data[f.response]
    if not (pd.api.types.is_numeric_dtype(y_col.dtype) and not pd.api.types.is_bool_dtype(y_col.dtype)):
        raise ModelError(
            f"formula {formula!r}: the response {f.response!r} has dtype {y_col.dtype}, not numbers; "
            "convert it with pd.to_numeric (missing-value codes as NaN) before fitting."
        )
    warnings: list[str] = []
    # Masks and codes on the caller's columns; the analysed rows are taken once, in their final
    # (subject, visit) order, so the long frame is copied once, not once per step.
    na = {c: data[c].isna().to_numpy() for c in needed}
    no_y = na[f.response]
    other_missing = (
        np.logical_or.reduce([na[c] for c in needed[1:]] + [np.zeros(len(data), dtype=bool)]) & ~no_y
    )
    if no_y.any() or other_missing.any():
        parts = []
        if no_y.any():
            parts.append(f"{int(no_y.sum())} with a missing response")
        if other_missing.any():
            which = [c for c in needed[1:] if (na[c] & other_missing).any()]
            parts.append(f"{int(other_missing.sum())} with a missing value in {which}")
        warnings.append(f"{int((no_y | other_missing).sum())} row(s) not analysed: " + "; ".join(parts))
    n_dropped = int((no_y | other_missing).sum())
    keep = np.flatnonzero(~(no_y | other_missing))
    if keep.size == 0:
        raise ModelError(
            f"formula {formula!r}: no rows are left to analyse after dropping rows with a missing "
            "response or covariate; check the columns (or their missing-value codes)."
        )
    levels = dict(levels or {})
    reference = dict(reference or {})
    columns = [data.columns.get_loc(c) for c in needed]

    # ----- visit positions of the covariance ----------------------------------------------
    subject_rank = _dense(_factorize(data[cov.subject])[keep])
    coordinates = None
    if cov.code == "ri":
        order = np.argsort(subject_rank, kind="stable")  # lexsort((arange, rank))
        subject_rank = subject_rank[order]
        rows = keep[order]
        new = np.r_[True, subject_rank[1:] != subject_rank[:-1]]
        position = np.arange(rows.size)
        visit_code = position - np.maximum.accumulate(np.where(new, position, 0))  # cumcount
        k = int(visit_code.max() + 1)
        visit_names = [str(i + 1) for i in range(k)]
    elif cov.code == "sp_exp":
        coords = data.iloc[keep, [data.columns.get_loc(c) for c in cov.visit]]
        if not all(pd.api.types.is_numeric_dtype(coords[c].dtype) for c in cov.visit):
            raise ModelError(
                f"formula {formula!r}: sp_exp() coordinates {list(cov.visit)} must be numeric (times or "
                "positions); convert them before fitting."
            )
        tuples = list(map(tuple, coords.to_numpy(dtype=float)))
        distinct = sorted(set(tuples))
        index = {t: i for i, t in enumerate(distinct)}
        visit_code = np.array([index[t] for t in tuples], dtype=np.int64)
        coordinates = np.array(distinct, dtype=float)
        k = len(distinct)
        visit_names = [", ".join(f"{x:g}" for x in t) for t in distinct]
    else:
        vcol = cov.visit[0]
        # The covariance's visit order is the level order; a reference level of the visit factor
        # is a choice of coding and must not reorder the lags of ar1 / toep / ad.
        vcodes, vuniques = pd.factorize(data[vcol])
        vlevels = factor_levels(_present(data[vcol], vcodes, vuniques, keep), levels.get(vcol), None, vcol)
        visit_code = _positions(vcodes[keep], vuniques, vlevels)
        k = len(vlevels)
        visit_names = [str(v) for v in vlevels]
    if cov.code != "ri":
        # every sum over rows runs in (subject, visit) order: the fit does not depend on row order
        order = np.lexsort((visit_code, subject_rank))
        rows, visit_code, subject_rank = keep[order], visit_code[order], subject_rank[order]
        dup = np.r_[False, (subject_rank[1:] == subject_rank[:-1]) & (visit_code[1:] == visit_code[:-1])]
        if dup.any():
            example = data.iloc[int(rows[np.flatnonzero(dup)[0]])]
            what = ", ".join(f"{c}={example[c]!r}" for c in [cov.subject, *cov.visit])
            raise ModelError(
                f"formula {formula!r}: {int(dup.sum())} row(s) repeat a subject x visit with an observed "
                f"response (e.g. {what}); an MMRM has one row per subject and visit: keep one (or "
                "aggregate) and refit."
            )
    frame = data.iloc[rows, columns]
    # subjects numbered in order of appearance in the sorted rows (pd.factorize of the ranks)
    subject_code = np.cumsum(np.r_[True, subject_rank[1:] != subject_rank[:-1]]) - 1
    n_subjects = int(subject_code.max() + 1)
    group_code, group_names = None, None
    if cov.group:
        gcodes, guniques = pd.factorize(data[cov.group])
        gcodes = gcodes[rows]
        starts = np.flatnonzero(np.r_[True, subject_code[1:] != subject_code[:-1]])
        if np.any(np.maximum.reduceat(gcodes, starts) != np.minimum.reduceat(gcodes, starts)):
            raise ModelError(
                f"formula {formula!r}: the group {cov.group!r} of the covariance term changes within "
                f"subject for some {cov.subject!r}; a grouped covariance needs one group per subject "
                "(check the column or use an ungrouped term)."
            )
        present = _present(data[cov.group], gcodes, guniques, None)
        group_names = factor_levels(present, levels.get(cov.group), reference.get(cov.group), cov.group)
        group_code = _positions(gcodes, guniques, group_names)
    if n_subjects < 2:
        raise ModelError(
            f"formula {formula!r}: the data have values for only {n_subjects} subject, too few to "
            "estimate a within-subject covariance; check the subject column or the rows filtered out."
        )

    # ----- design --------------------------------------------------------------------------
    design = Design.build(f, frame, levels=levels, reference=reference)
    X = design.matrix(frame)
    y = frame[f.response].to_numpy(dtype=float)
    aliased = aliased_columns(X)
    if aliased.all():
        raise ModelError(f"formula {formula!r}: the fixed effects have no estimable column; check the terms.")
    if aliased.any():
        names = [n for n, a in zip(design.column_names, aliased) if a]
        warnings.append(
            f"{int(aliased.sum())} coefficient(s) not estimable (the column is a linear combination of "
            f"earlier ones) and reported as NaN: {names}"
        )
    # no copy when nothing is aliased; else a row-major copy, the layout fit_trial_model has
    Xk = X if not aliased.any() else np.ascontiguousarray(X[:, ~aliased])
    structure = _structure_for(cov.structure, k, len(group_names) if group_names else 1, coordinates)
    reml = method == "reml"
    n, p = Xk.shape
    q = structure.n_params + 1
    available = n - p if reml else n
    if available < 1 or q > available:
        raise ModelError(
            f"formula {formula!r}: the {cov.structure} covariance has {q} parameter(s) but {n} "
            f"observations for {p} estimable fixed effects leave {available} residual degree(s) of "
            "freedom; use a simpler covariance structure or fewer terms."
        )

    def check(pdata):
        """Refuse what the likelihood cannot identify (as fit_trial_model does)."""
        residual = pdata.ols()[1]
        if np.linalg.norm(residual) <= 1e-10 * np.linalg.norm(y - y.mean()):
            raise ModelError(
                f"formula {formula!r}: the fixed effects reproduce every response exactly (zero "
                "residual variance), so no covariance can be estimated; check the response column "
                "and the terms."
            )
        if cov.structure != "unstructured" or group_code is not None:
            return
        seen = np.zeros((k, k), dtype=int)
        for pat in pdata.patterns:
            seen[np.ix_(pat.visits, pat.visits)] += pat.n_subjects
        never = [
            (visit_names[a], visit_names[b]) for a in range(k) for b in range(a + 1, k) if not seen[a, b]
        ]
        if never:
            raise ModelError(
                f"formula {formula!r}: an unstructured covariance has a covariance for every pair of "
                f"visits, but no subject has values at both visits of {never}; use a structured "
                "covariance (e.g. ar1, toep, cs) or drop one of those visits."
            )

    with one_blas_thread():
        try:
            core = fit_core(
                y,
                Xk,
                subject=subject_code,
                visit=visit_code,
                n_visits=k,
                structure=structure,
                reml=reml,
                group=group_code,
                warnings=warnings,
                check=check,
            )
            inference = Inference(
                core.pdata,
                structure,
                core.phi,
                core.sigma2,
                core.C,
                reml,
                df_method,
                None,
                warnings,
                vcov=vcov,
                beta=core.beta,
            )
        except np.linalg.LinAlgError as error:
            raise ModelError(
                f"formula {formula!r}: the {cov.structure} model cannot be fitted to these data "
                f"(numerical failure: {error}); check the response's values per visit, or choose a "
                "simpler covariance structure."
            ) from error
    info = {
        "formula": formula,
        "covariance": cov.structure,
        "covariance_term": cov,
        "method": method,
        "df_method": df_method,
        "vcov": vcov,
        "optimizer": core.opt["optimizer"],
        "iterations": core.opt["iterations"],
        "levels": {v: [_py(x) for x in lv] for v, lv in design.levels.items()},
        "n_rows_dropped": n_dropped,
        "n_patterns": len(core.pdata.patterns),
        "covariance_parameters": core.phi.tolist(),
    }
    return MMRMFit(
        formula=f,
        design=design,
        frame=frame.reset_index(drop=True),
        X=X,
        aliased=aliased,
        core=core,
        inference=inference,
        method=method,
        df_method=df_method,
        alpha=alpha,
        warnings=warnings,
        n_subjects=n_subjects,
        visit_names=visit_names,
        group_names=group_names,
        info=info,
    )


def model_from_frame(mf, core, inference, *, outcome, covariance, method, df_method, alpha, warnings):
    """The :class:`MMRMFit` of a ``fit_trial_model`` fit (its ``model``), on the same core and
    inference objects, so its answers are those of the result's tables.

    The analysed rows are rebuilt from the model frame (levels from the codes, covariates from
    the design columns) and the design is rebuilt through the formula
    ``outcome ~ arm * visit + covariates``; it must reproduce the engine's design exactly
    (names and values), else ``None`` is returned rather than a model that answers differently.
    """
    arm, visit = mf.arm_column, mf.visit_column
    index = {n: i for i, n in enumerate(mf.term_names)}
    # factors as categoricals from the model frame's codes: no per-row objects
    cols = {
        outcome: mf.y,
        arm: pd.Categorical.from_codes(mf.arm_code, categories=pd.Index(mf.arm_levels, dtype=object)),
        visit: pd.Categorical.from_codes(mf.visit_code, categories=pd.Index(mf.visit_levels, dtype=object)),
    }
    position = {c: index[c] for c in mf.numeric_covariates}
    for c, levels in mf.factor_covariates.items():
        position[c] = index[f"{c}[{levels[1]}]"]
        codes = getattr(mf, "factor_codes", {}).get(c)
        if codes is None:
            codes = np.zeros(mf.y.size, dtype=np.int64)
            for j, level in enumerate(levels[1:], start=1):
                codes[mf.X[:, index[f"{c}[{level}]"]] == 1] = j
        cols[c] = pd.Categorical.from_codes(codes, categories=pd.Index(levels, dtype=object))
    for c in mf.numeric_covariates:
        cols[c] = mf.X[:, index[c]]
    covs = sorted(position, key=position.get)  # the model's covariate order
    frame = pd.DataFrame(cols)
    # the terms of mf.formula: arm and visit only where they have more than one level
    several_arms, several_visits = len(mf.arm_levels) > 1, len(mf.visit_levels) > 1
    main = [(arm,)] * several_arms + [(visit,)] * several_visits
    terms = main + [(c,) for c in covs] + [(arm, visit)] * (several_arms and several_visits)
    variables = [v for (v,) in main] + covs
    formula = Formula(mf.formula, outcome, terms, True, None, variables)
    levels = {v: lv for v, lv in ((arm, mf.arm_levels), (visit, mf.visit_levels)) if v in variables}
    design = Design.build(formula, frame, levels=levels | mf.factor_covariates)
    if design.column_names != list(mf.term_names):
        return None
    # the rebuilt design must equal the engine's; compared block by block, so the model keeps
    # the engine's matrix (one n x p copy in memory, not two)
    block = 1 << 16
    for start in range(0, len(frame), block):
        if not np.array_equal(design.matrix(frame.iloc[start : start + block]), mf.X[start : start + block]):
            return None
    X = mf.X
    info = {"formula": mf.formula, "covariance": covariance, "method": method, "df_method": df_method}
    return MMRMFit(
        formula=formula,
        design=design,
        frame=frame,
        X=X,
        aliased=np.zeros(X.shape[1], dtype=bool),
        core=core,
        inference=inference,
        method=method,
        df_method=df_method,
        alpha=alpha,
        warnings=warnings,
        n_subjects=mf.n_subjects,
        visit_names=[str(v) for v in mf.visit_levels],
        info=info,
    )


def _dense(rank: np.ndarray) -> np.ndarray:
    """Ranks renumbered 0, 1, ... over the values present (the sorted codes of the subset)."""
    present = np.zeros(int(rank.max()) + 1 if rank.size else 0, dtype=bool)
    present[rank] = True
    return (np.cumsum(present) - 1)[rank]


def _factorize(values: pd.Series) -> np.ndarray:
    try:
        return pd.factorize(values, sort=True)[0]
    except TypeError:  # ids of mixed types: order them by their text
        return pd.factorize(values.astype(str), sort=True)[0]
