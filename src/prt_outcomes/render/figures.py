"""Figures drawn from result tables (never from raw data, except individual trajectories).

Every ``plot_*`` function takes result tables (the CSVs of ``results/<study>/tables``) and an
optional matplotlib ``Axes``; with ``ax=None`` it makes a new figure. It returns the Axes, so
notebooks can compose several panels. Arms keep the same Okabe-Ito colour everywhere
(:func:`arm_colors`). :func:`render_figures` writes the workflow's figure files with the
non-interactive Agg backend and deterministic metadata, so reruns give identical bytes.

matplotlib is imported inside the functions: the numeric core stays light.

Examples
--------
>>> import pandas as pd
>>> from prt_outcomes.render.figures import arm_colors
>>> arm_colors(["prt", "placebo", "usual_care"])["prt"]
'#0072B2'
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..analyse.outcomes import primary_rows
from ..errors import OutputError, PrtOutcomesError
from ..files import output_file, read_result_csv
from ..outputs import audit_funnel_stems, audit_run_chart_stems, estimand_table, responder_curve_outcomes
from ..stats.distributions import t_quantile

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..config import StudyConfig

__all__ = [
    "OKABE_ITO",
    "FigureInputError",
    "arm_colors",
    "wilson_interval",
    "plot_trajectory",
    "plot_change",
    "plot_responders",
    "plot_forest",
    "forest_height",
    "plot_flow",
    "plot_missingness",
    "plot_individual_trajectories",
    "responders_figure",
    "responder_curve_figure",
    "responder_curve_outcomes",
    "responder_curve_points",
    "individual_figure",
    "trajectory_figure",
    "change_figure",
    "forest_figure",
    "flow_figure",
    "missingness_figure",
    "figure_style",
    "render_figures",
    "save_figure",
    "StudyFigures",
    "sensitivity_forest_figure",
    "tipping_point_figure",
]

#: Okabe & Ito (2008) colour-blind-safe palette, in the order arms receive it. Black and yellow
#: come last: black reads as "reference line" and yellow is weak on white paper.
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
log = logging.getLogger(__name__)
_TOTAL_COLOR = "#595959"
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
_FONT_SIZE = 8  # print size: JAMA figures are ~3.3 in (one column) to 7 in (two) wide


class FigureInputError(PrtOutcomesError):
    """A result table cannot be drawn as asked; the message says what is wrong and what to do."""


#: Labels are the user's text: "Cost ($)" or "$x$ unbalanced" must print as written, not as
#: TeX (mathtext would drop the dollars, or stop on "$^$" with a parser traceback).
_LITERAL_TEXT = {"text.parse_math": False}


def _literal_text(draw):
    """Run a drawing function with math parsing off, so every text of its figure is literal.

    The rc setting covers the texts the function creates; the texts the Axes already had
    (title, axis labels, made when the caller created the Axes) are switched off explicitly.
    """

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib
        from matplotlib.text import Text

        with matplotlib.rc_context(_LITERAL_TEXT):
            drawn = draw(*args, **kwargs)
        figure = drawn if isinstance(drawn, matplotlib.figure.Figure) else drawn.get_figure()
        for text in figure.findobj(Text):
            text.set_parse_math(False)
        return drawn

    return wrapper


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------
def arm_colors(arm_names: Iterable[str]) -> dict[str, str]:
    """The colour of each arm: Okabe-Ito in arm order; "Total" is grey.

    Use the config's arm order (``cfg.arm_names``) so an arm has the same colour in every
    figure of a study.

    Examples
    --------
    >>> arm_colors(["a", "b", "Total"])
    {'a': '#0072B2', 'b': '#D55E00', 'Total': '#595959'}
    """
    colors, i = {}, 0
    for name in arm_names:
        if name == "Total":
            colors[name] = _TOTAL_COLOR
            continue
        colors[name] = OKABE_ITO[i % len(OKABE_ITO)]
        i += 1
    return colors


def wilson_interval(successes, total, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals (proportions, 0-1) of arrays of counts: kept for old imports.

    The interval is computed by :func:`prt_outcomes.stats.proportions.wilson_interval` (statsmodels),
    the one producer; this wrapper only applies it element-wise. The figures do not call it: they
    take each rate and interval from :func:`prt_outcomes.stats.proportions.compare_proportions`, the
    function that wrote the responders table's columns (see ``_responder_rates``).

    Examples
    --------
    >>> lo, hi = wilson_interval(33, 50)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.5215, 0.7756)
    """
    from ..stats.proportions import wilson_interval as one_interval

    # 1 - 0.95 is 0.050000000000000044 in binary; rounding gives the alpha the table used
    alpha = round(1.0 - level, 12)
    x, n = np.broadcast_arrays(np.asarray(successes, dtype=float), np.asarray(total, dtype=float))
    bounds = [one_interval(int(a), int(b), alpha=alpha) for a, b in zip(x.ravel(), n.ravel())]
    low = np.array([b[0] for b in bounds], dtype=float).reshape(x.shape)
    high = np.array([b[1] for b in bounds], dtype=float).reshape(x.shape)
    return low, high


