"""Within-participant covariance structures over the k visits of a trial.

Every structure is written as ``V = sigma2 * R(phi)``: a *relative* matrix ``R`` with free
parameters ``phi`` and one overall scale ``sigma2`` that the likelihood profiles out
(it has a closed-form optimum given ``phi``). ``R`` is always scaled so that its first
diagonal element, or the residual variance for ``random_intercept``, is 1.

Each structure knows its parameter bounds (for L-BFGS-B), a starting value derived from an
empirical covariance matrix, the analytic derivative ``dR/dphi`` and how to name its variance
components. ``make_structure(name, k, n_groups=G)`` gives a separate matrix per group of
participants (:class:`Grouped`, SAS ``GROUP=``), whose ``relative`` is (G, k, k).

Examples
--------
>>> import numpy as np
>>> s = make_structure("ar1", 3)
>>> np.round(s.relative(np.array([0.5])), 3)
array([[1.  , 0.5 , 0.25],
       [0.5 , 1.  , 0.5 ],
       [0.25, 0.5 , 1.  ]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "COVARIANCE_REGISTRY",
    "COVARIANCE_STRUCTURES",
    "CovarianceSpec",
    "CovarianceStructure",
    "Grouped",
    "SpatialExponential",
    "AnteDependence",
    "make_structure",
]

# Correlation parameters are kept strictly inside their open interval; a value on the bound
# would make R singular and the deviance infinite.
_EDGE = 1e-6


@dataclass
class CovarianceStructure:
    """Base class: a relative covariance ``R(phi)`` over ``k`` visits."""

    k: int

    name = "base"
    n_groups = 1  # :class:`Grouped` has one matrix per group; every other structure one

    # ----- interface --------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        raise NotImplementedError

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(None, None)] * self.n_params

    def relative(self, phi: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def d_relative(self, phi: np.ndarray) -> np.ndarray:
        """Derivatives ``dR/dphi_j`` stacked as an array of shape (n_params, k, k)."""
        return _numeric_jacobian(self.relative, phi)

    def start(self, empirical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def neutral_start(self) -> np.ndarray:
        """A start that is always valid (independence or near it), for the fallback run."""
        return np.zeros(self.n_params)

    def components(self, phi: np.ndarray, sigma2: float, visit_names: list[str]):
        """Named variance components as a list of (parameter, estimate)."""
        v = sigma2 * self.relative(phi)
        out = []
        for a in range(self.k):
            for b in range(a + 1):
                if a == b:
                    out.append((f"variance[{visit_names[a]}]", v[a, a]))
                else:
                    out.append((f"covariance[{visit_names[b]},{visit_names[a]}]", v[a, b]))
        return out

    def boundary_messages(self, phi: np.ndarray) -> list[str]:
        return []

    def inward_derivatives(self, phi: np.ndarray) -> list[np.ndarray]:
        """For every parameter held at a bound, the derivative of ``R`` moving into the interior.

        The optimality condition at a bound is one-sided: the deviance must not decrease along
        any of these directions. Each is taken in a parametrisation that is regular at the
        bound; for the linear correlation parameters here that is ``+-dR/dphi_j``.
        """
        out = []
        dR = None
        for j, (lo, hi) in enumerate(self.bounds()):
            at_lo = lo is not None and phi[j] <= lo
            at_hi = hi is not None and phi[j] >= hi
            if at_lo or at_hi:
                dR = self.d_relative(phi) if dR is None else dR
                out.append(dR[j] if at_lo else -dR[j])
        return out

    def interior_starts(self, phi: np.ndarray) -> list[np.ndarray]:
        """Starts away from the bounds, for a restart when a boundary point is not optimal."""
        out = []
        bounds = self.bounds()
        for j, (lo, hi) in enumerate(bounds):
            if lo is None or hi is None:
                continue
            for frac in (0.1, 0.3, 0.5, 0.7, 0.9):
                start = np.array(phi, dtype=float)
                start[j] = lo + frac * (hi - lo)
                out.append(start)
        return out


def _numeric_jacobian(func, phi: np.ndarray) -> np.ndarray:
    # Central differences on a k x k matrix-valued function: cheap, and accurate to ~1e-10,
    # far below what the likelihood gradient needs.
    phi = np.asarray(phi, dtype=float)
    base = func(phi)
    out = np.empty((phi.size,) + base.shape)
    for j in range(phi.size):
        h = 1e-6 * max(1.0, abs(phi[j]))
        up, down = phi.copy(), phi.copy()
        up[j] += h
        down[j] -= h
        out[j] = (func(up) - func(down)) / (2 * h)
    return out


def _mean_offdiagonal(corr: np.ndarray) -> float:
    k = corr.shape[0]
    if k < 2:
        return 0.0
    mask = ~np.eye(k, dtype=bool)
    return float(np.nanmean(corr[mask]))


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    return cov / np.outer(sd, sd)


class RandomIntercept(CovarianceStructure):
    """``V = sigma2 * (I + theta^2 J)``: lme4's ``(1 | id)`` with ``theta = sigma_b / sigma >= 0``."""

    name = "random_intercept"

    @property
    def n_params(self):
        return 1

    def bounds(self):
        return [(0.0, None)]

    def relative(self, phi):
        return np.eye(self.k) + phi[0] ** 2 * np.ones((self.k, self.k))

    def d_relative(self, phi):
        return (2 * phi[0] * np.ones((self.k, self.k)))[None]

    def start(self, empirical):
        v = float(np.mean(np.diag(empirical)))
        c = _mean_offdiagonal(empirical) if self.k > 1 else 0.0
        between = max(c, 0.0)
        within = max(v - between, 1e-3 * v)
        return np.array([np.sqrt(between / within) if within > 0 else 0.0])

    def neutral_start(self):
        return np.array([1.0])

    def components(self, phi, sigma2, visit_names):
        return [
            ("subject_intercept_variance", sigma2 * phi[0] ** 2),
            ("residual_variance", sigma2),
        ]

    def boundary_messages(self, phi):
        if phi[0] == 0.0:
            return ["subject intercept variance estimated at 0 (boundary)"]
        return []

    def inward_derivatives(self, phi):
        # theta = 0 is a stationary point of any function of theta^2, so dR/dtheta = 0 there says
        # nothing. The regular parameter at the bound is the relative variance theta^2:
        # dR/d(theta^2) = J.
        if phi[0] <= 0.0:
            return [np.ones((self.k, self.k))]
        return []

    def interior_starts(self, phi):
        # theta = sigma_b / sigma from 1/30 to 10: a variance ratio from 1e-3 to 100.
        return [np.array([t]) for t in np.geomspace(1 / 30, 10, 13)]


