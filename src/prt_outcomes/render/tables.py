"""Journal formatting of numbers and tables, and writers for Markdown, HTML and LaTeX.

Numbers follow JAMA style: P values without a leading zero, two decimals (three below .01,
``<.001`` below .001), confidence intervals written "a to b", and a consistent number of
decimals per instrument (:attr:`prt_outcomes.instruments.Instrument.decimals`). Display tables
keep an ASCII hyphen-minus so that CSV stays machine readable; the HTML, LaTeX and Markdown
writers turn the minus of a negative number into a true minus sign.

Every writer treats labels and data values as text that must not act: HTML and LaTeX escape
their special characters, Markdown escapes HTML and link syntax (:func:`to_markdown`), and CSV
cells that a spreadsheet would run as a formula get a leading quote (:func:`neutralise_formula`,
applied by :func:`prt_outcomes.outputs.write_csv`; a display cell such as "-2.00 (-2.57 to
-1.43)" is text and is quoted too). A failed write (disk full, read-only folder) is an
:class:`~prt_outcomes.errors.OutputError` that names the file (:func:`output_file`).

Examples
--------
>>> from prt_outcomes.render.tables import format_p, format_ci, format_mean_sd
>>> format_p(0.0004), format_p(0.0312), format_p(0.4)
('<.001', '.03', '.40')
>>> format_ci(-1.234, 0.5, 2)
'-1.23 to 0.50'
>>> format_mean_sd(41.08, 15.61, 1)
'41.1 (15.6)'
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..analyse.responders import RESPONDER_COLUMNS
from ..errors import PrtOutcomesError
from ..files import (  # re-exported: the writers' cell and file guards live in the ground module
    MINUS,
    _minus,
    csv_safe_frame,
    is_number_text,
    markdown_text,
    neutralise_formula,
    output_file,
    read_result_csv,
    restore_formula,
    restore_formula_frame,
    write_error,
    write_text_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..config import StudyConfig

__all__ = [
    "MINUS",
    "TableFormatError",
    "format_number",
    "format_p",
    "format_ci",
    "format_estimate_ci",
    "format_mean_sd",
    "format_count_percent",
    "outcome_decimals",
    "baseline_journal_table",
    "flow_journal_table",
    "outcome_journal_table",
    "responder_journal_table",
    "lsmeans_journal_table",
    "REFERENCE_CELL",
    "to_markdown",
    "to_html",
    "to_latex",
    "write_table",
    "is_number_text",
    "neutralise_formula",
    "restore_formula",
    "csv_safe_frame",
    "restore_formula_frame",
    "read_result_csv",
    "output_file",
    "write_text_file",
    "write_error",
]

EN_DASH = "\u2013"
#: How every journal table marks the reference arm's comparison cells.
REFERENCE_CELL = "Reference"


class TableFormatError(PrtOutcomesError):
    """A result table lacks columns or values that a journal table needs."""


# --------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------
def _is_missing(x) -> bool:
    if x is None or x is pd.NA:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def format_number(x, decimals: int = 2, *, missing: str = "NA") -> str:
    """Format ``x`` with a fixed number of decimals; negative zero prints as zero.

    Examples
    --------
    >>> format_number(-0.0004, 2), format_number(3.14159, 1), format_number(None)
    ('0.00', '3.1', 'NA')
    """
    if _is_missing(x):
        return missing
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def format_p(p, *, leading_zero: bool = False, missing: str = "NA") -> str:
    """Format a P value in JAMA style.

    ``<.001`` below .001, three decimals below .01, two decimals otherwise, ``>.99`` above .99,
    no leading zero (set ``leading_zero=True`` for "0.40"-style journals). Values that two
    decimals would round to .05 while below .05 get three decimals, so a significant result
    is never printed as ".05".

    Examples
    --------
    >>> [format_p(p) for p in (0.00002, 0.0042, 0.0312, 0.0496, 0.4, 0.996)]
    ['<.001', '.004', '.03', '.050', '.40', '>.99']
    >>> format_p(0.4, leading_zero=True)
    '0.40'
    """
    if _is_missing(p):
        return missing
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise TableFormatError(f"a P value must lie in [0, 1]; got {p!r}. Check the 'p' column.")
    if p < 0.001:
        text = "<0.001"
    elif p > 0.99:
        text = ">0.99"
    elif p < 0.01 or (p < 0.05 and round(p, 2) >= 0.05):
        text = f"{p:.3f}"
    else:
        text = f"{p:.2f}"
    return text if leading_zero else text.replace("0.", ".", 1)


def format_ci(low, high, decimals: int = 2, *, missing: str = "NA") -> str:
    """A confidence interval as "low to high" (JAMA avoids the dash, which reads as minus).

    Examples
    --------
    >>> format_ci(-2.5, -0.75, 2)
    '-2.50 to -0.75'
    """
    if _is_missing(low) or _is_missing(high):
        return missing
    return f"{format_number(low, decimals)} to {format_number(high, decimals)}"


def format_estimate_ci(estimate, low, high, decimals: int = 2, *, missing: str = "NA") -> str:
    """An estimate followed by its CI in parentheses: "1.77 (1.20 to 2.34)".

    Examples
    --------
    >>> format_estimate_ci(1.7695, 1.2, 2.339, 2)
    '1.77 (1.20 to 2.34)'
    """
    if _is_missing(estimate):
        return missing
    return f"{format_number(estimate, decimals)} ({format_ci(low, high, decimals, missing=missing)})"


def format_mean_sd(mean, sd, decimals: int = 2, *, missing: str = "NA") -> str:
    """Mean (SD).

    Examples
    --------
    >>> format_mean_sd(4.123, 1.5, 2)
    '4.12 (1.50)'
    """
    if _is_missing(mean):
        return missing
    return f"{format_number(mean, decimals)} ({format_number(sd, decimals, missing=missing)})"


def format_count_percent(
    count, percent=None, denominator=None, *, decimals: int = 1, missing: str = "NA"
) -> str:
    """ "n (%)" or, with a denominator, "n/N (%)"; the percent is computed when not given.

    Examples
    --------
    >>> format_count_percent(29, 58.0)
    '29 (58.0)'
    >>> format_count_percent(33, denominator=50, decimals=0)
    '33/50 (66)'
    """
    if _is_missing(count):
        return missing
    count = int(round(float(count)))
    if _is_missing(percent) and not _is_missing(denominator) and float(denominator) > 0:
        percent = 100.0 * count / float(denominator)
    head = f"{count}" if _is_missing(denominator) else f"{count}/{int(round(float(denominator)))}"
    if _is_missing(percent):
        return head
    return f"{head} ({format_number(percent, decimals)})"


def outcome_decimals(config: "StudyConfig | None", outcome: str, default: int = 2) -> int:
    """Decimals for means of ``outcome``: its instrument's ``decimals``, else ``default``."""
    if config is None:
        return default
    try:
        return int(config.outcome(outcome).instrument.decimals)
    except KeyError:
        return default