def _responder_rates(r: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Rate and Wilson interval (percent) of each row of a responders table.

    They come from :func:`prt_outcomes.stats.proportions.compare_proportions`, the function that
    wrote the table's ``percent`` / ``percent_ci_low`` / ``percent_ci_high`` columns, applied
    to the row's counts: the same numbers at full precision (the CSV keeps 10 significant
    digits, which would move the vector figures' coordinates in their last digits), and a
    hand-made frame of counts gets them too.
    """
    from ..stats.proportions import compare_proportions

    columns = ("percent", "percent_ci_low", "percent_ci_high")
    # a count an audit's privacy settings suppressed has no rate to draw (NaN, not plotted)
    results = [
        None if pd.isna(x) or pd.isna(n) else compare_proportions(int(x), int(n), 0, 0)
        for x, n in zip(r["responders"], r["denominator"])
    ]
    return tuple(
        pd.Series([np.nan if res is None else getattr(res, c) for res in results], index=r.index, dtype=float)
        for c in columns
    )


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise FigureInputError(f"{what} must be a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FigureInputError(
            f"{what} lacks the column(s) {missing}; it has {list(df.columns)}. "
            "Pass the table written by the workflow (see README, output contract)."
        )


def _ordered(values: Iterable, order: Sequence[str] | None) -> list[str]:
    seen = list(dict.fromkeys(str(v) for v in values if not pd.isna(v)))
    if not order:
        return seen
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _one_outcome(df, outcome: str | None):
    """A table from a single fit (``fit.marginal_means``) has no ``outcome`` column: label it."""
    if isinstance(df, pd.DataFrame) and "outcome" not in df.columns and outcome is not None:
        return df.assign(outcome=outcome)
    return df


def _select(df: pd.DataFrame, outcome: str | None, what: str) -> pd.DataFrame:
    out = df.copy()
    for c in ("outcome", "arm", "visit", "reference", "threshold"):
        if c in out.columns:
            out[c] = out[c].astype(str)
    if outcome is None:
        return out
    out = out[out["outcome"] == outcome]
    if out.empty:
        known = sorted(set(df["outcome"].astype(str)))
        raise FigureInputError(f"{what} has no rows for outcome {outcome!r}; outcomes: {known}.")
    return out


def _arm_label(config, arm: str) -> str:
    return config.arm_labels.get(arm, arm) if config is not None else arm


def _visit_label(config, visit: str) -> str:
    return config.visit_labels.get(visit, visit) if config is not None else visit


def _outcome_label(config, outcome: str, axis: bool = True) -> str:
    if config is None or outcome not in config.outcome_names:
        return outcome
    o = config.outcome(outcome)
    return o.axis_label if axis else o.label


def _new_axes(ax, figsize=(6.5, 3.6)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _style_axes(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.tick_params(labelsize=_FONT_SIZE)
    ax.xaxis.label.set_size(_FONT_SIZE + 1)
    ax.yaxis.label.set_size(_FONT_SIZE + 1)
    ax.title.set_size(_FONT_SIZE + 2)


def _visit_positions(visits: Sequence[str], config, nominal: bool) -> dict[str, float]:
    if nominal and config is not None:
        days = config.visit_days
        if all(v in days for v in visits):
            return {v: float(days[v]) for v in visits}
    order = list(config.visit_names) if config is not None else list(visits)
    return {v: float(order.index(v)) if v in order else float(i) for i, v in enumerate(visits)}


def _set_visit_ticks(ax, positions: dict[str, float], config) -> None:
    """Visit labels as x ticks; slanted when they would not fit side by side."""
    xs = sorted(positions.values())
    labels = [_visit_label(config, v) for v, _ in sorted(positions.items(), key=lambda kv: kv[1])]
    ax.set_xticks(xs, labels)
    width_in = _axes_width_in(ax) - (_LEGEND_RESERVE_IN if _legend_on_right(ax) else 0.0)
    span = (max(xs) - min(xs)) or 1.0
    gaps = np.diff(xs)
    min_gap_in = (gaps.min() / (span * 1.1)) * width_in if len(gaps) else width_in
    # ~0.6 em per character is the average advance width of DejaVu Sans.
    longest_in = max(len(s) for s in labels) * 0.6 * _FONT_SIZE / 72
    if longest_in > 0.9 * min_gap_in:
        for t in ax.get_xticklabels():
            t.set_rotation(45)
            t.set_ha("right")
            t.set_rotation_mode("anchor")
        # Slanted labels are parallel strips that need a glyph height (~1.3 em) between them,
        # measured across the text: 1.3 em / sin 45 deg along the axis. On a narrow axes keep
        # the labels that fit (first and last always) rather than print them over each other.
        need = 1.3 * _FONT_SIZE / 72 / np.sin(np.radians(45)) * (span * 1.1) / width_in
        shown, last = [], None
        for i, x in enumerate(xs):
            if last is None or x - last >= need:
                shown.append(i)
                last = x
        if len(xs) - 1 not in shown:
            if len(shown) > 1 and xs[-1] - xs[shown[-1]] < need:
                shown.pop()
            shown.append(len(xs) - 1)
        for i, t in enumerate(ax.get_xticklabels()):
            t.set_visible(i in shown)


_LEGEND_RIGHT_MIN_IN = 4.0  # narrower axes (one journal column) get the legend on top
_LEGEND_RESERVE_IN = 1.5  # width a right-hand legend takes from the axes


def _axes_width_in(ax) -> float:
    return ax.get_figure().get_figwidth() * ax.get_position().width


def _legend_on_right(ax) -> bool:
    return _axes_width_in(ax) >= _LEGEND_RIGHT_MIN_IN


def _legend_outside(ax, handles=None, labels=None, title=None) -> None:
    """Legend outside the axes, so it never covers data: to the right of a wide axes, above a
    narrow one (in two columns, with the title moved up to clear it)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    common = dict(frameon=False, fontsize=_FONT_SIZE, title_fontsize=_FONT_SIZE)
    if _legend_on_right(ax):
        ax.legend(
            handles,
            labels,
            title=title,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            **common,
        )
        return
    ncol = 2 if len(labels) > 1 else 1
    rows = math.ceil(len(labels) / ncol)
    ax.legend(
        handles,
        labels,
        title=title,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncol=ncol,
        borderaxespad=0.0,
        columnspacing=1.0,
        handlelength=1.6,
        **common,
    )
    chars = max(int(_axes_width_in(ax) * 72 / (0.62 * (_FONT_SIZE + 2))), 20)
    ax.set_title(_wrap(ax.get_title(loc="left"), chars), loc="left", pad=10 + rows * _FONT_SIZE * 1.75)


def _dodge(n_arms: int, span: float, fraction: float = 0.012) -> list[float]:
    step = span * fraction
    return [(i - (n_arms - 1) / 2) * step for i in range(n_arms)]


def _arms(df: pd.DataFrame, config) -> list[str]:
    return _ordered(df["arm"], list(config.arm_names) if config is not None else None)


def _colors_for(arms: list[str], config) -> dict[str, str]:
    names = list(config.arm_names) if config is not None else arms
    colors = arm_colors([*names, *[a for a in arms if a not in names]])
    return colors


def _arm_series(
    ax,
    part: pd.DataFrame,
    pos: dict,
    offset: float,
    columns: tuple[str, str, str],
    *,
    color,
    marker: str,
    zorder: float | None = None,
    capsize: float = 2.5,
) -> None:
    """One arm's estimates with their interval over visits (dodged by ``offset``)."""
    part = part.assign(x=part["visit"].map(pos) + offset).sort_values("x")
    centre, low, high = columns
    y = part[centre].to_numpy(float)
    ax.errorbar(
        part["x"],
        y,
        yerr=_error_bars(y, part[low], part[high]),
        color=color,
        marker=marker,
        markersize=4.5,
        linewidth=1.4,
        capsize=capsize,
        elinewidth=0.9,
        zorder=zorder,
    )


def _error_bars(centre, low, high) -> np.ndarray:
    """Distances from the centre to the bounds for ``errorbar``; a bound on the wrong side of
    the estimate (rounding in a stored table) draws as zero length instead of failing."""
    centre = np.asarray(centre, dtype=float)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return np.clip(np.vstack([centre - low, high - centre]), 0, None)


def _t_ci(mean, se, n, level=0.95):
    mean, se, n = (np.asarray(x, dtype=float) for x in (mean, se, n))
    with np.errstate(invalid="ignore"):
        q = t_quantile(0.5 + level / 2, np.where(n > 1, n - 1, np.nan))
    return mean - q * se, mean + q * se


# --------------------------------------------------------------------------------------------
# trajectory and change
# --------------------------------------------------------------------------------------------
@_literal_text
def plot_trajectory(
    marginal_means: pd.DataFrame,
    observed_summary: pd.DataFrame | None = None,
    *,
    outcome: str,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """Model-estimated means with 95% CI per arm over nominal time, observed means as points.

    Parameters
    ----------
    marginal_means : DataFrame
        ``tables/marginal_means.csv`` (``outcome, arm, visit, estimate, ci_low, ci_high``).
    observed_summary : DataFrame, optional
        ``tables/observed_summary.csv``; its ``mean`` per arm and visit is drawn as open markers.
    outcome : str
        Outcome to draw.
    config : StudyConfig, optional
        Gives nominal days (x positions), visit and arm labels and the axis label with the
        instrument's range. Without it visits are equally spaced.
    ax : Axes, optional
        Axes to draw on; a new figure when omitted.
    title : str, optional
        Defaults to "<outcome label>: estimated means by arm".

    Returns
    -------
    Axes

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> mm = pd.DataFrame({"outcome": "pain", "arm": ["a", "a"], "visit": ["v0", "v1"],
    ...                    "estimate": [5.0, 3.0], "ci_low": [4.5, 2.4], "ci_high": [5.5, 3.6]})
    >>> ax = plot_trajectory(mm, outcome="pain")
    >>> len(ax.get_xticks())
    2
    """
    marginal_means = _one_outcome(marginal_means, outcome)
    observed_summary = _one_outcome(observed_summary, outcome)
    _require(marginal_means, ["outcome", "arm", "visit", "estimate", "ci_low", "ci_high"], "marginal_means")
    mm = _select(marginal_means, outcome, "marginal_means")
    obs = None
    if observed_summary is not None:
        _require(observed_summary, ["outcome", "arm", "visit", "mean"], "observed_summary")
        obs = _select(observed_summary, None, "observed_summary")
        obs = obs[obs["outcome"] == outcome]
    ax = _new_axes(ax)
    from matplotlib.lines import Line2D

    visit_order = list(config.visit_names) if config is not None else None
    visits = _ordered(mm["visit"], visit_order)
    pos = _visit_positions(visits, config, nominal=True)
    arms = _arms(mm, config)
    colors = _colors_for(arms, config)
    span = (max(pos.values()) - min(pos.values())) or 1.0
    # Model and observed means get their own slots, so an open marker never hides under a
    # filled one: model a, observed a, model b, observed b, ...
    n_slots = 2 * len(arms) if obs is not None and len(obs) else len(arms)
    # The slots of one visit fill at most 80% of the narrowest gap between visits, so one
    # visit's markers never reach the next visit's, and no wider than needed (2% of the span
    # per slot): an open marker then sits beside, not on, its neighbour's error bar.
    gaps = np.diff(sorted(pos.values()))
    widest = 0.8 * float(gaps.min()) / n_slots if len(gaps) else 0.02 * span
    slots = _dodge(n_slots, span, min(widest / span, 0.02))
    step = n_slots // len(arms)
    offsets = {arm: slots[step * i] for i, arm in enumerate(arms)}
    obs_offsets = {arm: slots[step * i + step - 1] for i, arm in enumerate(arms)}
    handles, labels = [], []
    for i, arm in enumerate(arms):
        marker = _MARKERS[i % len(_MARKERS)]
        _arm_series(
            ax,
            mm[mm["arm"] == arm],
            pos,
            offsets[arm],
            ("estimate", "ci_low", "ci_high"),
            color=colors[arm],
            marker=marker,
            zorder=3,
            capsize=0,  # caps would reach into the neighbouring slot
        )
        handles.append(Line2D([], [], color=colors[arm], marker=marker, markersize=4.5))
        labels.append(_arm_label(config, arm))
        if obs is not None and len(obs):
            o = obs[obs["arm"] == arm]
            ax.plot(
                o["visit"].map(pos) + obs_offsets[arm],
                o["mean"],
                linestyle="none",
                marker=marker,
                markersize=4.5,
                markerfacecolor="white",
                markeredgecolor=colors[arm],
                markeredgewidth=0.9,
                zorder=4,
                alpha=0.9,
            )
    handles.append(Line2D([], [], color="0.3", marker="o", markersize=4.5, linewidth=1.4))
    labels.append("Model mean (95% CI)")
    if obs is not None and len(obs):
        handles.append(
            Line2D([], [], color="0.3", marker="o", markersize=4.5, markerfacecolor="white", linestyle="none")
        )
        labels.append("Observed mean")
    _set_visit_ticks(ax, pos, config)
    ax.set_xlim(min(pos.values()) - 0.05 * span, max(pos.values()) + 0.05 * span)
    ax.set_ylabel(_outcome_label(config, outcome))
    ax.set_xlabel(_time_axis_label(config))
    ax.set_title(
        title or f"{_outcome_label(config, outcome, axis=False)}: estimated means by arm", loc="left"
    )
    _clip_to_range(ax, config, outcome)
    _legend_outside(ax, handles, labels)
    _style_axes(ax)
    if obs is not None and len(obs) and "n" in obs.columns:
        _number_at_risk(ax, obs, pos, arms, colors, config)
    return ax


def _time_axis_label(config) -> str:
    """The time axis in the visits' unit: ``visits[].day`` is in days since the start."""
    if config is None:
        return "Visit"
    if all(v.day is not None for v in config.visits):
        return "Visit (nominal day)"
    return "Visit (in order)"


def _number_at_risk(ax, obs: pd.DataFrame, pos: dict, arms: list[str], colors: dict, config) -> None:
    """A strip under the time axis: the number observed per arm at each visit.

    The numbers are ``observed_summary``'s ``n`` (participants with a value at the visit), one
    row per arm in its colour, below the tick labels; the x label moves under the strip. Each
    number's text has gid ``n_at_risk:<arm>:<visit>`` (tests and readers find it by name).
    """
    rotated = any(t.get_rotation() and t.get_visible() for t in ax.get_xticklabels())
    if rotated:
        longest = max(len(t.get_text()) for t in ax.get_xticklabels())
        below = longest * 0.6 * _FONT_SIZE * np.sin(np.radians(45)) + 8
    else:
        below = 1.4 * _FONT_SIZE + 6
    row = 1.3 * (_FONT_SIZE - 1)
    transform = ax.get_xaxis_transform()
    ax.annotate(
        "Number observed",
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(0, -below),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=_FONT_SIZE - 1,
        fontweight="bold",
        annotation_clip=False,
    )
    for i, arm in enumerate(arms):
        y = -below - row * (i + 1)
        ax.annotate(
            _arm_label(config, arm),
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(-6, y),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=_FONT_SIZE - 1,
            color=colors[arm],
            annotation_clip=False,
        )
        part = obs[obs["arm"] == arm]
        for visit, n in zip(part["visit"], part["n"]):
            if visit not in pos:
                continue
            text = ax.annotate(
                "" if pd.isna(n) else str(int(n)),
                xy=(pos[visit], 0),
                xycoords=transform,
                xytext=(0, y),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=_FONT_SIZE - 1,
                color=colors[arm],
                annotation_clip=False,
            )
            text.set_gid(f"n_at_risk:{arm}:{visit}")
    # labelpad counts from the tick labels' lower edge, which the strip starts ~6-8 pt under
    ax.xaxis.labelpad = row * (len(arms) + 1) + 8


def _clip_to_range(ax, config, outcome) -> None:
    """Never show values beyond the instrument's range (CIs near the floor would suggest it)."""
    if config is None or outcome not in config.outcome_names:
        return
    o = config.outcome(outcome)
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, o.min), min(hi, o.max))