class CompoundSymmetry(CovarianceStructure):
    """``R = (1 - rho) I + rho J`` (SAS type=CS with a correlation, nlme ``corCompSymm``)."""

    name = "compound_symmetry"

    @property
    def n_params(self):
        return 1 if self.k > 1 else 0

    def bounds(self):
        if self.k < 2:
            return []
        return [(-1.0 / (self.k - 1) + _EDGE, 1.0 - _EDGE)]

    def relative(self, phi):
        if self.k < 2:
            return np.eye(1)
        rho = phi[0]
        return (1 - rho) * np.eye(self.k) + rho * np.ones((self.k, self.k))

    def d_relative(self, phi):
        if self.k < 2:
            return np.zeros((0, 1, 1))
        return (np.ones((self.k, self.k)) - np.eye(self.k))[None]

    def start(self, empirical):
        if self.k < 2:
            return np.zeros(0)
        lo, hi = self.bounds()[0]
        rho = _mean_offdiagonal(_correlation(empirical))
        return np.array([np.clip(rho, lo + 0.01, hi - 0.01)])

    def components(self, phi, sigma2, visit_names):
        rho = phi[0] if self.k > 1 else 0.0
        return [("variance", sigma2), ("correlation", rho), ("covariance", sigma2 * rho)]

    def boundary_messages(self, phi):
        if self.k > 1 and phi[0] >= 1 - 2 * _EDGE:
            return ["compound-symmetry correlation estimated at 1 (boundary)"]
        if self.k > 1 and phi[0] <= -1.0 / (self.k - 1) + 2 * _EDGE:
            return [f"compound-symmetry correlation estimated at its lower limit -1/{self.k - 1} (boundary)"]
        return []


class AR1(CovarianceStructure):
    """``R[a, b] = rho^|a - b|`` over visit positions (SAS type=AR(1): equally spaced visits)."""

    name = "ar1"

    @property
    def n_params(self):
        return 1 if self.k > 1 else 0

    def bounds(self):
        return [(-1 + _EDGE, 1 - _EDGE)] if self.k > 1 else []

    def _lag(self):
        idx = np.arange(self.k)
        return np.abs(idx[:, None] - idx[None, :])

    def relative(self, phi):
        if self.k < 2:
            return np.eye(1)
        return phi[0] ** self._lag()

    def d_relative(self, phi):
        if self.k < 2:
            return np.zeros((0, 1, 1))
        lag = self._lag()
        d = np.where(lag > 0, lag * phi[0] ** np.maximum(lag - 1, 0), 0.0)
        return d[None]

    def start(self, empirical):
        if self.k < 2:
            return np.zeros(0)
        corr = _correlation(empirical)
        rho = float(np.nanmean(np.diag(corr, 1)))
        return np.array([np.clip(rho, -0.9, 0.9)])

    def components(self, phi, sigma2, visit_names):
        return [("variance", sigma2), ("correlation", phi[0] if self.k > 1 else 0.0)]

    def boundary_messages(self, phi):
        if self.k > 1 and abs(phi[0]) >= 1 - 2 * _EDGE:
            return ["AR(1) correlation estimated at +-1 (boundary)"]
        return []


