"""The analyse stage: the configured trial model per outcome and responder analyses per threshold.

These functions only translate the study config into calls of the engine
(:func:`prt_outcomes.models.fit_trial_model`) and of
:func:`prt_outcomes.analyse.responders.responder_analysis`, and label the results with the outcome so
that tables of several outcomes can be stacked.

Each outcome is analysed on its own: when the data of one outcome cannot support the model (a
:class:`~prt_outcomes.errors.PrtOutcomesError`, e.g. a
:class:`~prt_outcomes.errors.ModelError`), that outcome is recorded as not fitted
(``model_info.status == "failed"`` with the reason in ``message``; no rows in the estimate tables)
and the other outcomes are still analysed.

The ``model_info`` table
------------------------
One row per outcome x named analysis (``analyses:``; ``primary`` when none are configured),
columns :data:`MODEL_INFO_COLUMNS`, written as ``tables/model_info.csv``.
Every value is written so that it reads back as the value, never as text to be parsed:

* ``status``: ``fitted`` or ``failed``; ``message``: why a failed outcome was not fitted
  (empty when fitted);
* ``converged``: a bool, written ``True`` / ``False``;
* ``warnings``: the engine's warnings as a JSON list of strings, ``[]`` when there are none,
  e.g. ``["2 row(s) with an observed outcome were dropped because ..."]``. A warning may
  contain any character (``|`` and ``,`` included); :func:`encode_warnings` writes the cell and
  :func:`decode_warnings` reads it;
* ``visits``: the visits whose values are the model's responses, separated by spaces (for
  reading only; the config's visits are the typed source).

Read the CSV with :func:`read_model_info`, which applies :data:`MODEL_INFO_DTYPES`
(``converged`` as bool, ``warnings`` as a list) instead of parsing cells.

Examples
--------
>>> from prt_outcomes.config import load_config            # doctest: +SKIP
>>> from prt_outcomes.simulate import simulate_trial       # doctest: +SKIP
>>> cfg = load_config("config/config.yaml")                # doctest: +SKIP
>>> result = analyse_outcome(simulate_trial(), cfg, "pain_avg")   # doctest: +SKIP
>>> result.contrasts.columns[:4].tolist()                  # doctest: +SKIP
['outcome', 'analysis', 'visit', 'arm']
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..config import ARM, SUBJECT, VISIT, AnalysisSettings, ModelSettings, StudyConfig
from ..errors import ModelError, OutputError, PrtOutcomesError
from ..models.result import CONTRAST_COLUMNS as ENGINE_CONTRAST_COLUMNS
from ..models.result import MEANS_COLUMNS
from .responders import RESPONDER_COLUMNS, responders_from_config

__all__ = [
    "OutcomeAnalysis",
    "analyse_outcome",
    "analyse_outcomes",
    "primary_rows",
    "analyse_responders",
    "stack_tables",
    "MODEL_TABLES",
    "MARGINAL_MEANS_COLUMNS",
    "CONTRAST_COLUMNS",
    "LSMEANS_CHANGE_COLUMNS",
    "lsmeans_change",
    "MODEL_INFO_COLUMNS",
    "MODEL_INFO_DTYPES",
    "RESPONDER_COLUMNS",
    "encode_warnings",
    "decode_warnings",
    "read_model_info",
]

# The engine's and the responder module's tables, each with the outcome and the analysis in front.
MARGINAL_MEANS_COLUMNS = ["outcome", "analysis", *MEANS_COLUMNS]
CONTRAST_COLUMNS = ["outcome", "analysis", *ENGINE_CONTRAST_COLUMNS]
# The MMRMT01 table (tern.mmrm): per post-baseline visit and arm, the model-based (LS) mean
# change from baseline and its difference from the reference arm's (empty on the reference row).
_LSMEANS_CHANGE_FIELDS = [
    "visit",
    "arm",
    "reference",
    "n",
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "difference",
    "difference_se",
    "difference_df",
    "difference_ci_low",
    "difference_ci_high",
    "p",
]
LSMEANS_CHANGE_COLUMNS = ["outcome", "analysis", *_LSMEANS_CHANGE_FIELDS]
# status: "fitted" or "failed"; message: why a failed analysis could not be fitted, or a note on
# what a fitted one analysed (the completers left out, the rows a formula could not give);
# visits: the visits whose values are the model's responses.
MODEL_INFO_COLUMNS = [
    "outcome",
    "analysis",
    "kind",
    "status",
    "message",
    "formula",
    "covariance",
    "method",
    "df_method",
    "visits",
    "n_obs",
    "n_subjects",
    "loglik",
    "aic",
    "converged",
    "warnings",
]
FITTED, FAILED = "fitted", "failed"
#: How :func:`read_model_info` reads the typed columns of ``model_info.csv``.
MODEL_INFO_DTYPES = {"converged": "bool"}


def encode_warnings(warnings: Iterable[str]) -> str:
    """The ``warnings`` cell of ``model_info``: a JSON list of strings.

    >>> encode_warnings(["a | b", "c"]), encode_warnings([])
    ('["a | b", "c"]', '[]')
    """
    return json.dumps([str(w) for w in warnings], ensure_ascii=False)


def decode_warnings(cell) -> list[str]:
    """The list of warnings :func:`encode_warnings` wrote into a ``model_info`` cell.

    Raises
    ------
    OutputError
        When the cell is not a JSON list of strings (a ``model_info.csv`` from an older
        version, or edited by hand); the message says to fit the models again.

    >>> decode_warnings('["a | b", "c"]'), decode_warnings("[]")
    (['a | b', 'c'], [])
    """
    try:
        value = json.loads(cell) if isinstance(cell, str) else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise OutputError(
            f"model_info: the warnings cell {cell!r} is not a JSON list of strings such as "
            '["a warning"] or [] (a model_info.csv written by an older prt-outcomes, or edited); '
            "run the analysis again so the table is rewritten."
        )
    return value


def read_model_info(path: str | Path) -> pd.DataFrame:
    """Read ``tables/model_info.csv`` with its types: ``converged`` bool, ``warnings`` lists.

    Examples
    --------
    >>> info = read_model_info("results/boulder_example/tables/model_info.csv")  # doctest: +SKIP
    >>> info["warnings"].iloc[0], info["converged"].dtype                        # doctest: +SKIP
    ([], dtype('bool'))
    """
    return pd.read_csv(path, dtype=MODEL_INFO_DTYPES, converters={"warnings": decode_warnings})


@dataclass(frozen=True)
class OutcomeAnalysis:
    """Result tables of one outcome's trial model, each with a leading ``outcome`` column.

    A failed outcome has one ``model_info`` row (``status == "failed"``, ``message`` says why)
    and empty ``marginal_means``, ``contrasts``, ``change_contrasts`` and ``lsmeans_change``.
    """

    marginal_means: pd.DataFrame
    contrasts: pd.DataFrame
    change_contrasts: pd.DataFrame
    model_info: pd.DataFrame
    # last, with a default: the MMRMT01 table (lsmeans_change) came after the others
    lsmeans_change: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LSMEANS_CHANGE_COLUMNS))

    @property
    def fitted(self) -> bool:
        return bool((self.model_info["status"] == FITTED).all())

    @property
    def warnings(self) -> list[str]:
        """The engine's warnings for this outcome (empty for a failed one)."""
        return [w for cell in self.model_info["warnings"] for w in decode_warnings(cell)]