@_literal_text
def plot_change(
    observed_summary: pd.DataFrame,
    *,
    outcome: str,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """Observed change from baseline, mean and 95% CI (t interval) per arm over visits.

    Uses ``change_mean``, ``change_se`` and ``change_n`` (participants with both the baseline and
    the visit); the baseline visit is drawn at zero. A reference line marks no change, and the
    y label says which direction is improvement.

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> obs = pd.DataFrame({"outcome": "pain", "arm": "a", "visit": ["v1"], "change_n": [20],
    ...                     "change_mean": [-1.5], "change_se": [0.3]})
    >>> plot_change(obs, outcome="pain").get_ylabel()
    'Change in pain'
    """
    observed_summary = _one_outcome(observed_summary, outcome)
    _require(
        observed_summary,
        ["outcome", "arm", "visit", "change_n", "change_mean", "change_se"],
        "observed_summary",
    )
    obs = _select(observed_summary, outcome, "observed_summary")
    ax = _new_axes(ax)
    from matplotlib.lines import Line2D

    visit_order = list(config.visit_names) if config is not None else None
    visits = _ordered(obs["visit"], visit_order)
    baseline = config.baseline_visit if config is not None else None
    if baseline is not None and baseline not in visits:
        visits = [baseline, *visits]
    pos = _visit_positions(visits, config, nominal=True)
    arms = _arms(obs, config)
    colors = _colors_for(arms, config)
    span = (max(pos.values()) - min(pos.values())) or 1.0
    offsets = dict(zip(arms, _dodge(len(arms), span)))
    handles, labels = [], []
    for i, arm in enumerate(arms):
        part = obs[obs["arm"] == arm].copy()
        part = part[part["visit"] != baseline] if baseline else part
        part = part.dropna(subset=["change_mean"])
        low, high = _t_ci(part["change_mean"], part["change_se"], part["change_n"])
        x = part["visit"].map(pos).to_numpy(float)
        y = part["change_mean"].to_numpy(float)
        if baseline is not None:
            x, y = np.r_[pos[baseline], x], np.r_[0.0, y]
            low, high = np.r_[0.0, low], np.r_[0.0, high]
        order = np.argsort(x)
        x, y, low, high = x[order] + offsets[arm], y[order], low[order], high[order]
        marker = _MARKERS[i % len(_MARKERS)]
        ax.errorbar(
            x,
            y,
            yerr=_error_bars(y, low, high),
            color=colors[arm],
            marker=marker,
            markersize=4.5,
            linewidth=1.4,
            capsize=2.5,
            elinewidth=0.9,
            zorder=3,
        )
        handles.append(Line2D([], [], color=colors[arm], marker=marker, markersize=4.5))
        labels.append(_arm_label(config, arm))
    ax.axhline(0, color="0.4", linewidth=0.8, linestyle="--", zorder=1)
    _set_visit_ticks(ax, pos, config)
    ax.set_xlim(min(pos.values()) - 0.05 * span, max(pos.values()) + 0.05 * span)
    label = _wrap(f"Change in {_outcome_label(config, outcome)}", 30)
    if config is not None and outcome in config.outcome_names:
        higher = config.outcome(outcome).higher_is_better
        label += f"\n({'positive' if higher else 'negative'} = improvement)"
    ax.set_ylabel(label)
    ax.set_xlabel(_time_axis_label(config))
    ax.set_title(
        title or f"{_outcome_label(config, outcome, axis=False)}: observed change (mean, 95% CI)", loc="left"
    )
    _legend_outside(ax, handles, labels)
    _style_axes(ax)
    return ax


# --------------------------------------------------------------------------------------------
# responders
# --------------------------------------------------------------------------------------------
@_literal_text
def plot_responders(
    responders: pd.DataFrame,
    *,
    outcome: str | None = None,
    threshold: str | None = None,
    visit: str | None = None,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """Responder rates (%) with Wilson 95% CIs.

    With ``threshold`` given: the rate of that threshold over visits, one line per arm. Without
    it: grouped bars, one group per threshold, at ``visit`` (default: the first visit after
    baseline present in the table).

    Parameters
    ----------
    responders : DataFrame
        ``tables/responders.csv`` (``outcome, threshold, visit, arm, responders, denominator``).
    outcome : str, optional
        Restrict to one outcome (needed when a threshold rule is shared by several outcomes).
    threshold : str, optional
        A threshold rule as stored in the ``threshold`` column (e.g. ``"value <= 1"``).
    visit : str, optional
        Visit for the grouped-bar view.

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> r = pd.DataFrame({"outcome": "pain", "threshold": "value <= 1", "visit": "post",
    ...                   "arm": ["a", "b"], "responders": [33, 5], "denominator": [50, 50]})
    >>> plot_responders(r).get_ylabel()
    'Responders, % (95% CI)'
    """
    responders = _one_outcome(responders, outcome)
    _require(responders, ["outcome", "threshold", "visit", "arm", "responders", "denominator"], "responders")
    r = _select(responders, outcome, "responders")
    ax = _new_axes(ax)
    from matplotlib.lines import Line2D

    labels_by_rule = {t.rule: t.label for t in config.thresholds} if config is not None else {}
    if "threshold_label" in r.columns:
        for rule, label in zip(r["threshold"], r["threshold_label"]):
            if isinstance(label, str) and label:
                labels_by_rule.setdefault(rule, label)
    visit_order = list(config.visit_names) if config is not None else None
    arms = _arms(r, config)
    colors = _colors_for(arms, config)
    r = r.copy()
    r["rate"], r["low"], r["high"] = _responder_rates(r)

    if threshold is not None:
        r = r[r["threshold"] == threshold]
        if r.empty:
            raise FigureInputError(
                f"responders has no rows for threshold {threshold!r}; "
                f"thresholds: {sorted(set(responders['threshold']))}."
            )
        if r["outcome"].nunique() > 1:
            raise FigureInputError(
                f"threshold {threshold!r} is used for several outcomes "
                f"{sorted(set(r['outcome']))}; pass outcome= as well."
            )
        visits = _ordered(r["visit"], visit_order)
        pos = {v: float(i) for i, v in enumerate(visits)}
        offsets = dict(zip(arms, _dodge(len(arms), max(len(visits) - 1, 1), 0.05)))
        handles = []
        for i, arm in enumerate(arms):
            marker = _MARKERS[i % len(_MARKERS)]
            _arm_series(
                ax,
                r[r["arm"] == arm],
                pos,
                offsets[arm],
                ("rate", "low", "high"),
                color=colors[arm],
                marker=marker,
            )
            handles.append(Line2D([], [], color=colors[arm], marker=marker, markersize=4.5))
        _set_visit_ticks(ax, pos, config)
        ax.set_xlim(-0.4, len(visits) - 0.6)
        ax.set_xlabel("Visit")
        default_title = _pretty_rule(labels_by_rule.get(threshold, threshold))
        if config is not None and r["outcome"].iloc[0] in config.outcome_names:
            default_title = f"{_outcome_label(config, r['outcome'].iloc[0], False)}: {default_title}"
    else:
        if visit is None:
            later = [
                v for v in _ordered(r["visit"], visit_order) if config is None or v != config.baseline_visit
            ]
            visit = later[0]
        r = r[r["visit"] == visit]
        if r.empty:
            raise FigureInputError(f"responders has no rows for visit {visit!r}.")
        groups = list(dict.fromkeys(zip(r["outcome"], r["threshold"])))
        width = 0.8 / max(len(arms), 1)
        handles = []
        for i, arm in enumerate(arms):
            for g, key in enumerate(groups):
                cell = r[(r["arm"] == arm) & (r["outcome"] == key[0]) & (r["threshold"] == key[1])]
                if cell.empty:
                    continue
                c = cell.iloc[0]
                x = g + (i - (len(arms) - 1) / 2) * width
                ax.bar(x, c["rate"], width=width * 0.92, color=colors[arm], zorder=2)
                ax.errorbar(
                    x,
                    c["rate"],
                    yerr=[[max(c["rate"] - c["low"], 0.0)], [max(c["high"] - c["rate"], 0.0)]],
                    color="0.15",
                    capsize=2,
                    elinewidth=0.8,
                    zorder=3,
                )
            handles.append(Line2D([], [], color=colors[arm], marker="s", linestyle="none", markersize=6))
        group_labels = [_wrap(_pretty_rule(labels_by_rule.get(t, t)), 18) for _, t in groups]
        ax.set_xticks(range(len(groups)), group_labels)
        ax.set_xlabel(f"Threshold ({_visit_label(config, visit)})")
        default_title = f"Responders at {_visit_label(config, visit)}"
    ax.set_ylim(0, 100)
    ax.set_ylabel("Responders, % (95% CI)")
    ax.set_title(title or default_title, loc="left")
    ax.grid(axis="y", color="0.9", linewidth=0.6, zorder=0)
    _legend_outside(ax, handles, [_arm_label(config, a) for a in arms])
    _style_axes(ax)
    return ax


def _pretty_rule(text: str) -> str:
    """Comparison operators as typeset symbols ("<=" reads as an arrow in print)."""
    return text.replace(">=", "\u2265").replace("<=", "\u2264")


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines)


@_literal_text
def responders_figure(responders: pd.DataFrame, config: "StudyConfig | None" = None):
    """One panel per outcome x threshold: rates over visits with Wilson CIs (a Figure).

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> r = pd.DataFrame({"outcome": "pain", "threshold": ["t1", "t1", "t2", "t2"],
    ...                   "visit": "post", "arm": ["a", "b"] * 2, "responders": [3, 1, 5, 2],
    ...                   "denominator": 10})
    >>> len(responders_figure(r).axes)
    2
    """
    from matplotlib.figure import Figure

    _require(responders, ["outcome", "threshold"], "responders")
    r = _select(responders, None, "responders")
    outcome_order = list(config.outcome_names) if config is not None else None
    rule_order = [t.rule for t in config.thresholds] if config is not None else None
    panels = []
    for o in _ordered(r["outcome"], outcome_order):
        for t in _ordered(r.loc[r["outcome"] == o, "threshold"], rule_order):
            panels.append((o, t))
    ncol = 2 if len(panels) > 1 else 1
    nrow = math.ceil(len(panels) / ncol)
    fig = Figure(figsize=(7.0 if ncol == 2 else 5.0, 2.6 * nrow + 0.3), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True)
    for k, (o, t) in enumerate(panels):
        ax = axes.flat[k]
        plot_responders(r, outcome=o, threshold=t, config=config, ax=ax)
        if ax.get_legend() is not None:
            ax.get_legend().remove()  # one legend for the figure, below the panels
        title_text = ax.get_title(loc="left").replace("\n", " ")
        ax.set_title(_wrap(title_text, 40 if ncol == 2 else 60), loc="left", fontsize=_FONT_SIZE + 1, pad=6)
        if k % ncol:
            ax.set_ylabel("")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    arms = _arms(r, config)
    colors = _colors_for(arms, config)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=colors[a], marker=_MARKERS[i % len(_MARKERS)], markersize=4.5)
        for i, a in enumerate(arms)
    ]
    fig.legend(
        handles,
        [_arm_label(config, a) for a in arms],
        loc="outside lower center",
        ncol=len(arms),
        frameon=False,
        fontsize=_FONT_SIZE,
    )
    fig.suptitle("Responder rates by arm (Wilson 95% CI)", fontsize=_FONT_SIZE + 3, x=0.01, ha="left")
    return fig


# --------------------------------------------------------------------------------------------
# responder curves (cumulative distribution of percent improvement; Farrar et al. 2006)
# --------------------------------------------------------------------------------------------
def responder_curve_points(
    data: pd.DataFrame, config: "StudyConfig", *, outcome: str, visit: str, arm: str
) -> tuple[np.ndarray, int]:
    """The percent reductions from baseline of one arm at one visit, and the curve's denominator.

    The percent change is the derive stage's ``<outcome>_percent_change`` column (one
    definition, :mod:`prt_outcomes.derive`), negated: ``percent_reduction``, as in the
    threshold rules. The denominator follows ``responders.denominator``: every participant of
    the arm (``randomized``: a missing value counts as a non-responder) or those observed at
    the visit (``observed``), as in the responders table.
    """
    from ..derive import percent_change_column

    column = percent_change_column(outcome)
    if column not in data.columns and outcome in data.columns and config.baseline_visit:
        # data not passed through the derive stage: its own function adds the column (as
        # describe.observed_summary does), so the definition stays the one of derive.py
        from ..derive import add_change_scores

        data = add_change_scores(data, [outcome], baseline_visit=config.baseline_visit)
    _require(data, ["participant_id", "arm", "visit", column], "analysis data")
    in_arm = data[data["arm"].astype(str) == arm]
    at = in_arm[in_arm["visit"].astype(str) == visit]
    values = -pd.to_numeric(at[column], errors="coerce").dropna().to_numpy(float)
    if config.responder_denominator == "randomized":
        n = int(in_arm["participant_id"].nunique())
    else:
        n = int(values.size)
    return np.sort(values), n


@_literal_text
def responder_curve_figure(data: pd.DataFrame, config: "StudyConfig", *, outcome: str):
    """Responder curves of one outcome: the percentage of each arm improved by at least x%.

    One panel per follow-up visit (at most the last three), x the percent reduction from
    baseline (0-100), y the cumulative percentage of participants with at least that
    reduction (Farrar et al. 2006, the display the FDA's 2019 guidance on patient-reported
    outcomes endorses). The config's percent-reduction thresholds are dotted vertical lines,
    where the curve's height is that rule's responder rate. In a clinic audit with
    ``privacy.min_cell``, an arm with fewer participants is not drawn (the panel says so).
    Each arm's curve has gid ``responder_curve:<arm>:<visit>``.

    Examples
    --------
    >>> import pandas as pd
    >>> from prt_outcomes.config import load_config                       # doctest: +SKIP
    >>> fig = responder_curve_figure(pd.read_csv("analysis_data.csv"),
    ...                              load_config("config.yaml"), outcome="pain_avg")  # doctest: +SKIP
    """
    thresholds = responder_curve_outcomes(config).get(outcome, [])
    follow = [v for v in config.visit_names if v != config.baseline_visit][-3:]
    arms = list(config.arm_names)
    colors = _colors_for(arms, config)
    min_cell = config.privacy.min_cell if config.is_audit and config.privacy is not None else None
    fig = _figure((6.5, 2.9))
    axes = fig.subplots(1, len(follow), sharey=True, squeeze=False)[0]
    grid = np.linspace(0.0, 100.0, 401)
    hidden = []
    for ax, visit in zip(axes, follow):
        for i, arm in enumerate(arms):
            values, n = responder_curve_points(data, config, outcome=outcome, visit=visit, arm=arm)
            if n == 0 or (min_cell and n < min_cell):
                hidden.append(_arm_label(config, arm))
                continue
            # share with a reduction of at least x: values >= x, counted on the sorted values
            share = 100.0 * (values.size - np.searchsorted(values, grid, side="left")) / n
            (line,) = ax.step(
                grid, share, where="post", color=colors[arm], lw=1.4, label=_arm_label(config, arm)
            )
            line.set_gid(f"responder_curve:{arm}:{visit}")
        for x in thresholds:
            ax.axvline(x, color="0.45", lw=0.8, ls=":", zorder=0)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_title(_visit_label(config, visit), loc="left", fontsize=_FONT_SIZE + 1)
        _style_axes(ax)
    fig.supxlabel("Reduction from baseline of at least x (%)", fontsize=_FONT_SIZE + 1)
    axes[0].set_ylabel("Participants, %")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        # the curves fall from the left: the upper right of the last panel is free
        axes[-1].legend(handles, labels, loc="upper right", frameon=False, fontsize=_FONT_SIZE)
    note = "; dotted: " + ", ".join(f"{x:g}%" for x in thresholds) if thresholds else ""
    if hidden:
        note += f"; not drawn (fewer than {min_cell}): " + ", ".join(dict.fromkeys(hidden))
    fig.suptitle(
        f"{_outcome_label(config, outcome, False)}: responder curves{note}",
        fontsize=_FONT_SIZE + 2,
        x=0.01,
        ha="left",
    )
    return fig


# --------------------------------------------------------------------------------------------
# forest plot
# --------------------------------------------------------------------------------------------
def _estimate_text(estimate: float, low: float, high: float) -> str:
    """``"-0.52 (-0.91 to -0.13)"``: the forest's numeric column (two decimals; "to", since a
    minus sign after a dash would read as a range).

    >>> _estimate_text(-0.5234, -0.911, -0.1349)
    '-0.52 (-0.91 to -0.13)'
    """
    return f"{estimate:.2f} ({low:.2f} to {high:.2f})"