def _pacf_to_acf(kappa: np.ndarray) -> np.ndarray:
    """Durbin-Levinson: partial autocorrelations in (-1, 1) -> autocorrelations 1..len(kappa).

    Any kappa in the open cube gives a positive-definite Toeplitz matrix, which is why the
    Toeplitz structure is parametrised by them.
    """
    p = len(kappa)
    rho = np.zeros(p)
    phi_prev = np.zeros(0)
    for m in range(p):
        km = kappa[m]
        if m == 0:
            phi_new = np.array([km])
            rho[0] = km
        else:
            phi_new = np.empty(m + 1)
            phi_new[:m] = phi_prev - km * phi_prev[::-1]
            phi_new[m] = km
            # rho_m = kappa_m (1 - sum_j phi_j rho_j) + sum_j phi_j rho_{m-j}
            ahead = sum(phi_prev[j] * rho[m - 1 - j] for j in range(m))
            same = sum(phi_prev[j] * rho[j] for j in range(m))
            rho[m] = ahead + km * (1.0 - same)
        phi_prev = phi_new
    return rho


def _acf_to_pacf(rho: np.ndarray) -> np.ndarray:
    p = len(rho)
    kappa = np.zeros(p)
    phi_prev = np.zeros(0)
    for m in range(p):
        if m == 0:
            km = rho[0]
        else:
            num = rho[m] - sum(phi_prev[j] * rho[m - 1 - j] for j in range(m))
            den = 1.0 - sum(phi_prev[j] * rho[j] for j in range(m))
            km = num / den if abs(den) > 1e-12 else 0.0
        km = float(np.clip(km, -0.95, 0.95))
        kappa[m] = km
        if m == 0:
            phi_prev = np.array([km])
        else:
            phi_prev = np.concatenate((phi_prev - km * phi_prev[::-1], [km]))
    return kappa


class Toeplitz(CovarianceStructure):
    """``R[a, b] = rho_|a-b|`` (SAS type=TOEP), parametrised by atanh of the partial autocorrelations."""

    name = "toeplitz"

    @property
    def n_params(self):
        return self.k - 1

    def relative(self, phi):
        rho = np.concatenate(([1.0], _pacf_to_acf(np.tanh(phi))))
        idx = np.arange(self.k)
        return rho[np.abs(idx[:, None] - idx[None, :])]

    def start(self, empirical):
        if self.k < 2:
            return np.zeros(0)
        corr = _correlation(empirical)
        rho = np.array([np.nanmean(np.diag(corr, lag)) for lag in range(1, self.k)])
        return np.arctanh(_acf_to_pacf(np.nan_to_num(rho)))

    def components(self, phi, sigma2, visit_names):
        rho = _pacf_to_acf(np.tanh(phi))
        return [("variance", sigma2)] + [(f"correlation[lag{j + 1}]", r) for j, r in enumerate(rho)]


class Unstructured(CovarianceStructure):
    """Any positive-definite ``R`` (SAS type=UN), as ``R = L L'`` with log-Cholesky parameters.

    ``L[0, 0] = 1`` (the scale is the profiled ``sigma2``); the free parameters are
    ``log L[j, j]`` for j >= 1 followed by the strictly lower entries row by row.
    """

    name = "unstructured"

    @property
    def n_params(self):
        return self.k * (self.k + 1) // 2 - 1

    def _cholesky(self, phi):
        k = self.k
        L = np.zeros((k, k))
        L[0, 0] = 1.0
        L[np.arange(1, k), np.arange(1, k)] = np.exp(phi[: k - 1])
        rows, cols = np.tril_indices(k, -1)
        L[rows, cols] = phi[k - 1 :]
        return L

    def relative(self, phi):
        L = self._cholesky(phi)
        return L @ L.T

    def d_relative(self, phi):
        k = self.k
        L = self._cholesky(phi)
        out = np.zeros((self.n_params, k, k))
        for j in range(1, k):
            dL = np.zeros((k, k))
            dL[j, j] = L[j, j]
            out[j - 1] = dL @ L.T + L @ dL.T
        rows, cols = np.tril_indices(k, -1)
        for n, (a, b) in enumerate(zip(rows, cols)):
            dL = np.zeros((k, k))
            dL[a, b] = 1.0
            out[k - 1 + n] = dL @ L.T + L @ dL.T
        return out

    def start(self, empirical):
        rel = empirical / empirical[0, 0]
        L = np.linalg.cholesky(rel)
        rows, cols = np.tril_indices(self.k, -1)
        return np.concatenate((np.log(np.diag(L)[1:]), L[rows, cols]))

    def neutral_start(self):
        return np.zeros(self.n_params)

    def boundary_messages(self, phi):
        corr = _correlation(self.relative(phi))
        smallest = float(np.linalg.eigvalsh(corr)[0])
        if smallest < 1e-6:
            return [
                "unstructured covariance is nearly singular (smallest correlation eigenvalue "
                f"{smallest:.2g}); the fit is on the boundary"
            ]
        return []


