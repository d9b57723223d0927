"""Descriptive tables: participant flow, baseline characteristics, observed summaries, missingness.

All functions take the clean long data (canonical columns, see ``docs/architecture.md``) and the
:class:`~prt_outcomes.config.StudyConfig`, and return tidy DataFrames with documented columns.
Participant identifiers never appear in their output.

Examples
--------
>>> from prt_outcomes.config import load_config          # doctest: +SKIP
>>> from prt_outcomes.simulate import simulate_trial     # doctest: +SKIP
>>> cfg = load_config("config/config.yaml")              # doctest: +SKIP
>>> participant_flow(simulate_trial(), cfg).head(2)      # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ARM, SUBJECT, VISIT, StudyConfig
from .derive import add_change_scores, change_column

__all__ = [
    "participant_flow",
    "baseline_table",
    "observed_summary",
    "missingness",
    "disclose_describe_tables",
    "FLOW_COLUMNS",
    "BASELINE_COLUMNS",
    "OBSERVED_COLUMNS",
    "MISSINGNESS_COLUMNS",
]

FLOW_COLUMNS = ["arm", "visit", "randomized", "assessed", "analysed"]
BASELINE_COLUMNS = [
    "variable",
    "label",
    "level",
    "arm",
    "n",
    "mean",
    "sd",
    "median",
    "q1",
    "q3",
    "count",
    "percent",
    "display",
]
OBSERVED_COLUMNS = [
    "outcome",
    "arm",
    "visit",
    "n",
    "mean",
    "sd",
    "se",
    "median",
    "q1",
    "q3",
    "change_n",
    "change_mean",
    "change_sd",
    "change_se",
]
MISSINGNESS_COLUMNS = ["outcome", "arm", "visit", "expected", "observed", "missing", "percent_missing"]

TOTAL = "Total"


def _participants_by_arm(data: pd.DataFrame) -> pd.Series:
    return data.drop_duplicates(SUBJECT).groupby(ARM, observed=True)[SUBJECT].nunique()


def participant_flow(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """CONSORT-style counts per arm and visit.

    Columns ``arm, visit, randomized, assessed, analysed``:

    * ``randomized``: participants of the arm in the analysed data set;
    * ``assessed``: participants with a record at that visit holding at least one outcome value;
    * ``analysed``: participants whose primary outcome (the first outcome marked ``primary``,
      else the first outcome) is observed at that visit, with every model covariate present,
      so they enter the trial model at that visit.
    """
    primary = next((o.name for o in config.outcomes if o.primary), config.outcomes[0].name)
    outcomes = list(config.outcome_names)
    model_covs = [c for c in config.model.covariates if c in data.columns]
    has_any = data[outcomes].notna().any(axis=1)
    analysable = data[primary].notna() & data[model_covs].notna().all(axis=1)
    randomized = _participants_by_arm(data)
    rows = []
    for arm in config.arm_names:
        in_arm = data[ARM] == arm
        for visit in config.visit_names:
            at = in_arm & (data[VISIT] == visit)
            rows.append(
                {
                    "arm": arm,
                    "visit": visit,
                    "randomized": int(randomized.get(arm, 0)),
                    "assessed": int(data.loc[at & has_any, SUBJECT].nunique()),
                    "analysed": int(data.loc[at & analysable, SUBJECT].nunique()),
                }
            )
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def _fmt(x: float, decimals: int) -> str:
    return "" if pd.isna(x) else f"{x:.{decimals}f}"


def _numeric_row(values: pd.Series, decimals: int, skewed: bool) -> dict:
    v = values.dropna().astype("float64")
    n = int(v.size)
    mean = float(v.mean()) if n else np.nan
    sd = float(v.std(ddof=1)) if n > 1 else np.nan
    median = float(v.median()) if n else np.nan
    q1 = float(v.quantile(0.25)) if n else np.nan
    q3 = float(v.quantile(0.75)) if n else np.nan
    if skewed:
        display = f"{_fmt(median, decimals)} ({_fmt(q1, decimals)}-{_fmt(q3, decimals)})"
    else:
        display = f"{_fmt(mean, decimals)} ({_fmt(sd, decimals)})"
    return dict(
        n=n,
        mean=mean,
        sd=sd,
        median=median,
        q1=q1,
        q3=q3,
        count=np.nan,
        percent=np.nan,
        display=display if n else "",
    )


def baseline_table(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Baseline characteristics by arm and in total (CONSORT style, no p values).

    Numeric covariates and outcomes are summarised as mean (SD); a numeric covariate whose
    distribution is clearly skewed (|skewness| > 1, e.g. pain duration) as median (IQR).
    Categorical covariates as n (%), with the percentage of participants with a known value.
    One row per characteristic (x level) x arm; ``arm == "Total"`` is the whole sample.
    """
    baseline = config.baseline_visit
    base = data[data[VISIT] == baseline] if baseline else data.drop_duplicates(SUBJECT)
    base = base.drop_duplicates(SUBJECT)
    groups = [(arm, base[base[ARM] == arm]) for arm in config.arm_names] + [(TOTAL, base)]
    rows = []
    for arm, g in groups:
        rows.append(
            dict(
                variable="n",
                label="Participants, No.",
                level="",
                arm=arm,
                n=len(g),
                mean=np.nan,
                sd=np.nan,
                median=np.nan,
                q1=np.nan,
                q3=np.nan,
                count=len(g),
                percent=np.nan,
                display=str(len(g)),
            )
        )
    for cov in config.covariates:
        if cov.name not in base.columns:
            continue
        if cov.type == "numeric":
            col = base[cov.name].astype("float64")
            skewed = bool(abs(col.dropna().skew()) > 1) if col.notna().sum() > 2 else False
            label = cov.label + (", median (IQR)" if skewed else ", mean (SD)")
            for arm, g in groups:
                rows.append(
                    dict(
                        variable=cov.name,
                        label=label,
                        level="",
                        arm=arm,
                        **_numeric_row(g[cov.name], 1, skewed),
                    )
                )
        else:
            levels = list(cov.levels) or sorted(base[cov.name].dropna().astype(str).unique())
            for level in levels:
                for arm, g in groups:
                    known = g[cov.name].dropna().astype(str)
                    count = int((known == level).sum())
                    pct = 100.0 * count / len(known) if len(known) else np.nan
                    rows.append(
                        dict(
                            variable=cov.name,
                            label=f"{cov.label}, No. (%)",
                            level=level,
                            arm=arm,
                            n=int(len(known)),
                            mean=np.nan,
                            sd=np.nan,
                            median=np.nan,
                            q1=np.nan,
                            q3=np.nan,
                            count=count,
                            percent=pct,
                            display=f"{count} ({_fmt(pct, 1)})",
                        )
                    )
    for outcome in config.outcomes:
        decimals = outcome.instrument.decimals
        for arm, g in groups:
            rows.append(
                dict(
                    variable=outcome.name,
                    label=f"{outcome.axis_label}, mean (SD)",
                    level="",
                    arm=arm,
                    **_numeric_row(g[outcome.name], decimals, False),
                )
            )
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def observed_summary(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Observed mean (SD, SE), median (IQR) per outcome x arm x visit, and change from baseline.

    The change columns summarise the derive stage's ``<outcome>_change`` (``value - baseline``,
    :mod:`prt_outcomes.derive`) among participants observed at both the baseline visit and that
    visit. Data without those columns (not passed through the derive stage) get them from
    :func:`prt_outcomes.derive.add_change_scores` first, so the definition is the same.
    """
    baseline = config.baseline_visit
    if baseline:
        absent = [o for o in config.outcome_names if change_column(o) not in data.columns]
        if absent:
            data = add_change_scores(data, absent, baseline_visit=baseline)
    rows = []
    for outcome in config.outcome_names:
        for arm in config.arm_names:
            for visit in config.visit_names:
                g = data[(data[ARM] == arm) & (data[VISIT] == visit)]
                v = g[outcome].dropna().astype("float64")
                n = int(v.size)
                row = dict(
                    outcome=outcome,
                    arm=arm,
                    visit=visit,
                    n=n,
                    mean=v.mean() if n else np.nan,
                    sd=v.std(ddof=1) if n > 1 else np.nan,
                    median=v.median() if n else np.nan,
                    q1=v.quantile(0.25) if n else np.nan,
                    q3=v.quantile(0.75) if n else np.nan,
                )
                row["se"] = row["sd"] / np.sqrt(n) if n > 1 else np.nan
                if baseline:
                    change = g[change_column(outcome)].dropna().astype("float64")
                    cn = int(change.size)
                    row.update(
                        change_n=cn,
                        change_mean=change.mean() if cn else np.nan,
                        change_sd=change.std(ddof=1) if cn > 1 else np.nan,
                    )
                    row["change_se"] = row["change_sd"] / np.sqrt(cn) if cn > 1 else np.nan
                rows.append(row)
    return pd.DataFrame(rows, columns=OBSERVED_COLUMNS)


def missingness(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Missing outcome values per outcome x arm x visit.

    ``expected`` is every participant of the arm (each is due at every visit), ``observed`` those
    with a value, ``missing = expected - observed``: a missed visit and a skipped item both count.
    """
    randomized = _participants_by_arm(data)
    rows = []
    for outcome in config.outcome_names:
        observed = data[data[outcome].notna()].groupby([ARM, VISIT], observed=True)[SUBJECT].nunique()
        for arm in config.arm_names:
            expected = int(randomized.get(arm, 0))
            for visit in config.visit_names:
                obs = int(observed.get((arm, visit), 0))
                rows.append(
                    dict(
                        outcome=outcome,
                        arm=arm,
                        visit=visit,
                        expected=expected,
                        observed=obs,
                        missing=expected - obs,
                        percent_missing=100.0 * (expected - obs) / expected if expected else np.nan,
                    )
                )
    return pd.DataFrame(rows, columns=MISSINGNESS_COLUMNS)