# --------------------------------------------------------------------------------------------
# helpers on result tables
# --------------------------------------------------------------------------------------------
def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TableFormatError(
            f"{what} lacks the column(s) {missing}; it has {list(df.columns)}. "
            "Regenerate it with the current prt-outcomes version."
        )


def _arm_label(config, arm: str) -> str:
    if config is None:
        return str(arm)
    return config.arm_labels.get(arm, str(arm))


def _visit_label(config, visit: str) -> str:
    if config is None:
        return str(visit)
    return config.visit_labels.get(visit, str(visit))


def _ordered(values: Iterable[str], order: Sequence[str] | None) -> list[str]:
    """Unique values, in config order first, then in order of appearance."""
    seen = list(dict.fromkeys(str(v) for v in values if not _is_missing(v)))
    if not order:
        return seen
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _text(x) -> str:
    return "" if _is_missing(x) else str(x)


# --------------------------------------------------------------------------------------------
# journal tables
# --------------------------------------------------------------------------------------------
def _arm_sizes(baseline: pd.DataFrame, flow: pd.DataFrame | None, config) -> dict[str, int]:
    sizes: dict[str, int] = {}
    if flow is not None and len(flow):
        _require(flow, ["arm", "visit", "randomized"], "tables/flow.csv")
        per_arm = flow.groupby("arm", sort=False)["randomized"].max()
        sizes = {str(a): int(n) for a, n in per_arm.items()}
        sizes["Total"] = int(sum(sizes.values()))
    else:
        n = pd.to_numeric(baseline["n"], errors="coerce")
        for arm, values in n.groupby(baseline["arm"].astype(str), sort=False):
            if values.notna().any():
                sizes[arm] = int(values.max())
    return sizes


def _stat_suffix(rows: pd.DataFrame, decimals_hint: int | None = None) -> str:
    """Which summary the formatted ``display`` shows: "mean (SD)" or "median (IQR)"."""
    for _, r in rows.iterrows():
        disp = _text(r.get("display"))
        if not disp:
            continue
        for stat, name in (("mean", "mean (SD)"), ("median", "median (IQR)")):
            value = r.get(stat)
            if _is_missing(value):
                continue
            for d in range(0, 4):
                if disp.startswith(format_number(value, d) + " "):
                    return name
    return ""


def _names_statistic(label: str) -> bool:
    return any(k in label for k in ("(SD)", "(IQR)", "No. (%)", "n (%)"))