# The per-outcome tables and their columns, in the order the workflow writes them.
MODEL_TABLES = {
    "marginal_means": MARGINAL_MEANS_COLUMNS,
    "contrasts": CONTRAST_COLUMNS,
    "change_contrasts": CONTRAST_COLUMNS,
    "lsmeans_change": LSMEANS_CHANGE_COLUMNS,
    "model_info": MODEL_INFO_COLUMNS,
}


def _with_outcome(
    frame: pd.DataFrame, outcome: str, columns: list[str], config: StudyConfig, analysis: str
) -> pd.DataFrame:
    """Prefix the outcome and the analysis and order rows as the config lists arms and visits."""
    out = frame.copy()
    out.insert(0, "analysis", analysis)
    out.insert(0, "outcome", outcome)
    arm_rank = {a: i for i, a in enumerate(config.arm_names)}
    visit_rank = {v: i for i, v in enumerate(config.visit_names)}
    if len(out):
        order = out["arm"].map(arm_rank).fillna(-1) * 1000 + out["visit"].map(visit_rank).fillna(-1)
        out = out.iloc[order.argsort(kind="stable")].reset_index(drop=True)
    extra = [c for c in out.columns if c not in columns]
    return out.reindex(columns=columns + extra)


def _model_visits(config: StudyConfig, settings: ModelSettings | None = None) -> list[str]:
    """The visits whose rows the trial model reads: ``visits`` plus the baseline visit."""
    settings = config.model if settings is None else settings
    chosen = set(settings.visits or config.visit_names)
    if config.baseline_visit is not None:
        chosen.add(config.baseline_visit)
    return [v for v in config.visit_names if v in chosen]


