"""Trial-model engine: linear mixed models / MMRM over visits, in numpy and scipy.

Two entry points. :func:`mmrm` fits any mmrm / R formula (``change ~ basval * VISIT +
THERAPY * VISIT + us(VISIT | PATIENT)``) and returns an :class:`MMRMFit` that answers new
questions (emmeans, pairs, contrasts, Type III tests). :func:`fit_trial_model` fits
``outcome ~ arm * visit + covariates`` with a within-participant covariance structure by
REML (default) or ML and returns a :class:`TrialModelResult` with coefficients,
emmeans-style marginal means, arm contrasts per visit, differences in change from baseline,
the estimated covariance, and fit statistics (and, in ``model``, its :class:`MMRMFit`).

How it works
------------
* ``formula``: the mmrm / R formula parser and R's ``model.matrix`` coding; ``mmrm``: the
  formula front end and :class:`MMRMFit`.
* ``design``: model frame checks and the treatment-coded design matrix (R term order).
* ``covariance``: structures as ``V = sigma2 * R(phi)``; ``sigma2`` is profiled out.
  ``random_intercept`` uses lme4's ``theta = sigma_b / sigma >= 0`` (a bound, so the boundary
  0 is reached exactly), ``unstructured`` a log-Cholesky factor, ``toeplitz`` partial
  autocorrelations, heterogeneous variants log SD ratios.
* ``likelihood``: participants are grouped by missingness pattern; per-pattern sufficient
  moments are computed once, so each REML/ML evaluation (deviance, GLS estimate and the
  analytic gradient in any covariance parameter) costs O(patterns x m^2 p^2), independent of
  the number of participants.
* ``fit``: L-BFGS-B from an empirical (OLS-residual) covariance, then Newton steps on a
  finite-difference Hessian of the analytic gradient; fallbacks (neutral start, Nelder-Mead)
  are recorded in ``warnings``, as is any non-convergence or boundary estimate. A point on a
  bound is accepted only if the one-sided slope of the deviance into the interior is not
  negative, taken in a parametrisation regular there (``theta^2`` for the random intercept,
  whose ``theta = 0`` is stationary for any data); otherwise the fit restarts from the best
  of a set of interior points and keeps the better optimum.
  Satterthwaite df: ``2 (L C L')^2 / (g' A g)`` with ``A`` twice the inverse Hessian of the
  deviance in (phi, log sigma) (lmerTest / SAS / mmrm definition).
* ``kenward_roger``: KR-adjusted covariance and df as pbkrtest / emmeans.

Verification (tests/test_models_*.py): lme4 + lmerTest + emmeans (random intercept, incl. KR
via pbkrtest), nlme::gls (unstructured, CS, AR(1), Toeplitz, heterogeneous), SAS PROC MIXED on
mmrm's ``fev_data``, the Ashar et al. (2022) public data, and dense textbook computations.

Examples
--------
>>> from prt_outcomes.models import fit_trial_model, TrialModelResult
>>> "unstructured" in COVARIANCE_STRUCTURES
True
"""

import importlib

from .covariance import COVARIANCE_STRUCTURES
from .result import TrialModelResult

__all__ = ["fit_trial_model", "TrialModelResult", "COVARIANCE_STRUCTURES", "mmrm", "MMRMFit"]

# The fitting code (scipy.optimize, scipy.stats: ~0.7 s of imports) loads when first asked for:
# the workflow's jobs that only read result tables (collect, render, report) import the result
# classes and table columns from here without paying for the optimiser.
_LAZY = {"fit_trial_model": ".fit", "mmrm": ".mmrm_fit", "MMRMFit": ".mmrm_fit"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