def forest_height(contrasts: pd.DataFrame, config: "StudyConfig | None" = None) -> float:
    """Figure height (inches) that gives each row of :func:`plot_forest` about 0.2 inch.

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"outcome": ["a", "a", "b", "b"], "visit": ["v1", "v2"] * 2})
    >>> round(forest_height(c), 2)
    2.7
    """
    c = contrasts.astype({"visit": str}) if "visit" in contrasts.columns else contrasts
    if config is not None and config.baseline_visit is not None and "visit" in c.columns:
        c = c[c["visit"] != config.baseline_visit]
    n_outcomes = c["outcome"].nunique() if "outcome" in c.columns else 1
    n_visits = c["visit"].nunique() if "visit" in c.columns else 1
    rows = n_outcomes if n_visits == 1 else n_outcomes * (n_visits + 1)
    # several arms share a row: each needs a line of the numeric column (~0.15 in)
    n_arms = c["arm"].nunique() if "arm" in c.columns else 1
    return max(0.2, 0.16 * n_arms) * max(rows, 1) + 1.5


@_literal_text
def plot_forest(
    contrasts: pd.DataFrame,
    *,
    standardized: bool = True,
    outcomes: Sequence[str] | None = None,
    visits: Sequence[str] | None = None,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """Arm-vs-reference contrasts across outcomes and visits, with 95% CIs.

    ``standardized=True`` (default) draws Hedges g, comparable across instruments; otherwise
    the raw difference in score points (use with a single outcome). Rows are labelled
    by visit under a bold outcome header; arms are dodged within a row in their colours. A
    line marks zero and, when every outcome shown improves in the same direction, the sides
    are labelled "Favours".

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> c = pd.DataFrame({"outcome": "pain", "visit": ["v1", "v2"], "arm": "a", "reference": "r",
    ...                   "estimate": [-1.0, -1.2], "ci_low": [-1.5, -1.8], "ci_high": [-0.5, -0.6],
    ...                   "hedges_g": [-0.8, -0.9], "hedges_g_ci_low": [-1.2, -1.3],
    ...                   "hedges_g_ci_high": [-0.4, -0.5]})
    >>> [t.get_text() for t in plot_forest(c).get_yticklabels()]
    ['pain', 'v1', 'v2']
    """
    cols = (
        ["hedges_g", "hedges_g_ci_low", "hedges_g_ci_high"]
        if standardized
        else ["estimate", "ci_low", "ci_high"]
    )
    if "outcome" not in contrasts.columns:
        contrasts = contrasts.assign(outcome=outcomes[0] if outcomes else "Outcome")
    _require(contrasts, ["outcome", "visit", "arm", "reference", *cols], "contrasts")
    c = _select(contrasts, None, "contrasts")
    if outcomes is not None:
        c = c[c["outcome"].isin(list(outcomes))]
    if visits is not None:
        c = c[c["visit"].isin(list(visits))]
    elif config is not None and config.baseline_visit is not None:
        # Arms differ at baseline only by chance; the forest plot shows treatment effects.
        c = c[c["visit"] != config.baseline_visit]
    c = c.dropna(subset=[cols[0]])
    if c.empty:
        raise FigureInputError(
            "contrasts has no rows with an estimate to draw for the chosen outcomes and visits."
        )
    # Left is always better: an outcome where higher is better has its differences negated
    # (and its interval's bounds swapped), so every row reads "left favours the comparison arm".
    flipped = set()
    if config is not None:
        flipped = {
            o for o in set(c["outcome"]) if o in config.outcome_names and config.outcome(o).higher_is_better
        }
    if flipped:
        c = c.copy()
        neg = c["outcome"].isin(flipped)
        est, low, high = (c[k].astype(float) for k in cols)
        c[cols[0]] = np.where(neg, -est, est)
        c[cols[1]] = np.where(neg, -high, low)
        c[cols[2]] = np.where(neg, -low, high)
    if not standardized and c["outcome"].nunique() > 1:
        raise FigureInputError(
            "raw differences of several outcomes are on different scales; "
            "pass standardized=True or a single outcome in outcomes=."
        )
    ax = _new_axes(ax, figsize=(6.5, 0.22 * c[["outcome", "visit"]].drop_duplicates().shape[0] + 1.4))
    from matplotlib.lines import Line2D

    outcome_order = list(config.outcome_names) if config is not None else None
    visit_order = list(config.visit_names) if config is not None else None
    # An outcome header row, then one row per visit: short labels leave room for the data.
    ypos: dict[tuple[str, str], float] = {}
    tick_pos, tick_labels, header_ticks, blocks = [], [], [], []
    y = 0.0
    visits_shown = _ordered(c["visit"], visit_order)
    # One visit for every outcome (a two-visit trial): one row per outcome, the visit goes in
    # the title; otherwise a bold outcome header row and one row per visit.
    one_visit = len(visits_shown) == 1
    for o in _ordered(c["outcome"], outcome_order):
        start = y
        if one_visit:
            ypos[(o, visits_shown[0])] = y
            tick_pos.append(y)
            tick_labels.append(_outcome_label(config, o, axis=False) + (" \u2020" if o in flipped else ""))
            y += 1
            blocks.append((start, start))
            continue
        tick_pos.append(y)
        tick_labels.append(_outcome_label(config, o, axis=False) + (" \u2020" if o in flipped else ""))
        header_ticks.append(len(tick_pos) - 1)
        y += 1
        for v in _ordered(c.loc[c["outcome"] == o, "visit"], visit_order):
            ypos[(o, v)] = y
            tick_pos.append(y)
            tick_labels.append(_visit_label(config, v))
            y += 1
        blocks.append((start, y - 1))
    arms = _arms(c, config)
    reference = str(c["reference"].iloc[0])
    colors = _colors_for([*arms, reference], config)
    step = (0.5 if len(arms) < 2 else 0.8) / max(len(arms), 1)
    handles = []
    for i, arm in enumerate(arms):
        part = c[c["arm"] == arm]
        yy = np.array([ypos[(o, v)] for o, v in zip(part["outcome"], part["visit"])])
        yy = yy + (i - (len(arms) - 1) / 2) * step
        est = part[cols[0]].to_numpy(float)
        err = _error_bars(est, part[cols[1]], part[cols[2]])
        marker = _MARKERS[i % len(_MARKERS)]
        ax.errorbar(
            est,
            yy,
            xerr=err,
            color=colors[arm],
            marker=marker,
            markersize=4,
            linestyle="none",
            elinewidth=1.0,
            capsize=0,
            zorder=3,
        )
        handles.append(Line2D([], [], color=colors[arm], marker=marker, markersize=4))
        # the numeric column: the drawn estimate and interval as text, right of the axes
        for yy_k, e, lo_k, hi_k, o, v in zip(
            yy, est, part[cols[1]].astype(float), part[cols[2]].astype(float), part["outcome"], part["visit"]
        ):
            text = ax.annotate(
                _estimate_text(e, lo_k, hi_k),
                xy=(1.0, yy_k),
                xycoords=ax.get_yaxis_transform(),
                xytext=(8, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=_FONT_SIZE - 1,
                color=colors[arm],
                annotation_clip=False,
            )
            text.set_gid(f"forest_value:{o}:{v}:{arm}")
    ax.annotate(
        ("g" if standardized else "Difference") + " (95% CI)",
        xy=(1.0, 1.0),
        xycoords="axes fraction",
        xytext=(8, 2),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=_FONT_SIZE - 1,
        fontweight="bold",
        annotation_clip=False,
    )
    ax.axvline(0, color="0.3", linewidth=0.8, zorder=1)
    lo, hi = ax.get_xlim()
    margin = 0.08 * (hi - lo)
    ax.set_xlim(min(lo, -margin), max(hi, margin))
    # Light bands separate outcomes, so the rows of one outcome read as a group.
    for k, (lo, hi) in enumerate(blocks):
        if k % 2 == 1:
            ax.axhspan(lo - 0.5, hi + 0.5, color="0.94", zorder=0, linewidth=0)
    ax.set_yticks(tick_pos, tick_labels)
    for k, label in enumerate(ax.get_yticklabels()):
        if k in header_ticks:
            label.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(y - 0.5, -0.5)
    ref_label = _arm_label(config, reference)
    ax.set_xlabel(
        ("Hedges g" if standardized else "Difference in score points")
        + f", arm minus {ref_label} (95% CI)"
        + ("\n\u2020 higher is better: sign reversed, so left favours the arm" if flipped else "")
    )
    default = ("Standardized differences vs " if standardized else "Differences vs ") + ref_label
    if one_visit:
        default += f" at {_visit_label(config, visits_shown[0])}"
    ax.set_title(title or _wrap(default, 44), loc="left", pad=22)  # clears the legend above the axes
    # every row is "lower is better" once flipped (an outcome outside the config is taken as
    # written, so the sides are labelled only when the config says each outcome's direction)
    if config is not None and all(o in config.outcome_names for o, _ in ypos):
        arm_names = " / ".join(_arm_label(config, a) for a in arms)
        left, right = f"Favours {arm_names}", f"Favours {ref_label}"
        # Offsets in points, not axes fractions: the labels sit just under the tick labels
        # and above the axis label whatever the figure's height.
        for x, text, ha in ((0.0, "\u2190 " + left, "left"), (1.0, right + " \u2192", "right")):
            ax.annotate(
                text,
                xy=(x, 0),
                xycoords="axes fraction",
                xytext=(0, -17),
                textcoords="offset points",
                ha=ha,
                va="top",
                fontsize=_FONT_SIZE - 1,
                color="0.3",
            )
        ax.xaxis.labelpad = 15
    ax.legend(
        handles,
        [_arm_label(config, a) for a in arms],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=len(arms),
        frameon=False,
        fontsize=_FONT_SIZE,
        borderaxespad=0.2,
    )
    _style_axes(ax)
    return ax


# --------------------------------------------------------------------------------------------
# participant flow and missingness
# --------------------------------------------------------------------------------------------
_FLOW_LINE_IN = 0.14  # one text line of the flow diagram (7.5 pt type, 1.3 leading), inches
_FLOW_GAP = 1.6  # lines between two boxes (room for the arrow)


def _flow_boxes(f: pd.DataFrame, arms: list[str], visits: list[str], config) -> dict:
    """The texts of the flow diagram, by stage, from the flow table (one producer: the counts
    are the table's, only subtracted here: not assessed = randomized - assessed)."""
    baseline = config.baseline_visit if config is not None else None
    follow = [v for v in visits if v != baseline] or list(visits)
    last = follow[-1]
    single = len(arms) == 1 or (config is not None and config.is_audit)
    total = int(sum(int(f.loc[f["arm"] == a, "randomized"].max()) for a in arms))
    boxes = {"top": ("Enrolled" if single else "Randomized") + f"\n(n = {total})", "arms": {}}
    for arm in arms:
        part = f[f["arm"] == arm].set_index("visit")
        n = int(part["randomized"].max())
        lost = []
        for v in follow:
            if v not in part.index:
                lost.append(f"{_visit_label(config, v)}: not scheduled")
                continue
            missed = n - int(part.loc[v, "assessed"])
            lost.append(
                f"{_visit_label(config, v)}: {missed} ({100.0 * missed / n:.0f}%)" if n else f"{v}: 0"
            )
        analysed = int(part.loc[last, "analysed"]) if last in part.index else 0
        assessed = int(part.loc[last, "assessed"]) if last in part.index else 0
        analysis = f"Analysed at {_visit_label(config, last)}\n(n = {analysed})"
        if assessed != analysed:
            analysis += f"\nexcluded (missing values): {assessed - analysed}"
        boxes["arms"][arm] = {
            "allocation": ("Included" if single else "Allocated to")
            + f" {_arm_label(config, arm)}\n(n = {n})",
            "follow_up": "Lost to follow-up\n(not assessed), by visit:\n" + "\n".join(lost),
            "analysis": analysis,
        }
    return boxes


def _flow_rows(boxes: dict) -> tuple[list[float], float]:
    """Centres (in text lines from the top) of the stages' boxes, and the total height."""
    heights = [boxes["top"].count("\n") + 1]
    for stage in ("allocation", "follow_up", "analysis"):
        heights.append(max(t[stage].count("\n") + 1 for t in boxes["arms"].values()))
    centres, y = [], 0.0
    for h in heights:
        centres.append(y + h / 2)
        y += h + _FLOW_GAP
    return centres, y - _FLOW_GAP


def _flow_size(boxes: dict) -> tuple[float, float]:
    _, lines = _flow_rows(boxes)
    return max(2.2 * len(boxes["arms"]) + 0.9, 4.5), lines * _FLOW_LINE_IN + 0.8


@_literal_text
def plot_flow(
    flow: pd.DataFrame,
    *,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """CONSORT 2025-style flow diagram: enrolment, allocation, follow-up and analysis per arm.

    From the flow table (``tables/flow.csv``): the randomized total (or "Enrolled" in a
    single-arm design or an audit), then per arm side by side the allocation box (n
    randomized), the follow-up box (participants not assessed at each follow-up visit:
    ``randomized - assessed``, with the percentage), and the analysis box (``analysed`` at the
    last follow-up visit, with the assessed but not analysed when there are any). The stages
    are named on the left, as CONSORT draws them. The data hold no reasons for discontinuation,
    so the boxes give counts only. Each box's text has gid ``flow:<stage>[:<arm>]``.

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> f = pd.DataFrame({"arm": ["a", "a", "b", "b"], "visit": ["v0", "v1"] * 2,
    ...                   "randomized": [10, 10, 12, 12], "assessed": [10, 9, 12, 10],
    ...                   "analysed": [10, 9, 12, 10]})
    >>> ax = plot_flow(f)
    >>> [t.get_text() for t in ax.texts if t.get_gid() == "flow:top"]
    ['Randomized\\n(n = 22)']
    """
    _require(flow, ["arm", "visit", "randomized", "assessed", "analysed"], "flow")
    f = _select(flow, None, "flow")
    arms = _arms(f, config)
    visits = _ordered(f["visit"], list(config.visit_names) if config is not None else None)
    colors = _colors_for(arms, config)
    boxes = _flow_boxes(f, arms, visits, config)
    ax = _new_axes(ax, figsize=_flow_size(boxes))
    ax.set_axis_off()
    centres, lines = _flow_rows(boxes)
    ax.set_xlim(-1.0, len(arms) - 0.5)
    ax.set_ylim(lines + 0.3, -0.3)
    box = dict(boxstyle="round,pad=0.35", facecolor="white", linewidth=0.9)
    centre = (len(arms) - 1) / 2
    text_kw = dict(ha="center", va="center", fontsize=_FONT_SIZE - 0.5, linespacing=1.3)
    top = ax.text(
        centre, centres[0], boxes["top"], bbox={**box, "edgecolor": "0.2"}, fontweight="bold", **text_kw
    )
    top.set_gid("flow:top")
    for k, stage in enumerate(("Enrolment", "Allocation", "Follow-up", "Analysis")):
        ax.text(
            -0.95,
            centres[k],
            stage,
            ha="left",
            va="center",
            fontsize=_FONT_SIZE,
            fontweight="bold",
            color="0.35",
        )
    # Boxes first, arrows after: each arrow is clipped to the box patches it joins, so it
    # starts and ends at the box edges whatever the number of text lines.
    columns = []
    for j, arm in enumerate(arms):
        column = []
        for k, stage in enumerate(("allocation", "follow_up", "analysis"), start=1):
            t = ax.text(
                j,
                centres[k],
                boxes["arms"][arm][stage],
                bbox={**box, "edgecolor": colors[arm], "linewidth": 1.6 if k == 1 else 0.9},
                fontweight="bold" if k == 1 else "normal",
                **text_kw,
            )
            t.set_gid(f"flow:{stage}:{arm}")
            column.append(t)
        columns.append(column)
    line = dict(color="0.35", linewidth=0.8, shrinkA=0, shrinkB=0)
    split = (centres[0] + centres[1]) / 2
    ax.annotate(
        "",
        xy=(centre, split),
        xytext=(centre, centres[0]),
        arrowprops={**line, "arrowstyle": "-", "patchA": top.get_bbox_patch()},
    )
    if len(arms) > 1:
        ax.plot([0, len(arms) - 1], [split, split], color="0.35", linewidth=0.8)
    for j, column in enumerate(columns):
        ax.annotate(
            "",
            xy=(j, centres[1]),
            xytext=(j, split),
            arrowprops={**line, "arrowstyle": "-|>", "patchB": column[0].get_bbox_patch()},
        )
        for k in range(1, len(column)):
            ax.annotate(
                "",
                xy=(j, centres[k + 1]),
                xytext=(j, centres[k]),
                arrowprops={
                    **line,
                    "arrowstyle": "-|>",
                    "patchA": column[k - 1].get_bbox_patch(),
                    "patchB": column[k].get_bbox_patch(),
                },
            )
    ax.set_title(title or "Participant flow", loc="left", fontsize=_FONT_SIZE + 2)
    return ax


def _missingness_grid(m: pd.DataFrame, outcomes, arms, visits):
    """Percent missing as an (outcome x arm) by visit grid; one arm block when every outcome
    has the same pattern (usual when whole visits are missed), flagged by ``shared``."""
    row_keys = [(o, a) for o in outcomes for a in arms]
    grid = np.full((len(row_keys), len(visits)), np.nan)
    lookup = {
        (o, a, v): float(x) for o, a, v, x in zip(m["outcome"], m["arm"], m["visit"], m["percent_missing"])
    }
    for r, (o, a) in enumerate(row_keys):
        for c, v in enumerate(visits):
            grid[r, c] = lookup.get((o, a, v), np.nan)
    blocks = grid.reshape(len(outcomes), len(arms), len(visits)) if len(outcomes) else grid
    shared = len(outcomes) > 1 and all(np.array_equal(blocks[0], b, equal_nan=True) for b in blocks[1:])
    if shared:
        return blocks[0], row_keys[: len(arms)], True
    return grid, row_keys, False


@_literal_text
def plot_missingness(
    missingness: pd.DataFrame,
    *,
    outcome: str | None = None,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """Heatmap of the percentage of missing values by arm (rows) and visit (columns).

    Without ``outcome`` every outcome gets its own block of rows ("<outcome>: <arm>"). Each cell
    is annotated with its percentage, so the figure also reads in grey scale.

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> m = pd.DataFrame({"outcome": "pain", "arm": ["a", "a"], "visit": ["v0", "v1"],
    ...                   "percent_missing": [0.0, 12.5]})
    >>> len(plot_missingness(m).texts)
    2
    """
    missingness = _one_outcome(missingness, outcome)
    _require(missingness, ["outcome", "arm", "visit", "percent_missing"], "missingness")
    m = _select(missingness, outcome, "missingness")
    ax = _new_axes(ax)
    outcomes = _ordered(m["outcome"], list(config.outcome_names) if config is not None else None)
    arms = _arms(m, config)
    visits = _ordered(m["visit"], list(config.visit_names) if config is not None else None)
    grid, row_keys, shared = _missingness_grid(m, outcomes, arms, visits)
    if shared:
        outcomes = outcomes[:1]
    vmax = max(20.0, float(np.nanmax(grid)) if np.isfinite(grid).any() else 20.0)
    image = ax.imshow(grid, cmap="viridis_r", vmin=0, vmax=vmax, aspect="auto")
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            value = grid[r, c]
            if not np.isfinite(value):
                continue
            dark = value / vmax > 0.55
            ax.text(
                c,
                r,
                f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=_FONT_SIZE - 1,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(len(visits)), [_visit_label(config, v) for v in visits])
    if len(outcomes) > 1 and not shared:
        labels = [f"{_outcome_label(config, o, False)}: {_arm_label(config, a)}" for o, a in row_keys]
    else:
        labels = [_arm_label(config, a) for _, a in row_keys]
    ax.set_yticks(range(len(row_keys)), labels)
    for t in ax.get_xticklabels():
        t.set_rotation(35)
        t.set_ha("right")
        t.set_rotation_mode("anchor")
    for k in range(1, len(outcomes)):
        ax.axhline(k * len(arms) - 0.5, color="white", linewidth=2)
    ax.set_xlabel("Visit")
    cbar = ax.get_figure().colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    cbar.set_label("Missing, %", fontsize=_FONT_SIZE)
    cbar.ax.tick_params(labelsize=_FONT_SIZE - 1)
    if outcome:
        default = f"{_outcome_label(config, outcome, False)}: missing values (% of randomized)"
    elif shared:
        default = "Missing outcome values (% of randomized), the same for every outcome"
    else:
        default = "Missing outcome values (% of randomized)"
    ax.set_title(title or default, loc="left")
    _style_axes(ax)
    ax.spines["left"].set_visible(False)
    ax.spines["bottom"].set_visible(False)
    return ax


# --------------------------------------------------------------------------------------------
# individual trajectories (the one figure drawn from participant-level data)
# --------------------------------------------------------------------------------------------
@_literal_text
def plot_individual_trajectories(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str | None = None,
    config: "StudyConfig | None" = None,
    ax: "Axes | None" = None,
    title: str | None = None,
) -> "Axes":
    """Spaghetti plot: one thin line per participant, the arm's observed mean in bold.

    Participants are never labelled (no IDs in figures). ``arm`` restricts to one arm; otherwise
    all arms are drawn in their colours.

    Parameters
    ----------
    data : DataFrame
        Long analysis data with ``participant_id, arm, visit, <outcome>``.

    Examples
    --------
    >>> import pandas as pd, matplotlib
    >>> matplotlib.use("Agg")
    >>> d = pd.DataFrame({"participant_id": ["x", "x", "y", "y"], "arm": "a",
    ...                   "visit": ["v0", "v1"] * 2, "pain": [5.0, 3.0, 6.0, 4.0]})
    >>> len(plot_individual_trajectories(d, outcome="pain").lines)  # all participants, arm mean
    2
    """
    _require(data, ["participant_id", "arm", "visit", outcome], "analysis data")
    d = data[["participant_id", "arm", "visit", outcome]].copy()
    for col in ("participant_id", "arm", "visit"):
        d[col] = d[col].astype(str)
    d[outcome] = pd.to_numeric(d[outcome], errors="coerce")
    d = d.dropna(subset=[outcome])
    if arm is not None:
        d = d[d["arm"] == arm]
        if d.empty:
            raise FigureInputError(f"no {outcome!r} values for arm {arm!r} in the analysis data.")
    ax = _new_axes(ax)
    visit_order = list(config.visit_names) if config is not None else None
    visits = _ordered(d["visit"], visit_order)
    pos = _visit_positions(visits, config, nominal=True)
    d["x"] = d["visit"].map(pos)
    arms = _arms(d, config)
    colors = _colors_for(arms, config)
    for a in arms:
        part = d[d["arm"] == a].sort_values(["participant_id", "x"])
        # One polyline per participant with NaN separators: fast, and no per-person artists
        # that could carry an identifier into an SVG.
        xs, ys = [], []
        for _, g in part.groupby("participant_id", sort=True):
            xs += [*g["x"], np.nan]
            ys += [*g[outcome], np.nan]
        ax.plot(xs, ys, color=colors[a], linewidth=0.5, alpha=0.25, zorder=1)
        mean = part.groupby("x")[outcome].mean()
        ax.plot(
            mean.index,
            mean.to_numpy(),
            color=colors[a],
            linewidth=2.2,
            marker="o",
            markersize=4,
            zorder=3,
            label=f"{_arm_label(config, a)} mean",
        )
    _set_visit_ticks(ax, pos, config)
    ax.set_ylabel(_outcome_label(config, outcome))
    ax.set_xlabel(_time_axis_label(config))
    if config is not None and outcome in config.outcome_names:
        o = config.outcome(outcome)
        pad = 0.03 * (o.max - o.min)
        ax.set_ylim(o.min - pad, o.max + pad)
    what = _arm_label(config, arm) if arm else "all arms"
    ax.set_title(
        title or f"{_outcome_label(config, outcome, False)}: individual trajectories ({what})", loc="left"
    )
    if arm is None:
        _legend_outside(ax)
    _style_axes(ax)
    return ax


@_literal_text
def individual_figure(data: pd.DataFrame, *, outcome: str, config: "StudyConfig | None" = None):
    """Individual trajectories, one panel per arm with shared axes (a Figure).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"participant_id": ["x", "x", "y", "y"], "arm": ["a", "a", "b", "b"],
    ...                   "visit": ["v0", "v1"] * 2, "pain": [5.0, 3.0, 6.0, 4.0]})
    >>> len(individual_figure(d, outcome="pain").axes)
    2
    """
    from matplotlib.figure import Figure

    _require(data, ["arm"], "analysis data")
    arms = _ordered(data["arm"].astype(str), list(config.arm_names) if config else None)
    # Stacked panels keep the full page width for the time axis.
    fig = Figure(figsize=(6.5, 1.9 * len(arms) + 0.9), layout="constrained")
    axes = fig.subplots(len(arms), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for k, (ax, a) in enumerate(zip(axes, arms)):
        plot_individual_trajectories(
            data, outcome=outcome, arm=a, config=config, ax=ax, title=_arm_label(config, a)
        )
        if k < len(axes) - 1:
            ax.set_xlabel("")
            ax.tick_params(axis="x", labelbottom=False)
    fig.suptitle(
        f"{_outcome_label(config, outcome, False)}: individual trajectories (thin lines) and arm mean (bold)",
        fontsize=_FONT_SIZE + 2,
        x=0.01,
        ha="left",
    )
    return fig


# --------------------------------------------------------------------------------------------
# display object (scikit-learn style): read once, draw on demand
# --------------------------------------------------------------------------------------------
class StudyFigures:
    """The result tables of one run, read once, and every figure of the study on demand.

    Like scikit-learn's ``*Display`` objects: construction holds the data, each method only
    draws (on ``ax`` when given) and returns the Axes (or Figure for multi-panel figures).

    Parameters
    ----------
    config : StudyConfig
    tables : dict of str to DataFrame
        Result tables by name (``marginal_means``, ``observed_summary``, ``contrasts``,
        ``responders``, ``flow``, ``missingness``), as under ``results/<study>/tables``.
    data : DataFrame, optional
        Analysis data, for :meth:`individual`.

    Examples
    --------
    >>> from prt_outcomes.config import load_config                            # doctest: +SKIP
    >>> figs = StudyFigures.from_results_dir(load_config("config/config.yaml"),
    ...                                      "results/boulder_example")        # doctest: +SKIP
    >>> import matplotlib.pyplot as plt                                      # doctest: +SKIP
    >>> fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")  # doctest: +SKIP
    >>> figs.trajectory("pain_avg", ax=a); figs.change("pain_avg", ax=b)      # doctest: +SKIP
    """

    TABLES = ("marginal_means", "observed_summary", "contrasts", "responders", "flow", "missingness")

    def __init__(self, config: "StudyConfig", tables: dict, data: pd.DataFrame | None = None):
        self.config = config
        # several analyses per outcome: the figures show the primary one (the journal tables too)
        self.tables = {name: primary_rows(frame, config) for name, frame in dict(tables).items()}
        self.data = data

    @classmethod
    def from_results_dir(cls, config: "StudyConfig", results_dir: str | Path) -> "StudyFigures":
        """Read the result tables (and the analysis data, when present) of a run."""
        from ..layout import RunLayout

        layout = RunLayout(config, Path(results_dir))
        tables = {name: read_result_csv(layout.table(name), required=False) for name in cls.TABLES}
        tables = {k: v for k, v in tables.items() if v is not None}
        data = read_result_csv(layout.analysis_csv, required=False)
        return cls(config, tables, data)

    def _table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise FigureInputError(
                f"no {name!r} table was given; pass tables={{{name!r}: ...}} "
                "or read a results directory that has it."
            )
        return self.tables[name]

    def trajectory(self, outcome: str, ax=None):
        """:func:`plot_trajectory` (with observed means when the table is there)."""
        return plot_trajectory(
            self._table("marginal_means"),
            self.tables.get("observed_summary"),
            outcome=outcome,
            config=self.config,
            ax=ax,
        )

    def change(self, outcome: str, ax=None):
        """:func:`plot_change`."""
        return plot_change(self._table("observed_summary"), outcome=outcome, config=self.config, ax=ax)

    def responders(self, outcome: str | None = None, threshold: str | None = None, ax=None):
        """:func:`plot_responders`; without arguments, the multi-panel :func:`responders_figure`."""
        if outcome is None and threshold is None and ax is None:
            return responders_figure(self._table("responders"), self.config)
        return plot_responders(
            self._table("responders"), outcome=outcome, threshold=threshold, config=self.config, ax=ax
        )

    def forest(self, standardized: bool = True, outcomes=None, ax=None):
        """:func:`plot_forest`."""
        return plot_forest(
            self._table("contrasts"), standardized=standardized, outcomes=outcomes, config=self.config, ax=ax
        )

    def flow(self, ax=None):
        """:func:`plot_flow`."""
        return plot_flow(self._table("flow"), config=self.config, ax=ax)

    def missingness(self, outcome: str | None = None, ax=None):
        """:func:`plot_missingness`."""
        return plot_missingness(self._table("missingness"), outcome=outcome, config=self.config, ax=ax)

    def individual(self, outcome: str, arm: str | None = None, ax=None):
        """:func:`plot_individual_trajectories` (needs the analysis data)."""
        if self.data is None:
            raise FigureInputError(
                "individual trajectories need the analysis data (intermediate/analysis_data.csv or data=...)."
            )
        return plot_individual_trajectories(self.data, outcome=outcome, arm=arm, config=self.config, ax=ax)


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------
_SAVE_METADATA = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": "prt-outcomes", "Creator": None},
    "svg": {"Date": None, "Creator": None},
}
_RC = {
    "svg.hashsalt": "prt-outcomes",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "font.size": _FONT_SIZE,
    "axes.titleweight": "bold",
    **_LITERAL_TEXT,
}
# matplotlib refuses images of 2**16 pixels or more on a side; the area bound keeps the RGBA
# buffer of one figure under 1 GiB, so a large dpi fails here with a message, not in the kernel.
_MAX_SIDE_PIXELS = 2**16 - 1
_MAX_PIXELS = 2**28


def _check_dpi(fig, dpi, path: Path) -> float:
    """``dpi`` as a number matplotlib can honour for ``fig`` (an int when whole), or OutputError."""
    try:
        value = float(dpi)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise OutputError(
            f"cannot draw {path}: dpi must be a number of at least 1; got {dpi!r}. "
            "Set dpi in the config (300 is usual for print)."
        )
    width, height = (float(x) for x in fig.get_size_inches())
    pixels_w, pixels_h = width * value, height * value
    if max(pixels_w, pixels_h) > _MAX_SIDE_PIXELS or pixels_w * pixels_h > _MAX_PIXELS:
        largest = int(min(_MAX_SIDE_PIXELS / max(width, height), math.sqrt(_MAX_PIXELS / (width * height))))
        raise OutputError(
            f"cannot draw {path}: dpi {value:g} makes this {width:.1f} x {height:.1f} in figure "
            f"{pixels_w:.0f} x {pixels_h:.0f} pixels, more than a figure file can hold (at most "
            f"{_MAX_SIDE_PIXELS} pixels a side and {_MAX_PIXELS} in all). Set dpi in the "
            f"config to {largest} or less (300 is usual for print, 600 for line art)."
        )
    return int(value) if value.is_integer() else value


def save_figure(
    fig, stem: str | Path | Mapping[str, str | Path], formats: Sequence[str] = ("png",), dpi: int = 300
) -> list[Path]:
    """Save ``fig`` as ``<stem>.<fmt>`` for each format, without timestamps (identical reruns).

    ``stem`` may instead map each format to its file (``{"png": ..., "pdf": ...}``, as
    :class:`prt_outcomes.layout.RunLayout` names them); ``formats`` is then ignored.

    Text is drawn literally (no mathtext). A ``dpi`` that is not a positive number, or that
    makes the figure too large to write, and a failed write (disk full, read-only folder) raise
    :class:`~prt_outcomes.errors.OutputError` naming the file and what to do.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import tempfile, pathlib
    >>> fig = Figure(); _ = fig.subplots().plot([0, 1])
    >>> [p.suffix for p in save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "f",
    ...                                ("png", "pdf"), dpi=50)]
    ['.png', '.pdf']
    """
    import matplotlib

    if isinstance(stem, Mapping):
        paths = [(fmt, Path(path)) for fmt, path in stem.items()]
    else:
        stem = Path(stem)
        paths = [(fmt, stem.with_name(f"{stem.name}.{fmt}")) for fmt in formats]
    written = []
    with matplotlib.rc_context(_RC):
        for fmt, path in paths:
            if fmt not in _SAVE_METADATA:
                raise FigureInputError(f"unknown figure format {fmt!r}; use png, pdf or svg.")
            checked_dpi = _check_dpi(fig, dpi, path)
            fonts = _font_subsets_without_layout_tables() if fmt == "pdf" else contextlib.nullcontext()
            with output_file(path), fonts:
                fig.savefig(
                    path, format=fmt, dpi=checked_dpi, metadata=_SAVE_METADATA[fmt], facecolor="white"
                )
            written.append(path)
    return written


#: OpenType tables a PDF's embedded (Type 42) font never uses: glyph substitution and
#: positioning (matplotlib lays the text out itself and writes every glyph's position into the
#: page) and math layout. Subsetting DejaVu Sans with them took about 75 ms a font, 25 ms
#: without, and a PDF figure embeds two or three fonts; the glyph outlines, widths and the
#: text's Unicode mapping are the same.
_UNUSED_PDF_FONT_TABLES = ("GSUB", "GPOS", "GDEF", "MATH")


@contextlib.contextmanager
def _font_subsets_without_layout_tables():
    """While a PDF is written, fontTools' subsetter (which matplotlib calls to embed each font)
    drops :data:`_UNUSED_PDF_FONT_TABLES` as well as its default tables."""
    from fontTools.subset import Options

    defaults = getattr(Options, "_drop_tables_default", None)
    if not isinstance(defaults, list):  # another fontTools: subset as matplotlib does
        yield
        return
    Options._drop_tables_default = defaults + [t for t in _UNUSED_PDF_FONT_TABLES if t not in defaults]
    try:
        yield
    finally:
        Options._drop_tables_default = defaults


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


# The figures of a run, each built once here (size included) for render_figures and the
# report alike: the report used to redraw them with its own copies of the sizes.
def figure_style():
    """The matplotlib settings every figure of a run is drawn and saved under (a context).

    >>> with figure_style():
    ...     pass
    """
    import matplotlib

    return matplotlib.rc_context(_RC)


def trajectory_figure(
    marginal_means: pd.DataFrame,
    observed_summary: pd.DataFrame,
    *,
    outcome: str,
    config: "StudyConfig | None" = None,
):
    """:func:`plot_trajectory` of one outcome as the run's Figure (6.5 in wide, 3.4 in plus
    the number-observed strip's rows)."""
    n_arms = observed_summary["arm"].nunique() if observed_summary is not None else -1
    fig = _figure((6.5, 3.4 + 0.15 * (n_arms + 1)))
    plot_trajectory(marginal_means, observed_summary, outcome=outcome, config=config, ax=fig.subplots())
    return fig


def change_figure(observed_summary: pd.DataFrame, *, outcome: str, config: "StudyConfig | None" = None):
    """:func:`plot_change` of one outcome as the run's Figure (6.5 x 3.6 in)."""
    fig = _figure((6.5, 3.6))
    plot_change(observed_summary, outcome=outcome, config=config, ax=fig.subplots())
    return fig


def estimand_rows(read, config: "StudyConfig") -> pd.DataFrame:
    """Each outcome's primary estimand, the rows the forest plot draws: the differences in
    change from baseline, or the baseline-adjusted differences
    (:func:`prt_outcomes.outputs.estimand_table`). ``read(name)`` returns a result table."""
    tables: dict[str, pd.DataFrame] = {}
    parts = []
    for outcome in config.outcome_names:
        name = estimand_table(config, outcome)
        if name not in tables:
            tables[name] = read(name)
        table = tables[name]
        parts.append(table[table["outcome"].astype(str) == outcome])
    return pd.concat(parts, ignore_index=True) if parts else read("contrasts").iloc[0:0]


def forest_figure(contrasts: pd.DataFrame, config: "StudyConfig | None" = None):
    """:func:`plot_forest` as the run's Figure, :func:`forest_height` tall."""
    fig = _figure((6.5, forest_height(contrasts, config)))
    plot_forest(contrasts, config=config, ax=fig.subplots())
    return fig


def flow_figure(flow: pd.DataFrame, config: "StudyConfig | None" = None):
    """:func:`plot_flow` as the run's Figure, sized by the numbers of arms and visits.

    Examples
    --------
    >>> import pandas as pd
    >>> flow = pd.DataFrame({"arm": ["a", "a", "b", "b"], "visit": ["pre", "post"] * 2,
    ...                      "randomized": 10, "assessed": [10, 9, 10, 8], "analysed": [10, 9, 10, 8]})
    >>> [round(float(x), 2) for x in flow_figure(flow).get_size_inches()]
    [5.3, 2.87]
    """
    f = _select(flow, None, "flow")
    arms = _arms(f, config)
    visits = _ordered(f["visit"], list(config.visit_names) if config is not None else None)
    fig = _figure(_flow_size(_flow_boxes(f, arms, visits, config)))
    plot_flow(flow, config=config, ax=fig.subplots())
    return fig


def missingness_figure(missingness: pd.DataFrame, config: "StudyConfig | None" = None):
    """:func:`plot_missingness` as the run's Figure, one row of cells per outcome x arm."""
    miss = _select(missingness, None, "missingness")
    _, n_keys, _ = _missingness_grid(
        miss, _ordered(miss["outcome"], None), _ordered(miss["arm"], None), _ordered(miss["visit"], None)
    )
    fig = _figure((6.5, 0.26 * len(n_keys) + 1.6))
    plot_missingness(miss, config=config, ax=fig.subplots())
    return fig


def render_figures(
    config: "StudyConfig",
    results_dir: str | Path | None = None,
    *,
    tables: Mapping[str, str | Path] | None = None,
    analysis_data: str | Path | None = None,
    out: Mapping[str, str | Path] | None = None,
    workers: int = 1,
) -> list[Path]:
    """Write every figure of a run from the result tables.

    Files (for each format in ``config.figure_formats``, PNG at ``config.dpi``):
    ``trajectory_<outcome>``, ``change_<outcome>``, ``responders`` (when the config has
    thresholds), ``forest`` (when there is more than one arm), ``flow``, ``missingness`` and,
    when ``config.individual_trajectories``, ``individual_<outcome>`` from the analysis data.
    The names match :func:`prt_outcomes.outputs.figure_stems`. When the config asks for no PNG,
    a PNG of each figure is also drawn for the report (under ``intermediate/``).

    Parameters
    ----------
    config : StudyConfig
    results_dir : str or Path, optional
        ``results/<study>``: read and write the files :class:`~prt_outcomes.layout.RunLayout`
        names there. Otherwise give the files:
    tables : mapping of str to path
        The CSV of each of :data:`prt_outcomes.layout.FIGURE_TABLES`, by name.
    analysis_data : path, optional
        ``intermediate/analysis_data.csv`` (needed for individual trajectories only).
    out : mapping of str to path
        Every file to write, keyed ``<stem>_<format>`` (and ``<stem>_report`` for the report's
        PNG copy), as :meth:`~prt_outcomes.layout.RunLayout.figure_outputs` names them.

    Returns
    -------
    list of Path
        Files written, in a fixed order.

    Raises
    ------
    FileNotFoundError
        When a result table is missing (the message says which stage to run).

    Examples
    --------
    >>> from prt_outcomes.config import load_config                        # doctest: +SKIP
    >>> render_figures(load_config("config/config.yaml"),
    ...                "results/boulder_example")[:2]                      # doctest: +SKIP
    [PosixPath('results/boulder_example/figures/trajectory_pain_avg.png'), ...]
    """
    from ..layout import RunLayout, file_key

    if results_dir is not None:
        layout = RunLayout(config, Path(results_dir))
        tables, out = layout.figure_inputs(), layout.figure_outputs()
        analysis_data = tables.get("analysis_data")
    if tables is None or out is None:
        raise ValueError("give results_dir, or tables and out")
    if analysis_data is None:  # figure_inputs names it beside the tables
        analysis_data = tables.get("analysis_data")
    formats, dpi = tuple(config.figure_formats), config.dpi  # save_figure checks it
    # Each figure is one task: (stem, a function that draws it). The tables are read once, here,
    # before any figure is drawn; the tasks then draw and save in their fixed order, serially or
    # over ``workers`` forked processes (_draw_and_save).
    tasks: list[tuple[str, object]] = []

    def add(stem: str, draw, *args, **kwargs) -> None:
        tasks.append((stem, functools.partial(draw, *args, **kwargs)))

    def read(name: str) -> pd.DataFrame:
        return primary_rows(read_result_csv(tables[name]), config)

    @functools.cache
    def analysis_rows() -> pd.DataFrame:  # responder curves and individual trajectories share it
        return read_result_csv(analysis_data)

    mm = read("marginal_means")
    obs = read("observed_summary")
    fitted = set(mm["outcome"].astype(str))
    for outcome in config.outcome_names:
        if outcome in fitted:
            add(f"trajectory_{outcome}", trajectory_figure, mm, obs, outcome=outcome, config=config)
        else:  # the model could not be fitted: tables/model_info.csv gives the reason
            add(f"trajectory_{outcome}", _not_fitted_figure, config, outcome)
        add(f"change_{outcome}", change_figure, obs, outcome=outcome, config=config)
    if config.thresholds:
        add("responders", responders_figure, read("responders"), config)
    curves = responder_curve_outcomes(config)
    if curves:
        data = analysis_rows()
        for outcome in curves:
            add(f"responder_curve_{outcome}", responder_curve_figure, data, config, outcome=outcome)
    if len(config.arms) > 1:
        add("forest", forest_figure, estimand_rows(read, config), config)
    add("flow", flow_figure, read("flow"), config)
    add("missingness", missingness_figure, read("missingness"), config)
    # ---- sensitivity (issue 12)
    if config.sensitivity is not None and "sensitivity" in tables:
        sens = read_result_csv(tables["sensitivity"])
        primary = read("contrasts")
        for outcome in config.sensitivity.outcomes:
            add(
                f"sensitivity_{outcome}",
                sensitivity_forest_figure,
                sens,
                config,
                outcome=outcome,
                contrasts=primary,
            )
        if config.sensitivity.tipping_deltas:
            tipping = read_result_csv(tables["tipping_point"])
            for outcome in config.sensitivity.outcomes:
                add(f"tipping_point_{outcome}", tipping_point_figure, tipping, config, outcome=outcome)
    if config.individual_trajectories:
        data = analysis_rows()
        for outcome in config.outcome_names:
            add(f"individual_{outcome}", individual_figure, data, outcome=outcome, config=config)
    stems = audit_funnel_stems(config)
    if stems:
        funnel = read_result_csv(tables["audit_funnel"])
        for stem, (group, measure) in stems.items():
            add(stem, audit_funnel_figure, funnel, group=group, measure=measure, config=config)
    for stem, (group, measure) in audit_run_chart_stems(config).items():
        add(stem, audit_run_chart_figure, funnel, group=group, measure=measure, config=config)
    if config.is_audit and config.audit.benchmarks:
        from ..analyse.audit_tables import audit_outcome
        from ..benchmarks import benchmark_comparison

        follow = [v for v in config.visit_names if v != config.baseline_visit]
        compared = benchmark_comparison(
            read_result_csv(tables["audit_responders"]),
            outcome=audit_outcome(config),
            visit=follow[-1],
            visit_label=config.visit_labels[follow[-1]],
            clinic_label=config.arms[0].label,
        )
        add("audit_benchmarks", audit_benchmark_figure, compared, config)
    saves = [
        (
            stem,
            draw,
            {fmt: out[file_key(stem, fmt)] for fmt in formats},
            # the report's PNG, when the config asks for none
            out.get(f"{stem}_report"),
        )
        for stem, draw in tasks
    ]
    written = [path for paths in _draw_and_save(saves, dpi, workers) for path in paths]
    # the folder of the figures (all beside one another; the report's copies come second)
    log.info("wrote %d figure files to %s", len(written), written[0].parent if written else "nowhere")
    return written


def _not_fitted_figure(config: "StudyConfig", outcome: str):
    """The trajectory panel of an outcome whose trial model could not be fitted."""
    fig = _figure((6.5, 3.4))
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        f"{_outcome_label(config, outcome, axis=False)}: the trial model could "
        "not be fitted\n(see tables/model_info.csv)",
        ha="center",
        va="center",
    )
    return fig


#: The figures a forked worker draws (set by :func:`_draw_and_save` just before the pool forks:
#: the drawing functions and their tables are inherited, not pickled).
_WORKER_SAVES: list | None = None


def _save_one(item, dpi: int) -> list[Path]:
    stem, draw, paths, report_png = item
    with figure_style():
        fig = draw()
        written = save_figure(fig, paths, dpi=dpi)
        if report_png is not None:
            written += save_figure(fig, {"png": report_png}, dpi=dpi)
    return written


def _worker_save(index_dpi) -> list[Path]:
    index, dpi = index_dpi
    return _save_one(_WORKER_SAVES[index], dpi)


def _draw_and_save(saves: list, dpi: int, workers: int) -> list[list[Path]]:
    """The files of each figure, in the order of ``saves``: drawn serially, or over ``workers``
    forked processes (a figure's drawing and saving is most of the job: text layout and PDF
    font subsetting)."""
    global _WORKER_SAVES
    workers = max(1, min(int(workers or 1), len(saves)))
    if workers == 1:
        return [_save_one(item, dpi) for item in saves]
    import multiprocessing

    _WORKER_SAVES = saves
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            # one figure per task: figures take from 0.1 to 1 s, so a worker that finishes early
            # takes the next one
            return pool.map(_worker_save, [(i, dpi) for i in range(len(saves))], chunksize=1)
    finally:
        _WORKER_SAVES = None


# --------------------------------------------------------------------------------------------
# clinic audit: funnel plots
# --------------------------------------------------------------------------------------------
def _funnel_units(funnel: pd.DataFrame, *, group: str, measure: str, config: "StudyConfig"):
    """The audited outcome, the follow-up visits, and the funnel table's rows of one grouping
    and measure at the last follow-up visit (what the funnel plot and the run chart draw)."""
    from ..analyse.audit_tables import audit_outcome

    outcome = audit_outcome(config)
    follow = [v for v in config.visit_names if v != config.baseline_visit]
    rows = funnel[
        (funnel["outcome"] == outcome)
        & (funnel["measure"] == measure)
        & (funnel["visit"] == (follow[-1] if follow else None))
        & funnel["group"].astype(str).str.startswith(f"{group}=")
    ]
    return outcome, follow, rows


def audit_funnel_figure(funnel: pd.DataFrame, *, group: str, measure: str, config: "StudyConfig"):
    """A funnel plot of the units of one ``audit.groups`` grouping for one measure.

    Reads ``tables/audit_funnel.csv`` (the primary outcome at the last follow-up visit, see
    :func:`prt_outcomes.outputs.audit_funnel_stems`): each unit's value against its volume,
    the clinic's value (target) and the 95% and 99.8% limits of
    :func:`prt_outcomes.stats.funnel.funnel_curve`, i.e. the limits the units were flagged
    with. Units whose counts are suppressed (``privacy:``) are not drawn; the caption says how
    many.

    Examples
    --------
    >>> from prt_outcomes.config import load_config                  # doctest: +SKIP
    >>> fig = audit_funnel_figure(pd.read_csv("tables/audit_funnel.csv"), group="site",
    ...                           measure="completion", config=load_config("audit.yaml"))  # doctest: +SKIP
    """
    outcome, follow, rows = _funnel_units(funnel, group=group, measure=measure, config=config)
    shown = rows.dropna(subset=["value", "volume"])
    ratio = bool(config.audit.case_mix) and measure != "mean_change"
    kind = "mean" if measure == "mean_change" else ("ratio" if ratio else "proportion")
    fig = _figure((6.5, 4.0))
    ax = fig.subplots()
    _style_axes(ax)
    scale = 100.0 if kind == "proportion" else 1.0
    if len(shown):
        curve = _funnel_lines(shown, kind)
        target = float(shown["target"].iloc[0])
        ax.axhline(target * scale, color="0.3", lw=1.0, label="Clinic")
        for low, high, style, label in (
            ("ll95", "ul95", "--", "95% limits"),
            ("ll998", "ul998", ":", "99.8% limits"),
        ):
            ax.plot(curve["volume"], curve[low] * scale, style, color="0.45", lw=1.0, label=label)
            ax.plot(curve["volume"], curve[high] * scale, style, color="0.45", lw=1.0)
        # beyond the 99.8% limits red, beyond the 95% orange (stats.funnel's flags)
        flags = shown["flag"].astype(str)
        colors = np.where(
            flags.str.endswith("_998"), "#c0392b", np.where(flags.str.endswith("_95"), "#e67e22", "#2c3e50")
        )
        ax.scatter(shown["volume"], shown["value"] * scale, s=22, color=colors, zorder=3)
        for _, r in shown.iterrows():
            ax.annotate(
                str(r["group"]).split("=", 1)[1],
                (r["volume"], r["value"] * scale),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
            )
        ax.legend(frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "every unit is suppressed (privacy.min_cell)", ha="center", va="center")
    hidden = len(rows) - len(shown)
    what = {
        "completion": "Followed up (%)",
        "mean_change": f"Mean change, {_outcome_label(config, outcome, axis=False)}",
    }
    ax.set_ylabel(what.get(measure, "Observed / expected" if ratio else f"{_pretty_rule(measure)} (%)"))
    ax.set_xlabel("Expected count" if ratio else "Patients")
    ax.set_title(
        f"{group}: {measure}" + (f" ({hidden} unit(s) suppressed)" if hidden else ""), fontsize=9, loc="left"
    )
    return fig


def audit_run_chart_figure(funnel: pd.DataFrame, *, group: str, measure: str, config: "StudyConfig"):
    """A run chart of one period grouping (``{column: date, period: quarter}``) for one measure.

    The units of ``tables/audit_funnel.csv`` in time order: each period's value with the
    clinic's value as the centre line and the 95% and 99.8% limits at that period's number of
    patients (for a rate this is a p-chart; the 99.8% limits are about Shewhart's 3 sigma).
    Periods whose counts are suppressed (``privacy:``) are left as gaps.

    Examples
    --------
    >>> from prt_outcomes.config import load_config                  # doctest: +SKIP
    >>> fig = audit_run_chart_figure(pd.read_csv("tables/audit_funnel.csv"), group="date_quarter",
    ...                              measure="completion", config=load_config("audit.yaml"))  # doctest: +SKIP
    """
    outcome, follow, rows = _funnel_units(funnel, group=group, measure=measure, config=config)
    # period labels (2024Q1, 2024-03, 2024) sort in time order as text
    rows = rows.assign(period=rows["group"].astype(str).str.split("=", n=1).str[1]).sort_values("period")
    kind = "mean" if measure == "mean_change" else "proportion"
    scale = 100.0 if kind == "proportion" else 1.0
    fig = _figure((6.5, 3.6))
    ax = fig.subplots()
    _style_axes(ax)
    x = np.arange(len(rows))
    shown = rows["value"].notna()
    if shown.any():
        target = float(rows.loc[shown, "target"].iloc[0])
        ax.axhline(target * scale, color="0.3", lw=1.0, label="Clinic")
        for low, high, style, label in (
            ("ll95", "ul95", "--", "95% limits"),
            ("ll998", "ul998", ":", "99.8% limits"),
        ):
            ax.step(x, rows[low] * scale, style, where="mid", color="0.45", lw=1.0, label=label)
            ax.step(x, rows[high] * scale, style, where="mid", color="0.45", lw=1.0)
        flags = rows["flag"].astype(str)
        colors = np.where(
            flags.str.endswith("_998"), "#c0392b", np.where(flags.str.endswith("_95"), "#e67e22", "#2c3e50")
        )
        ax.plot(x, rows["value"] * scale, "-", color="#2c3e50", lw=0.8)
        ax.scatter(
            x[shown.to_numpy()],
            rows.loc[shown, "value"] * scale,
            s=22,
            color=colors[shown.to_numpy()],
            zorder=3,
        )
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.text(0.5, 0.5, "every period is suppressed (privacy.min_cell)", ha="center", va="center")
    ax.set_xticks(x, rows["period"].tolist(), rotation=45, ha="right", fontsize=8)
    what = {
        "completion": "Followed up (%)",
        "mean_change": f"Mean change, {_outcome_label(config, outcome, axis=False)}",
    }
    ax.set_ylabel(what.get(measure, f"{_pretty_rule(measure)} (%)"))
    ax.set_xlabel("Period of the first visit")
    hidden = int((~shown).sum())
    ax.set_title(
        f"{group}: {measure}, {config.visit_labels[follow[-1]]}"
        + (f" ({hidden} period(s) suppressed)" if hidden else ""),
        fontsize=9,
        loc="left",
    )
    return fig


def audit_benchmark_figure(compared: pd.DataFrame, config: "StudyConfig"):
    """The clinic's rates beside the published trial arms, one panel per rule, Wilson 95% CIs.

    Draws :func:`prt_outcomes.benchmarks.benchmark_comparison` (the table the report's
    benchmark section prints): each trial arm and the clinic as a point with its interval. A
    clinic rate suppressed by ``privacy:`` (blank count) is not drawn, and the panel says so.

    Examples
    --------
    >>> from prt_outcomes.benchmarks import benchmark_comparison       # doctest: +SKIP
    >>> fig = audit_benchmark_figure(benchmark_comparison(resp, outcome="pain", visit="month3",
    ...     visit_label="3 months", clinic_label="Clinic"), config)    # doctest: +SKIP
    """
    rules = list(dict.fromkeys(compared["rule"]))
    height = 0.8 + sum(0.32 * (compared["rule"] == r).sum() + 0.6 for r in rules)
    fig = _figure((6.5, max(2.4, height)))
    axes = np.atleast_1d(
        fig.subplots(
            len(rules),
            1,
            sharex=True,
            gridspec_kw={"height_ratios": [(compared["rule"] == r).sum() + 1 for r in rules]},
        )
    )
    for ax, rule in zip(axes, rules):
        part = compared[compared["rule"] == rule].reset_index(drop=True)
        _style_axes(ax)
        ys = np.arange(len(part))[::-1]
        for y, (_, r) in zip(ys, part.iterrows()):
            clinic = r["who"] == "clinic"
            color = "#c0392b" if clinic else "#2c3e50"
            if pd.isna(r["percent"]):
                ax.text(0.5, y, "suppressed (privacy.min_cell)", va="center", fontsize=8, color=color)
                continue
            ax.errorbar(
                r["percent"],
                y,
                xerr=[[r["percent"] - r["ci_low"]], [r["ci_high"] - r["percent"]]],
                fmt="D" if clinic else "o",
                color=color,
                ms=5,
                capsize=2,
                lw=1.2,
            )
        trials = part[part["who"] == "trial"]
        ticks = [
            f"{arm}, {when}" if who == "clinic" else arm
            for arm, who, when in zip(part["arm"], part["who"], part["timepoint"])
        ]
        ax.set_yticks(ys, [_wrap(t, 34) for t in ticks], fontsize=8)
        ax.set_ylim(-0.7, len(part) - 0.3)
        trial_note = "; ".join(
            dict.fromkeys(f"{a}, {b}" for a, b in zip(trials["study"], trials["timepoint"]))
        )
        ax.set_title(
            _wrap(f"{part['label'].iloc[0][:1].upper()}{part['label'].iloc[0][1:]}. Trial: {trial_note}", 70),
            fontsize=8,
            loc="left",
        )
    axes[-1].set_xlim(0, 100)
    axes[-1].set_xlabel("Patients who met the rule (%), Wilson 95% CI")
    return fig


def _funnel_lines(shown: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The limit lines of a funnel plot: :func:`~prt_outcomes.stats.funnel.funnel_curve` (a
    proportion's exact binomial limits at every whole number of patients)."""
    from ..stats.funnel import funnel_curve

    return funnel_curve(shown, kind=kind)


# Sensitivity to missing data (issue 12): a forest of strategies and the tipping point
# --------------------------------------------------------------------------------------------


def _differences(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a sensitivity table that are differences from the reference arm."""
    ref = table["reference"]
    return table[ref.notna() & (ref.astype(str) != "")]


def sensitivity_forest_figure(
    sensitivity: pd.DataFrame,
    config: "StudyConfig | None" = None,
    *,
    outcome: str,
    contrasts: pd.DataFrame | None = None,
):
    """Forest of strategies: the difference (95% CI) under each strategy at each visit.

    One row per visit x strategy (x arm, when there are several), visits top to bottom in their
    order; the primary analysis's difference at each visit (``contrasts``, when given) is a grey
    tick across that visit's rows, so a strategy's distance from the primary result shows.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"outcome": "y", "analysis": "ancova", "strategy": ["MAR", "J2R"] * 2,
    ...                   "method": "m", "visit": ["w4", "w4", "w8", "w8"], "arm": "prt",
    ...                   "reference": "uc", "estimate": [-2.0, -1.5, -2.5, -1.8], "se": 0.5,
    ...                   "df": float("inf"), "ci_low": [-3.0, -2.5, -3.5, -2.8],
    ...                   "ci_high": [-1.0, -0.5, -1.5, -0.8], "p": 0.01, "n_imputations": 40})
    >>> fig = sensitivity_forest_figure(t, outcome="y")
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['w4: MAR', 'w4: J2R', 'w8: MAR', 'w8: J2R']
    """
    # the ANCOVA's differences (responder rows, sensitivity.responders, are risk differences)
    rows = _differences(
        sensitivity[(sensitivity["outcome"].astype(str) == outcome) & (sensitivity["analysis"] == "ancova")]
    )
    if rows.empty:
        raise FigureInputError(f"the sensitivity table has no differences for outcome {outcome!r}")
    visits = _ordered(rows["visit"].astype(str), list(config.visit_names) if config else None)
    strategies = list(dict.fromkeys(rows["strategy"].astype(str)))
    arms = list(dict.fromkeys(rows["arm"].astype(str)))
    colors = dict(zip(strategies, OKABE_ITO))
    labels, ticks, y = [], [], 0.0
    fig = _figure((6.5, 0.28 * len(rows) + 0.45 * len(visits) + 1.2))
    ax = fig.subplots()
    for v in visits:
        first = y
        for s in strategies:
            for a in arms:
                r = rows[(rows["visit"].astype(str) == v) & (rows["strategy"] == s) & (rows["arm"] == a)]
                if r.empty:
                    continue
                r = r.iloc[0]
                ax.errorbar(
                    r["estimate"],
                    -y,
                    xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                    fmt="o",
                    color=colors[s],
                    capsize=2,
                )
                name = f"{s}" if len(arms) == 1 else f"{s} ({_arm_label(config, a) if config else a})"
                labels.append(f"{_visit_label(config, v) if config else v}: {name}")
                ticks.append(-y)
                y += 1
        if contrasts is not None and len(contrasts):
            c = contrasts[
                (contrasts["outcome"].astype(str) == outcome) & (contrasts["visit"].astype(str) == v)
            ]
            if len(c):
                ax.plot([c["estimate"].iloc[0]] * 2, [-first + 0.4, -(y - 1) - 0.4], color="0.55", lw=2)
        y += 0.5
    ax.set_yticks(ticks, labels)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(
        "Difference from the reference arm (95% CI)"
        + ("; grey: the primary analysis" if contrasts is not None and len(contrasts) else "")
    )
    title = _outcome_label(config, outcome, axis=False) if config else outcome
    ax.set_title(f"{title}: sensitivity to missing data", loc="left")
    _style_axes(ax)
    return fig


def tipping_point_figure(
    tipping: pd.DataFrame, config: "StudyConfig | None" = None, *, outcome: str, alpha: float = 0.05
):
    """The difference (95% CI band) against delta, one line per visit, the tipping point marked.

    The tipping point of a visit (the delta at which ``p < alpha`` first changes,
    :func:`prt_outcomes.stats.imputation.first_crossing`) is a dashed vertical line in that
    visit's colour, labelled with its value; visits whose conclusion never changes on the grid
    have none.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"outcome": "y", "visit": "w8", "delta": [0.0, 1.0, 2.0, 3.0],
    ...                   "estimate": [-2.0, -1.5, -1.0, -0.5], "ci_low": [-3.0, -2.5, -2.0, -1.5],
    ...                   "ci_high": [-1.0, -0.5, 0.0, 0.5], "p": [0.001, 0.01, 0.05, 0.3]})
    >>> ax = tipping_point_figure(t, outcome="y").axes[0]
    >>> [t.get_text() for t in ax.texts]
    ['2.00']
    """
    from ..stats.imputation import first_crossing

    rows = tipping[tipping["outcome"].astype(str) == outcome]
    if rows.empty:
        raise FigureInputError(f"the tipping-point table has no rows for outcome {outcome!r}")
    visits = _ordered(rows["visit"].astype(str), list(config.visit_names) if config else None)
    fig = _figure((6.5, 3.8))
    ax = fig.subplots()
    for v, color in zip(visits, OKABE_ITO):
        r = rows[rows["visit"].astype(str) == v].sort_values("delta")
        label = _visit_label(config, v) if config else v
        ax.fill_between(r["delta"], r["ci_low"], r["ci_high"], color=color, alpha=0.15, lw=0)
        ax.plot(r["delta"], r["estimate"], color=color, marker="o", ms=3, label=label)
        tip = first_crossing(r["delta"].to_numpy(), r["p"].to_numpy(), alpha)
        if np.isfinite(tip):
            ax.axvline(tip, color=color, ls="--", lw=1)
            ax.text(tip, ax.get_ylim()[1], f"{tip:.2f}", color=color, ha="center", va="bottom", fontsize=8)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xlabel("delta added to the imputed values after the intercurrent event")
    ax.set_ylabel("Difference (95% CI)")
    title = _outcome_label(config, outcome, axis=False) if config else outcome
    ax.set_title(f"{title}: tipping point", loc="left")
    _legend_outside(ax, title="Visit")
    _style_axes(ax)
    return fig