def _check_analysable(
    data: pd.DataFrame, config: StudyConfig, outcome: str, settings: ModelSettings | None = None
) -> list[str]:
    """The visits with values of ``outcome``; refuse an outcome without follow-up values.

    A model of baseline values alone estimates no treatment effect, yet the engine would fit it
    and the tables would look like a result; so it is refused here with the reason.
    """
    settings = config.model if settings is None else settings
    visits = _model_visits(config, settings)
    observed = data.loc[data[outcome].notna(), VISIT]
    present = [v for v in visits if v in set(observed)]
    where = (
        f" at the visits the model analyses ({', '.join(visits)}; models.visits)" if settings.visits else ""
    )
    if not present:
        raise ModelError(
            f"outcome {outcome!r} has no values{where} in the analysed rows, so its trial model "
            "cannot be fitted. Check that the data file has this outcome's column and that its "
            "column mapping under 'columns:' is right, or remove the outcome from 'outcomes:'."
        )
    follow_up = [v for v in present if v != config.baseline_visit]
    if not follow_up:
        raise ModelError(
            f"outcome {outcome!r} has values at the baseline visit {config.baseline_visit!r} only, "
            f"none at a follow-up visit{where}, so there is no treatment effect to estimate and its "
            "trial model is not fitted. Check that the data file has this outcome's follow-up "
            "columns or rows (for a wide file, its wide_pattern and visit_codes), or remove the "
            "outcome from 'outcomes:'."
        )
    return present


def _fit(data: pd.DataFrame, config: StudyConfig, outcome: str, settings: ModelSettings | None = None):
    settings = config.model if settings is None else settings
    rows = data[data[VISIT].isin(_model_visits(config, settings))]
    present = _check_analysable(rows, config, outcome, settings)
    covariates = [c for c in settings.covariates if c in rows.columns]
    from ..models import fit_trial_model  # the engine loads only in the jobs that fit

    return fit_trial_model(
        rows,
        outcome=outcome,
        arm=ARM,
        visit=VISIT,
        subject=SUBJECT,
        covariates=tuple(covariates),
        covariance=settings.covariance,
        reference_arm=config.reference_arm,
        method=settings.method,
        df_method=settings.df_method,
        vcov=settings.vcov,
        arm_levels=[a for a in config.arm_names if a in set(rows[ARM])],
        visit_levels=present,
        baseline_visit=config.baseline_visit,
        baseline_adjusted=settings.baseline_adjusted,
        standardizer=settings.effect_size_standardizer,
    )


@dataclass
class _Fitted:
    """What one analysis kind produced: the engine-shaped tables and the model_info values."""

    marginal_means: pd.DataFrame
    contrasts: pd.DataFrame
    change_contrasts: pd.DataFrame
    info: dict
    message: str = ""
    lsmeans_change: pd.DataFrame | None = None


def _change_table(contrast, row, arms, visits, reference, n_of, start=None, offset=0.0) -> pd.DataFrame:
    """The LS-means-of-change rows of :func:`lsmeans_change` from a model's linear functions.

    ``contrast(L)`` gives ``estimate, se, df, p, ci_low, ci_high`` of the rows of ``L``;
    ``row(a, v)`` is the design row of arm ``a``'s mean at visit ``v``; ``start(a)`` that of its
    baseline mean (None when the response is the post-baseline values and the baseline a
    covariate: then the change is the mean minus ``offset``, the baseline covariate's mean).
    """
    records, means, diffs, diff_keys = [], [], [], []
    for v in visits:
        rows = {a: row(a, v) - (start(a) if start is not None else 0.0) for a in arms}
        for a in arms:
            records.append({"visit": v, "arm": a, "reference": reference, "n": n_of(a, v)})
            means.append(rows[a])
            if reference in rows and a != reference:
                diffs.append(rows[a] - rows[reference])
                diff_keys.append((v, a))
    out = pd.DataFrame(records, columns=["visit", "arm", "reference", "n"])
    if not len(out):
        return pd.DataFrame(columns=_LSMEANS_CHANGE_FIELDS)
    tab = contrast(np.array(means))
    out["estimate"] = tab["estimate"].to_numpy() - offset
    for c in ("se", "df"):
        out[c] = tab[c].to_numpy()
    out["ci_low"] = tab["ci_low"].to_numpy() - offset
    out["ci_high"] = tab["ci_high"].to_numpy() - offset
    for c in _LSMEANS_CHANGE_FIELDS[9:]:
        out[c] = np.nan
    if diffs:
        d = contrast(np.array(diffs))
        at = {key: i for i, key in enumerate(diff_keys)}
        index = [at.get((v, a)) for v, a in zip(out["visit"], out["arm"])]
        for c, src in (
            ("difference", "estimate"),
            ("difference_se", "se"),
            ("difference_df", "df"),
            ("difference_ci_low", "ci_low"),
            ("difference_ci_high", "ci_high"),
            ("p", "p"),
        ):
            values = d[src].to_numpy()
            out[c] = [np.nan if i is None else values[i] for i in index]
    return out[_LSMEANS_CHANGE_FIELDS]