# ---------------------------------------------------------------------------------------------
# disclosure control of the describe tables of an audit (privacy.min_cell)
# ---------------------------------------------------------------------------------------------
#: How a hidden count reads in a text column (``display``) of a describe table.
SUPPRESSED_TEXT = "suppressed"


def _small(x: pd.Series, min_cell: int) -> pd.Series:
    x = pd.to_numeric(pd.Series(x), errors="coerce")
    return ((x >= 1) & (x < min_cell)).fillna(False).astype(bool)


def disclose_describe_tables(tables: dict[str, pd.DataFrame], config) -> dict[str, pd.DataFrame]:
    """Apply ``privacy.min_cell`` to the describe tables of an audit; a trial's are returned as is.

    A count from 1 to ``min_cell - 1`` is blanked, and so is every count a reader could work
    it out from by subtraction (the assessed of a visit when fewer than ``min_cell`` were
    missed; a second level of a categorical covariate when one level is hidden, since the
    levels add up to the patients), with the statistics of the hidden cells (percent, mean,
    SD, quantiles; ``display`` reads "suppressed"). Primary suppression is
    :func:`prt_outcomes.stats.disclosure.suppress_counts`.

    Examples
    --------
    >>> from prt_outcomes.config import StudyConfig
    >>> config = StudyConfig.from_dict({"study": {"name": "x", "design": "audit"},
    ...     "data": {"files": [{"path": "x.csv"}]}, "arms": {"levels": [{"name": "clinic"}]},
    ...     "visits": [{"name": "v0", "baseline": True}, {"name": "v1"}],
    ...     "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}]})
    >>> flow = pd.DataFrame({"arm": ["clinic"] * 2, "visit": ["v0", "v1"], "randomized": [40, 40],
    ...     "assessed": [40, 37], "analysed": [40, 37]})
    >>> disclose_describe_tables({"flow": flow}, config)["flow"]["assessed"].tolist()
    [40, <NA>]
    """
    if not config.is_audit:
        return tables
    from .stats.disclosure import suppress_counts

    m = config.privacy.min_cell
    out = dict(tables)
    if "flow" in out:
        flow = out["flow"].copy()
        for col in ("randomized", "assessed", "analysed"):
            flow[col] = pd.to_numeric(flow[col]).astype("Int64")
        hide_a = _small(flow["assessed"], m) | _small(flow["randomized"] - flow["assessed"], m)
        hide_n = hide_a | _small(flow["analysed"], m) | _small(flow["assessed"] - flow["analysed"], m)
        flow["randomized"] = flow["randomized"].mask(_small(flow["randomized"], m))
        flow["assessed"] = flow["assessed"].mask(hide_a)
        flow["analysed"] = flow["analysed"].mask(hide_n)
        out["flow"] = flow
    if "missingness" in out:
        miss = out["missingness"].copy()
        hide = _small(miss["observed"], m) | _small(miss["missing"], m)
        for col in ("expected", "observed", "missing"):
            miss[col] = pd.to_numeric(miss[col]).astype("Int64")
        miss["expected"] = miss["expected"].mask(_small(miss["expected"], m))
        miss[["observed", "missing"]] = miss[["observed", "missing"]].mask(hide, axis=0)
        miss["percent_missing"] = miss["percent_missing"].where(~hide)
        out["missingness"] = miss
    if "observed_summary" in out:
        obs = out["observed_summary"]
        # n = the observed of the missingness table: hide it where that one is hidden too
        expected = None
        if "missingness" in tables:
            key = ["outcome", "arm", "visit"]
            expected = obs[key].merge(tables["missingness"][key + ["expected"]], on=key, how="left")[
                "expected"
            ]
        stats_cols = [c for c in obs.columns if c not in ("outcome", "arm", "visit", "n", "change_n")]
        hide = _small(obs["n"], m) | _small(obs["change_n"], m)
        if expected is not None:
            gap = pd.to_numeric(expected).to_numpy(dtype=float) - pd.to_numeric(obs["n"]).to_numpy(
                dtype=float
            )
            hide |= pd.Series(_small(gap, m).to_numpy(), index=obs.index)
        obs = suppress_counts(obs, ["n", "change_n"], dependent=stats_cols, min_cell=m)
        obs[["n", "change_n"]] = obs[["n", "change_n"]].mask(hide, axis=0)
        obs[stats_cols] = obs[stats_cols].where(~hide, axis=0)
        out["observed_summary"] = obs
    if "baseline" in out:
        base = out["baseline"].copy()
        count = pd.to_numeric(base["count"])
        hide = _small(count, m) | _small(base["n"], m)
        # the levels of a covariate add up to its patients: one hidden level is recoverable, so
        # the smallest shown non-zero level beside it is hidden too
        levels = base["level"].notna()
        for _, rows in base[levels].groupby(["variable", "arm"], sort=False).groups.items():
            rows = list(rows)
            if hide[rows].sum() == 1:
                shown = count[rows][~hide[rows] & (count[rows] > 0)]
                if len(shown):
                    hide[shown.idxmin()] = True
        base["count"] = count.astype("Int64").mask(hide)
        base["n"] = pd.to_numeric(base["n"]).astype("Int64").mask(_small(base["n"], m))
        for col in ("mean", "sd", "median", "q1", "q3", "percent"):
            if col in base:
                base[col] = base[col].where(~hide)
        base["display"] = base["display"].astype(object).where(~hide, SUPPRESSED_TEXT)
        out["baseline"] = base
    return out
