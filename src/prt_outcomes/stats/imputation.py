"""Missing-data sensitivity analyses: the pure mathematics (issue 12), mirroring R's rbmi.

The pieces a multiple-imputation or conditional-mean-imputation analysis of an MMRM is built from,
as plain numpy functions with no model fitting, workflow or config:

* :func:`reference_based_parameters` (and :func:`compute_sigma`): the mean and covariance a
  participant's visits are imputed from under MAR, jump to reference (JR, "J2R"), copy reference
  (CR), copy increments in reference (CIR) or last mean carried forward (LMCF).
* :func:`conditional_normal`, :func:`impute_draw`, :func:`impute_conditional_mean`: the missing
  visits given the observed ones under a multivariate normal.
* :func:`lagged_delta`, :func:`delta_template`, :func:`delta_adjust`: delta adjustment of imputed
  values after the intercurrent event (ICE).
* :func:`rubin_rules` (with :func:`rubin_df`), :func:`pool_jackknife`, :func:`pool_bootstrap`:
  pooling, with Barnard-Rubin degrees of freedom.
* :func:`first_crossing`: where a tipping-point scan changes its conclusion.

The reference implementation is rbmi (openpharma/rbmi, R, Apache-2.0; conditional mean
imputation: Wolbers et al. 2022, "Standard and reference-based conditional mean imputation",
Pharmaceutical Statistics). Each function names the rbmi function it mirrors; the tests compare them
with rbmi's own test expectations and with rbmi's R code run live (``tests/references/imputation``).
One deliberate departure is documented at :func:`rubin_rules`: rbmi's one-sided confidence
intervals lie on the side opposite to its one-sided p-values; here they lie on the same side.

Visits are columns (axis -1) in visit order; participants are rows.

Examples
--------
>>> import numpy as np
>>> mu_a, mu_ref = np.array([1.0, 3.0, 5.0]), np.array([2.0, 6.0, 10.0])
>>> mu, sigma = reference_based_parameters(
...     "JR", mu_a, np.eye(3), mu_ref, np.eye(3), index_mar=[True, False, False]
... )
>>> mu
array([ 1.,  6., 10.])
>>> impute_conditional_mean(mu, sigma, [[0.5, np.nan, np.nan]])  # J2R imputation of visits 2, 3
array([[ 0.5,  6. , 10. ]])
>>> round(rubin_rules([1.0, 1.2, 0.8], [0.04, 0.05, 0.06], df_complete=np.inf).df, 4)
7.5078
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from prt_outcomes.errors import ModelError

__all__ = [
    "STRATEGIES",
    "compute_sigma",
    "reference_based_parameters",
    "conditional_normal",
    "impute_draw",
    "impute_conditional_mean",
    "lagged_delta",
    "delta_template",
    "delta_adjust",
    "PooledEstimate",
    "rubin_df",
    "rubin_rules",
    "pool_jackknife",
    "pool_bootstrap",
    "quantile_type6",
    "percentile_p_values",
    "first_crossing",
]

#: The reference-based strategies rbmi provides "out of the box" (R/strategies.R, getStrategies).
STRATEGIES = ("MAR", "JR", "CR", "CIR", "LMCF")
_ALIASES = {"J2R": "JR"}
_ALTERNATIVES = ("two.sided", "less", "greater")


# --------------------------------------------------------------------------------------------
# Reference-based strategies
# --------------------------------------------------------------------------------------------


def _index_mar(index_mar, n_visits: int) -> np.ndarray:
    index = np.asarray(index_mar)
    if index.dtype != bool or index.shape != (n_visits,):
        raise ValueError(f"index_mar must be a boolean vector of length {n_visits} (one per visit)")
    # rbmi validate.is_mar (R/longData.R): MAR visits first, then non-MAR ones, never back.
    first_non_mar = int(np.argmin(index)) if not index.all() else n_visits
    if index[first_non_mar:].any():
        raise ValueError(
            "index_mar must be True up to the intercurrent event and False from it on: "
            "a non-MAR visit followed by a MAR visit is not allowed"
        )
    return index


def _square(sigma, n: int, name: str) -> np.ndarray:
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape != (n, n):
        raise ValueError(f"{name} must be a {n} x {n} covariance matrix, got shape {sigma.shape}")
    return sigma


def compute_sigma(sigma_group, sigma_ref, index_mar) -> np.ndarray:
    """The covariance of a participant's visits under JR and CIR (Carpenter, Roger & Kenward 2013).

    Mirrors rbmi ``compute_sigma`` (R/strategies.R). With ``T`` the participant's own group's
    covariance and ``R`` the reference group's, and ``1`` the visits before the ICE (MAR),
    ``2`` those from it on::

        S11 = T11
        S21 = R21 R11^-1 T11
        S22 = R22 - R21 R11^-1 (R11 - T11) R11^-1 R12

    so the pre-ICE visits keep the participant's own covariance and the post-ICE ones follow the
    reference group's conditional distribution.

    Parameters
    ----------
    sigma_group, sigma_ref : array_like, shape (J, J)
        Covariance of the participant's own group and of its reference group.
    index_mar : array_like of bool, shape (J,)
        True at the visits before the ICE (where MAR holds), False from the ICE on; monotone.

    Returns
    -------
    numpy.ndarray, shape (J, J)

    Examples
    --------
    >>> import numpy as np
    >>> s = compute_sigma(np.eye(3) + 0.5, np.eye(3) + 0.2, [True, True, False])
    >>> np.round(s, 4)
    array([[1.5   , 0.5   , 0.2857],
           [0.5   , 1.5   , 0.2857],
           [0.2857, 0.2857, 1.2245]])
    """
    sigma_group = np.asarray(sigma_group, dtype=float)
    n = sigma_group.shape[0] if sigma_group.ndim == 2 else -1
    sigma_group = _square(sigma_group, n, "sigma_group")
    sigma_ref = _square(sigma_ref, n, "sigma_ref")
    index = _index_mar(index_mar, n)
    if np.array_equal(sigma_group, sigma_ref):
        return sigma_ref.copy()
    if index.all():
        return sigma_group.copy()
    if not index.any():
        return sigma_ref.copy()
    m, o = index, ~index
    t11 = sigma_group[np.ix_(m, m)]
    r11 = sigma_ref[np.ix_(m, m)]
    r21 = sigma_ref[np.ix_(o, m)]
    # rbmi forms solve(R11) and multiplies; solving against R11 is the same product, better
    # conditioned (the two agree to rounding, see the tests).
    r21_r11inv = np.linalg.solve(r11, r21.T).T
    s21 = r21_r11inv @ t11
    s22 = sigma_ref[np.ix_(o, o)] - r21_r11inv @ (r11 - t11) @ r21_r11inv.T
    # index is monotone, so [MAR | non-MAR] is the visit order rbmi's rbind(cbind()) assumes.
    return np.block([[t11, s21.T], [s21, s22]])


def reference_based_parameters(
    strategy: str, mu_group, sigma_group, mu_ref, sigma_ref, index_mar
) -> tuple[np.ndarray, np.ndarray]:
    """The mean and covariance a participant's visits are imputed from under a strategy.

    Mirrors rbmi ``strategy_MAR``, ``strategy_JR``, ``strategy_CR``, ``strategy_CIR`` and
    ``strategy_LMCF`` (R/strategies.R), with ``pars_group = (mu_group, sigma_group)`` and
    ``pars_ref = (mu_ref, sigma_ref)``:

    * ``"MAR"``: the participant's own group, unchanged.
    * ``"JR"`` (jump to reference; ``"J2R"`` is accepted): own means before the ICE, the
      reference group's means from it on; covariance :func:`compute_sigma`.
    * ``"CR"`` (copy reference): the reference group's means and covariance at every visit.
    * ``"CIR"`` (copy increments in reference): own means before the ICE; from it on, the own mean
      at the last visit before the ICE plus the reference group's increments from that visit;
      covariance :func:`compute_sigma`.
    * ``"LMCF"`` (last mean carried forward): the own mean at the last visit before the ICE carried
      to every later visit; own covariance.

    The means are the marginal (covariate-specific) means of the participant's visits, e.g.
    ``X_i beta`` with the participant's own arm and again with the reference arm.

    Parameters
    ----------
    strategy : {"MAR", "JR", "J2R", "CR", "CIR", "LMCF"}
    mu_group, mu_ref : array_like, shape (J,)
    sigma_group, sigma_ref : array_like, shape (J, J)
    index_mar : array_like of bool, shape (J,)
        True before the ICE, False from the ICE on (rbmi's ``is_mar``).

    Returns
    -------
    mu : numpy.ndarray, shape (J,)
    sigma : numpy.ndarray, shape (J, J)

    Raises
    ------
    ModelError
        LMCF for a participant whose ICE is at the first visit (no mean to carry forward).

    Examples
    --------
    >>> import numpy as np
    >>> mu, _ = reference_based_parameters(
    ...     "CIR", [1.0, 3.0, 5.0], np.eye(3), [2.0, 6.0, 10.0], np.eye(3), [True, False, False]
    ... )
    >>> mu
    array([1., 5., 9.])
    >>> reference_based_parameters(
    ...     "LMCF", [1.0, 3.0, 5.0], np.eye(3), [2.0, 6.0, 10.0], np.eye(3), [True, False, False]
    ... )[0]
    array([1., 1., 1.])
    """
    key = _ALIASES.get(strategy, strategy)
    if key not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)} (or J2R)")
    mu_group = np.asarray(mu_group, dtype=float)
    mu_ref = np.asarray(mu_ref, dtype=float)
    n = mu_group.shape[0]
    if mu_group.shape != (n,) or mu_ref.shape != (n,):
        raise ValueError("mu_group and mu_ref must be vectors of the same length (one mean per visit)")
    sigma_group = _square(sigma_group, n, "sigma_group")
    sigma_ref = _square(sigma_ref, n, "sigma_ref")
    index = _index_mar(index_mar, n)

    if key == "MAR":
        return mu_group.copy(), sigma_group.copy()
    if key == "CR":
        return mu_ref.copy(), sigma_ref.copy()
    if index.all():
        return mu_group.copy(), sigma_group.copy()
    if not index.any():
        if key == "LMCF":
            raise ModelError(
                "LMCF (last mean carried forward) needs at least one visit before the intercurrent "
                "event, but this participant's event is at the first visit, so there is no mean to "
                "carry forward. Use another strategy (e.g. JR or CR) for participants whose event is "
                "at the first visit."
            )
        return mu_ref.copy(), sigma_ref.copy()

    last_mar = int(np.argmin(index)) - 1
    mu = mu_group.copy()
    if key == "LMCF":
        mu[~index] = mu_group[last_mar]
        return mu, sigma_group.copy()
    if key == "JR":
        mu[~index] = mu_ref[~index]
    else:  # CIR
        mu[~index] = mu_group[last_mar] + (mu_ref[~index] - mu_ref[last_mar])
    return mu, compute_sigma(sigma_group, sigma_ref, index)


# --------------------------------------------------------------------------------------------
# Conditional normal and imputation
# --------------------------------------------------------------------------------------------


def _broadcast_inputs(mu, sigma, y, observed):
    y = np.asarray(y, dtype=float)
    single = y.ndim == 1
    y2 = np.atleast_2d(y)
    n, j = y2.shape
    mu = np.broadcast_to(np.asarray(mu, dtype=float), (n, j))
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape not in ((j, j), (n, j, j)):
        raise ValueError(f"sigma must have shape ({j}, {j}) or ({n}, {j}, {j}), got {sigma.shape}")
    if observed is None:
        observed = ~np.isnan(y2)
    observed = np.asarray(observed)
    if observed.dtype != bool or observed.shape not in ((j,), (n, j)):
        raise ValueError(f"observed must be a boolean array of shape ({j},) or ({n}, {j})")
    observed = np.broadcast_to(observed, (n, j))
    if np.isnan(y2[observed]).any():
        raise ValueError("y has missing (NaN) values at visits marked observed")
    return single, y2, mu, sigma, observed


def _conditional_one_pattern(mu, sigma, y, obs):
    """Conditional mean (n, m) and covariance ((m, m) or (n, m, m)) for rows sharing ``obs``."""
    mis = ~obs
    if not obs.any():
        return mu[:, mis], sigma[..., mis, :][..., :, mis]
    s11 = sigma[..., mis, :][..., :, mis]
    s21 = sigma[..., obs, :][..., :, mis]
    s22 = sigma[..., obs, :][..., :, obs]
    resid = y[:, obs] - mu[:, obs]
    # coef' = S22^-1 S21, the transpose of rbmi's sig12 %*% solve(sig22) (S22 symmetric).
    coef_t = np.linalg.solve(s22, s21)
    if sigma.ndim == 2:
        mean = mu[:, mis] + resid @ coef_t
    else:
        mean = mu[:, mis] + np.einsum("no,nom->nm", resid, coef_t)
    cov = s11 - np.swapaxes(s21, -1, -2) @ coef_t
    return mean, cov


def conditional_normal(mu, sigma, y, observed=None):
    """Mean and covariance of the missing visits given the observed ones, under N(mu, sigma).

    Mirrors rbmi ``get_conditional_parameters`` (R/impute.R)::

        mean = mu_m + S_mo S_oo^-1 (y_o - mu_o)
        cov  = S_mm - S_mo S_oo^-1 S_om

    vectorised over participants that share one pattern of observed visits (one solve for all of
    them when they also share ``sigma``). When nothing is observed it returns the unconditional
    ``mu`` and ``sigma`` of the missing visits, as rbmi does.

    Parameters
    ----------
    mu : array_like, shape (J,) or (n, J)
        Means of the visits (one row per participant, or one row for all).
    sigma : array_like, shape (J, J) or (n, J, J)
    y : array_like, shape (J,) or (n, J)
        Outcomes; values at missing visits are ignored (NaN is fine).
    observed : array_like of bool, shape (J,), optional
        The pattern shared by every row; default: the non-NaN entries of ``y``, which must then be
        the same pattern in every row (use :func:`impute_conditional_mean` or :func:`impute_draw`
        for rows with different patterns).

    Returns
    -------
    mean : numpy.ndarray, shape (m,) or (n, m)
        m is the number of missing visits; one row per participant (a vector for a vector ``y``).
    cov : numpy.ndarray, shape (m, m) or (n, m, m)
        Shared by all rows when ``sigma`` is shared.

    Examples
    --------
    >>> import numpy as np
    >>> sigma = np.array([[4.0, 2.0], [2.0, 3.0]])
    >>> mean, cov = conditional_normal([1.0, 2.0], sigma, [3.0, np.nan])
    >>> mean, cov
    (array([3.]), array([[2.]]))
    """
    single, y2, mu2, sigma2, obs = _broadcast_inputs(mu, sigma, y, observed)
    pattern = obs[0]
    if not (obs == pattern).all():
        raise ValueError(
            "conditional_normal needs one pattern of observed visits shared by every row; "
            "group the rows by pattern (impute_draw and impute_conditional_mean do this)"
        )
    mean, cov = _conditional_one_pattern(mu2, sigma2, y2, pattern)
    if single:
        return mean[0], (cov if cov.ndim == 2 else cov[0])
    return mean, cov


def _impute(mu, sigma, y, observed, rng):
    single, y2, mu2, sigma2, obs = _broadcast_inputs(mu, sigma, y, observed)
    out = y2.copy()
    patterns, inverse = np.unique(obs, axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        if pattern.all():
            continue
        rows = np.flatnonzero(inverse.reshape(-1) == k)
        sig = sigma2 if sigma2.ndim == 2 else sigma2[rows]
        mean, cov = _conditional_one_pattern(mu2[rows], sig, y2[rows], pattern)
        values = mean
        if rng is not None:
            try:
                chol = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "the conditional covariance of the missing visits is not positive definite; "
                    "check that sigma is a valid covariance matrix"
                ) from None
            z = rng.standard_normal((rows.size, int((~pattern).sum())))
            # rbmi sample_mvnorm: x %*% chol(sigma) with R's upper factor U = L', i.e. z @ L'.
            values = mean + (z @ chol.T if chol.ndim == 2 else np.einsum("nm,nkm->nk", z, chol))
        out[np.ix_(rows, ~pattern)] = values
    return out[0] if single else out


def impute_draw(mu, sigma, y, observed=None, *, rng: np.random.Generator):
    """``y`` with its missing visits replaced by one draw from their conditional distribution.

    Mirrors rbmi ``impute_outcome(condmean = FALSE)`` with ``sample_mvnorm`` (R/impute.R,
    R/utilities.R): ``draw = mean + L z`` with ``L`` the lower Cholesky factor of the conditional
    covariance (:func:`conditional_normal`) and ``z`` standard normal. Rows are grouped by their
    pattern of observed visits; the normal deviates are taken pattern by pattern (rows in their
    order within a pattern, visits within a row), so the random stream is numpy's, not rbmi's.

    Parameters
    ----------
    mu, sigma, y, observed
        As :func:`conditional_normal`, except that ``observed`` may be one pattern per row,
        shape (n, J).
    rng : numpy.random.Generator
        Any object with ``standard_normal(size)``.

    Returns
    -------
    numpy.ndarray, the shape of ``y``
        Observed values unchanged, missing ones drawn.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[1.0, np.nan, np.nan], [0.5, 1.0, np.nan]])
    >>> out = impute_draw([0.0, 1.0, 2.0], np.eye(3) + 1.0, y, rng=np.random.default_rng(1))
    >>> out.shape, bool(np.isnan(out).any()), out[1, :2]
    ((2, 3), False, array([0.5, 1. ]))
    """
    if rng is None:
        raise ValueError("impute_draw needs a random generator (rng=numpy.random.default_rng(seed))")
    return _impute(mu, sigma, y, observed, rng)


def impute_conditional_mean(mu, sigma, y, observed=None):
    """``y`` with its missing visits replaced by their conditional means (deterministic).

    Mirrors rbmi ``impute_outcome(condmean = TRUE)`` (R/impute.R), the imputation of
    conditional mean imputation (Wolbers et al. 2022), whose standard errors come from the
    jackknife or the bootstrap (:func:`pool_jackknife`, :func:`pool_bootstrap`).

    Parameters
    ----------
    mu, sigma, y, observed
        As :func:`impute_draw`.

    Returns
    -------
    numpy.ndarray, the shape of ``y``

    Examples
    --------
    >>> import numpy as np
    >>> impute_conditional_mean([1.0, 2.0], [[4.0, 2.0], [2.0, 3.0]], [[3.0, np.nan], [np.nan, 0.5]])
    array([[3. , 3. ],
           [0. , 0.5]])
    """
    return _impute(mu, sigma, y, observed, None)


# --------------------------------------------------------------------------------------------
# Delta adjustment
# --------------------------------------------------------------------------------------------


def _visit_vector(x, j: int, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.shape != (j,):
        raise ValueError(f"{name} must be a numeric vector of length {j} (one value per visit)")
    return x


def _post_ice(is_post_ice) -> np.ndarray:
    post = np.asarray(is_post_ice)
    if post.dtype != bool or post.ndim not in (1, 2):
        raise ValueError("is_post_ice must be a boolean vector (J,) or matrix (n, J)")
    post2 = np.atleast_2d(post)
    # rbmi (R/longData.R): post-ICE visits are every visit from the ICE visit on.
    started = np.maximum.accumulate(post2, axis=1)
    if (started != post2).any():
        raise ValueError("is_post_ice must be False before the intercurrent event and True from it on")
    return post


def lagged_delta(delta, dlag, is_post_ice) -> np.ndarray:
    """The delta offset of each visit: the cumulative sum of ``delta`` scaled by the lag since the ICE.

    Mirrors rbmi ``d_lagscale`` (R/delta.R). For a participant whose post-ICE visits are
    ``k_1 < k_2 < ...`` (``k_1`` the ICE visit), the offset at ``k_r`` is
    ``sum_{s <= r} dlag[s] * delta[k_s]`` (``dlag`` indexed by visits since the ICE, starting at
    the ICE visit), and 0 before the ICE. rbmi's examples: ``delta = (5, 6, 7, 8)``,
    ``dlag = (1, 2, 3, 4)`` and an ICE at visit 2 give ``(0, 6, 20, 44)``; ``dlag = (1, 0, 0, 0)``
    gives the ICE visit's delta at every post-ICE visit; ``dlag`` all 1 sums ``delta`` over the
    post-ICE visits.

    Parameters
    ----------
    delta, dlag : array_like, shape (J,)
    is_post_ice : array_like of bool, shape (J,) or (n, J)

    Returns
    -------
    numpy.ndarray, the shape of ``is_post_ice``

    Examples
    --------
    >>> lagged_delta([5, 6, 7, 8], [1, 2, 3, 4], [False, True, True, True])
    array([ 0.,  6., 20., 44.])
    >>> lagged_delta([0, 4, 1, 3], [3, 3, 3, 3], [[False, False, True, True], [False] * 4])
    array([[ 0.,  0.,  3., 12.],
           [ 0.,  0.,  0.,  0.]])
    """
    post = _post_ice(is_post_ice)
    post2 = np.atleast_2d(post)
    j = post2.shape[1]
    delta = _visit_vector(delta, j, "delta")
    dlag = _visit_vector(dlag, j, "dlag")
    n_pre = j - post2.sum(axis=1)
    # The lag of visit k for a participant with n_pre pre-ICE visits is dlag[k - n_pre].
    lag_index = np.arange(j)[None, :] - n_pre[:, None]
    scaled = np.where(post2, dlag[np.clip(lag_index, 0, j - 1)] * delta[None, :], 0.0)
    out = np.cumsum(scaled, axis=1)
    return out[0] if post.ndim == 1 else out


def delta_template(is_post_ice, is_missing, delta=None, dlag=None, *, missing_only: bool = True):
    """The offsets to add to the outcomes: :func:`lagged_delta`, zero at observed post-ICE visits.

    Mirrors rbmi ``delta_template`` (R/delta.R) for its ``delta`` column: zeros without
    ``delta``; otherwise :func:`lagged_delta`, then, with ``missing_only``, 0 at post-ICE visits
    that were observed. The cumulative sum runs over all post-ICE visits before the observed ones
    are zeroed, so a missing visit's offset does not depend on whether earlier post-ICE visits were
    observed (rbmi: "the delta values for missing post-ICE visits will stay the same regardless of
    this option"). Pre-ICE visits (observed, or missing under MAR) get 0.

    Parameters
    ----------
    is_post_ice, is_missing : array_like of bool, shape (J,) or (n, J)
    delta, dlag : array_like, shape (J,), optional
        Both or neither.
    missing_only : bool, default True

    Returns
    -------
    numpy.ndarray, the shape of ``is_post_ice``

    Examples
    --------
    >>> post = [False, True, True, True]
    >>> delta_template(post, [False, True, False, True], [5, 6, 7, 8], [1, 2, 3, 4])
    array([ 0.,  6.,  0., 44.])
    """
    post = _post_ice(is_post_ice)
    missing = np.asarray(is_missing)
    if missing.dtype != bool or missing.shape != post.shape:
        raise ValueError("is_missing must be a boolean array of the same shape as is_post_ice")
    if delta is None and dlag is None:
        return np.zeros(post.shape)
    if delta is None or dlag is None:
        raise ValueError("give both delta and dlag (rbmi's delta_template), or neither")
    out = lagged_delta(delta, dlag, post)
    if missing_only:
        out = np.where(~missing & post, 0.0, out)
    return out


def delta_adjust(values, is_post_ice, is_missing, delta, *, cumulative: bool = False, dlag=None):
    """Add a delta to the imputed post-ICE values (a delta-adjusted or tipping-point analysis).

    The offsets are rbmi's :func:`delta_template` with ``missing_only=True`` (observed values are
    never changed, nor are values imputed under MAR before the ICE), then ``values + offsets`` as
    rbmi ``apply_delta`` (R/delta.R). ``delta`` is one number per visit (or one for all):

    * ``cumulative=False``: each post-ICE missing visit gets its own visit's ``delta``. For a
      constant delta this is rbmi's ``delta = rep(d, J), dlag = c(1, 0, ..., 0)``.
    * ``cumulative=True``: ``delta`` are increments, summed over the post-ICE visits up to each
      visit (rbmi's ``dlag = rep(1, J)``): a deterioration that grows after the event.
    * ``dlag`` given: rbmi's general rule, :func:`lagged_delta` (``cumulative`` is then ignored).

    Parameters
    ----------
    values : array_like, shape (J,) or (n, J)
        Completed (imputed) outcomes.
    is_post_ice, is_missing : array_like of bool, the shape of ``values``
        ``is_missing`` marks the values that were missing before imputation.
    delta : float or array_like, shape (J,)
    cumulative : bool, default False
    dlag : array_like, shape (J,), optional

    Returns
    -------
    numpy.ndarray, the shape of ``values``

    Examples
    --------
    >>> post, miss = [False, True, True, True], [False, True, True, True]
    >>> delta_adjust([1.0, 1.0, 1.0, 1.0], post, miss, 2.0)
    array([1., 3., 3., 3.])
    >>> delta_adjust([1.0, 1.0, 1.0, 1.0], post, miss, 2.0, cumulative=True)
    array([1., 3., 5., 7.])
    """
    values = np.asarray(values, dtype=float)
    post = _post_ice(is_post_ice)
    if post.shape != values.shape:
        raise ValueError("is_post_ice must have the shape of values")
    j = values.shape[-1]
    delta = np.broadcast_to(np.asarray(delta, dtype=float), (j,))
    if dlag is None and not cumulative:
        missing = np.asarray(is_missing)
        if missing.dtype != bool or missing.shape != post.shape:
            raise ValueError("is_missing must be a boolean array of the same shape as is_post_ice")
        offsets = np.where(post & missing, delta, 0.0)
    else:
        lag = np.ones(j) if dlag is None else dlag
        offsets = delta_template(post, is_missing, delta, lag, missing_only=True)
    return values + offsets


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PooledEstimate:
    """A pooled estimate with its inference (rbmi ``pool``'s ``est``, ``se``, ``ci``, ``pvalue``).

    ``df`` is the t reference distribution's degrees of freedom (``inf``: normal; ``nan``: none,
    the percentile bootstrap). ``var_within`` and ``var_between`` are Rubin's ``W`` and ``B``
    (``nan`` for the other methods).
    """

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    df: float
    method: str
    conf_level: float
    alternative: str
    var_within: float = math.nan
    var_between: float = math.nan


def _check_level(conf_level: float, alternative: str) -> float:
    if not 0.0 < conf_level < 1.0:
        raise ValueError("conf_level must be between 0 and 1")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(_ALTERNATIVES)}")
    return 1.0 - conf_level


def _parametric(point, se, alpha, alternative, df, method, conf_level, **extra) -> PooledEstimate:
    """rbmi ``parametric_ci`` (R/pool.R), one-sided intervals on the p-value's side."""
    if math.isnan(se) or math.isnan(df):
        nan = math.nan
        return PooledEstimate(point, se, nan, nan, nan, df, method, conf_level, alternative, **extra)
    from scipy import stats  # here, not at import: the collect step reads the table columns only

    dist = stats.norm() if math.isinf(df) else stats.t(df)
    if alternative == "two.sided":
        q = dist.ppf(1.0 - alpha / 2.0)
        lower, upper = point - q * se, point + q * se
    else:
        q = dist.ppf(1.0 - alpha)
        lower, upper = (point - q * se, math.inf) if alternative == "greater" else (-math.inf, point + q * se)
    # a standard error of 0 (e.g. no responder in any imputation of either arm): no test; a
    # difference with no variance at all is infinitely many standard errors from 0
    z = point / se if se > 0 else (math.copysign(math.inf, point) if point != 0 else math.nan)
    p_lower, p_upper = float(dist.cdf(z)), float(dist.sf(z))
    p = {"two.sided": 2.0 * min(p_lower, p_upper), "less": p_lower, "greater": p_upper}[alternative]
    return PooledEstimate(
        float(point),
        float(se),
        float(lower),
        float(upper),
        p,
        float(df),
        method,
        conf_level,
        alternative,
        **extra,
    )


def _mean(x: np.ndarray) -> float:
    """Mean with R's refinement pass (``mean.default``, ``var``): exact for equal values."""
    m = float(x.mean())
    return m + float((x - m).mean())


def _var(x: np.ndarray) -> float:
    """Sample variance (``ddof=1``) about :func:`_mean`, so that equal values give exactly 0.

    Rubin's ``B = 0`` (no between-imputation variance) changes the degrees of freedom's formula
    (:func:`rubin_df`); numpy's ``var`` of equal values can be 1e-33 instead of R's 0.
    """
    m = _mean(x)
    return float(np.sum((x - m) ** 2)) / (x.size - 1)


def rubin_df(df_complete, var_between: float, var_total: float, m: int) -> float:
    """Barnard-Rubin (1999) small-sample degrees of freedom of a multiply imputed estimate.

    Mirrors rbmi ``rubin_df`` (R/pool.R). With ``lambda = (1 + 1/m) B / T``::

        v_old = (m - 1) / lambda^2
        v_obs = (v_com + 1) / (v_com + 3) * v_com * (1 - lambda)
        df    = v_old v_obs / (v_old + v_obs)

    ``v_com = inf`` gives ``v_old``; ``lambda = 0`` (no between-imputation variance, e.g. no
    missing data) gives ``v_obs``; ``v_com`` missing (``None``/NaN), or infinite with ``B = 0``,
    gives ``inf``.

    Parameters
    ----------
    df_complete : float or None
        Complete-data degrees of freedom ``v_com``.
    var_between, var_total : float
        ``B`` and ``T = W + (1 + 1/m) B``.
    m : int
        Number of imputations.

    Returns
    -------
    float

    Examples
    --------
    >>> rubin_df(None, 0.1, 1.0, 10)
    inf
    >>> round(rubin_df(50.0, 0.0, 1.0, 10), 6)  # (51 / 53) * 50
    48.113208
    """
    v_com = math.nan if df_complete is None else float(df_complete)
    if math.isnan(v_com) or (math.isinf(v_com) and var_between == 0):
        return math.inf
    lam = (1.0 + 1.0 / m) * var_between / var_total
    v_obs = math.nan if math.isinf(v_com) else (v_com + 1.0) / (v_com + 3.0) * v_com * (1.0 - lam)
    if lam != 0:
        v_old = (m - 1.0) / lam**2
        return v_old if math.isinf(v_com) else (v_old * v_obs) / (v_old + v_obs)
    return v_obs


def rubin_rules(
    estimates, variances, df_complete, *, conf_level: float = 0.95, alternative: str = "two.sided"
) -> PooledEstimate:
    """Pool ``m`` complete-data analyses by Rubin's rules, with Barnard-Rubin degrees of freedom.

    Mirrors rbmi ``rubin_rules`` and ``pool_internal.rubin`` (R/pool.R): estimate = mean of the
    estimates, ``W`` = mean of the variances, ``B`` = their sample variance (``ddof=1``),
    ``T = W + B + B/m``, ``df`` = :func:`rubin_df`, and a t-based interval and p-value for
    ``H0: theta = 0`` (rbmi ``parametric_ci``).

    rbmi takes standard errors; this takes their squares. When every variance is NaN (rbmi: every
    ``se`` is ``NA``) only the estimate is returned, the rest NaN.

    One-sided alternatives: the p-value is rbmi's (``"greater"``: upper tail; ``"less"``: lower
    tail). The interval is the one that inverts that test, ``(lower, inf)`` for ``"greater"`` and
    ``(-inf, upper)`` for ``"less"`` (R's ``t.test`` convention); rbmi returns the opposite
    half-line, i.e. its ``"greater"`` interval is this function's ``"less"`` interval and vice versa.

    Parameters
    ----------
    estimates, variances : array_like, shape (m,)
        One estimate and its squared standard error per imputed data set; ``m >= 2``.
    df_complete : float or None
        Complete-data degrees of freedom (``inf`` or ``None``/NaN: see :func:`rubin_df`).
    conf_level : float, default 0.95
    alternative : {"two.sided", "less", "greater"}

    Returns
    -------
    PooledEstimate

    Examples
    --------
    Hand-computed: mean 1.0, ``W = 0.05``, ``B = 0.04``, ``T = 0.05 + 0.04 * 4/3 = 0.10333``,
    ``lambda = 0.5161``, ``v_old = 2 / lambda^2 = 7.508``:

    >>> r = rubin_rules([1.0, 1.2, 0.8], [0.04, 0.05, 0.06], df_complete=np.inf)
    >>> round(r.se**2, 6), round(r.df, 4)
    (0.103333, 7.5078)
    """
    est = np.asarray(estimates, dtype=float).reshape(-1)
    var = np.asarray(variances, dtype=float).reshape(-1)
    if est.size < 2 or var.shape != est.shape:
        raise ValueError("rubin_rules needs at least 2 estimates and one variance per estimate")
    alpha = _check_level(conf_level, alternative)
    point = _mean(est)
    if np.isnan(var).all():
        nan = math.nan
        return PooledEstimate(point, nan, nan, nan, nan, nan, "rubin", conf_level, alternative)
    if np.isnan(var).any() or np.isnan(est).any():
        raise ValueError("rubin_rules: an estimate or a variance is NaN (only all variances NaN is allowed)")
    var_w = _mean(var)
    var_b = _var(est)
    var_t = var_w + var_b + var_b / est.size
    df = rubin_df(df_complete, var_b, var_t, est.size)
    return _parametric(
        point,
        math.sqrt(var_t),
        alpha,
        alternative,
        df,
        "rubin",
        conf_level,
        var_within=var_w,
        var_between=var_b,
    )


def pool_jackknife(
    estimate: float, leave_one_out, *, conf_level: float = 0.95, alternative: str = "two.sided"
) -> PooledEstimate:
    """Jackknife inference for conditional mean imputation (Wolbers et al. 2022).

    Mirrors rbmi ``pool_internal.jackknife`` (R/pool.R): the point estimate is the full-data
    estimate; ``se = sqrt((N - 1) / N * sum((theta_(i) - mean)^2))`` over the ``N`` leave-one-out
    estimates; normal-based interval and p-value (one-sided intervals as :func:`rubin_rules`).
    rbmi passes ``c(estimate, leave_one_out)`` as one vector.

    Parameters
    ----------
    estimate : float
        The estimate from the full data (conditional mean imputation of everyone).
    leave_one_out : array_like, shape (N,)
        The estimates with participant ``i`` left out of both the imputation model and the
        analysis; ``N >= 2``.
    conf_level : float, default 0.95
    alternative : {"two.sided", "less", "greater"}

    Returns
    -------
    PooledEstimate

    Examples
    --------
    rbmi's tests/testthat/test-pool.R case:

    >>> r = pool_jackknife(7.0, [3, 4, 5, 3, 3, 9], conf_level=0.90)
    >>> round(r.se, 10), r.df
    (4.7871355388, inf)
    """
    loo = np.asarray(leave_one_out, dtype=float).reshape(-1)
    if loo.size < 2:
        raise ValueError("pool_jackknife needs at least 2 leave-one-out estimates")
    alpha = _check_level(conf_level, alternative)
    n = loo.size
    se = math.sqrt((n - 1) / n * float(np.sum((loo - _mean(loo)) ** 2)))
    return _parametric(float(estimate), se, alpha, alternative, math.inf, "jackknife", conf_level)


def quantile_type6(x, probs) -> np.ndarray:
    """Sample quantiles of R's ``quantile(x, probs, type = 6)``, the percentile bootstrap's.

    The interpolation of ``stats::quantile.default`` for type 6 (``p (n + 1)``-th order statistic,
    linear between, clamped to the sample range), including its ``4 * eps`` fuzz at whole indices,
    so that results agree with R's to rounding.

    Examples
    --------
    >>> quantile_type6([1, -1, -2, 3, 2, 1, -4, 3], [0.1, 0.9])
    array([-4.,  3.])
    >>> quantile_type6([1.0, 2.0, 3.0, 4.0], 0.5)
    array([2.5])
    """
    x = np.sort(np.asarray(x, dtype=float).reshape(-1))
    p = np.atleast_1d(np.asarray(probs, dtype=float))
    n = x.size
    if n == 0:
        return np.full(p.shape, math.nan)
    fuzz = 4.0 * np.finfo(float).eps
    nppm = p * (n + 1)
    j = np.floor(nppm + fuzz).astype(int)
    h = nppm - j
    h = np.where(np.abs(h) < fuzz, 0.0, h)
    padded = np.concatenate([[x[0], x[0]], x, [x[-1], x[-1]]])
    lo, hi = padded[j + 1], padded[j + 2]  # R's x[j + 2L], x[j + 3L] (1-based)
    out = np.where(h == 1, hi, lo)
    other = (h > 0) & (h < 1) & (lo != hi)
    return np.where(other, (1 - h) * lo + h * hi, out)


def percentile_p_values(bootstrap_estimates) -> tuple[float, float]:
    """One-sided p-values of the percentile bootstrap: ``(p_greater, p_less)``.

    Mirrors rbmi ``pval_percentile`` (R/pool.R): ``p_greater`` (for ``H1: theta > 0``) is the
    ``alpha`` at which the type-6 quantile :func:`quantile_type6` equals 0, ``p_less = 1 -
    p_greater``; all estimates > 0 give ``(0, 1)``, all < 0 ``(1, 0)``, all 0 ``(1, 1)``; with
    some estimates exactly 0 the ranks of the zeros decide, as in rbmi. rbmi finds the root with
    ``uniroot`` (default tolerance about 1.2e-4); here it is exact: the quantile function is
    linear between ``k / (n + 1)`` and ``(k + 1) / (n + 1)``, so the root is found in closed form.

    Examples
    --------
    >>> percentile_p_values([0, 1, 1, 1])
    (0.2, 0.8)
    >>> percentile_p_values([-1.0, 1.0, 3.0])  # -1 at p = 1/4, 1 at 2/4: 0 half-way, p = 3/8
    (0.375, 0.625)
    """
    est = np.asarray(bootstrap_estimates, dtype=float).reshape(-1)
    n = est.size
    if (est == 0).all():
        return 1.0, 1.0
    if est.min() > 0:
        return 0.0, 1.0
    if est.max() < 0:
        return 1.0, 0.0
    if (est == 0).any():
        # R rank(ties.method = "first"): ranks of the zeros are consecutive after the negatives.
        n_neg = int((est < 0).sum())
        n_zero = int((est == 0).sum())
        return (n_neg + 1) / (n + 1), 1.0 - (n_neg + n_zero) / (n + 1)
    x = np.sort(est)
    k = int(np.searchsorted(x, 0.0))  # x[k-1] < 0 < x[k]; 1 <= k <= n-1
    h = -x[k - 1] / (x[k] - x[k - 1])
    root = (k + h) / (n + 1)
    return float(root), float(1.0 - root)


def pool_bootstrap(
    estimate: float,
    bootstrap_estimates,
    *,
    type: str = "percentile",
    conf_level: float = 0.95,
    alternative: str = "two.sided",
) -> PooledEstimate:
    """Bootstrap inference for conditional mean imputation: percentile or normal approximation.

    Mirrors rbmi ``pool_internal.bootstrap`` (R/pool.R), with rbmi's ``c(estimate,
    bootstrap_estimates)`` passed as two arguments; the point estimate is always the full-data
    one.

    * ``"percentile"`` (rbmi ``pool_bootstrap_percentile``): interval from the type-6 quantiles
      of the bootstrap estimates (:func:`quantile_type6`), ``alpha/2`` and ``1 - alpha/2``
      (two-sided) or ``alpha`` / ``1 - alpha`` (one-sided, on the p-value's side; see
      :func:`rubin_rules` for the departure from rbmi); p-value from
      :func:`percentile_p_values`, two-sided ``min(1, 2 min(p_greater, p_less))``; no standard
      error (NaN). No bootstrap estimates give NaN interval and p-value.
    * ``"normal"`` (rbmi ``pool_bootstrap_normal``): ``se`` = standard deviation of the bootstrap
      estimates (``ddof=1``; NaN with fewer than 2), normal interval and p-value.

    Examples
    --------
    rbmi's tests/testthat/test-pool.R case:

    >>> best = [-1, -2, 3, 2, 1, -4, 3, 2]
    >>> r = pool_bootstrap(1.0, best, conf_level=0.80)
    >>> r.ci_lower, r.ci_upper, round(r.p_value, 6)
    (-4.0, 3.0, 0.777778)
    """
    boot = np.asarray(bootstrap_estimates, dtype=float).reshape(-1)
    alpha = _check_level(conf_level, alternative)
    estimate = float(estimate)
    if type == "normal":
        se = math.sqrt(_var(boot)) if boot.size >= 2 else math.nan
        return _parametric(estimate, se, alpha, alternative, math.inf, "bootstrap (normal)", conf_level)
    if type != "percentile":
        raise ValueError("type must be 'percentile' or 'normal'")
    nan = math.nan
    method = "bootstrap (percentile)"
    if boot.size == 0:
        return PooledEstimate(estimate, nan, nan, nan, nan, nan, method, conf_level, alternative)
    p_greater, p_less = percentile_p_values(boot)
    if alternative == "two.sided":
        lower, upper = quantile_type6(boot, [alpha / 2, 1 - alpha / 2])
        p = min(2.0 * min(p_greater, p_less), 1.0)
    elif alternative == "greater":
        lower, upper = float(quantile_type6(boot, alpha)[0]), math.inf
        p = p_greater
    else:
        lower, upper = -math.inf, float(quantile_type6(boot, 1 - alpha)[0])
        p = p_less
    return PooledEstimate(
        estimate, nan, float(lower), float(upper), float(p), nan, method, conf_level, alternative
    )


# --------------------------------------------------------------------------------------------
# Tipping point
# --------------------------------------------------------------------------------------------


def first_crossing(deltas, p_values, alpha: float = 0.05, *, interpolate: bool = True) -> float:
    """The first delta at which a tipping-point scan's conclusion changes (p crosses ``alpha``).

    The conclusion at a delta is "significant" when ``p < alpha``. Going along ``deltas`` from
    the first (which must be strictly monotone, e.g. increasing from 0; then the answer is the
    smallest delta that changes the conclusion), find the first grid point ``d_k`` whose
    conclusion differs from that at ``d_0``. With ``interpolate`` the tipping point is where the
    straight line through ``(d_{k-1}, p_{k-1})`` and ``(d_k, p_k)`` reaches ``alpha``::

        d* = d_{k-1} + (alpha - p_{k-1}) (d_k - d_{k-1}) / (p_k - p_{k-1})

    (linear in p, between two grid points only, so a finer grid is the way to a more accurate
    point); without it, ``d_k``. NaN when the conclusion never changes on the grid.

    Parameters
    ----------
    deltas : array_like, shape (K,)
    p_values : array_like, shape (K,)
        The p-value of the analysis at each delta.
    alpha : float, default 0.05
    interpolate : bool, default True

    Returns
    -------
    float

    Examples
    --------
    >>> first_crossing([0, 1, 2, 3], [0.001, 0.02, 0.08, 0.3])
    1.5
    >>> first_crossing([0, 1, 2, 3], [0.001, 0.02, 0.08, 0.3], interpolate=False)
    2.0
    >>> first_crossing([0, 1], [0.001, 0.002])
    nan
    """
    d = np.asarray(deltas, dtype=float).reshape(-1)
    p = np.asarray(p_values, dtype=float).reshape(-1)
    if d.size == 0 or p.shape != d.shape:
        raise ValueError("deltas and p_values must be vectors of the same, non-zero length")
    if np.isnan(d).any() or np.isnan(p).any():
        raise ValueError("deltas and p_values must not contain NaN")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be between 0 and 1")
    steps = np.diff(d)
    if not ((steps > 0).all() or (steps < 0).all()):
        raise ValueError("deltas must be strictly increasing or strictly decreasing")
    significant = p < alpha
    changed = np.flatnonzero(significant != significant[0])
    if changed.size == 0:
        return math.nan
    k = int(changed[0])
    if not interpolate:
        return float(d[k])
    return float(d[k - 1] + (alpha - p[k - 1]) * (d[k] - d[k - 1]) / (p[k] - p[k - 1]))