def lsmeans_change(fit, *, outcome: str, baseline_adjusted: bool = False) -> pd.DataFrame:
    """The MMRMT01 table of a trial model: LS mean change from baseline per visit and arm.

    For each post-baseline visit and arm: ``n`` (participants with a value), the model-based
    (least-squares) mean change from baseline with its SE, df and 95% CI, and the difference
    from the reference arm's mean change with its SE, df, 95% CI and ``p`` (empty on the
    reference arm's rows), as tern.mmrm's MMRMT01 table and emmeans show them. The means are
    the fit's emmeans (equal weights over factor covariates, numeric ones at their mean): with
    every visit a response, arm ``a``'s change at ``v`` is ``emmean(a, v) - emmean(a, baseline)``,
    so the differences are the engine's ``change_contrasts``; with the baseline a covariate
    (``baseline_adjusted``), it is ``emmean(a, v)`` minus the covariate's mean over the analysed
    rows (what emmeans gives for a change response with the baseline covariate at its mean),
    and the differences are the engine's ``contrasts``.

    Parameters
    ----------
    fit : TrialModelResult
        A :func:`prt_outcomes.models.fit_trial_model` result; its ``model``
        (:class:`~prt_outcomes.models.MMRMFit`) computes the means.
    outcome : str
        The response, to name the baseline covariate ``baseline_<outcome>``.
    baseline_adjusted : bool
        Whether the fit had the baseline as a covariate.

    Returns
    -------
    DataFrame
        Columns ``visit, arm, reference, n, estimate, se, df, ci_low, ci_high, difference,
        difference_se, difference_df, difference_ci_low, difference_ci_high, p``; empty when the
        fit has no baseline visit or no ``model``.

    Examples
    --------
    >>> from prt_outcomes.simulate import simulate_trial            # doctest: +SKIP
    >>> fit = fit_trial_model(simulate_trial(), outcome="pain_avg",
    ...                       baseline_visit="baseline")                    # doctest: +SKIP
    >>> lsmeans_change(fit, outcome="pain_avg").columns[:5].tolist()  # doctest: +SKIP
    ['visit', 'arm', 'reference', 'n', 'estimate']
    """
    model, info = fit.model, fit.info
    baseline = info.get("baseline_visit")
    if model is None or baseline is None:
        return pd.DataFrame(columns=_LSMEANS_CHANGE_FIELDS)
    arms, visits = list(info["levels"][ARM]), list(info["levels"][VISIT])
    counts = {
        (str(a), str(v)): n
        for a, v, n in fit.marginal_means[["arm", "visit", "n_observed"]].itertuples(index=False)
    }

    def row(a, v):
        return _grid_mean_row(model, {ARM: a, VISIT: v})

    if baseline_adjusted:
        post, start, offset = visits, None, float(model.design.means[f"baseline_{outcome}"])
    else:
        post = visits[visits.index(baseline) + 1 :] if baseline in visits else []
        start, offset = (lambda a: row(a, baseline)), 0.0
    return _change_table(
        model.contrast,
        row,
        arms,
        post,
        info.get("reference_arm"),
        lambda a, v: counts.get((str(a), str(v)), 0),
        start,
        offset,
    )


def _engine_result(fit, message: str = "", *, outcome: str = "", baseline_adjusted: bool = False) -> _Fitted:
    return _Fitted(
        fit.marginal_means,
        fit.contrasts,
        fit.change_contrasts,
        {
            "formula": fit.info.get("formula", ""),
            "visits": " ".join(str(v) for v in fit.info["levels"][VISIT]),
            "n_obs": fit.n_obs,
            "n_subjects": fit.n_subjects,
            "loglik": fit.loglik,
            "aic": fit.aic,
            "converged": bool(fit.converged),
            "warnings": list(fit.warnings),
        },
        message,
        lsmeans_change(fit, outcome=outcome, baseline_adjusted=baseline_adjusted),
    )


def _fit_mmrm(data, config, outcome, spec: AnalysisSettings) -> _Fitted:
    # ancova is this with visits (visit,) and baseline_adjusted: one response per participant,
    # so every covariance structure is one variance and the fit is OLS (tests/test_analyses.py)
    return _engine_result(
        _fit(data, config, outcome, spec.model),
        outcome=outcome,
        baseline_adjusted=spec.model.baseline_adjusted,
    )


