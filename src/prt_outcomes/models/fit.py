"""``fit_trial_model``: linear mixed model / MMRM over visits with marginal means and contrasts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import ModelError
from ..stats.distributions import t_inference
from ..stats.effects import STANDARDIZERS, hedges_g, pooled_sd
from .blas import one_blas_thread
from .covariance import COVARIANCE_REGISTRY, COVARIANCE_STRUCTURES, CovarianceStructure, make_structure
from .design import ModelFrame, build_model_frame
from .inference import DF_METHOD_NAMES, Inference
from .likelihood import PatternData
from .result import (
    COEFFICIENT_COLUMNS,
    CONTRAST_COLUMNS,
    MEANS_COLUMNS,
    TrialModelResult,
)

__all__ = ["fit_trial_model", "fit_core", "CoreFit"]

_LOG_2PI = np.log(2 * np.pi)
_GRADIENT_TOLERANCE = 1e-3  # max |projected gradient| of the deviance accepted as converged
# ... or, equivalently on any scale, a Newton decrement g' H^-1 g below this: the deviance is
# then within 1e-6 / 2 of its optimum in the covariance parameters.
_DECREMENT_TOLERANCE = 1e-6
# A one-sided slope below -_SLOPE_NOISE at a bound triggers a restart inside the parameter space
# (it costs a few evaluations); only slopes below -_GRADIENT_TOLERANCE make a fit non-converged.
_SLOPE_NOISE = 1e-8
# Designs up to this many entries (rows x columns) get their OLS start from an SVD of the rows;
# larger ones from the pattern moments (PatternData.ols), which costs no pass over X.
_SMALL_OLS = 1_000_000


def fit_trial_model(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    visit: str,
    subject: str,
    covariates=(),
    covariance: str = "unstructured",
    reference_arm=None,
    method: str = "reml",
    df_method: str = "satterthwaite",
    vcov: str = "model",
    arm_levels=None,
    visit_levels=None,
    baseline_visit=None,
    baseline_adjusted: bool = False,
    standardizer: str = "baseline_sd",
    alpha: float = 0.05,
) -> TrialModelResult:
    """Fit ``outcome ~ arm * visit + covariates`` with a within-participant covariance structure.

    The fixed effects use treatment coding: the intercept is the reference arm at the first
    visit at the reference levels of factor covariates (numeric covariates at 0). The
    likelihood is REML (default) or ML over the observed outcomes of each participant,
    ``y_i ~ N(X_i beta, V[obs_i, obs_i])`` (missing at random), as SAS PROC MIXED
    ``REPEATED / TYPE=...`` and R ``mmrm``; ``random_intercept`` is lme4's ``(1 | subject)``.

    Parameters
    ----------
    data : DataFrame
        Long data, one row per participant x visit.
    outcome, arm, visit, subject : str
        Column names. Rows with a missing outcome are not analysed.
    covariates : sequence of str
        Numeric dtypes enter linearly; string / category / bool dtypes as factors (first level
        = reference). Rows with any missing covariate are dropped, with a warning.
    covariance : str
        One of ``random_intercept``, ``compound_symmetry``, ``unstructured``, ``ar1``,
        ``toeplitz``, ``heterogeneous_compound_symmetry``, ``heterogeneous_ar1``,
        ``heterogeneous_toeplitz``, ``ante_dependence``, ``heterogeneous_ante_dependence``,
        ``spatial_exponential``. AR(1) and Toeplitz use visit positions (equal spacing); the
        spatial exponential uses the visit values themselves as times (they must be numeric,
        e.g. months), so unequal spacing is modelled.
    reference_arm : optional
        Reference arm of the contrasts; default the first arm level.
    method : {"reml", "ml"}
    df_method : {"satterthwaite", "kenward_roger", "kenward_roger_linear", "kenward_roger_expected", \
"residual", "between_within"}
        Denominator df of every t statistic (:data:`prt_outcomes.models.inference.DF_METHODS`).
        satterthwaite: lmerTest / emmeans / SAS DDFM=SATTERTH / mmrm (observed information);
        kenward_roger: bias-adjusted Cov(beta) and df (Kenward & Roger 1997) with the observed
        REML information in SAS's covariance parameters, as SAS DDFM=KR and mmrm
        "Kenward-Roger"; kenward_roger_linear: without the second-derivative term (SAS
        DDFM=KR(LINEAR), mmrm "Kenward-Roger-Linear"); kenward_roger_expected: expected
        information as pbkrtest / emmeans; the KR methods need REML and every SE, CI and p then
        uses the adjusted covariance (see :mod:`prt_outcomes.models.kenward_roger`); residual =
        N - p; between_within: mmrm "Between-Within" (SAS DDFM=BW).
    vcov : {"model", "empirical", "empirical_jackknife", "empirical_bias_reduced"}
        Covariance of the estimates (:data:`prt_outcomes.models.inference.VCOV_METHODS`):
        model-based, or the sandwich over participants (SAS EMPIRICAL, mmrm "Empirical") and its
        jackknife and bias-reduced variants (mmrm "Empirical-Jackknife" /
        "Empirical-Bias-Reduced"); not with the Kenward-Roger methods.
    arm_levels, visit_levels : list, optional
        Explicit level order; default the categorical order, else sorted values.
    baseline_visit : optional
        Baseline visit; default the first visit level.
    baseline_adjusted : bool
        If True, the response is the post-baseline visits, with the participant's baseline
        value as covariate ``baseline_<outcome>``; the arm x visit terms run over post-baseline
        visits. Change contrasts are then identical to the visit contrasts.
    standardizer : {"baseline_sd", "change_sd", "residual_sd"}
        SD dividing contrasts into Hedges g (:data:`prt_outcomes.stats.effects.STANDARDIZERS`): pooled
        within-arm SD of the observed outcome at the baseline visit over the two arms compared;
        pooled within-arm SD of the observed change from baseline at the contrast's visit (NaN
        at the baseline visit); or the model-estimated SD ``sqrt(V[v, v])`` at the contrast's
        visit. The contrast tables name it in ``hedges_g_sd``.
    alpha : float
        1 - confidence level.

    Returns
    -------
    TrialModelResult
        ``marginal_means`` follow emmeans' default reference grid: equal weights over the
        levels of factor covariates, numeric covariates (and the baseline covariate) at their
        mean over the analysed rows. ``contrasts`` are arm minus reference at each model
        visit; ``change_contrasts`` are (arm - reference at v) - (arm - reference at baseline)
        for each post-baseline visit. Hedges g CIs are the model CIs divided by the SD, times
        J (see :mod:`prt_outcomes.stats.effects`), with n1, n2 = participants with an observed
        baseline value in each arm. For single-arm data the contrast tables are empty.
        ``aic``/``bic``: ``-2 loglik + 2 q`` and ``+ q log(n_subjects)`` with q the number of
        covariance parameters under REML (SAS PROC MIXED, R mmrm; lme4 and nlme also count
        the fixed effects, and lme4 uses log(n_obs)) and q = covariance + fixed parameters
        under ML. ``n_subjects`` counts participants with an analysed outcome; SAS counts
        every subject in its input, so its BIC differs when some have none (fev_data:
        3439.28 here with 197, SAS 3439.4 with 200).

    Raises
    ------
    ModelError
        When the data cannot support the model: a constant or collinear covariate, a single
        participant, an arm x visit cell without values, an outcome without variation or without
        follow-up values, more covariance parameters than the data identify, Kenward-Roger df
        with ML. The message is one paragraph starting ``outcome '<outcome>':`` that says what
        to do.
    ValueError
        On an argument outside its allowed values (``covariance``, ``method``, ...).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from prt_outcomes.models import fit_trial_model
    >>> rng = np.random.default_rng(1)
    >>> ids = np.repeat(np.arange(40), 3)
    >>> df = pd.DataFrame({
    ...     "id": ids,
    ...     "arm": np.where(ids < 20, "usual_care", "prt"),
    ...     "visit": np.tile(["pre", "post", "m1"], 40),
    ...     "pain": rng.normal(5, 1, 120) - np.where(ids < 20, 0, 2) * np.tile([0, 1, 1], 40),
    ... })
    >>> fit = fit_trial_model(df, outcome="pain", arm="arm", visit="visit", subject="id",
    ...                       reference_arm="usual_care", visit_levels=["pre", "post", "m1"])
    >>> fit.info["formula"]
    'pain ~ arm * visit'
    >>> fit.change_contrasts[["visit", "arm", "estimate"]].round(2)
      visit  arm  estimate
    0  post  prt     -2.03
    1    m1  prt     -2.75
    """
    # The engine's matrix products are small (k x k, p x p, stacked rows); BLAS threads only add
    # synchronisation, and on a loaded 2-core machine they made a fit 20x slower.
    with one_blas_thread():
        try:
            return _fit(**locals())
        except np.linalg.LinAlgError as error:
            # The data checks before the fit refuse what they can name (constant, collinear,
            # unidentifiable); a matrix that is still singular is a property of this outcome's
            # data too, not a bug, so the caller gets the same kind of error, naming the outcome.
            raise ModelError(
                f"outcome {outcome!r}: the {covariance} model cannot be fitted to these data "
                f"(numerical failure: {error}). This happens when the outcome is (nearly) constant, "
                "or a covariate or visit leaves the model without information; check this "
                "outcome's values per arm and visit, or choose a simpler covariance structure."
            ) from error


def _fit(
    data,
    *,
    outcome,
    arm,
    visit,
    subject,
    covariates,
    covariance,
    reference_arm,
    method,
    df_method,
    vcov,
    arm_levels,
    visit_levels,
    baseline_visit,
    baseline_adjusted,
    standardizer,
    alpha,
) -> TrialModelResult:
    if covariance not in COVARIANCE_STRUCTURES:
        raise ValueError(
            f"covariance={covariance!r} is not supported; use one of {list(COVARIANCE_STRUCTURES)}."
        )
    if method not in ("reml", "ml"):
        raise ValueError(f"method={method!r}; use 'reml' or 'ml'.")
    if df_method not in DF_METHOD_NAMES:
        raise ValueError(f"df_method={df_method!r}; use one of {list(DF_METHOD_NAMES)}.")
    if standardizer not in STANDARDIZERS:
        raise ValueError(f"standardizer={standardizer!r}; use one of {list(STANDARDIZERS)}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be between 0 and 1.")
    if df_method.startswith("kenward_roger") and method != "reml":
        raise ModelError(
            f"outcome {outcome!r}: df_method={df_method!r} is defined for REML fits only (its "
            "bias correction uses the REML information); set the model method to 'reml' or the "
            "df method to 'satterthwaite'."
        )

    mf = build_model_frame(
        data,
        outcome=outcome,
        arm=arm,
        visit=visit,
        subject=subject,
        covariates=covariates,
        reference_arm=reference_arm,
        arm_levels=arm_levels,
        visit_levels=visit_levels,
        baseline_visit=baseline_visit,
        baseline_adjusted=baseline_adjusted,
    )
    k = len(mf.visit_levels)
    reml = method == "reml"
    coordinates = None
    if covariance == "spatial_exponential":
        try:
            coordinates = np.array([float(v) for v in mf.visit_levels])[:, None]
        except (TypeError, ValueError):
            raise ValueError(
                f"covariance='spatial_exponential' needs the time of each visit: the visit column "
                f"{visit!r} must hold numbers (e.g. months since baseline), not {list(mf.visit_levels)}; "
                "or fit it with po.mmrm and an sp_exp(time | subject) term."
            ) from None
    structure = make_structure(covariance, k, coordinates=coordinates)
    warnings = list(mf.warnings)

    def check(pdata):
        _refuse_unidentifiable(mf, pdata, structure, reml, outcome, covariance)
        if k == 1 and covariance == "random_intercept":
            warnings.append(
                "only one visit in the model: the subject intercept variance is not identifiable "
                "and is reported at its starting value"
            )

    core = fit_core(
        mf.y,
        mf.X,
        subject=mf.subject_code,
        visit=mf.visit_code,
        n_visits=k,
        structure=structure,
        reml=reml,
        warnings=warnings,
        check=check,
    )
    pdata, opt, phi, sigma2, V, ev, beta, C = (
        core.pdata,
        core.opt,
        core.phi,
        core.sigma2,
        core.V,
        core.ev,
        core.beta,
        core.C,
    )

    inference = Inference(
        pdata, structure, phi, sigma2, C, reml, df_method, mf, warnings, vcov=vcov, beta=beta
    )

    n_obs = int(mf.y.size)
    p = mf.X.shape[1]
    coef_l = np.eye(p)
    coefficients = _t_table(coef_l, beta, inference, alpha)
    coefficients.insert(0, "term", mf.term_names)

    means_rows, means_l = [], []
    counts = np.bincount(mf.arm_code * k + mf.visit_code, minlength=len(mf.arm_levels) * k).reshape(-1, k)
    for ai, a in enumerate(mf.arm_levels):
        for vi, v in enumerate(mf.visit_levels):
            means_rows.append((a, v, int(counts[ai, vi])))
            means_l.append(mf.grid_row(a, v))
    mm = _t_table(np.array(means_l), beta, inference, alpha)
    marginal_means = pd.DataFrame(
        {
            "arm": [r[0] for r in means_rows],
            "visit": [r[1] for r in means_rows],
            "estimate": mm["estimate"],
            "se": mm["se"],
            "df": mm["df"],
            "ci_low": mm["ci_low"],
            "ci_high": mm["ci_high"],
            "n_observed": [r[2] for r in means_rows],
        }
    )[MEANS_COLUMNS]

    contrasts = _contrast_table(mf, V, beta, inference, alpha, standardizer, change=False)
    if baseline_adjusted:
        change_contrasts = contrasts.copy()
    else:
        change_contrasts = _contrast_table(mf, V, beta, inference, alpha, standardizer, change=True)

    visit_names = [str(v) for v in mf.visit_levels]
    covariance_frame = pd.DataFrame(V, index=visit_names, columns=visit_names)
    components = structure.components(phi, sigma2, visit_names)
    variance_components = pd.DataFrame(
        {"parameter": [c[0] for c in components], "estimate": [float(c[1]) for c in components]}
    )
    loglik = -0.5 * ev.deviance
    q_cov = structure.n_params + 1
    n_params = q_cov if reml else q_cov + p
    aic = -2 * loglik + 2 * n_params
    bic = -2 * loglik + n_params * np.log(mf.n_subjects)

    info = {
        "formula": mf.formula,
        "covariance": covariance,
        "method": method,
        "df_method": df_method,
        "vcov": vcov,
        "optimizer": opt["optimizer"],
        "iterations": opt["iterations"],
        "reference_arm": _py(mf.reference_arm),
        "baseline_visit": _py(mf.baseline_visit),
        "baseline_adjusted": baseline_adjusted,
        "standardizer": standardizer,
        "levels": {
            arm: [_py(v) for v in mf.arm_levels],
            visit: [_py(v) for v in mf.visit_levels],
            **{c: [_py(v) for v in lv] for c, lv in mf.factor_covariates.items()},
        },
        "n_covariance_parameters": q_cov,
        "n_patterns": len(pdata.patterns),
        "covariance_parameters": phi.tolist(),
        "alpha": alpha,
    }
    from .mmrm_fit import model_from_frame  # here, not at the top: mmrm imports this module

    warnings = _unique(warnings)
    try:
        model = model_from_frame(
            mf,
            core,
            inference,
            outcome=outcome,
            covariance=covariance,
            method=method,
            df_method=df_method,
            alpha=alpha,
            warnings=warnings,
        )
    except (ValueError, KeyError, TypeError, IndexError):
        # ``model`` is an extra for notebook questions; the result's tables never depend on it,
        # so input the formula front end cannot rebuild leaves it None instead of failing the fit.
        model = None
    return TrialModelResult(
        coefficients=coefficients[COEFFICIENT_COLUMNS],
        marginal_means=marginal_means,
        contrasts=contrasts,
        change_contrasts=change_contrasts,
        covariance=covariance_frame,
        variance_components=variance_components,
        vcov=pd.DataFrame(inference.C_used, index=mf.term_names, columns=mf.term_names),
        loglik=float(loglik),
        aic=float(aic),
        bic=float(bic),
        converged=bool(opt["converged"]),
        warnings=warnings,
        n_obs=n_obs,
        n_subjects=mf.n_subjects,
        info=info,
        model=model,
    )


# ------------------------------------------------------------------------------------------
@dataclass
class CoreFit:
    """The optimised covariance and the GLS quantities at it, shared by every model front end."""

    pdata: PatternData
    structure: CovarianceStructure
    reml: bool
    opt: dict
    phi: np.ndarray
    sigma2: float
    V: np.ndarray  # (k, k), or (G, k, k) for a grouped structure
    ev: object  # likelihood.Evaluation at V (with gradient matrices)
    beta: np.ndarray
    C: np.ndarray  # (X' V^-1 X)^-1, model-based Cov(beta_hat)
    warnings: list


def pattern_data(y, X, *, subject, visit, n_visits, group=None) -> PatternData:
    """The rows grouped by missingness pattern (and covariance group, when given)."""
    return PatternData.from_arrays(y, X, subject=subject, visit=visit, n_visits=n_visits, group=group)


def fit_core(
    y,
    X,
    *,
    subject,
    visit,
    n_visits,
    structure: CovarianceStructure,
    reml: bool,
    group=None,
    warnings: list | None = None,
    check=None,
) -> CoreFit:
    """(RE)ML fit of ``y ~ N(X beta, V)`` with ``V`` of ``structure`` within each subject.

    ``X`` must have full column rank (the front ends drop aliased columns first). ``check``,
    if given, is called with the :class:`PatternData` before the optimisation (data checks
    that need the patterns). Optimiser and boundary messages are appended to ``warnings``.
    """
    warnings = [] if warnings is None else warnings
    pdata = pattern_data(y, X, subject=subject, visit=visit, n_visits=n_visits, group=group)
    if check is not None:
        check(pdata)
    opt = _optimize(pdata, structure, reml, _empirical_covariance(pdata))
    warnings += opt["warnings"]
    phi, sigma2 = opt["phi"], opt["sigma2"]
    V = sigma2 * structure.relative(phi)
    ev = pdata.evaluate(V, reml=reml, gradient=True)
    C = np.linalg.inv(ev.xtvx)
    C = (C + C.T) / 2
    warnings += structure.boundary_messages(phi)
    return CoreFit(pdata, structure, reml, opt, phi, sigma2, V, ev, ev.beta, C, warnings)


# ------------------------------------------------------------------------------------------
def _py(value):
    """numpy scalars to Python scalars, so that ``info`` serialises to JSON as is."""
    return value.item() if isinstance(value, np.generic) else value


def _unique(items):
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _refuse_unidentifiable(mf: ModelFrame, pdata: PatternData, structure, reml, outcome, covariance):
    """Refuse models whose covariance the data cannot identify (or that have no residual).

    Counts: the ``q`` covariance parameters need ``q`` residual degrees of freedom (``N - p``
    under REML, ``N`` under ML). Visit-specific variances (unstructured, heterogeneous) need
    at each visit more observations than arms there (the arm x visit means absorb one per arm);
    an unstructured covariance needs every pair of visits observed together in some
    participant, and more participants than visits + arms (else the residual vectors span
    fewer than k dimensions and the REML likelihood is unbounded at a singular covariance).
    """
    n, p = mf.X.shape
    q = structure.n_params + 1
    available = n - p if reml else n
    what = f"outcome {outcome!r}: the {covariance} covariance"
    advice = "use a simpler covariance structure (e.g. compound_symmetry) or more data"
    if available < 1 or q > available:
        raise ModelError(
            f"{what} has {q} parameter(s) but {n} observations for {p} fixed effects leave "
            f"{available} residual degree(s) of freedom; {advice}."
        )
    residual = pdata.ols()[1]
    if np.linalg.norm(residual) <= 1e-10 * np.linalg.norm(mf.y - mf.y.mean()):
        raise ModelError(
            f"outcome {outcome!r}: the fixed effects reproduce every value exactly (zero residual "
            "variance), so no covariance can be estimated; check the outcome column (is it a "
            "copy of a covariate or of the arm/visit coding?)."
        )
    k = pdata.k
    visit_specific = COVARIANCE_REGISTRY[covariance].heterogeneous  # a variance per visit
    if not visit_specific or k < 2:
        return
    visit_names = [str(v) for v in mf.visit_levels]
    for j in range(k):
        at = mf.visit_code == j
        if at.sum() - np.unique(mf.arm_code[at]).size < 1:
            raise ModelError(
                f"{what} has a variance for visit {visit_names[j]!r}, but that visit has only "
                f"{int(at.sum())} observation(s), one per arm, which the arm x visit means use up; "
                f"{advice}."
            )
    if covariance != "unstructured":
        return
    seen = np.zeros((k, k), dtype=int)
    for pat in pdata.patterns:
        seen[np.ix_(pat.visits, pat.visits)] += pat.n_subjects
    missing = [(visit_names[a], visit_names[b]) for a in range(k) for b in range(a + 1, k) if not seen[a, b]]
    if missing:
        raise ModelError(
            f"{what} has a covariance for every pair of visits, but no participant has values at "
            f"both visits of {missing}; {advice}."
        )
    n_arms = np.unique(mf.arm_code).size
    if mf.n_subjects - n_arms < k:
        raise ModelError(
            f"{what} over {k} visits needs at least {k + n_arms} participants with values "
            f"({k} visits + {n_arms} arm(s)), but only {mf.n_subjects} have any; {advice}."
        )


def _empirical_covariance(pdata: PatternData) -> np.ndarray:
    """Pairwise-complete covariance of OLS residuals by visit, nudged to positive definite."""
    if pdata.n_obs * pdata.p <= _SMALL_OLS:
        # the SVD least squares of the stacked rows, as always: at this size it is cheap, and
        # the start (hence the end point of a fit that does not converge) stays as it was
        X = np.vstack([pat.X.reshape(-1, pdata.p) for pat in pdata.patterns])
        y = np.concatenate([pat.y.reshape(-1) for pat in pdata.patterns])
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
    else:
        beta = pdata.ols()[0]  # normal equations from the moments, refined against the rows
    resid = pdata.residual_matrix(beta)
    k = pdata.k
    emp = pd.DataFrame(resid).cov(min_periods=2).to_numpy().copy()
    overall = float(np.nanmean(resid**2)) if np.isfinite(resid).any() else 1.0
    overall = overall if overall > 0 else 1.0
    diag = np.diag(emp).copy()
    diag[~np.isfinite(diag) | (diag <= 0)] = overall
    emp[~np.isfinite(emp)] = 0.0
    emp[np.diag_indices(k)] = diag
    vals, vecs = np.linalg.eigh(emp)
    floor = 1e-3 * float(np.mean(diag))
    if vals[0] < floor:
        emp = (vecs * np.clip(vals, floor, None)) @ vecs.T
    return (emp + emp.T) / 2


def _profiled(pdata: PatternData, structure: CovarianceStructure, reml: bool):
    """Deviance with sigma2 profiled out, and its gradient in phi."""
    dof = pdata.n_obs - (pdata.p if reml else 0)

    def objective(phi):
        # A far line-search step can overflow a log-scale parameter (exp) into inf / nan: that
        # point is as infeasible as a singular one, not an error of the data.
        with np.errstate(over="ignore", invalid="ignore"):
            R = structure.relative(phi)
        if not np.all(np.isfinite(R)):
            return 1e100, np.zeros_like(phi)
        try:
            ev = pdata.evaluate(R, reml=reml, gradient=True)
        except np.linalg.LinAlgError:
            return 1e100, np.zeros_like(phi)
        s = ev.quad / dof
        if not s > 0:
            return 1e100, np.zeros_like(phi)
        dev = dof * (_LOG_2PI + np.log(s) + 1.0) + ev.logdet_v
        if reml:
            dev += ev.logdet_xtvx
        # Envelope theorem: d dev / d phi at the optimal sigma2 = s is <G_V, s dR>,
        # G_V = (sum V^-1 - W C W')/s - (sum V^-1 r r' V^-1)/s^2 evaluated with R.
        G = ev.g_fixed - ev.g_resid / s
        dR = structure.d_relative(phi)
        if G.ndim == 2:
            grad = np.einsum("ab,jab->j", G, dR)
        else:  # grouped structure: G (groups, k, k), dR (q, groups, k, k)
            grad = np.einsum("gab,jgab->j", G, dR)
        return float(dev), grad

    def sigma2_at(phi):
        ev = pdata.evaluate(structure.relative(phi), reml=reml)
        return ev.quad / dof

    def inward_slopes(phi):
        """Slope of the profiled deviance along each of ``structure.inward_derivatives(phi)``:
        at a bound the point is optimal only if none is negative (the one-sided condition)."""
        directions = structure.inward_derivatives(phi)
        if not directions:
            return np.zeros(0)
        ev = pdata.evaluate(structure.relative(phi), reml=reml, gradient=True)
        s = ev.quad / dof
        G = ev.g_fixed - ev.g_resid / s
        return np.array([float(np.sum(G * d)) for d in directions])

    objective.inward_slopes = inward_slopes
    return objective, sigma2_at


def _projected_gradient(phi, grad, bounds):
    g = np.array(grad, dtype=float)
    for j, (lo, hi) in enumerate(bounds):
        if lo is not None and phi[j] <= lo and g[j] > 0:
            g[j] = 0.0
        if hi is not None and phi[j] >= hi and g[j] < 0:
            g[j] = 0.0
    return g


def _free_mask(phi, grad, bounds):
    """Parameters not held at a bound by a gradient pointing outwards."""
    free = np.ones(phi.size, dtype=bool)
    for j, (lo, hi) in enumerate(bounds):
        if lo is not None and phi[j] <= lo and grad[j] >= 0:
            free[j] = False
        if hi is not None and phi[j] >= hi and grad[j] <= 0:
            free[j] = False
    return free


def _newton_polish(objective, phi, bounds, clip, max_steps=8):
    """Newton steps on the free parameters with a finite-difference Hessian of the analytic
    gradient. L-BFGS-B stalls a little short of the optimum when the deviance is large (its
    line search hits rounding); Newton converges quadratically from there.

    Returns the polished parameters and the Newton decrement ``g' H^-1 g`` (the expected
    deviance improvement still available, times 2).
    """
    f, g = objective(phi)
    decrement = np.inf
    for _ in range(max_steps):
        free = _free_mask(phi, g, bounds)
        if not free.any():
            return phi, 0.0
        idx = np.flatnonzero(free)
        H = np.empty((idx.size, idx.size))
        for col, j in enumerate(idx):
            h = 1e-6 * max(1.0, abs(phi[j]))
            up = phi.copy()
            up[j] += h
            if bounds[j][1] is not None and up[j] > bounds[j][1]:
                up[j] = phi[j] - h
                h = -h
            H[:, col] = (objective(up)[1][idx] - g[idx]) / h
        H = (H + H.T) / 2
        try:
            np.linalg.cholesky(H)
            step_free = np.linalg.solve(H, g[idx])
        except np.linalg.LinAlgError:
            return phi, decrement
        decrement = float(g[idx] @ step_free)
        if decrement < 1e-12:
            return phi, decrement
        step = np.zeros_like(phi)
        step[idx] = step_free
        t = 1.0
        while t > 1e-3:
            trial = clip(phi - t * step)
            f_trial, g_trial = objective(trial)
            if f_trial <= f + 1e-12 * abs(f):
                break
            t /= 2
        else:
            return phi, decrement
        phi, f, g = trial, f_trial, g_trial
    return phi, decrement


def _optimize(pdata, structure, reml, empirical):
    objective, sigma2_at = _profiled(pdata, structure, reml)
    bounds = structure.bounds()
    warnings: list[str] = []
    if structure.n_params == 0:
        phi = np.zeros(0)
        return dict(
            phi=phi,
            sigma2=sigma2_at(phi),
            converged=True,
            optimizer="closed form",
            iterations=0,
            warnings=warnings,
        )

    def clip(x):
        x = np.array(x, dtype=float)
        for j, (lo, hi) in enumerate(bounds):
            if lo is not None:
                x[j] = max(x[j], lo)
            if hi is not None:
                x[j] = min(x[j], hi)
        return x

    def run(start, label):
        res = optimize.minimize(
            objective,
            clip(start),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            # Loose enough to stop before the line search fights rounding; Newton finishes.
            options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-7, "maxcor": 20},
        )
        phi, decrement = _newton_polish(objective, clip(res.x), bounds, clip)
        f, g = objective(phi)
        pg = float(np.max(np.abs(_projected_gradient(phi, g, bounds)), initial=0.0))
        # At a bound the (projected) gradient in phi can vanish without the point being optimal
        # (random intercept: theta = 0 is stationary in theta); the one-sided slopes decide.
        slope = float(np.min(objective.inward_slopes(phi), initial=0.0))
        ok = (pg <= _GRADIENT_TOLERANCE or decrement <= _DECREMENT_TOLERANCE) and (
            slope >= -_GRADIENT_TOLERANCE
        )
        return dict(label=label, phi=phi, f=f, pg=pg, ok=ok, nit=int(res.nit), slope=slope)

    def restart_inside(attempt):
        """Restart from the best of the structure's interior starts when a bound point has a
        descent direction into the interior (a negative one-sided slope)."""
        if not attempt["slope"] < -_SLOPE_NOISE:
            return None
        starts = [clip(x) for x in structure.interior_starts(attempt["phi"])]
        if not starts:
            return None
        best_start = min(starts, key=lambda x: objective(x)[0])
        return run(best_start, attempt["label"] + ", restarted inside the parameter space")

    try:
        start = structure.start(empirical)
        if not np.all(np.isfinite(start)):
            raise ValueError
    except (ValueError, np.linalg.LinAlgError):
        start = structure.neutral_start()
    attempts = [run(start, "L-BFGS-B + Newton")]
    inside = restart_inside(attempts[0])
    if inside is not None:
        attempts.append(inside)
    fallback = not min(attempts, key=lambda a: a["f"])["ok"]
    if fallback:
        attempts.append(run(structure.neutral_start(), "L-BFGS-B + Newton from a neutral start"))
        if not attempts[-1]["ok"]:
            nm = optimize.minimize(
                lambda x: objective(clip(x))[0],
                attempts[0]["phi"],
                method="Nelder-Mead",
                options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
            )
            attempts.append(run(nm.x, "Nelder-Mead, then L-BFGS-B + Newton"))
    best = min(attempts, key=lambda a: a["f"])
    if structure.inward_derivatives(best["phi"]) and best["slope"] < -_GRADIENT_TOLERANCE:
        warnings.append(
            "the fit stopped on the boundary of the covariance parameters although the likelihood "
            f"still improves into the interior (one-sided slope {best['slope']:.3g}); it is not "
            "the optimum (simplify the covariance structure)"
        )
    if fallback:
        warnings.append(
            f"the first optimizer run did not converge (max |gradient| {attempts[0]['pg']:.3g}); "
            f"fallback optimizer used: {best['label']}"
        )
    if not best["ok"]:
        warnings.append(
            f"the model did not converge: max |gradient| of the deviance {best['pg']:.3g} after "
            f"{sum(a['nit'] for a in attempts)} iterations; treat the estimates with caution "
            "(simplify the covariance structure)"
        )
    phi = best["phi"]
    return dict(
        phi=phi,
        sigma2=float(sigma2_at(phi)),
        converged=best["ok"],
        optimizer=best["label"],
        iterations=sum(a["nit"] for a in attempts),
        warnings=warnings,
    )


def _t_table(L, beta, inference, alpha):
    L = np.atleast_2d(L)
    est = L @ beta
    var, df = inference.variance_and_df(L)
    se = np.sqrt(np.clip(var, 0, None))
    return pd.DataFrame({"estimate": est, "se": se, "df": df, **t_inference(est, se, df, alpha)})


def _empty_contrasts() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in CONTRAST_COLUMNS})
    return frame.astype({"visit": "object", "arm": "object", "reference": "object", "hedges_g_sd": "object"})


def _contrast_table(mf: ModelFrame, V, beta, inference, alpha, standardizer, *, change):
    arms = mf.arm_levels
    ref = mf.reference_arm
    if len(arms) < 2:
        return _empty_contrasts()
    if change:
        # post-baseline visits only (visits listed before the baseline have no change)
        visits = list(mf.visit_levels[mf.visit_levels.index(mf.baseline_visit) + 1 :])
    else:
        visits = list(mf.visit_levels)
    rows, Ls = [], []
    for a in arms[1:]:
        for v in visits:
            weights = mf.grid_row(a, v) - mf.grid_row(ref, v)
            if change:
                weights = weights - (mf.grid_row(a, mf.baseline_visit) - mf.grid_row(ref, mf.baseline_visit))
            rows.append((v, a))
            Ls.append(weights)
    if not Ls:
        return _empty_contrasts()
    tab = _t_table(np.array(Ls), beta, inference, alpha)
    tab.insert(0, "reference", [ref] * len(rows))
    tab.insert(0, "arm", [r[1] for r in rows])
    tab.insert(0, "visit", [r[0] for r in rows])

    base = mf.baseline_data
    arm_col = base.columns[1]
    out_col = base.columns[3]
    g, glo, ghi = [], [], []
    visit_pos = {v: i for i, v in enumerate(mf.visit_levels)}
    values = {a: base.loc[base[arm_col] == a, out_col].to_numpy(dtype=float) for a in arms}
    stats_by_arm = {a: (x.size, x.std(ddof=1) if x.size > 1 else np.nan) for a, x in values.items()}
    changes = mf.change_data
    for (v, a), est, lo, hi in zip(rows, tab["estimate"], tab["ci_low"], tab["ci_high"]):
        (n1, sd1), (n2, sd2) = stats_by_arm[a], stats_by_arm[ref]
        if standardizer == "baseline_sd":
            sd = pooled_sd(sd1, n1, sd2, n2)
        elif standardizer == "change_sd":
            # observed change at this visit in the two arms; none at the baseline visit itself
            at_v = changes[changes["visit"] == v]
            x1 = at_v.loc[at_v["arm"] == a, "change"].to_numpy(dtype=float)
            x2 = at_v.loc[at_v["arm"] == ref, "change"].to_numpy(dtype=float)
            n1, n2 = x1.size, x2.size
            sd = pooled_sd(x1.std(ddof=1), n1, x2.std(ddof=1), n2) if n1 > 1 and n2 > 1 else float("nan")
        else:
            sd = float(np.sqrt(V[visit_pos[v], visit_pos[v]]))
        eff = hedges_g(est, sd, n1, n2, difference_ci=(lo, hi))
        g.append(eff.g)
        glo.append(eff.ci_low)
        ghi.append(eff.ci_high)
    tab["hedges_g"] = g
    tab["hedges_g_ci_low"] = glo
    tab["hedges_g_ci_high"] = ghi
    tab["hedges_g_sd"] = standardizer
    return tab[CONTRAST_COLUMNS]