def baseline_journal_table(
    baseline: pd.DataFrame,
    config: "StudyConfig | None" = None,
    *,
    flow: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Baseline characteristics by arm in CONSORT form (Table 1 of a trial report).

    One column per arm plus Total, headed "PRT (n = 50)"; numeric characteristics show the
    already-formatted summary (mean (SD) or median (IQR)), categorical ones a header row and one
    indented row per level with No. (%). No P values, as CONSORT advises.

    Parameters
    ----------
    baseline : DataFrame
        Tidy ``tables/baseline.csv``: ``variable, label, level, arm, n, ..., display``.
    config : StudyConfig, optional
        Arm order and labels.
    flow : DataFrame, optional
        ``tables/flow.csv``; the header counts are the randomized numbers when given, else the
        largest ``n`` among each arm's rows.

    Returns
    -------
    DataFrame
        Columns ``Characteristic`` and one per arm (and ``Total``), all strings.

    Examples
    --------
    >>> import pandas as pd
    >>> b = pd.DataFrame({"variable": ["age"] * 2, "label": ["Age, y"] * 2, "level": ["", ""],
    ...                   "arm": ["prt", "Total"], "n": [50, 100], "mean": [41.1, 40.0],
    ...                   "sd": [15.6, 14.0], "display": ["41.1 (15.6)", "40.0 (14.0)"]})
    >>> baseline_journal_table(b).columns.tolist()
    ['Characteristic', 'prt (n = 50)', 'Total (n = 100)']
    """
    _require(baseline, ["variable", "label", "level", "arm", "n", "display"], "tables/baseline.csv")
    b = baseline.copy()
    b["arm"] = b["arm"].astype(str)
    b["level"] = b["level"].map(_text)
    arm_order = list(config.arm_names) if config is not None else None
    arms = _ordered([a for a in b["arm"] if a != "Total"], arm_order)
    if (b["arm"] == "Total").any():
        arms.append("Total")
    sizes = _arm_sizes(b, flow, config)
    # describe.baseline_table's "Participants, No." row is what the header carries.
    count_rows = b[b["variable"].astype(str) == "n"]
    for _, r in count_rows.iterrows():
        if r["arm"] not in sizes or flow is None:
            sizes[r["arm"]] = int(float(r["n"]))
    b = b[b["variable"].astype(str) != "n"]
    headers = {}
    for arm in arms:
        label = "Total" if arm == "Total" else _arm_label(config, arm)
        headers[arm] = f"{label} (n = {sizes[arm]})" if arm in sizes else label

    rows: list[dict[str, str]] = []
    for variable in _ordered(b["variable"], None):
        part = b[b["variable"].astype(str) == variable]
        label = _text(part["label"].iloc[0]) or variable
        levels = [lv for lv in _ordered(part["level"], None) if lv != ""]
        if not levels:
            suffix = "" if _names_statistic(label) else _stat_suffix(part)
            row = {"Characteristic": f"{label}, {suffix}" if suffix else label}
            for arm in arms:
                cell = part[part["arm"] == arm]
                row[headers[arm]] = _text(cell["display"].iloc[0]) if len(cell) else ""
            rows.append(row)
            continue
        head = label if _names_statistic(label) else f"{label}, No. (%)"
        rows.append({"Characteristic": head, **{headers[a]: "" for a in arms}})
        shown = _level_labels(config, variable)
        for level in levels:
            name = shown.get(level) or f"{level[:1].upper()}{level[1:]}"
            row = {"Characteristic": f"    {name}"}
            for arm in arms:
                cell = part[(part["arm"] == arm) & (part["level"] == level)]
                row[headers[arm]] = _text(cell["display"].iloc[0]) if len(cell) else ""
            rows.append(row)
    return pd.DataFrame(rows, columns=["Characteristic", *headers.values()], dtype=object)


def _level_labels(config, variable: str) -> dict[str, str]:
    """The config's labels of a covariate's levels (``levels: {code: label}``), else none."""
    if config is None:
        return {}
    try:
        return dict(config.covariate(variable).level_labels)
    except (KeyError, AttributeError):
        return {}


def flow_journal_table(flow: pd.DataFrame, config: "StudyConfig | None" = None) -> pd.DataFrame:
    """Participant flow per arm and visit: randomized, then No. (%) assessed at each visit.

    When the number analysed at a visit differs from the number assessed (rows quarantined by
    validation), the cell says so: "45 (90.0); 44 analysed".

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"arm": ["a", "a"], "visit": ["v0", "v1"], "randomized": [10, 10],
    ...                   "assessed": [10, 8], "analysed": [10, 8]})
    >>> flow_journal_table(f).iloc[:, 1].tolist()
    ['10', '10 (100.0)', '8 (80.0)']
    """
    _require(flow, ["arm", "visit", "randomized", "assessed", "analysed"], "tables/flow.csv")
    f = flow.copy()
    f["arm"] = f["arm"].astype(str)
    f["visit"] = f["visit"].astype(str)
    arms = _ordered(f["arm"], list(config.arm_names) if config is not None else None)
    visits = _ordered(f["visit"], list(config.visit_names) if config is not None else None)
    columns = {arm: _arm_label(config, arm) for arm in arms}
    rows = [{"Stage": "Randomized, No."}]
    for arm in arms:
        rows[0][columns[arm]] = str(int(f.loc[f["arm"] == arm, "randomized"].max()))
    for visit in visits:
        row = {"Stage": f"{_visit_label(config, visit)}, assessed, No. (%)"}
        for arm in arms:
            cell = f[(f["arm"] == arm) & (f["visit"] == visit)]
            if not len(cell):
                row[columns[arm]] = ""
                continue
            r = cell.iloc[0]
            text = format_count_percent(
                r["assessed"], denominator=None, percent=_percent(r["assessed"], r["randomized"])
            )
            if not _is_missing(r["analysed"]) and int(r["analysed"]) != int(r["assessed"]):
                text += f"; {int(r['analysed'])} analysed"
            row[columns[arm]] = text
        rows.append(row)
    return pd.DataFrame(rows, columns=["Stage", *columns.values()], dtype=object)


def _percent(count, denominator):
    if _is_missing(count) or _is_missing(denominator) or float(denominator) == 0:
        return None
    return 100.0 * float(count) / float(denominator)


def outcome_journal_table(
    outcome: str,
    observed_summary: pd.DataFrame,
    marginal_means: pd.DataFrame,
    contrasts: pd.DataFrame,
    config: "StudyConfig | None" = None,
    *,
    change_contrasts: pd.DataFrame | None = None,
    decimals: int | None = None,
) -> pd.DataFrame:
    """One outcome, by visit and arm: observed and model-estimated means and arm differences.

    Columns: Visit, Arm, No. (observed), Observed mean (SD), Model mean (95% CI),
    Difference vs <reference> (95% CI), P, Hedges g (95% CI), and, when ``change_contrasts`` is
    given, Difference in change (95% CI). The reference arm's difference cells read
    "[Reference]".

    Parameters
    ----------
    outcome : str
        Outcome name (rows of the result tables with ``outcome == outcome`` are used).
    observed_summary, marginal_means, contrasts : DataFrame
        ``tables/observed_summary.csv``, ``tables/marginal_means.csv``, ``tables/contrasts.csv``.
    config : StudyConfig, optional
        Orders and labels arms and visits; gives the instrument's decimals.
    change_contrasts : DataFrame, optional
        ``tables/change_contrasts.csv``.
    decimals : int, optional
        Overrides the instrument's decimals.

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"outcome": ["pain"], "arm": ["a"], "visit": ["v"], "n": [9],
    ...                     "mean": [4.0], "sd": [1.0]})
    >>> mm = pd.DataFrame({"outcome": ["pain"], "arm": ["a"], "visit": ["v"], "estimate": [4.1],
    ...                    "ci_low": [3.5], "ci_high": [4.7]})
    >>> con = pd.DataFrame(columns=["outcome", "visit", "arm", "reference", "estimate", "ci_low",
    ...                             "ci_high", "p", "hedges_g", "hedges_g_ci_low",
    ...                             "hedges_g_ci_high"])
    >>> outcome_journal_table("pain", obs, mm, con).iloc[0, 3]
    '4.00 (1.00)'
    """
    # Tables of a single fit (fit.marginal_means, ...) carry no outcome column.
    observed_summary, marginal_means, contrasts = (
        df if "outcome" in df.columns else df.assign(outcome=outcome)
        for df in (observed_summary, marginal_means, contrasts)
    )
    if change_contrasts is not None and "outcome" not in change_contrasts.columns:
        change_contrasts = change_contrasts.assign(outcome=outcome)
    _require(observed_summary, ["outcome", "arm", "visit", "n", "mean", "sd"], "tables/observed_summary.csv")
    _require(
        marginal_means,
        ["outcome", "arm", "visit", "estimate", "ci_low", "ci_high"],
        "tables/marginal_means.csv",
    )
    contrast_cols = [
        "outcome",
        "visit",
        "arm",
        "reference",
        "estimate",
        "ci_low",
        "ci_high",
        "p",
        "hedges_g",
        "hedges_g_ci_low",
        "hedges_g_ci_high",
    ]
    _require(contrasts, contrast_cols, "tables/contrasts.csv")
    d = outcome_decimals(config, outcome) if decimals is None else decimals

    def pick(df):
        out = df[df["outcome"].astype(str) == outcome].copy()
        if "analysis" in out.columns and len(out):
            # the primary analysis (the outcome's first; analyses:) is the journal table's
            first = config.analyses_of(outcome)[0].name if config is not None else out["analysis"].iloc[0]
            out = out[out["analysis"] == first]
        for c in ("arm", "visit"):
            out[c] = out[c].astype(str)
        return out

    obs, mm, con = pick(observed_summary), pick(marginal_means), pick(contrasts)
    cc = pick(change_contrasts) if change_contrasts is not None else None
    if not (len(obs) or len(mm)):
        raise TableFormatError(
            f"no rows for outcome {outcome!r} in observed_summary or marginal_means; "
            "check the outcome name against the config."
        )
    arm_order = list(config.arm_names) if config is not None else None
    visit_order = list(config.visit_names) if config is not None else None
    arms = _ordered([*obs["arm"], *mm["arm"]], arm_order)
    visits = _ordered([*obs["visit"], *mm["visit"]], visit_order)
    references = _ordered(con["reference"], None)
    reference = references[0] if references else (config.reference_arm if config else None)
    ref_label = _arm_label(config, reference) if reference else "reference"
    baseline = config.baseline_visit if config is not None else None
    from ..outputs import estimand_table

    adjusted = config is not None and estimand_table(config, outcome) == "contrasts"
    # The estimand leads: the difference in change from baseline (or, with the baseline a
    # covariate, the baseline-adjusted difference) with its P and g; the difference in levels
    # follows for reference. A table without change contrasts (a formula analysis) leads with
    # the differences it has.
    has_change = cc is not None and len(cc) > 0
    lead = cc if has_change and not adjusted else con
    if adjusted:
        lead_col = f"Baseline-adjusted difference vs {ref_label} (95% CI)"
    elif has_change:
        lead_col = f"Difference in change vs {ref_label} (95% CI)"
    else:
        lead_col = f"Difference vs {ref_label} (95% CI)"
    levels_col = f"Difference in levels vs {ref_label} (95% CI)"
    columns = [
        "Visit",
        "Arm",
        "No.",
        "Observed mean (SD)",
        "Model mean (95% CI)",
        lead_col,
        "P",
        "Hedges g (95% CI)",
    ]
    if has_change and not adjusted:
        columns.append(levels_col)
    rows = []
    for visit in visits:
        for arm in arms:
            o = obs[(obs["visit"] == visit) & (obs["arm"] == arm)]
            m = mm[(mm["visit"] == visit) & (mm["arm"] == arm)]
            row = {
                "Visit": _visit_label(config, visit),
                "Arm": _arm_label(config, arm),
                "No.": str(int(o["n"].iloc[0])) if len(o) and not _is_missing(o["n"].iloc[0]) else "",
                "Observed mean (SD)": format_mean_sd(o["mean"].iloc[0], o["sd"].iloc[0], d) if len(o) else "",
                "Model mean (95% CI)": format_estimate_ci(
                    m["estimate"].iloc[0], m["ci_low"].iloc[0], m["ci_high"].iloc[0], d
                )
                if len(m)
                else "",
            }
            for col in columns[5:]:
                row[col] = ""
            if visit == baseline:
                # CONSORT 2010 item 15: baseline values are described, not tested
                rows.append(row)
                continue
            for col, table, inference in ((lead_col, lead, True), (levels_col, con, False)):
                if col not in columns:
                    continue
                c = table[(table["visit"] == visit) & (table["arm"] == arm)]
                if arm == reference and (table["visit"] == visit).any():
                    row[col] = REFERENCE_CELL
                elif len(c):
                    r = c.iloc[0]
                    row[col] = format_estimate_ci(r["estimate"], r["ci_low"], r["ci_high"], d)
                    if inference:
                        row["P"] = format_p(r["p"])
                        row["Hedges g (95% CI)"] = format_estimate_ci(
                            r["hedges_g"], r["hedges_g_ci_low"], r["hedges_g_ci_high"], 2
                        )
            rows.append(row)
    table = pd.DataFrame(rows, columns=columns, dtype=object)
    if con.empty and (cc is None or cc.empty):
        # Single-arm study (clinic audit): no comparison, so no comparison columns.
        table = table.drop(columns=[c for c in columns[5:]])
    return table


def _threshold_labels(config) -> dict[str, str]:
    if config is None:
        return {}
    return {t.rule: t.label for t in config.thresholds}


def lsmeans_journal_table(
    outcome: str, lsmeans: pd.DataFrame, config: "StudyConfig | None" = None, *, decimals: int | None = None
) -> pd.DataFrame:
    """The MMRMT01 table of one outcome (tern.mmrm): LS mean change from baseline per visit and arm.

    Columns: Visit, Arm, n, Adjusted mean change (SE), 95% CI, Difference vs <reference> (SE),
    95% CI of the difference, P. The reference arm's difference cells read
    :data:`REFERENCE_CELL`. The numbers are ``tables/lsmeans_change.csv``'s
    (:func:`prt_outcomes.analyse.outcomes.lsmeans_change`), of the outcome's primary analysis.

    Examples
    --------
    >>> import pandas as pd
    >>> ls = pd.DataFrame({"outcome": ["pain"] * 2, "visit": ["v1"] * 2, "arm": ["a", "b"],
    ...     "reference": ["b"] * 2, "n": [9, 8], "estimate": [-2.0, -1.0], "se": [0.5, 0.5],
    ...     "df": [20.0] * 2, "ci_low": [-3.0, -2.0], "ci_high": [-1.0, 0.0],
    ...     "difference": [-1.0, None], "difference_se": [0.7, None],
    ...     "difference_df": [20.0, None], "difference_ci_low": [-2.4, None],
    ...     "difference_ci_high": [0.4, None], "p": [0.17, None]})
    >>> lsmeans_journal_table("pain", ls).iloc[0, 3:].tolist()
    ['-2.00 (0.500)', '-3.00 to -1.00', '-1.00 (0.700)', '-2.40 to 0.40', '.17']
    """
    _require(
        lsmeans,
        [
            "outcome",
            "visit",
            "arm",
            "reference",
            "n",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "difference",
            "difference_se",
            "difference_ci_low",
            "difference_ci_high",
            "p",
        ],
        "tables/lsmeans_change.csv",
    )
    ls = lsmeans[lsmeans["outcome"].astype(str) == outcome].copy()
    if "analysis" in ls.columns and len(ls) and config is not None and config.analyses_of(outcome):
        ls = ls[ls["analysis"] == config.analyses_of(outcome)[0].name]
    for c in ("arm", "visit", "reference"):
        ls[c] = ls[c].astype(str)
    d = outcome_decimals(config, outcome) if decimals is None else decimals
    references = _ordered(ls["reference"], None)
    reference = references[0] if references else (config.reference_arm if config else None)
    ref_label = _arm_label(config, reference) if reference else "reference"
    diff_col = f"Difference vs {ref_label} (SE)"
    columns = [
        "Visit",
        "Arm",
        "n",
        "Adjusted mean change (SE)",
        "95% CI",
        diff_col,
        "95% CI of the difference",
        "P",
    ]
    rows = []
    for visit in _ordered(ls["visit"], list(config.visit_names) if config is not None else None):
        rv = ls[ls["visit"] == visit]
        for arm in _ordered(rv["arm"], list(config.arm_names) if config is not None else None):
            r = rv[rv["arm"] == arm].iloc[0]
            is_ref = arm == reference
            rows.append(
                {
                    "Visit": _visit_label(config, visit),
                    "Arm": _arm_label(config, arm),
                    "n": "" if _is_missing(r["n"]) else str(int(r["n"])),
                    "Adjusted mean change (SE)": _with_se(r["estimate"], r["se"], d),
                    "95% CI": format_ci(r["ci_low"], r["ci_high"], d),
                    diff_col: REFERENCE_CELL if is_ref else _with_se(r["difference"], r["difference_se"], d),
                    "95% CI of the difference": ""
                    if is_ref
                    else format_ci(r["difference_ci_low"], r["difference_ci_high"], d),
                    "P": "" if is_ref else format_p(r["p"]),
                }
            )
    table = pd.DataFrame(rows, columns=columns, dtype=object)
    if not ls["difference"].notna().any():
        # one arm (a clinic audit): no comparison columns
        table = table.drop(columns=columns[5:])
    return table


def _with_se(estimate, se, decimals: int) -> str:
    """ "estimate (SE)", the SE with one decimal more (a small SE would otherwise read 0.0)."""
    if _is_missing(estimate):
        return ""
    return f"{format_number(estimate, decimals)} ({format_number(se, decimals + 1)})"


def responder_journal_table(responders: pd.DataFrame, config: "StudyConfig | None" = None) -> pd.DataFrame:
    """Responder analyses grouped by outcome and threshold, with the visits as columns.

    Each outcome x threshold is a block: a heading row (outcome: threshold), one row per arm with
    No./total (%) and one with the rate's 95% CI, then per compared arm the risk difference
    (stored on the proportion scale, shown in percentage points), the odds ratio, P and NNT vs
    the reference arm. The baseline visit is described only (CONSORT 2010 item 15): its
    comparison cells are empty.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"outcome": ["pain"], "threshold": ["value <= 1"], "visit": ["post"],
    ...     "arm": ["prt"], "responders": [33], "denominator": [50], "percent": [66.0],
    ...     "reference": ["uc"], "risk_difference": [0.56], "rd_ci_low": [0.4],
    ...     "rd_ci_high": [0.7], "odds_ratio": [17.5], "or_ci_low": [5.0], "or_ci_high": [60.0],
    ...     "p": [0.0001]})
    >>> t = responder_journal_table(r)
    >>> t.loc[t["Measure"].str.contains("risk difference"), "post"].iloc[0]
    '56.0 (40.0 to 70.0)'
    """
    _require(
        responders,
        RESPONDER_COLUMNS,
        "tables/responders.csv",
    )
    r = responders.copy()
    for c in ("outcome", "threshold", "visit", "arm"):
        r[c] = r[c].astype(str)
    # the reference arm's own rows have no reference (responders leaves it empty)
    r["reference"] = r["reference"].map(lambda x: "" if _is_missing(x) else str(x))
    labels = _threshold_labels(config)
    if "threshold_label" in r.columns:
        # responders_from_config stores the config's label next to each rule.
        for rule, label in zip(r["threshold"], r["threshold_label"]):
            if not _is_missing(label):
                labels.setdefault(rule, str(label))
    outcome_order = list(config.outcome_names) if config is not None else None
    arm_order = list(config.arm_names) if config is not None else None
    visits = _ordered(r["visit"], list(config.visit_names) if config is not None else None)
    baseline = config.baseline_visit if config is not None else None
    visit_cols = {v: _visit_label(config, v) for v in visits}
    has_rate_ci = {"percent_ci_low", "percent_ci_high"} <= set(r.columns)
    has_nnt = "nnt" in r.columns or "nnt_label" in r.columns
    rows = []

    def add(measure: str, cells: dict) -> None:
        rows.append({"Measure": measure, **{visit_cols[v]: cells.get(v, "") for v in visits}})

    for outcome in _ordered(r["outcome"], outcome_order):
        ro = r[r["outcome"] == outcome]
        out_label = (
            config.outcome(outcome).label
            if config is not None and outcome in config.outcome_names
            else outcome
        )
        for threshold in _ordered(
            ro["threshold"], [t.rule for t in config.thresholds] if config is not None else None
        ):
            rt = ro[ro["threshold"] == threshold]
            add(f"{out_label}: {labels.get(threshold, threshold)}", {})
            arms = _ordered(rt["arm"], arm_order)
            at = {(x["arm"], x["visit"]): x for _, x in rt.iterrows()}
            for arm in arms:
                add(
                    f"    {_arm_label(config, arm)}, No./total (%)",
                    {
                        v: format_count_percent(x["responders"], x["percent"], x["denominator"])
                        for (a, v), x in at.items()
                        if a == arm
                    },
                )
                if has_rate_ci:
                    add(
                        f"    {_arm_label(config, arm)}, 95% CI of the rate, %",
                        {
                            v: format_ci(x["percent_ci_low"], x["percent_ci_high"], 1)
                            for (a, v), x in at.items()
                            if a == arm
                        },
                    )
            for arm in arms:
                compared = {
                    v: x
                    for (a, v), x in at.items()
                    if a == arm and x["reference"] not in ("", arm) and v != baseline
                }
                if not compared:
                    continue
                ref = _arm_label(config, next(iter(compared.values()))["reference"])
                name = f"    {_arm_label(config, arm)} vs {ref}"
                add(
                    f"{name}: risk difference, % points (95% CI)",
                    {
                        v: format_estimate_ci(
                            _scale(x["risk_difference"]), _scale(x["rd_ci_low"]), _scale(x["rd_ci_high"]), 1
                        )
                        for v, x in compared.items()
                    },
                )
                add(
                    f"{name}: odds ratio (95% CI)",
                    {
                        v: format_estimate_ci(x["odds_ratio"], x["or_ci_low"], x["or_ci_high"], 2)
                        for v, x in compared.items()
                    },
                )
                add(f"{name}: P", {v: format_p(x["p"]) for v, x in compared.items()})
                if has_nnt:
                    add(
                        f"{name}: NNT",
                        {
                            v: _text(x["nnt_label"]) if "nnt_label" in r.columns else _format_nnt(x["nnt"])
                            for v, x in compared.items()
                        },
                    )
    return pd.DataFrame(rows, columns=["Measure", *visit_cols.values()], dtype=object)


def _scale(x):
    return None if _is_missing(x) else 100.0 * float(x)


def _format_nnt(x) -> str:
    if _is_missing(x) or not np.isfinite(float(x)):
        return "NA"
    # NNT is a count of patients: JAMA rounds it up to the next whole number.
    value = float(x)
    return str(int(math.ceil(value))) if value > 0 else f"NNH {int(math.ceil(-value))}"


def _cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = [str(c) for c in df.columns]
    body = []
    for row in df.itertuples(index=False):
        body.append([_cell_text(v) for v in row])
    return header, body


def _cell_text(v) -> str:
    if _is_missing(v):
        return ""
    if isinstance(v, (float, np.floating)):
        # Raw result tables: enough digits to read, not the full binary expansion.
        return (
            f"{float(v):.4g}"
            if abs(float(v)) < 1e-3 or abs(float(v)) >= 1e5
            else f"{float(v):.4f}".rstrip("0").rstrip(".")
        )
    return str(v)


def to_markdown(df: pd.DataFrame, *, caption: str | None = None, notes: str | None = None) -> str:
    """A GitHub/pandoc pipe table, with a true minus sign in negative numbers.

    Cells, caption and notes are text: ``<``, ``>`` and ``&`` become entities (no raw HTML
    such as ``<img onerror=...>`` reaches a renderer), and the pipe, brackets and backtick are
    escaped (no cell split, no ``[x](javascript:...)`` link or image, no code span).

    Examples
    --------
    >>> import pandas as pd
    >>> print(to_markdown(pd.DataFrame({"a": ["-1.0"], "b": ["x|y"], "P": ["<.001"]})))
    | a | b | P |
    |---|---|---|
    | −1.0 | x\\|y | &lt;.001 |
    """
    header, body = _cells(df)

    def esc(s: str) -> str:
        out = markdown_text(s)
        # Markdown collapses leading spaces; em spaces keep the indent of sub-rows.
        stripped = out.lstrip(" ")
        pad = len(out) - len(stripped)
        return ("\u2003" * (pad // 4) + stripped) if pad >= 4 else stripped

    lines = []
    if caption:
        lines += [f"**{markdown_text(caption)}**", ""]
    lines.append("| " + " | ".join(esc(h) for h in header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in body:
        lines.append("| " + " | ".join(esc(c) for c in row) + " |")
    if notes:
        lines += ["", markdown_text(notes)]
    return "\n".join(lines)


#: A cell holding an interval ("-1.90 to -1.05", "6.9 to inf"); its parenthesised parts.
_INTERVAL = re.compile(r"\d\s+to\s+\S")
_PARENTHESISED = re.compile(r"\([^()]*\)")
#: The middle of an NNT interval through infinity (Altman 1998), where it may break.
_THROUGH_INFINITY = " to inf to "


def _unbroken(text: str) -> str:
    """``text`` in spans that do not break; an NNT interval through infinity is two halves."""
    return _THROUGH_INFINITY.join(
        f'<span class="nobr">{half}</span>' for half in text.split(_THROUGH_INFINITY)
    )


def to_html(
    df: pd.DataFrame, *, caption: str | None = None, notes: str | None = None, table_class: str = "journal"
) -> str:
    """An HTML ``<table>`` fragment (no styles, no scripts) with ``&minus;`` in negatives.

    Examples
    --------
    >>> import pandas as pd
    >>> "&minus;1.0" in to_html(pd.DataFrame({"a": ["-1.0"]}))
    True
    """
    header, body = _cells(df)

    def esc(s: str) -> str:
        out = html.escape(s, quote=True)
        out = _minus(out, "&minus;")
        # Leading spaces mark indented sub-rows (categorical levels); keep them visible.
        stripped = out.lstrip(" ")
        pad = len(out) - len(stripped)
        return ("&emsp;" * (pad // 4 if pad >= 4 else 0)) + stripped

    def cell(s: str) -> str:
        # An interval never breaks over two lines: "(a to b)" and a bare "a to b" are kept
        # whole (class "nobr"); a narrow column may still break between an estimate and its
        # interval, so a wide table can shrink to the page instead of running past its edge.
        out = esc(s)
        if not _INTERVAL.search(s):
            return out
        if "(" in out:
            return _PARENTHESISED.sub(lambda m: _unbroken(m.group(0)), out)
        return _unbroken(out)

    parts = [f'<table class="{table_class}">']
    if caption:
        parts.append(f"<caption>{esc(caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for h in header) + "</tr></thead>")
    parts.append("<tbody>")
    for row in body:
        cells = "".join(f"<td>{cell(c)}</td>" for c in row)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody>")
    if notes:
        parts.append(f'<tfoot><tr><td colspan="{len(header)}">{esc(notes)}</td></tr></tfoot>')
    parts.append("</table>")
    # Non-ASCII characters (>=, em space, accents) as character references: the fragment then
    # displays correctly whatever encoding the page that embeds it declares.
    return "\n".join(parts).encode("ascii", "xmlcharrefreplace").decode("ascii")


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "\u2265": r"$\geq$",
    "\u2264": r"$\leq$",
    "\u00b1": r"$\pm$",
    MINUS: r"$-$",
    EN_DASH: "--",
}


def _latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    out = _minus(out, "$-$")
    stripped = out.lstrip(" ")
    pad = len(out) - len(stripped)
    return (r"\quad " * (pad // 4) + stripped) if pad >= 4 else stripped


def to_latex(
    df: pd.DataFrame, *, caption: str | None = None, notes: str | None = None, label: str | None = None
) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``), minus as ``$-$``.

    The first column is left-aligned, the others left-aligned too because most cells are
    "estimate (CI)" strings that do not align on a decimal point.

    Examples
    --------
    >>> import pandas as pd
    >>> tex = to_latex(pd.DataFrame({"a_b": ["-1.0"]}))
    >>> r"a\\_b" in tex and r"$-$1.0" in tex and r"\\toprule" in tex
    True
    """
    header, body = _cells(df)
    spec = "l" * len(header)
    lines = [r"\begin{table}[htbp]", r"\centering"]
    if len(header) > 7:
        # Wide tables (the tidy result tables) fit a page better in a smaller size.
        lines.append(r"\footnotesize")
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(rf"\begin{{tabular}}{{{spec}}}")
    lines.append(r"\toprule")
    lines.append(" & ".join(_latex_escape(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    for row in body:
        lines.append(" & ".join(_latex_escape(c) for c in row) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    if notes:
        lines.append(r"\par\smallskip{\footnotesize " + _latex_escape(notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


_WRITERS = {"md": to_markdown, "html": to_html, "tex": to_latex}


def write_table(
    df: pd.DataFrame,
    stem: str | Path,
    formats: Sequence[str] = ("md", "html", "tex"),
    *,
    caption: str | None = None,
    notes: str | None = None,
) -> list[Path]:
    """Write ``df`` as ``<stem>.md``, ``<stem>.html`` and/or ``<stem>.tex`` (and ``csv``).

    Files are UTF-8 with ``\\n`` line endings and no timestamps, so reruns give identical bytes.
    The HTML file is a fragment (one ``<table>``) to paste into a page or a manuscript; the
    LaTeX file is a booktabs ``table`` environment labelled ``tab:<stem name>``. The CSV is
    written by :func:`prt_outcomes.outputs.write_csv`, the one CSV writer (cells a spreadsheet
    would run as formulas get a leading quote). A failed write raises
    :class:`~prt_outcomes.errors.OutputError` naming the file.

    Parameters
    ----------
    df : DataFrame
        Table to write; md/html/tex cells are written as text (floats with up to 4 decimals).
    stem : str, Path or mapping of format to path
        Output path without suffix (its directory is created), or the file of each format,
        ``{"md": ..., "html": ...}`` (then ``formats`` is ignored); the LaTeX label is
        ``tab:<file name without suffix>``.
    formats : sequence of {"md", "html", "tex", "csv"}
        Formats to write.
    caption, notes : str, optional
        Table title and footnote.

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in write_table(pd.DataFrame({"a": [1]}), d / "t")]
    ['t.md', 't.html', 't.tex']
    """
    if isinstance(stem, Mapping):  # the paths as named by the caller (prt_outcomes.layout)
        paths = {fmt: Path(path) for fmt, path in stem.items()}
    else:
        stem = Path(stem)
        paths = {fmt: stem.with_name(stem.name + "." + fmt) for fmt in formats}
    unknown = [f for f in paths if f not in (*_WRITERS, "csv", "docx")]
    if unknown:
        raise ValueError(f"unknown table format(s) {unknown}; use any of md, html, tex, csv, docx.")
    from ..outputs import write_csv  # the one CSV writer (formula-safe cells, fixed floats)

    written = []
    for fmt, path in paths.items():
        if fmt == "csv":
            write_csv(df, path)
        elif fmt == "docx":  # a Word table (python-docx), deterministic bytes
            from .docx import to_docx

            to_docx(df, path, caption=caption, notes=notes)
        else:
            kwargs = {"label": f"tab:{path.stem}"} if fmt == "tex" else {}
            write_text_file(path, _WRITERS[fmt](df, caption=caption, notes=notes, **kwargs) + "\n")
        written.append(path)
    return written