def _fit_completers(data, config, outcome, spec: AnalysisSettings) -> _Fitted:
    settings = spec.model
    rows = data[data[VISIT].isin(_model_visits(config, settings))]
    present = _check_analysable(rows, config, outcome, settings)
    observed = rows[rows[outcome].notna() & rows[VISIT].isin(present)]
    n_visits = observed.groupby(SUBJECT)[VISIT].nunique()
    complete = set(n_visits.index[n_visits == len(present)])
    everyone = rows[SUBJECT].nunique()
    left_out = observed[~observed[SUBJECT].isin(complete)]
    if not complete:
        raise ModelError(
            f"completers analysis of {outcome!r}: no participant has a value at every analysed "
            f"visit ({', '.join(present)}), so there are no completers to analyse; restrict the "
            "analysis's 'visits:' or drop it."
        )
    message = (
        f"completers: {len(complete)} of {everyone} participants have a value at every analysed visit "
        f"({', '.join(present)}); {left_out[SUBJECT].nunique()} participants with "
        f"{len(left_out)} observed values are left out"
    )
    return _engine_result(
        _fit(rows[rows[SUBJECT].isin(complete)], config, outcome, settings),
        message,
        outcome=outcome,
        baseline_adjusted=settings.baseline_adjusted,
    )


def _covariance_term(covariance: str, where: str) -> str:
    """The po.mmrm covariance term of a ``models.covariance`` name."""
    from ..models.covariance import COVARIANCE_REGISTRY

    if covariance == "random_intercept":
        return f"(1 | {SUBJECT})"
    if covariance == "spatial_exponential":
        raise ModelError(
            f"{where}: the spatial_exponential covariance needs visit coordinates, which this "
            "analysis does not pass; choose another covariance on the analysis entry."
        )
    return f"{COVARIANCE_REGISTRY[covariance].mmrm}({VISIT} | {SUBJECT})"


def _grid_mean_row(fit, values: dict) -> np.ndarray:
    """The design row of the mean at ``values`` (set numeric columns / factor levels), the other
    factors averaged with equal weights and numeric variables at their mean (as emmeans does)."""
    import itertools

    design = fit.design
    others = [f for f in design.factors if f not in values]
    combos = list(itertools.product(*[design.levels[f] for f in others])) or [()]
    grid = pd.DataFrame([dict(zip(others, c)) for c in combos], index=range(len(combos)))
    for v, m in design.means.items():
        grid[v] = m
    for k, v in values.items():
        grid[k] = v
    return np.asarray(design.matrix(grid)).mean(axis=0)


def _hedges(contrasts: pd.DataFrame, rows: pd.DataFrame, config, outcome, standardizer, covariance):
    """Hedges g of each contrast row as fit_trial_model computes it (same standardizers)."""
    from ..stats.effects import hedges_g, pooled_sd

    base = (
        rows[(rows[VISIT] == config.baseline_visit) & rows[outcome].notna()]
        if config.baseline_visit
        else None
    )
    g, glo, ghi = [], [], []
    for _, r in contrasts.iterrows():
        a, ref, v = r["arm"], r["reference"], r["visit"]
        sd, n1, n2 = float("nan"), 0, 0
        if base is not None and len(base):
            x1 = base.loc[base[ARM] == a, outcome].to_numpy(float)
            x2 = base.loc[base[ARM] == ref, outcome].to_numpy(float)
            n1, n2 = x1.size, x2.size
            if standardizer == "baseline_sd" and n1 > 1 and n2 > 1:
                sd = pooled_sd(x1.std(ddof=1), n1, x2.std(ddof=1), n2)
        if standardizer == "change_sd" and f"{outcome}_change" in rows:
            at_v = rows[(rows[VISIT] == v) & rows[f"{outcome}_change"].notna()]
            x1 = at_v.loc[at_v[ARM] == a, f"{outcome}_change"].to_numpy(float)
            x2 = at_v.loc[at_v[ARM] == ref, f"{outcome}_change"].to_numpy(float)
            n1, n2 = x1.size, x2.size
            sd = pooled_sd(x1.std(ddof=1), n1, x2.std(ddof=1), n2) if n1 > 1 and n2 > 1 else float("nan")
        if standardizer == "residual_sd" and isinstance(covariance, pd.DataFrame) and v in covariance.index:
            sd = float(np.sqrt(covariance.loc[v, v]))
        if n1 > 1 and n2 > 1 and np.isfinite(sd):
            eff = hedges_g(r["estimate"], sd, n1, n2, difference_ci=(r["ci_low"], r["ci_high"]))
            g.append(eff.g), glo.append(eff.ci_low), ghi.append(eff.ci_high)
        else:
            g.append(np.nan), glo.append(np.nan), ghi.append(np.nan)
    out = contrasts.copy()
    out["hedges_g"], out["hedges_g_ci_low"], out["hedges_g_ci_high"] = g, glo, ghi
    out["hedges_g_sd"] = standardizer
    return out


def _n_observed(rows: pd.DataFrame, response: str, means: pd.DataFrame) -> list:
    counts = rows[rows[response].notna()].groupby([ARM, VISIT]).size() if response in rows else None
    out = []
    for _, r in means.iterrows():
        if counts is None:
            out.append(pd.NA)
        elif pd.notna(r.get("arm")) and pd.notna(r.get("visit")):
            out.append(int(counts.get((r["arm"], r["visit"]), 0)))
        else:
            key = "arm" if pd.notna(r.get("arm")) else "visit"
            level = ARM if key == "arm" else VISIT
            out.append(int(counts[counts.index.get_level_values(level) == r[key]].sum()))
    return out