class Heterogeneous(CovarianceStructure):
    """Visit-specific standard deviations around a correlation structure: ``R = D C D``.

    ``D = diag(1, exp(eta_2), ..., exp(eta_k))`` relative to the first visit's SD.
    """

    def __init__(self, base: CovarianceStructure):
        super().__init__(base.k)
        self.base = base
        self.name = "heterogeneous_" + base.name

    @property
    def n_params(self):
        return (self.k - 1) + self.base.n_params

    def bounds(self):
        return [(None, None)] * (self.k - 1) + self.base.bounds()

    def _split(self, phi):
        return phi[: self.k - 1], phi[self.k - 1 :]

    def relative(self, phi):
        eta, rest = self._split(phi)
        sd = np.exp(np.concatenate(([0.0], eta)))
        return self.base.relative(rest) * np.outer(sd, sd)

    def d_relative(self, phi):
        eta, rest = self._split(phi)
        sd = np.exp(np.concatenate(([0.0], eta)))
        scale = np.outer(sd, sd)
        R = self.base.relative(rest) * scale
        out = np.zeros((self.n_params, self.k, self.k))
        for j in range(1, self.k):
            d = np.zeros((self.k, self.k))
            d[j, :] += R[j, :]
            d[:, j] += R[:, j]
            out[j - 1] = d
        out[self.k - 1 :] = self.base.d_relative(rest) * scale
        return out

    def start(self, empirical):
        sd = np.sqrt(np.clip(np.diag(empirical), 1e-12, None))
        eta = np.log(sd[1:] / sd[0])
        return np.concatenate((eta, self.base.start(_correlation(empirical))))

    def neutral_start(self):
        return np.concatenate((np.zeros(self.k - 1), self.base.neutral_start()))

    def components(self, phi, sigma2, visit_names):
        eta, rest = self._split(phi)
        sd = np.sqrt(sigma2) * np.exp(np.concatenate(([0.0], eta)))
        out = [(f"variance[{v}]", s**2) for v, s in zip(visit_names, sd)]
        base = self.base.components(rest, 1.0, visit_names)
        out += [(name, val) for name, val in base if name.startswith("correlation")]
        return out

    def boundary_messages(self, phi):
        return self.base.boundary_messages(self._split(phi)[1])

    def inward_derivatives(self, phi):
        eta, rest = self._split(phi)
        sd = np.exp(np.concatenate(([0.0], eta)))
        return [d * np.outer(sd, sd) for d in self.base.inward_derivatives(rest)]

    def interior_starts(self, phi):
        eta, rest = self._split(phi)
        return [np.concatenate((eta, start)) for start in self.base.interior_starts(rest)]


class AnteDependence(CovarianceStructure):
    """First-order ante-dependence: ``R[a, b] = rho_a rho_(a+1) ... rho_(b-1)`` for ``a < b``.

    mmrm ``ad`` (one variance); with visit-specific variances (:class:`Heterogeneous`) it is
    mmrm ``adh`` and SAS ``TYPE=ANTE(1)``. The ``k - 1`` parameters are the correlations between
    adjacent visits, kept in ``(-1, 1)`` as AR(1)'s (any such values give a positive-definite
    ``R``: it is the correlation of a first-order Markov chain; a value at +-1 makes two
    adjacent visits collinear).

    Examples
    --------
    >>> s = AnteDependence(3)
    >>> s.relative(np.array([0.5, 0.8]))
    array([[1. , 0.5, 0.4],
           [0.5, 1. , 0.8],
           [0.4, 0.8, 1. ]])
    """

    name = "ante_dependence"

    @property
    def n_params(self):
        return max(self.k - 1, 0)

    def bounds(self):
        return [(-1 + _EDGE, 1 - _EDGE)] * self.n_params

    def relative(self, phi):
        k = self.k
        R = np.eye(k)
        for a in range(k):
            prod = 1.0
            for b in range(a + 1, k):
                prod *= phi[b - 1]
                R[a, b] = R[b, a] = prod
        return R

    def d_relative(self, phi):
        # dR[a, b] / d rho_j = product of the other rho_l, a <= l < b, when a <= j < b (no
        # division by rho_j, so rho_j = 0 is fine).
        k = self.k
        out = np.zeros((self.n_params, k, k))
        for j in range(self.n_params):
            for a in range(j + 1):
                for b in range(j + 1, k):
                    others = np.prod([phi[i] for i in range(a, b) if i != j])
                    out[j, a, b] = out[j, b, a] = others
        return out

    def start(self, empirical):
        corr = _correlation(empirical)
        return np.clip(np.nan_to_num(np.diag(corr, 1)), -0.9, 0.9)

    def components(self, phi, sigma2, visit_names):
        out = [("variance", sigma2)]
        out += [(f"correlation[{visit_names[j]},{visit_names[j + 1]}]", phi[j]) for j in range(self.n_params)]
        return out

    def boundary_messages(self, phi):
        return [
            f"ante-dependence correlation between visit positions {j + 1} and {j + 2} estimated at "
            "+-1 (boundary)"
            for j in range(self.n_params)
            if abs(phi[j]) >= 1 - 2 * _EDGE
        ]


