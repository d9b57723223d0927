"""Funnel plots: control limits of a rate, a mean or a standardised ratio against volume.

A funnel plot compares units (clinics, clinicians) without ranking them: each unit's value is
drawn against its volume with the limits a unit *on target* would fall within 95% and 99.8% of
the time (Spiegelhalter 2005). Units outside the 99.8% limits are the ones to look at.

Kinds of indicator (:data:`FUNNEL_KINDS`)
-----------------------------------------
``proportion``
    ``y = events / n``, target ``p0 = sum(events) / sum(n)`` unless given. Without
    overdispersion the limits are exact binomial quantiles with Spiegelhalter's interpolation
    (2005, appendix A.1.1: ``r_p`` the ``p``-quantile of ``Binomial(n, p0)``,
    ``alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1))``, limit ``(r_p - alpha) / n``, kept within
    [0, 1]); with ``exact=False`` the normal approximation ``p0 +- z sqrt(p0 (1 - p0) / n)``.
    ``scale="arcsine"`` works on ``asin(sqrt(y))`` with ``s = 1 / (2 sqrt(n))`` and
    back-transforms, as FunnelPlotR's ``data_type = "PR"`` (whose plotting grid also forces the
    limits to be monotone in ``n`` at very small ``n``; the limits here are the formula's at
    each unit's own ``n``).
``mean``
    ``y`` a mean (e.g. mean change from baseline) of ``n`` patients, ``s = sd / sqrt(n)`` with
    the within-unit SD ``sd`` (the pooled SD of the patients; :func:`pooled_within_sd`); limits
    ``target +- z s``; target the patient-weighted overall mean unless given.
``ratio``
    an indirectly standardised ratio ``O / E`` with volume ``E`` (expected events from a case-mix
    model; :func:`indirect_standardisation`), target 1. Without overdispersion the exact Poisson
    limits ``qchisq(p, 2 E) / (2 E)`` and ``qchisq(1 - p, 2 (E + 1)) / (2 E)`` (FunnelPlotR's
    ``calculate_limits``); with overdispersion FunnelPlotR's ``sr_method = "SHMI"`` log scale:
    ``y = log(O / E)``, ``s = 1 / sqrt(E)``.

Overdispersion (Spiegelhalter 2005, section 3.5; Spiegelhalter 2005b)
---------------------------------------------------------------------
z-scores ``z_i = (y_i - target) / s_i`` (on the transformed scale for ``arcsine`` and
``ratio``) are winsorised at the ``trim`` and ``1 - trim`` quantiles (default 10%; R's
``quantile`` type 7, numpy's default) or, with ``trim_method="truncate"``, the extreme groups
are dropped as in FunnelPlotR's SHMI variant. Then

* multiplicative: ``phi = mean(z_w^2)``; limits ``target +- z sqrt(phi) s``;
* additive (random effects): ``tau^2 = (I phi - (I - 1)) / (sum(w) - sum(w^2) / sum(w))``,
  ``w = 1 / s^2``, and 0 when ``I phi < I - 1``; limits ``target +- z sqrt(s^2 + tau^2)``.

``phi`` below 1 is not used to narrow the limits (phi is taken as 1, tau^2 as 0). These are
FunnelPlotR's ``phi_func`` and ``tau_func`` (R/od_adjustment.R, commit 9020d49).

References
----------
Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Stat Med
24:1185-1202.
Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators. Qual Saf Health
Care 14:347-351.
Mainey C et al. FunnelPlotR (R package, github.com/nhs-r-community/FunnelPlotR).

Examples
--------
>>> from prt_outcomes.stats.funnel import funnel_limits
>>> lim = funnel_limits([100], kind="proportion", target=0.3, exact=False)
>>> round(float(lim["ll95"].iloc[0]), 4), round(float(lim["ul95"].iloc[0]), 4)
(0.2102, 0.3898)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .distributions import normal_quantile

__all__ = [
    "FUNNEL_KINDS",
    "FUNNEL_COLUMNS",
    "LIMIT_COLUMNS",
    "Overdispersion",
    "overdispersion",
    "funnel_limits",
    "funnel_table",
    "funnel_curve",
    "pooled_within_sd",
    "indirect_standardisation",
    "INDIRECT_COLUMNS",
]

#: Indicator kinds and what the value is.
FUNNEL_KINDS: dict[str, str] = {
    "proportion": "events / n (a rate), target the overall rate",
    "mean": "the mean of n patients (e.g. the mean change from baseline), target the overall mean",
    "ratio": "observed / expected (indirectly standardised), volume the expected count, target 1",
}

#: Limit columns, for the two levels 95% and 99.8%.
LIMIT_COLUMNS = ("ll95", "ul95", "ll998", "ul998")

#: Columns of :func:`funnel_table`, in order.
FUNNEL_COLUMNS = (
    "group",
    "volume",
    "value",
    "target",
    "se",
    "z",
    *LIMIT_COLUMNS,
    "flag",
    "adjustment",
    "phi",
    "tau2",
)

_Z95 = float(normal_quantile(0.975))
_Z998 = float(normal_quantile(0.999))


@dataclass(frozen=True)
class Overdispersion:
    """Overdispersion estimate (see the module docstring).

    ``n_used`` is the number of groups whose z-scores entered ``phi`` (all of them after
    winsorising, fewer after truncation).
    """

    phi: float
    tau2: float
    n_used: int
    trim: float
    trim_method: str
    z: np.ndarray
    z_trimmed: np.ndarray


def overdispersion(
    y, s, target: float, *, trim: float = 0.1, trim_method: str = "winsorise"
) -> Overdispersion:
    """Multiplicative ``phi`` and additive ``tau^2`` from values ``y``, standard errors ``s``.

    Parameters
    ----------
    y, s : array-like
        Values and their within-unit standard errors on the scale the limits are built on.
    target : float
        The centre line on that scale.
    trim : float
        Fraction winsorised (or truncated) at each end.
    trim_method : {"winsorise", "truncate"}
        FunnelPlotR's ``winsorisation`` (values beyond the quantiles set to them) or
        ``truncation`` (groups in the outer ``trim`` fractions of the ranks dropped; SHMI).

    Examples
    --------
    >>> od = overdispersion([0.1, 0.3, 0.2, 0.5], [0.05, 0.05, 0.1, 0.1], 0.25, trim=0)
    >>> round(od.phi, 4), round(od.tau2, 5)
    (4.125, 0.02045)
    """
    y = np.asarray(y, dtype=float)
    s = np.asarray(s, dtype=float)
    # A proportion whose target is 0 or 1 has no binomial spread (s = 0): a unit on the target
    # has z = 0, one off it is outside any limit (z = +-inf); neither says anything about
    # dispersion, so only units with s > 0 enter phi.
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (y - target) / s, np.sign(y - target) * np.inf)
    z = np.where((s == 0) & (y == target), 0.0, z)
    ok = np.isfinite(z) & (s > 0)
    if trim_method == "winsorise":
        if ok.any():
            low, high = np.quantile(z[ok], [trim, 1 - trim])
            zt = np.where(ok, np.clip(z, low, high), np.nan)
        else:
            zt = np.full_like(z, np.nan)
    elif trim_method == "truncate":
        k = 1.0 / trim
        ranks = pd.Series(np.where(ok, z, np.nan)).rank(method="average").to_numpy()
        band = np.floor(ranks * k / (ok.sum() + 1))
        keep = ok & (band > 0) & (band < k - 1)
        zt = np.where(keep, z, np.nan)
    else:
        raise ValueError(
            f"overdispersion: trim_method must be 'winsorise' or 'truncate', got {trim_method!r}."
        )
    used = np.isfinite(zt)
    n = int(used.sum())
    if n == 0:
        return Overdispersion(float("nan"), float("nan"), 0, trim, trim_method, z, zt)
    phi = float(np.sum(zt[used] ** 2) / n)
    w = 1.0 / s[used] ** 2
    if n * phi < n - 1:
        tau2 = 0.0
    else:
        tau2 = max(0.0, (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return Overdispersion(phi, float(tau2), n, trim, trim_method, z, zt)


def _binomial_limit(n: np.ndarray, p0: float, prob: float) -> np.ndarray:
    from scipy import stats  # the exact limits only: scipy.stats is ~0.3 s to load

    n = np.asarray(n, dtype=float)
    r = stats.binom.ppf(prob, n, p0)
    f_r = stats.binom.cdf(r, n, p0)
    f_r1 = stats.binom.cdf(r - 1, n, p0)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(f_r > f_r1, (f_r - prob) / (f_r - f_r1), 0.0)
        # r_p = 0 interpolates below 0 (r - alpha < 0); a proportion's limit stops at 0
        return np.clip((r - alpha) / n, 0.0, 1.0)


def _scale_of(kind: str, scale: str | None) -> str:
    if kind == "proportion":
        scale = scale or "identity"
        if scale not in ("identity", "arcsine"):
            raise ValueError(f"funnel: a proportion's scale is 'identity' or 'arcsine', got {scale!r}.")
        return scale
    if kind == "ratio":
        return "log"
    if kind == "mean":
        return "identity"
    raise ValueError(f"funnel: kind must be one of {list(FUNNEL_KINDS)}, got {kind!r}.")


def _transformed(kind, scale, value, volume, target, sd):
    """Value, its SE and the target on the scale of the z-scores and the adjusted limits."""
    volume = np.asarray(volume, dtype=float)
    value = np.asarray(value, dtype=float)
    if kind == "proportion" and scale == "identity":
        return value, np.sqrt(target * (1 - target) / volume), target
    if kind == "proportion":
        return np.arcsin(np.sqrt(value)), 1.0 / (2.0 * np.sqrt(volume)), float(np.arcsin(np.sqrt(target)))
    if kind == "ratio":
        with np.errstate(divide="ignore"):
            return np.log(value), 1.0 / np.sqrt(volume), float(np.log(target))
    return value, float(sd) / np.sqrt(volume), target


def _back(kind, scale, x):
    if kind == "proportion" and scale == "arcsine":
        # FunnelPlotR clips the back-transformed limits to [0, 1]; sin^2 of an angle beyond
        # [0, pi/2] would fold back into the interval.
        return np.sin(np.clip(x, 0.0, np.pi / 2)) ** 2
    if kind == "ratio":
        return np.exp(x)
    if kind == "proportion":
        return np.clip(x, 0.0, 1.0)
    return x


def funnel_limits(
    volume,
    *,
    kind: str,
    target: float,
    sd: float | None = None,
    adjustment: str | None = None,
    phi: float = 1.0,
    tau2: float = 0.0,
    exact: bool = True,
    scale: str | None = None,
) -> pd.DataFrame:
    """95% and 99.8% funnel limits at each volume.

    Parameters
    ----------
    volume : array-like
        Patients per unit (``n``), or the expected count for ``kind="ratio"``.
    kind : {"proportion", "mean", "ratio"}
        See :data:`FUNNEL_KINDS`.
    target : float
        The centre line (a proportion, a mean, or 1 for a ratio).
    sd : float, optional
        Within-unit SD of a patient's value; required for ``kind="mean"``.
    adjustment : {None, "multiplicative", "additive"}
        Overdispersion adjustment with ``phi`` or ``tau2`` (:func:`overdispersion`).
    exact : bool
        Exact binomial / Poisson limits when there is no adjustment (proportion on the identity
        scale, ratio); otherwise normal limits on the working scale.
    scale : {"identity", "arcsine"}, optional
        Working scale of a proportion (default identity).

    Returns
    -------
    DataFrame
        ``volume`` and :data:`LIMIT_COLUMNS`.

    Examples
    --------
    Exact Poisson limits of a standardised ratio at 15, 20, 30 expected events (the values
    FunnelPlotR's tests/testthat/test-poisson_limits.R pins):

    >>> lim = funnel_limits([15, 20, 30], kind="ratio", target=1)
    >>> lim["ll95"].round(7).tolist()
    [0.5596924, 0.610826, 0.6746958]
    """
    scale = _scale_of(kind, scale)
    if kind == "mean" and (sd is None or not np.isfinite(sd) or sd <= 0):
        raise ValueError("funnel_limits: kind='mean' needs the within-unit SD sd > 0.")
    if adjustment not in (None, "multiplicative", "additive"):
        raise ValueError(
            f"funnel_limits: adjustment is None, 'multiplicative' or 'additive', got {adjustment!r}."
        )
    vol = np.asarray(volume, dtype=float)
    out = {"volume": vol}
    levels = {"95": (0.025, 0.975, _Z95), "998": (0.001, 0.999, _Z998)}
    use_exact = (
        exact and adjustment is None and (kind == "ratio" or (kind == "proportion" and scale == "identity"))
    )
    _, s, t = _transformed(kind, scale, np.full(vol.shape, target), vol, target, sd)
    phi_used = max(float(phi), 1.0) if adjustment == "multiplicative" else 1.0
    tau2_used = max(float(tau2), 0.0) if adjustment == "additive" else 0.0
    for name, (lo_p, hi_p, z) in levels.items():
        if use_exact and kind == "proportion":
            low, high = _binomial_limit(vol, target, lo_p), _binomial_limit(vol, target, hi_p)
        elif use_exact:
            from scipy import stats

            low = target * stats.chi2.ppf(lo_p, 2 * vol) / 2 / vol
            high = target * stats.chi2.ppf(hi_p, 2 * (vol + 1)) / 2 / vol
        else:
            half = z * np.sqrt(phi_used * s**2 + tau2_used)
            low, high = _back(kind, scale, t - half), _back(kind, scale, t + half)
        out[f"ll{name}"], out[f"ul{name}"] = low, high
    return pd.DataFrame(out)


def funnel_table(
    value,
    volume,
    group,
    *,
    kind: str,
    target: float | None = None,
    sd: float | None = None,
    adjustment: str | None = None,
    trim: float = 0.1,
    trim_method: str = "winsorise",
    exact: bool = True,
    scale: str | None = None,
) -> pd.DataFrame:
    """One row per unit: its value, z-score, limits at its volume and where it falls.

    Parameters
    ----------
    value : array-like
        Per unit: the proportion, the mean, or the ratio O/E.
    volume : array-like
        Per unit: n, or the expected count for ``kind="ratio"``.
    group : array-like
        Unit labels.
    target : float, optional
        Centre line; default the volume-weighted mean of ``value`` (1 for a ratio).
    adjustment : {None, "multiplicative", "additive"}
        Overdispersion adjustment estimated from the units' own z-scores (:func:`overdispersion`).
    sd, trim, trim_method, exact, scale
        As in :func:`funnel_limits` and :func:`overdispersion`.

    Returns
    -------
    DataFrame
        :data:`FUNNEL_COLUMNS`. ``z`` is the unadjusted z-score on the working scale; ``flag``
        is ``"high_998"``, ``"high_95"``, ``"within"``, ``"low_95"`` or ``"low_998"``;
        ``phi`` and ``tau2`` are the estimates (reported whatever the adjustment).

    Examples
    --------
    >>> t = funnel_table([0.2, 0.5, 0.3], [50, 40, 200], ["a", "b", "c"], kind="proportion")
    >>> t[["group", "flag"]].values.tolist()
    [['a', 'within'], ['b', 'high_95'], ['c', 'within']]
    """
    scale = _scale_of(kind, scale)
    value = np.asarray(value, dtype=float)
    vol = np.asarray(volume, dtype=float)
    if target is None:
        target = 1.0 if kind == "ratio" else float(np.sum(value * vol) / np.sum(vol))
    y, s, t = _transformed(kind, scale, value, vol, target, sd if kind == "mean" else None)
    s = np.broadcast_to(s, y.shape).astype(float)
    od = overdispersion(y, s, t, trim=trim, trim_method=trim_method)
    limits = funnel_limits(
        vol,
        kind=kind,
        target=target,
        sd=sd,
        adjustment=adjustment,
        phi=od.phi,
        tau2=od.tau2,
        exact=exact,
        scale=scale,
    )
    flag = np.select(
        [value > limits["ul998"], value > limits["ul95"], value < limits["ll998"], value < limits["ll95"]],
        ["high_998", "high_95", "low_998", "low_95"],
        "within",
    )
    out = pd.DataFrame(
        {
            "group": list(group),
            "volume": vol,
            "value": value,
            "target": target,
            "se": s,
            "z": od.z,
            **{c: limits[c].to_numpy() for c in LIMIT_COLUMNS},
            "flag": flag,
            "adjustment": adjustment or "none",
            "phi": od.phi,
            "tau2": od.tau2,
        }
    )
    return out[list(FUNNEL_COLUMNS)]


def funnel_curve(
    table: pd.DataFrame,
    *,
    kind: str,
    points: int = 200,
    exact: bool = True,
    scale: str | None = None,
) -> pd.DataFrame:
    """The funnel's limit lines over a grid of volumes, for drawing beside :func:`funnel_table`.

    Reads the target, the adjustment and ``phi`` / ``tau2`` from ``table`` (the within-unit SD
    of a mean funnel from ``se * sqrt(volume)``), so the lines are those the units' flags used.
    The grid runs from the smallest volume shown (at least 1) to 1.1 x the largest: ``points``
    volumes, or every whole number of patients for a proportion's exact binomial limits (which
    exist at whole numbers only).

    Examples
    --------
    >>> t = funnel_table([0.2, 0.5, 0.3], [50, 40, 200], ["a", "b", "c"], kind="proportion")
    >>> curve = funnel_curve(t, kind="proportion")  # exact limits: every whole volume, 36 to 220
    >>> list(curve.columns), len(curve)
    (['volume', 'll95', 'ul95', 'll998', 'ul998'], 185)
    """
    if table.empty:
        return pd.DataFrame(columns=["volume", *LIMIT_COLUMNS])
    first = table.iloc[0]
    sd = float(first["se"] * np.sqrt(first["volume"])) if kind == "mean" else None
    low = max(1.0, 0.9 * float(table["volume"].min()))
    high = 1.1 * float(table["volume"].max())
    adjustment = None if first["adjustment"] == "none" else first["adjustment"]
    if kind == "proportion" and exact and adjustment is None and _scale_of(kind, scale) == "identity":
        # exact binomial limits exist at whole numbers of patients only (NaN in between)
        # (rounded first: 1.1 x 200 is 220.00000000000003, not a reason for patient 221)
        grid = np.arange(np.floor(round(low, 9)), np.ceil(round(high, 9)) + 1, dtype=float)
    else:
        grid = np.linspace(low, high, points)
    return funnel_limits(
        grid,
        kind=kind,
        target=float(first["target"]),
        sd=sd,
        adjustment=adjustment,
        phi=float(first["phi"]),
        tau2=float(first["tau2"]),
        exact=exact,
        scale=scale,
    )


def pooled_within_sd(values, group) -> float:
    """Pooled within-unit SD ``sqrt(sum_i (n_i - 1) sd_i^2 / (N - I))``, the ``sd`` of a mean funnel.

    Examples
    --------
    >>> round(pooled_within_sd([1.0, 3.0, 2.0, 6.0], ["a", "a", "b", "b"]), 4)
    2.2361
    """
    frame = pd.DataFrame({"v": np.asarray(values, dtype=float), "g": list(group)}).dropna()
    grouped = frame.groupby("g")["v"]
    dev = (frame["v"] - grouped.transform("mean")) ** 2
    df = len(frame) - grouped.ngroups
    return float(np.sqrt(dev.sum() / df)) if df > 0 else float("nan")


#: Columns of :func:`indirect_standardisation`, in order.
INDIRECT_COLUMNS = ("group", "n", "observed", "expected", "ratio", "adjusted")


def indirect_standardisation(
    data: pd.DataFrame,
    outcome: str,
    covariates,
    group: str,
    *,
    family: str = "binomial",
) -> tuple[pd.DataFrame, float]:
    """Case-mix adjustment by indirect standardisation: observed against expected per unit.

    A regression of ``outcome`` on ``covariates`` over all units' patients (logistic for
    ``family="binomial"``, linear for ``"gaussian"``, without the unit) gives each patient's
    expected value; per unit ``observed`` and ``expected`` are their sums (binomial: counts of
    events) or means (gaussian). Patients with a missing outcome or covariate are left out.

    Returns
    -------
    (DataFrame, float)
        :data:`INDIRECT_COLUMNS` and, second, the residual SD of the linear model (NaN for the
        binomial family). ``ratio`` is ``observed / expected`` (binomial: the standardised ratio
        to plot with ``kind="ratio"`` and volume ``expected``). ``adjusted`` is the
        indirectly standardised rate ``ratio * overall rate`` (binomial) or mean ``observed -
        expected + overall mean`` (gaussian: plot with ``kind="mean"``, volume ``n`` and the
        residual SD).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"unit": np.repeat(["a", "b"], 100), "age": rng.normal(50, 10, 200)})
    >>> d["y"] = (rng.random(200) < 1 / (1 + np.exp(-(d["age"] - 50) / 10))).astype(int)
    >>> table, _ = indirect_standardisation(d, "y", ["age"], "unit")
    >>> bool(np.isclose(table["observed"].sum(), table["expected"].sum()))
    True
    """
    import statsmodels.api as sm

    covariates = list(covariates)
    frame = data[[group, outcome, *covariates]].dropna()
    design = pd.get_dummies(frame[covariates], drop_first=True, dtype=float)
    design = sm.add_constant(design, has_constant="add")
    y = frame[outcome].astype(float)
    if family == "binomial":
        fit = sm.GLM(y, design, family=sm.families.Binomial()).fit()
        resid_sd = float("nan")
    elif family == "gaussian":
        fit = sm.OLS(y, design).fit()
        resid_sd = float(np.sqrt(fit.scale))
    else:
        raise ValueError(f"indirect_standardisation: family is 'binomial' or 'gaussian', got {family!r}.")
    frame = frame.assign(_expected=np.asarray(fit.predict(design)))
    how = "sum" if family == "binomial" else "mean"
    table = frame.groupby(group, sort=True).agg(
        n=(outcome, "size"), observed=(outcome, how), expected=("_expected", how)
    )
    table["ratio"] = table["observed"] / table["expected"]
    if family == "binomial":
        table["adjusted"] = table["ratio"] * y.mean()
    else:
        table["adjusted"] = table["observed"] - table["expected"] + y.mean()
    table = table.reset_index().rename(columns={group: "group"})
    return table[list(INDIRECT_COLUMNS)], resid_sd