def _mmrm_info(fit, visits, formula: str) -> dict:
    return {
        "formula": formula,
        "visits": " ".join(str(v) for v in visits),
        "n_obs": fit.n_obs,
        "n_subjects": fit.n_subjects,
        "loglik": fit.loglik,
        "aic": fit.aic,
        "converged": bool(fit.converged),
        "warnings": list(fit.warnings),
    }


def _contrast_frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=ENGINE_CONTRAST_COLUMNS).astype(
        {"visit": "object", "arm": "object", "reference": "object", "hedges_g_sd": "object"}
    )


def _fit_clda(data, config, outcome, spec: AnalysisSettings) -> _Fitted:
    """cLDA: every visit's value a response, one baseline mean for all arms, arm effects after.

    The mean of arm ``a`` at visit ``v`` is ``mu_v + covariates + delta_{a,v}`` with
    ``delta_{a,baseline} = 0`` (Liang & Zeger 2000; Lu 2010): one 0/1 column per non-reference
    arm x post-baseline visit, so that ``delta_{a,v}`` is a coefficient and the contrast of
    ``a`` vs the reference at ``v``.
    """
    from ..models.mmrm_fit import mmrm

    settings = spec.model
    where = f"analysis {spec.name!r} (clda) of {outcome!r}"
    rows = data[data[VISIT].isin(_model_visits(config, settings))]
    present = _check_analysable(rows, config, outcome, settings)
    rows = rows[rows[VISIT].isin(present)].copy()
    baseline, ref = config.baseline_visit, config.reference_arm
    if baseline not in present:
        raise ModelError(f"{where}: the outcome has no baseline values, which cLDA analyses as responses.")
    arms = [a for a in config.arm_names if a in set(rows[ARM])]
    post = [v for v in present if v != baseline]
    columns = {}
    for i, a in enumerate(a for a in arms if a != ref):
        for j, v in enumerate(post):
            name = f"clda_arm{i}_visit{j}"
            rows[name] = ((rows[ARM] == a) & (rows[VISIT] == v)).astype(float)
            columns[(a, v)] = name
    covariates = [c for c in settings.covariates if c in rows.columns]
    terms = [VISIT, *columns.values(), *covariates]
    formula = f"{outcome} ~ {' + '.join(terms)} + {_covariance_term(settings.covariance, where)}"
    rows[VISIT] = rows[VISIT].astype(str)
    fit = mmrm(
        formula,
        rows,
        method=settings.method,
        df_method=settings.df_method,
        vcov=settings.vcov,
        levels={VISIT: present},
    )
    # the means: visit v, arm a's indicator columns set (all zero for the reference arm)
    mean_rows, labels = [], []
    for a in arms:
        for v in present:
            values = {
                VISIT: v,
                **{col: float(arm == a and visit == v) for (arm, visit), col in columns.items()},
            }
            mean_rows.append(_grid_mean_row(fit, values))
            labels.append((a, v))
    means_tab = fit.contrast(np.array(mean_rows))
    means = pd.DataFrame(labels, columns=["arm", "visit"])
    for c in ("estimate", "se", "df", "ci_low", "ci_high"):
        means[c] = means_tab[c].to_numpy()
    means["n_observed"] = _n_observed(rows, outcome, means)
    records = []
    if columns:
        L = pd.DataFrame(0.0, index=range(len(columns)), columns=fit.terms)
        for k, col in enumerate(columns.values()):
            L.loc[k, col] = 1.0
        tab = fit.contrast(L.to_numpy())
        for ((a, v), _), (_, r) in zip(columns.items(), tab.iterrows()):
            records.append(
                {
                    "visit": v,
                    "arm": a,
                    "reference": ref,
                    **{c: r[c] for c in ("estimate", "se", "df", "t", "p", "ci_low", "ci_high")},
                }
            )
    contrasts = _contrast_frame(records)
    if len(contrasts):
        contrasts = _hedges(
            contrasts, rows, config, outcome, settings.effect_size_standardizer, fit.covariance
        )
    # the baseline means are common, so the difference in change from baseline is the difference
    row_of = dict(zip(labels, mean_rows))
    n_of = means.set_index(["arm", "visit"])["n_observed"].to_dict()
    change = _change_table(
        fit.contrast,
        lambda a, v: row_of[(a, v)],
        arms,
        post,
        ref,
        lambda a, v: n_of.get((a, v), 0),
        lambda a: row_of[(a, baseline)],
    )
    return _Fitted(means, contrasts, contrasts.copy(), _mmrm_info(fit, present, formula), "", change)