class SpatialExponential(CovarianceStructure):
    """Spatial exponential: ``R[a, b] = rho^d(a, b)``, ``d`` the Euclidean distance between the
    coordinates of two observations (mmrm ``sp_exp``, SAS ``TYPE=SP(EXP)(coords)``).

    The ``k`` "visits" are the distinct coordinate tuples present in the data (``coordinates``
    of shape (k, d); default ``0, 1, ..., k-1``, where the structure is AR(1)). mmrm computes
    ``d`` the same way (``src/utils.h`` ``euclidean``, ``src/covariance.h``
    ``get_spatial_exponential``, commit ec290b2). The parameter is ``log(range)``, SAS's
    ``SP(EXP)`` estimate in ``R = exp(-d / range)`` (``rho = exp(-1 / range)``): a log scale
    parameter is smooth and equally well conditioned for any units of ``d``, where ``rho^d``
    has an infinite derivative at ``rho = 0`` for ``d < 1`` and ``log rho`` spans orders of
    magnitude when a few pairs are nearly coincident. The bounds keep ``rho`` in ``(0, 1)`` as
    mmrm (``invlogit``) does: the correlation at the median distance ``d50`` between ``1e-6``
    (independence, for all purposes) and ``1 - 1e-6`` (at 1, ``R`` is singular).

    Examples
    --------
    >>> s = SpatialExponential(3, coordinates=np.array([[0.0], [1.0], [3.0]]))
    >>> np.round(s.relative(np.log([1 / np.log(2)])), 4)  # range 1 / log 2: rho = 0.5
    array([[1.   , 0.5  , 0.125],
           [0.5  , 1.   , 0.25 ],
           [0.125, 0.25 , 1.   ]])
    """

    name = "spatial_exponential"

    def __init__(self, k: int, coordinates=None):
        super().__init__(k)
        if coordinates is None:
            coordinates = np.arange(k, dtype=float)
        coords = np.asarray(coordinates, dtype=float)
        if coords.ndim == 1:
            coords = coords[:, None]
        if coords.ndim != 2 or coords.shape[0] != k:
            raise ValueError(f"coordinates must have shape (k, d) = ({k}, d), not {coords.shape}.")
        if not np.all(np.isfinite(coords)):
            raise ValueError("coordinates must be finite numbers.")
        diff = coords[:, None, :] - coords[None, :, :]
        self.coordinates = coords
        self.distance = np.sqrt(np.einsum("abd,abd->ab", diff, diff))
        off = self.distance[~np.eye(k, dtype=bool)]
        if off.size and off.min() <= 0:
            raise ValueError(
                "coordinates must be distinct tuples (two observations of a participant at the same "
                "coordinates would be perfectly correlated); merge duplicates first."
            )
        self.d_min = float(off.min()) if off.size else 1.0
        # the typical distance, for starts: coordinates of actual days (or the 2-d coordinates of
        # mmrm's VISITN2 example) can have a few nearly coincident pairs far below it
        self.d_typical = float(np.median(off)) if off.size else 1.0

    @property
    def n_params(self):
        return 1 if self.k > 1 else 0

    def bounds(self):
        if self.k < 2:
            return []
        # exp(-d50 / range) = 1e-6 and 1 - 1e-6
        return [(np.log(self.d_typical / -np.log(_EDGE)), np.log(self.d_typical / -np.log1p(-_EDGE)))]

    def relative(self, phi):
        if self.k < 2:
            return np.eye(1)
        return np.exp(-self.distance * np.exp(-phi[0]))

    def d_relative(self, phi):
        if self.k < 2:
            return np.zeros((0, 1, 1))
        scaled = self.distance * np.exp(-phi[0])  # d / range
        return (scaled * np.exp(-scaled))[None]

    def _at_typical(self, rho_typical):
        # log(range) such that the correlation at the median distance is rho_typical
        return np.log(self.d_typical / -np.log(rho_typical))

    def start(self, empirical):
        if self.k < 2:
            return np.zeros(0)
        # least squares of log corr = -d / range over the pairs with a usable positive correlation
        corr = _correlation(empirical)
        a, b = np.triu_indices(self.k, 1)
        c, d = corr[a, b], self.distance[a, b]
        use = np.isfinite(c) & (c > 0.01) & (c < 0.99)
        if not use.any():
            return self.neutral_start()
        slope = float(np.sum(d[use] * np.log(c[use])) / np.sum(d[use] ** 2))  # -1 / range
        rho_typical = np.clip(np.exp(slope * self.d_typical), 0.01, 0.99)
        return np.array([self._at_typical(rho_typical)])

    def neutral_start(self):
        return np.array([self._at_typical(0.5)]) if self.k > 1 else np.zeros(0)

    def interior_starts(self, phi):
        if self.k < 2:
            return []
        return [np.array([self._at_typical(r)]) for r in (0.1, 0.3, 0.5, 0.7, 0.9)]

    def components(self, phi, sigma2, visit_names):
        if self.k < 2:
            return [("variance", sigma2)]
        rng = float(np.exp(phi[0]))
        return [("variance", sigma2), ("correlation[distance 1]", float(np.exp(-1.0 / rng))), ("range", rng)]

    def boundary_messages(self, phi):
        if self.k < 2:
            return []
        lo, hi = self.bounds()[0]
        if phi[0] >= hi - 1e-9:
            return ["spatial exponential correlation estimated at 1 (boundary)"]
        if phi[0] <= lo + 1e-9:
            return ["spatial exponential correlation estimated at 0: independent observations (boundary)"]
        return []


class Grouped(CovarianceStructure):
    """A separate covariance matrix per group of participants (SAS ``REPEATED / GROUP=arm``,
    mmrm ``us(visit | arm / id)``): ``V_g = sigma2 * c_g * R(phi_g)``.

    ``R`` is the base structure; ``c_1 = 1`` and ``c_g = exp(s_g)`` for the later groups,
    because every base ``R`` is normalised (its first variance, or residual variance, is 1) and
    the one ``sigma2`` the likelihood profiles is group 1's scale. The parameter vector is the
    groups' blocks in order: ``phi_1``, then ``(s_g, phi_g)`` for g = 2..G, so ``n_params =
    G * base.n_params + G - 1`` and the SAS count (``sigma2`` included) is G times the base's.
    ``relative`` is (G, k, k), ``d_relative`` (n_params, G, k, k).

    Examples
    --------
    >>> s = make_structure("compound_symmetry", 2, n_groups=2)
    >>> s.n_params, s.relative(np.array([0.5, np.log(2.0), 0.0])).round(3).tolist()
    (3, [[[1.0, 0.5], [0.5, 1.0]], [[2.0, 0.0], [0.0, 2.0]]])
    """

    def __init__(self, base_factory: Callable[[], CovarianceStructure], n_groups: int):
        bases = [base_factory() for _ in range(n_groups)]
        super().__init__(bases[0].k)
        self.bases = bases
        self.base = bases[0]
        self.n_groups = n_groups
        self.name = "grouped_" + self.base.name

    # layout ------------------------------------------------------------------------------
    def _blocks(self):
        """(scale index or None, slice of the base parameters) per group."""
        q = self.base.n_params
        out, pos = [], 0
        for g in range(self.n_groups):
            if g == 0:
                out.append((None, slice(0, q)))
                pos = q
            else:
                out.append((pos, slice(pos + 1, pos + 1 + q)))
                pos += 1 + q
        return out

    def _split(self, phi):
        phi = np.asarray(phi, dtype=float)
        return [(0.0 if s is None else phi[s], phi[sl]) for s, sl in self._blocks()]

    @property
    def n_params(self):
        return self.n_groups * self.base.n_params + self.n_groups - 1

    def bounds(self):
        out = list(self.bases[0].bounds())
        for base in self.bases[1:]:
            out += [(None, None)] + list(base.bounds())
        return out

    def relative(self, phi):
        return np.stack([np.exp(s) * b.relative(p) for b, (s, p) in zip(self.bases, self._split(phi))])

    def d_relative(self, phi):
        k, G = self.k, self.n_groups
        out = np.zeros((self.n_params, G, k, k))
        for g, (base, (s_idx, sl), (s, p)) in enumerate(zip(self.bases, self._blocks(), self._split(phi))):
            scale = np.exp(s)
            if s_idx is not None:
                out[s_idx, g] = scale * base.relative(p)
            out[sl, g] = scale * base.d_relative(p)
        return out

    def _per_group(self, empirical):
        emp = np.asarray(empirical, dtype=float)
        return [emp] * self.n_groups if emp.ndim == 2 else list(emp)

    def start(self, empirical):
        emps = self._per_group(empirical)
        blocks, level = [], []
        for base, emp in zip(self.bases, emps):
            p = base.start(emp)
            blocks.append(p)
            level.append(np.mean(np.diag(emp)) / np.mean(np.diag(base.relative(p))))
        out = [blocks[0]]
        for g in range(1, self.n_groups):
            out += [np.array([np.log(level[g] / level[0])]), blocks[g]]
        return np.concatenate(out)

    def neutral_start(self):
        out = [self.bases[0].neutral_start()]
        for base in self.bases[1:]:
            out += [np.zeros(1), base.neutral_start()]
        return np.concatenate(out)

    def components(self, phi, sigma2, visit_names, group_names=None):
        """The base structure's components per group, named ``"<parameter> (<group>)"``."""
        names = group_names if group_names is not None else [str(g + 1) for g in range(self.n_groups)]
        out = []
        for base, name, (s, p) in zip(self.bases, names, self._split(phi)):
            out += [(f"{c} ({name})", v) for c, v in base.components(p, sigma2 * np.exp(s), visit_names)]
        return out

    def boundary_messages(self, phi):
        out = []
        for g, (base, (s, p)) in enumerate(zip(self.bases, self._split(phi))):
            out += [f"group {g + 1}: {m}" for m in base.boundary_messages(p)]
        return out

    def inward_derivatives(self, phi):
        out = []
        for g, (base, (s, p)) in enumerate(zip(self.bases, self._split(phi))):
            for d in base.inward_derivatives(p):
                full = np.zeros((self.n_groups, self.k, self.k))
                full[g] = np.exp(s) * d
                out.append(full)
        return out

    def interior_starts(self, phi):
        phi = np.asarray(phi, dtype=float)
        out = []
        for base, (s_idx, sl), (s, p) in zip(self.bases, self._blocks(), self._split(phi)):
            for start in base.interior_starts(p):
                x = phi.copy()
                x[sl] = start
                out.append(x)
        return out