def _fit_formula(data, config, outcome, spec: AnalysisSettings) -> _Fitted:
    """po.mmrm with the entry's formula; means and contrasts from its arm and visit factors."""
    from ..models.mmrm_fit import mmrm

    settings = spec.model
    formula = spec.formula.replace("{outcome}", outcome)
    visits = list(settings.visits or config.visit_names)
    rows = data[data[VISIT].isin(visits)].copy()
    present = [v for v in visits if v in set(rows[VISIT])]
    rows[VISIT] = rows[VISIT].astype(str)
    arms = [a for a in config.arm_names if a in set(rows[ARM])]
    ref = config.reference_arm
    fit = mmrm(
        formula,
        rows,
        method=settings.method,
        df_method=settings.df_method,
        vcov=settings.vcov,
        # level orders only for the roles the formula names (po.mmrm refuses others)
        levels={k: lv for k, lv in ((ARM, arms), (VISIT, present)) if _names(formula, k)},
        reference={ARM: ref} if ref is not None and _names(formula, ARM) else None,
    )
    factors = [f for f in (ARM, VISIT) if f in fit.design.factors]
    notes = []
    response = fit.formula.response if hasattr(fit.formula, "response") else outcome
    if factors:
        means = fit.emmeans(factors).rename(columns={ARM: "arm", VISIT: "visit"})
        means = means.reindex(columns=["arm", "visit", "estimate", "se", "df", "ci_low", "ci_high"])
        means["n_observed"] = _n_observed(rows, response if response in rows else outcome, means)
    else:
        means = pd.DataFrame(columns=MEANS_COLUMNS)
        notes.append("the formula has neither an arm nor a visit factor: no marginal means")
    records = []
    if ARM in factors and ref is not None:
        by = VISIT if VISIT in factors else None
        pairs = fit.pairs(ARM, by=by)
        for _, r in pairs.iterrows():
            first, second = (s.strip() for s in str(r["contrast"]).split(" - ", 1))
            if ref not in (first, second):
                continue
            sign = 1.0 if second == ref else -1.0
            arm = first if second == ref else second
            lo, hi = r["ci_low"] * sign, r["ci_high"] * sign
            records.append(
                {
                    "visit": r[VISIT] if by else np.nan,
                    "arm": arm,
                    "reference": ref,
                    "estimate": sign * r["estimate"],
                    "se": r["se"],
                    "df": r["df"],
                    "t": sign * r["t"],
                    "p": r["p"],
                    "ci_low": min(lo, hi),
                    "ci_high": max(lo, hi),
                }
            )
        if not by:
            notes.append("the formula has no visit factor: contrasts over visits (visit empty)")
    else:
        notes.append("the formula has no arm factor: no contrasts")
    contrasts = _contrast_frame(records)
    if len(contrasts):
        contrasts = _hedges(
            contrasts, rows, config, outcome, settings.effect_size_standardizer, fit.covariance
        )
    notes.append("no change-from-baseline contrasts (a formula's baseline role is not known)")
    return _Fitted(
        means,
        contrasts,
        _contrast_frame([]),
        _mmrm_info(fit, present, formula),
        "formula: " + "; ".join(notes),
    )


def _names(formula: str, column: str) -> bool:
    return re.search(rf"(?<![\w.`]){re.escape(column)}(?![\w.`])", formula) is not None


_KIND_FITTERS = {
    "mmrm": _fit_mmrm,
    "ancova": _fit_mmrm,
    "clda": _fit_clda,
    "completers": _fit_completers,
    "formula": _fit_formula,
}