@dataclass(frozen=True)
class CovarianceSpec:
    """One row of :data:`COVARIANCE_REGISTRY`: a structure's name, meaning and equivalents.

    Attributes
    ----------
    name : str
        The value of ``models.covariance`` in a config and of ``fit_trial_model(covariance=)``.
    description : str
        What the structure assumes, in a few words (the docs list it).
    parameters : str
        Number of covariance parameters (``sigma2`` included) over ``k`` visits, as text.
    n_parameters : callable
        The same number as a function of ``k`` (for ``k >= 2``).
    sas : str
        SAS PROC MIXED equivalent (``REPEATED / TYPE=...`` or ``RANDOM``).
    r : str
        R equivalent (mmrm, nlme::gls or lme4), as the reference tests fit it.
    heterogeneous : bool
        Whether the variance differs between visits.
    build : callable
        ``k -> CovarianceStructure``, the engine's class over ``k`` visits.
    mmrm : str
        The R mmrm covariance code (``us``, ``cs``, ..., ``sp_exp``), or the lme4 term for
        ``random_intercept``. Any structure can be grouped (mmrm ``us(visit | arm / id)``, SAS
        ``REPEATED / GROUP=arm``): ``make_structure(name, k, n_groups=G)``.
    """

    name: str
    description: str
    parameters: str
    n_parameters: Callable[[int], int]
    sas: str
    r: str
    heterogeneous: bool
    build: Callable[[int], CovarianceStructure]
    mmrm: str = ""


def _spec_rows() -> tuple[CovarianceSpec, ...]:
    def het(base):
        return lambda k: Heterogeneous(base(k))

    return (
        CovarianceSpec(
            "random_intercept",
            "participant intercept plus independent residuals",
            "2",
            lambda k: 2,
            "RANDOM intercept / SUBJECT=id",
            "lme4 (1 | id)",
            False,
            RandomIntercept,
            "(1 | id)",
        ),
        CovarianceSpec(
            "compound_symmetry",
            "one variance, one correlation between any two visits",
            "2",
            lambda k: 2,
            "TYPE=CS",
            "mmrm cs; nlme corCompSymm",
            False,
            CompoundSymmetry,
            "cs",
        ),
        CovarianceSpec(
            "heterogeneous_compound_symmetry",
            "a variance per visit, one correlation between any two visits",
            "k + 1",
            lambda k: k + 1,
            "TYPE=CSH",
            "mmrm csh; nlme corCompSymm + varIdent",
            True,
            het(CompoundSymmetry),
            "csh",
        ),
        CovarianceSpec(
            "unstructured",
            "any variances and covariances (the MMRM)",
            "k (k + 1) / 2",
            lambda k: k * (k + 1) // 2,
            "TYPE=UN",
            "mmrm us; nlme corSymm + varIdent",
            True,
            Unstructured,
            "us",
        ),
        CovarianceSpec(
            "ar1",
            "one variance, correlation rho^lag (equally spaced visits)",
            "2",
            lambda k: 2,
            "TYPE=AR(1)",
            "mmrm ar1; nlme corAR1",
            False,
            AR1,
            "ar1",
        ),
        CovarianceSpec(
            "heterogeneous_ar1",
            "a variance per visit, correlation rho^lag",
            "k + 1",
            lambda k: k + 1,
            "TYPE=ARH(1)",
            "mmrm ar1h; nlme corAR1 + varIdent",
            True,
            het(AR1),
            "ar1h",
        ),
        CovarianceSpec(
            "toeplitz",
            "one variance, a correlation per lag",
            "k",
            lambda k: k,
            "TYPE=TOEP",
            "mmrm toep; nlme corARMA(p = k - 1)",
            False,
            Toeplitz,
            "toep",
        ),
        CovarianceSpec(
            "heterogeneous_toeplitz",
            "a variance per visit, a correlation per lag",
            "2 k - 1",
            lambda k: 2 * k - 1,
            "TYPE=TOEPH",
            "mmrm toeph",
            True,
            het(Toeplitz),
            "toeph",
        ),
        CovarianceSpec(
            "ante_dependence",
            "one variance, correlation the product of the adjacent-visit correlations in between",
            "k",
            lambda k: k,
            "none (TYPE=ANTE(1) has a variance per visit)",
            "mmrm ad",
            False,
            AnteDependence,
            "ad",
        ),
        CovarianceSpec(
            "heterogeneous_ante_dependence",
            "a variance per visit, correlation the product of the adjacent-visit correlations in between",
            "2 k - 1",
            lambda k: 2 * k - 1,
            "TYPE=ANTE(1)",
            "mmrm adh",
            True,
            het(AnteDependence),
            "adh",
        ),
        CovarianceSpec(
            "spatial_exponential",
            "one variance, correlation rho^distance between the observations' coordinates (unequal spacing)",
            "2",
            lambda k: 2,
            "TYPE=SP(EXP)(coords)",
            "mmrm sp_exp(time | id); nlme corExp(form = ~ time | id)",
            False,
            SpatialExponential,
            "sp_exp",
        ),
    )


#: Every covariance structure the engine fits, by name: the one table that the config schema's
#: ``models.covariance`` enum, ``config/README.md`` and ``fit_trial_model``'s docstring are
#: checked against (tests/test_registries.py). Add a structure here and nowhere else in the
#: engine; the tests then name every document that has to list it.
COVARIANCE_REGISTRY: dict[str, CovarianceSpec] = {spec.name: spec for spec in _spec_rows()}
#: The structure names, in the registry's order.
COVARIANCE_STRUCTURES = tuple(COVARIANCE_REGISTRY)


def make_structure(
    name: str, k: int, *, n_groups: int = 1, coordinates: np.ndarray | None = None
) -> CovarianceStructure:
    """Build the covariance structure ``name`` over ``k`` visits.

    Parameters
    ----------
    name : str
        One of :data:`COVARIANCE_STRUCTURES`.
    k : int
        Number of visits; for ``spatial_exponential`` the number of distinct coordinate tuples.
    n_groups : int
        With ``G > 1``, a separate matrix per group (:class:`Grouped`): ``relative`` is then
        (G, k, k). ``1`` returns the plain structure.
    coordinates : array of shape (k, d), optional
        ``spatial_exponential`` only: the coordinates of its ``k`` "visits" (default
        ``0, ..., k-1``).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`COVARIANCE_STRUCTURES`, ``n_groups < 1`` or
        ``coordinates`` are given for another structure.

    Examples
    --------
    >>> make_structure("spatial_exponential", 3, coordinates=[[0.0], [0.5], [2.0]]).distance[0]
    array([0. , 0.5, 2. ])
    >>> make_structure("unstructured", 4, n_groups=2).n_params
    19
    """
    if name not in COVARIANCE_REGISTRY:
        raise ValueError(
            f"covariance={name!r} is not a known structure; use one of {list(COVARIANCE_STRUCTURES)}."
        )
    if int(n_groups) != n_groups or n_groups < 1:
        raise ValueError(f"n_groups={n_groups!r} must be a positive integer.")
    if coordinates is not None:
        if name != "spatial_exponential":
            raise ValueError(f"coordinates are only used by spatial_exponential, not by covariance={name!r}.")

        def factory():
            return SpatialExponential(k, coordinates)
    else:

        def factory():
            return COVARIANCE_REGISTRY[name].build(k)

    if n_groups == 1:
        return factory()
    return Grouped(factory, int(n_groups))