def analyse_outcome(
    data: pd.DataFrame, config: StudyConfig, outcome: str, analysis: str | None = None
) -> OutcomeAnalysis:
    """Fit one named analysis (default: the primary, the first) to one outcome.

    The analysis's settings (``analyses:`` entry over the ``models:`` section: covariance
    structure, covariates, REML/ML, df method, baseline adjustment, analysed visits,
    effect-size standardizer) and its kind (:data:`prt_outcomes.analyse.kinds.ANALYSIS_KINDS`)
    come from the config. When the data of this outcome cannot support the model (any
    :class:`~prt_outcomes.errors.PrtOutcomesError`), the analysis is returned as not fitted: one
    ``model_info`` row with ``status == "failed"`` and the reason in ``message``, and empty
    estimate tables. An outcome without follow-up values is refused this way.

    Raises
    ------
    ValueError
        When ``analysis`` is not one of the config's analyses of ``outcome``.
    """
    spec = config.primary_analysis if analysis is None else _analysis(config, analysis)
    if not spec.applies_to(outcome):
        raise ValueError(
            f"analysis {spec.name!r} does not analyse {outcome!r} (its outcomes: {list(spec.outcomes)})"
        )
    settings = spec.model
    info = {
        "outcome": outcome,
        "analysis": spec.name,
        "kind": spec.kind,
        "covariance": settings.covariance,
        "method": settings.method,
        "df_method": settings.df_method,
    }
    try:
        result = _KIND_FITTERS[spec.kind](data, config, outcome, spec)
    except PrtOutcomesError as error:
        failed = {
            **info,
            "status": FAILED,
            "message": str(error),
            "formula": "",
            "visits": "",
            "converged": False,
            "warnings": encode_warnings([]),
        }
        empty = {name: pd.DataFrame(columns=columns) for name, columns in MODEL_TABLES.items()}
        empty["model_info"] = pd.DataFrame([failed], columns=MODEL_INFO_COLUMNS)
        return OutcomeAnalysis(**empty)
    fitted = {
        **info,
        **result.info,
        "status": FITTED,
        "message": result.message,
        "warnings": encode_warnings(result.info["warnings"]),
    }

    def label(frame, columns):
        return _with_outcome(frame, outcome, columns, config, spec.name)

    return OutcomeAnalysis(
        marginal_means=label(result.marginal_means, MARGINAL_MEANS_COLUMNS),
        contrasts=label(result.contrasts, CONTRAST_COLUMNS),
        change_contrasts=label(result.change_contrasts, CONTRAST_COLUMNS),
        lsmeans_change=label(
            result.lsmeans_change
            if result.lsmeans_change is not None
            else pd.DataFrame(columns=_LSMEANS_CHANGE_FIELDS),
            LSMEANS_CHANGE_COLUMNS,
        ),
        model_info=pd.DataFrame([fitted], columns=MODEL_INFO_COLUMNS),
    )


def analyse_outcomes(data: pd.DataFrame, config: StudyConfig) -> list[OutcomeAnalysis]:
    """Every (outcome, analysis) pair of the config (:meth:`StudyConfig.outcome_analyses`),
    in the order the workflow's ``fit_model`` jobs are collected."""
    return [analyse_outcome(data, config, o, a) for o, a in config.outcome_analyses()]


def _analysis(config: StudyConfig, name: str) -> AnalysisSettings:
    try:
        return config.analysis(name)
    except KeyError as error:
        raise ValueError(error.args[0]) from None


def primary_rows(frame: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """The rows of each outcome's primary analysis (its first, :meth:`StudyConfig.analyses_of`).

    A table without an ``analysis`` column (one fit's table) is returned as it is.

    >>> from prt_outcomes.config import load_config                       # doctest: +SKIP
    >>> primary_rows(pd.read_csv("tables/contrasts.csv"), load_config("config/config.yaml"))  # doctest: +SKIP
    """
    if frame is None or "analysis" not in frame.columns or "outcome" not in frame.columns:
        return frame
    first = {o: config.analyses_of(o)[0].name for o in config.outcome_names if config.analyses_of(o)}
    keep = frame["analysis"] == frame["outcome"].map(first)
    return frame[keep].reset_index(drop=True)


def stack_tables(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Stack per-outcome tables; a failed outcome's empty table adds no rows.

    Empty frames are left out before stacking, so that they neither change the column dtypes
    of the others nor trigger pandas' warning about concatenating empty frames.

    >>> a = pd.DataFrame({"outcome": ["pain"], "estimate": [1.5]})
    >>> stack_tables([a, pd.DataFrame(columns=["outcome", "estimate"])], ["outcome", "estimate"])
      outcome  estimate
    0    pain       1.5
    """
    kept = [f for f in frames if len(f)]
    if not kept:
        return pd.DataFrame(columns=list(columns))
    stacked = pd.concat(kept, ignore_index=True)
    extra = [c for c in stacked.columns if c not in columns]
    return stacked.reindex(columns=list(columns) + extra)


def analyse_responders(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Every configured threshold x outcome x visit, stacked into the ``responders`` table.

    The denominator (``randomized`` or ``observed``) comes from ``config.responder_denominator``;
    every participant in ``data`` counts as randomized to their arm. See
    :func:`prt_outcomes.analyse.responders.responders_from_config`.
    """
    randomized = data.drop_duplicates(SUBJECT).set_index(SUBJECT)[ARM]
    table = responders_from_config(data, config, randomized=randomized)
    if config.is_audit:
        # an audit publishes no count under privacy.min_cell, this table included (its rates
        # are in the audit tables too); what a hidden count gives away goes with it
        from ..stats.disclosure import suppress_counts

        counts = [c for c in ("responders", "denominator", "n_missing", "n_undefined") if c in table]
        derived = [c for c in table.columns if c.startswith(("percent", "rd_", "or_", "nnt")) or c in (
            "risk_difference", "odds_ratio", "p", "nnt_label")]  # fmt: skip
        table = suppress_counts(table, counts, dependent=derived, min_cell=config.privacy.min_cell)
    return table
