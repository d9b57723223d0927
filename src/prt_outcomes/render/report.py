"""Rendered tables and the self-contained HTML report of a run.

:func:`render_tables` writes a Markdown, HTML and LaTeX version next to each result CSV, plus the
journal tables (baseline characteristics, one table per outcome, responders).
:func:`build_report` writes ``report.html``: one file that opens offline (CSS inline, no scripts,
no external requests), with no timestamps other than those of the manifest, and without
participant identifiers. It embeds what the renderers wrote (the journal tables' HTML fragments,
the figures' PNGs as base64) instead of drawing them again, and takes the numbers it states
itself (rows read, participants randomized, which models were fitted) from the CSV results.
Which files those are is named by :class:`prt_outcomes.layout.RunLayout`.

Examples
--------
>>> from prt_outcomes.config import load_config            # doctest: +SKIP
>>> from prt_outcomes.render.report import render_tables, build_report
>>> cfg = load_config("config/config.yaml")                # doctest: +SKIP
>>> render_tables(cfg, "results/boulder_example")          # doctest: +SKIP
>>> build_report(cfg, "results/boulder_example")           # doctest: +SKIP
PosixPath('results/boulder_example/report.html')
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Iterable, Mapping

import pandas as pd

from ..analyse.outcomes import primary_rows, read_model_info
from ..files import is_number_text, read_result_csv, restore_formula, restore_formula_frame, write_text_file
from ..layout import REPORT_AUDIT_TABLES, REPORT_FIGURE_FORMAT, REPORT_TABLES, RunLayout, file_key
from ..outputs import (
    RESULT_TABLE_REGISTRY,
    audit_funnel_stems,
    audit_run_chart_stems,
    estimand_table,
    figure_stems,
)
from .tables import (
    baseline_journal_table,
    flow_journal_table,
    format_number,
    format_p,
    lsmeans_journal_table,
    outcome_decimals,
    outcome_journal_table,
    responder_journal_table,
    to_html,
    write_table,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..config import StudyConfig

__all__ = [
    "RESULT_TABLE_TITLES",
    "render_tables",
    "build_report",
    "redact_failures",
]

#: Result tables rendered by :func:`render_tables`, with their captions (from the outputs registry).
RESULT_TABLE_TITLES = {table.name: table.title for table in RESULT_TABLE_REGISTRY.values()}

log = logging.getLogger(__name__)
_FORMATS = ("md", "html", "tex")
# ---- docx (issue 14, helper hD): the journal tables are also written for Word
_JOURNAL_FORMATS = (*_FORMATS, "docx")
_ID_COLUMN = "participant_id"
_REDACTED = "[participant id removed]"


def _read_csv(path: Path, *, required: bool = True) -> pd.DataFrame | None:
    # model_info is read with its types (converged bool, warnings a list: see
    # prt_outcomes.analyse.outcomes), not parsed here; every other table as the renderers read them.
    if path.name == "model_info.csv" and path.exists():
        return restore_formula_frame(read_model_info(path))
    return read_result_csv(path, required=required)


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as displayed: a cell holding a list (model warnings) as its items joined."""
    out = frame.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, list)).any():
            out[column] = out[column].map(lambda v: " | ".join(v) if isinstance(v, list) else v)
    return out


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def _outcome_notes(config, outcome: str, reference: str) -> str:
    o = config.outcome(outcome)
    direction = "higher" if o.higher_is_better else "lower"
    return (
        f"{o.axis_label}; {direction} scores are better. Observed: mean (SD) of participants "
        f"assessed. Model: {config.model.covariance.replace('_', ' ')} covariance, "
        f"{config.model.method.upper()}, {config.model.df_method.replace('_', '-').title()} df. "
        f"Differences are arm minus {reference}. P values are unadjusted for multiplicity."
    )


def _audit_outcome_notes(config, outcome: str) -> str:
    o = config.outcome(outcome)
    direction = "higher" if o.higher_is_better else "lower"
    return (
        f"{o.axis_label}; {direction} scores are better. Observed: mean (SD) of the patients "
        "assessed at each visit. Model: means per visit from all patients' scores "
        f"({config.model.covariance.replace('_', ' ')} covariance, {config.model.method.upper()})."
    )


def render_tables(
    config: "StudyConfig",
    results_dir: str | Path | None = None,
    *,
    tables: Mapping[str, str | Path] | None = None,
    out: Mapping[str, str | Path] | None = None,
) -> list[Path]:
    """Render every result table and the journal tables of a run.

    Writes a Markdown, HTML and LaTeX version of each CSV of :data:`RESULT_TABLE_TITLES`, and
    the journal tables ``outcome_<outcome>.{csv,md,html,tex}``, ``baseline_table.{md,html,tex}``
    and (when the config has thresholds) ``responder_table.{md,html,tex}``.

    Parameters
    ----------
    config : StudyConfig
        The study configuration (arm/visit order and labels, instrument decimals).
    results_dir : str or Path, optional
        ``results/<study>``: read and write the files :class:`~prt_outcomes.layout.RunLayout`
        names there. Otherwise give the files:
    tables : mapping of str to path
        The CSV of every result table, by name.
    out : mapping of str to path
        Every file to write, keyed ``<stem>_<format>``, as
        :meth:`~prt_outcomes.layout.RunLayout.rendered_tables` names them.

    Returns
    -------
    list of Path
        Files written.

    Raises
    ------
    FileNotFoundError
        When a result CSV is missing (the message names it and what to run).

    Examples
    --------
    >>> from prt_outcomes.config import load_config                        # doctest: +SKIP
    >>> paths = render_tables(load_config("config/config.yaml"),
    ...                       "results/boulder_example")                   # doctest: +SKIP
    >>> sorted(p.name for p in paths if p.stem == "outcome_pain_avg")     # doctest: +SKIP
    ['outcome_pain_avg.csv', 'outcome_pain_avg.html', 'outcome_pain_avg.md', 'outcome_pain_avg.tex']
    """
    if results_dir is not None:
        layout = RunLayout(config, Path(results_dir))
        tables, out = layout.result_tables(), layout.rendered_tables()
    if tables is None or out is None:
        raise ValueError("give results_dir, or tables and out")

    def files(stem: str, formats) -> dict[str, Path]:
        return {fmt: Path(out[file_key(stem, fmt)]) for fmt in formats}

    written: list[Path] = []
    frames = {}
    for name, title in RESULT_TABLE_TITLES.items():
        frame = _read_csv(Path(tables[name]))
        frames[name] = frame
        written += write_table(_shown(frame), files(name, _FORMATS), caption=title)

    reference = config.arm_labels.get(config.reference_arm, config.reference_arm or "reference")
    for outcome in config.outcome_names:
        table = outcome_journal_table(
            outcome,
            frames["observed_summary"],
            frames["marginal_means"],
            frames["contrasts"],
            config,
            change_contrasts=frames["change_contrasts"],
        )
        written += write_table(
            table,
            files(f"outcome_{outcome}", ("csv", *_JOURNAL_FORMATS)),
            caption=f"{config.outcome(outcome).label} by "
            + ("visit" if config.is_audit else "arm and visit"),
            notes=_audit_outcome_notes(config, outcome)
            if config.is_audit
            else _outcome_notes(config, outcome, reference),
        )
    baseline = baseline_journal_table(frames["baseline"], config, flow=frames["flow"])
    written += write_table(
        baseline,
        files("baseline_table", _JOURNAL_FORMATS),
        caption="Characteristics of the patients at the first visit"
        if config.is_audit
        else "Baseline characteristics of participants by arm",
        notes="Mean (SD), median (IQR) or No. (%) of participants with a known value.",
    )
    if config.thresholds:
        responders = responder_journal_table(frames["responders"], config)
        written += write_table(
            responders,
            files("responder_table", _JOURNAL_FORMATS),
            caption="Responders by threshold and visit"
            if config.is_audit
            else "Responders by threshold, visit and arm",
            notes=(
                f"Denominator: {config.responder_denominator} participants"
                + (
                    " (missing counted as non-responders)"
                    if config.responder_denominator == "randomized"
                    else ""
                )
                + ("." if config.is_audit else f". Risk difference and odds ratio vs {reference}.")
            ),
        )
    # the folder of the tables (all beside one another)
    log.info("wrote %d table files to %s", len(written), written[0].parent if written else "nowhere")
    return written


# --------------------------------------------------------------------------------------------
# participant identifiers
# --------------------------------------------------------------------------------------------
def _known_ids(analysis_csv: Path | None, ingested: Path | None) -> set[str]:
    """Participant ids the run has seen: analysed rows and every ingested row (a quarantined
    participant is not in the analysis data, but may be named by a validation message)."""
    ids: set[str] = set()
    for path, kind in ((analysis_csv, "csv"), (ingested, "parquet")):
        if path is None or not Path(path).exists():
            continue
        try:
            if kind == "csv":
                column = pd.read_csv(path, usecols=[_ID_COLUMN], dtype=str)[_ID_COLUMN]
                column = column.map(restore_formula, na_action="ignore")  # as write_csv wrote it
            else:
                column = pd.read_parquet(path, columns=[_ID_COLUMN])[_ID_COLUMN]
        except (ValueError, KeyError, ImportError, OSError):
            continue
        ids |= {str(s) for s in column.dropna() if str(s).strip()}
    return ids


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _can_redact_in_text(participant_id: str) -> bool:
    """Whether a known id can be removed from free text without removing ordinary values: an id
    written as a number ("12", "007", "-3.5") is also a score, a row number or a count, and a
    one-character id is also a word or a code."""
    return len(participant_id) >= 2 and not is_number_text(participant_id)


def _first_line(text: str) -> str:
    lines = _LINE_BREAK.split(text)
    if len(lines) == 1:
        return text
    return f"{lines[0]} [{len(lines) - 1} more line(s) removed]"


def redact_failures(
    failures: pd.DataFrame, known_ids: Iterable[str] = (), id_columns: Iterable[str] = (_ID_COLUMN,)
) -> pd.DataFrame:
    """Validation failures without participant identifiers, and with every ordinary value.

    Ids are kept out of the failures upstream: validation leaves ``value`` empty for the id
    column and writes no id into a message. This function is the safety net of the report,
    built so that it never hides a value that merely equals an id (participant ``12`` must not
    erase the pain score 12, row 12 or "12 out of range"):

    1. The ``value`` of a failure in an identifier column is replaced, whatever the id looks
       like (numeric ids included).
    2. ``value`` and ``message`` are cut at their first line break ("[n more line(s)
       removed]"): a value spanning lines is a broken record (a stray quote swallowed the
       following records, other participants' ids among them, numeric or not).
    3. Known ids (and values of identifier columns) are removed from ``value`` and ``message``
       as whole tokens when they cannot be ordinary values: at least two characters and not a
       number. A numeric id is never searched for in free text; where it could appear, rules
       1 and 2 remove it.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"file": ["a.csv"], "row": [3], "column": ["participant_id"],
    ...                   "rule": ["unique"], "value": ["P007"],
    ...                   "message": ["participant P007 has visit 'post' twice"]})
    >>> redact_failures(f).loc[0, "message"]
    "participant [participant id removed] has visit 'post' twice"
    >>> g = pd.DataFrame({"column": ["pain"], "value": ["12"], "message": ["pain = 12 > 10"]})
    >>> redact_failures(g, known_ids=["12"]).loc[0, "message"]
    'pain = 12 > 10'
    """
    out = failures.copy()
    for col in ("value", "message", "column"):
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), "")
            out[col] = out[col].map(str)
    id_columns = set(id_columns)
    ids = {str(i) for i in known_ids if str(i)}
    if "column" in out.columns and "value" in out.columns:
        in_id_column = out["column"].isin(id_columns)
        ids |= {v for v in out.loc[in_id_column, "value"] if v}
        out.loc[in_id_column, "value"] = _REDACTED
    for col in ("value", "message"):
        if col in out.columns:
            out[col] = out[col].map(_first_line)
    ids = {i for i in ids if _can_redact_in_text(i)}
    if not ids:
        return out
    # Longest first, so "P1" never cuts into "P10".
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)) + r")(?![\w-])"
    )
    for col in ("value", "message"):
        if col in out.columns:
            out[col] = out[col].map(lambda s: pattern.sub(_REDACTED, s))
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
_CSS = """
body{font-family:"Helvetica Neue",Arial,"Liberation Sans",sans-serif;color:#1a1a1a;
max-width:1320px;margin:2em auto;padding:0 1.5em;line-height:1.45;font-size:15px}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;
margin-top:2.2em}h3{margin-top:1.6em}
table.journal{border-collapse:collapse;margin:1em 0;font-size:.86em;
font-variant-numeric:tabular-nums}
table.journal caption{text-align:left;font-weight:bold;padding-bottom:.4em}
table.journal thead th{border-top:2px solid #000;border-bottom:1px solid #000;text-align:left;
padding:.3em .7em;vertical-align:bottom}
table.journal td{padding:.2em .7em;vertical-align:top}
table.journal .nobr{white-space:nowrap}
table.journal td:first-child{min-width:10em}
@media (max-width:900px),print{body{max-width:none;font-size:12px;padding:0 .6em}
table.journal{font-size:.8em}table.journal td,table.journal thead th{padding:.2em .35em}
table.journal td:first-child{min-width:7em}.scroll{overflow:visible}
table.journal td,table.journal th{overflow-wrap:anywhere}}
table.journal tbody tr:last-child td{border-bottom:2px solid #000}
table.journal tfoot td{font-size:.9em;color:#444;padding-top:.4em}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}
.warning{border-left:5px solid #D55E00;background:#fff4ec;padding:.7em 1em;margin:1em 0}
.ok{border-left:5px solid #009E73;background:#eefaf5;padding:.7em 1em;margin:1em 0}
.meta{color:#444}.scroll{overflow-x:auto}code{font-size:.92em}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.summary dt{font-weight:bold}dl.summary dd{margin:0}
nav ul{columns:2}
"""


def _humanize(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Readable column names: the given ones, else snake_case as "Sentence case"."""
    return frame.rename(
        columns={c: names.get(c, str(c).replace("_", " ").capitalize()) for c in frame.columns}
    )


def _esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _study_lists(config, *, baseline_word: str) -> tuple[str, str, str]:
    """The visits line and the outcome and threshold list items of a report's study summary."""
    visits = "; ".join(
        f"{_esc(v.label)} (day {format_number(config.visit_days[v.name], 0)})"
        + (f" [{baseline_word}]" if v.baseline else "")
        for v in config.visits
    )
    outcomes = "".join(
        f"<li>{_esc(o.label)}{' <strong>(primary)</strong>' if o.primary else ''}: "
        f"instrument <code>{_esc(o.instrument.name)}</code>, range {o.min:g} to {o.max:g}, "
        f"{'higher' if o.higher_is_better else 'lower'} is better</li>"
        for o in config.outcomes
    )
    thresholds = "".join(f"<li>{_esc(t.label)} (<code>{_esc(t.rule)}</code>)</li>" for t in config.thresholds)
    return visits, outcomes, thresholds


def _figure_html(png: Path | None, caption: str, alt: str) -> str:
    """The PNG the figure renderer wrote, embedded (base64) with its caption."""
    if png is None or not Path(png).is_file():
        log.warning("figure %s is missing from the report: render the figures first", png)
        return f'<p class="warning">Figure not rendered ({_esc(Path(png).name if png else alt)}).</p>'
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _fragment_html(path: Path | None, what: str) -> str:
    """An HTML table fragment the table renderer wrote (one ``<table>``, escaped there)."""
    if path is None or not Path(path).is_file():
        log.warning("table %s is missing from the report: render the tables first", path)
        return f'<p class="warning">Table not rendered ({_esc(Path(path).name if path else what)}).</p>'
    return f'<div class="scroll">{Path(path).read_text(encoding="utf-8").rstrip()}</div>'


def _table_html(df: pd.DataFrame, caption: str | None = None, notes: str | None = None) -> str:
    return f'<div class="scroll">{to_html(df, caption=caption, notes=notes)}</div>'


def _study_summary(config, flow: pd.DataFrame | None) -> str:
    randomized = {}
    if flow is not None and len(flow):
        randomized = flow.groupby(flow["arm"].astype(str))["randomized"].max().to_dict()
    arms = "; ".join(
        f"{_esc(a.label)}{' (reference)' if a.name == config.reference_arm else ''}"
        + (f", n = {int(randomized[a.name])}" if a.name in randomized else "")
        for a in config.arms
    )
    visits, outcomes, thresholds = _study_lists(config, baseline_word="baseline")
    total = sum(int(v) for v in randomized.values()) if randomized else None
    return (
        '<dl class="summary">'
        f"<dt>Study</dt><dd><code>{_esc(config.name)}</code></dd>"
        f"<dt>Design</dt><dd>{_esc(config.design)}"
        + (f", {total} participants randomized" if total is not None else "")
        + "</dd>"
        f"<dt>Arms</dt><dd>{arms}</dd>"
        f"<dt>Visits</dt><dd>{visits}</dd>"
        f"<dt>Model</dt><dd>{_esc(config.model.covariance.replace('_', ' '))} covariance, "
        f"{_esc(config.model.method.upper())}, "
        f"{_esc(config.model.df_method.replace('_', '-').title())} df"
        + (f"; covariates: {_esc(', '.join(config.model.covariates))}" if config.model.covariates else "")
        + "</dd>"
        "</dl>"
        f"<h3>Outcomes</h3><ul>{outcomes}</ul>"
        + (f"<h3>Responder thresholds</h3><ul>{thresholds}</ul>" if thresholds else "")
    )


def _validation_section(inputs: Mapping[str, Path], known_ids: set[str]) -> str:
    summary, rule_counts, failures = (
        _read_csv(inputs[name], required=False) if name in inputs else None
        for name in ("validation_summary", "validation_rule_counts", "validation_failures")
    )
    parts = []
    if summary is None:
        return '<p class="warning">No validation summary was found.</p>'
    total = summary[summary["file"].astype(str) == "total"]
    row = total.iloc[0] if len(total) else summary.iloc[-1]
    quarantined = int(row["rows_quarantined"])
    cls = "warning" if quarantined else "ok"
    parts.append(
        f'<p class="{cls}">{int(row["rows_in"])} rows read, {int(row["rows_analysed"])} '
        f"analysed, {quarantined} quarantined by validation.</p>"
    )
    parts.append(_table_html(_humanize(summary, {"rows_in": "Rows in"}), "Rows per input file"))
    if rule_counts is not None and len(rule_counts):
        parts.append(_table_html(_humanize(rule_counts, {"n": "Failures"}), "Failures per rule"))
    if failures is not None and len(failures):
        shown = redact_failures(failures.head(20), known_ids)
        note = (
            f"First {len(shown)} of {len(failures)} failures; the full list is "
            "validation/failures.csv. Participant identifiers are not shown."
        )
        parts.append(_table_html(_humanize(shown, {}), "First validation failures", note))
    return "\n".join(parts)


def _sensitivity_html(contrasts: pd.DataFrame | None, config: "StudyConfig", outcome: str) -> str:
    """The outcome's analyses besides its primary (analyses:): one compact table of contrasts."""
    if contrasts is None or "analysis" not in contrasts.columns or not len(contrasts):
        return ""
    analyses = config.analyses_of(outcome)
    if len(analyses) < 2:
        return ""
    kinds = {a.name: a.kind for a in analyses}
    rows = contrasts[(contrasts["outcome"] == outcome) & (contrasts["analysis"] != analyses[0].name)]
    if not len(rows):
        return ""
    d = outcome_decimals(config, outcome)
    arm_labels, visit_labels = config.arm_labels, config.visit_labels
    shown = pd.DataFrame(
        {
            "Analysis": [f"{a} ({kinds.get(a, '')})" for a in rows["analysis"]],
            "Visit": [visit_labels.get(v, v) if isinstance(v, str) else "all" for v in rows["visit"]],
            "Arm": [
                f"{arm_labels.get(a, a)} vs {arm_labels.get(r, r)}"
                for a, r in zip(rows["arm"], rows["reference"])
            ],
            "Difference (95% CI)": [
                f"{format_number(e, d)} ({format_number(lo, d)} to {format_number(hi, d)})"
                for e, lo, hi in zip(rows["estimate"], rows["ci_low"], rows["ci_high"])
            ],
            "P": [format_p(p) for p in rows["p"]],
        }
    )
    note = (
        f"Primary analysis: {analyses[0].name} ({analyses[0].kind}), shown above. The kinds are "
        "described in config/README.md (Analyses)."
    )
    return _table_html(shown, "Sensitivity analyses", note)


def _estimand_html(config: "StudyConfig", outcome: str, read: Mapping) -> str:
    """The lead of an outcome section: the primary analysis's difference in change from baseline
    (or baseline-adjusted difference) at each follow-up visit, with its 95% CI, P and Hedges g,
    then the MMRMT01 table of the LS mean change (``tables/lsmeans_change.csv``)."""
    spec = config.analyses_of(outcome)[0] if config.analyses_of(outcome) else None
    table = estimand_table(config, outcome)
    adjusted = table == "contrasts"
    source = read.get(table)
    if source is None or not len(source):
        source = read.get("contrasts")
    parts = []
    rows = primary_rows(source, config) if source is not None else None
    if rows is not None and len(rows):
        rows = rows[rows["outcome"].astype(str) == outcome]
    if rows is not None and len(rows):
        d = outcome_decimals(config, outcome)
        labels = config.arm_labels
        what = "Baseline-adjusted difference" if adjusted else "Difference in change from baseline"
        shown = pd.DataFrame(
            {
                "Visit": [config.visit_labels.get(str(v), str(v)) for v in rows["visit"]],
                "Comparison": [
                    f"{labels.get(a, a)} vs {labels.get(r, r)}"
                    for a, r in zip(rows["arm"], rows["reference"])
                ],
                f"{what} (95% CI)": [
                    f"{format_number(e, d)} ({format_number(lo, d)} to {format_number(hi, d)})"
                    for e, lo, hi in zip(rows["estimate"], rows["ci_low"], rows["ci_high"])
                ],
                "P": [format_p(p) for p in rows["p"]],
                "Hedges g (95% CI)": [
                    f"{format_number(g, 2)} ({format_number(lo, 2)} to {format_number(hi, 2)})"
                    for g, lo, hi in zip(rows["hedges_g"], rows["hedges_g_ci_low"], rows["hedges_g_ci_high"])
                ],
            }
        )
        o = config.outcome(outcome)
        note = (
            f"Primary analysis ({spec.name if spec else 'primary'}): arm minus reference, "
            f"{'higher' if o.higher_is_better else 'lower'} scores are better"
            + ("; the baseline is a covariate." if adjusted else "; change = visit minus baseline.")
            + " P values are unadjusted for multiplicity."
        )
        parts.append(_table_html(shown, f"{o.label}: {what.lower()}", note))
    lsm = read.get("lsmeans_change")
    if lsm is not None and len(lsm) and (lsm["outcome"].astype(str) == outcome).any():
        table = lsmeans_journal_table(outcome, lsm, config)
        if len(table):
            parts.append(
                _table_html(
                    table,
                    f"{config.outcome(outcome).label}: model-based (LS) mean change from baseline",
                    "tables/lsmeans_change.csv; adjusted means from the primary analysis's model "
                    "(equal weights over factor covariates, numeric covariates at their mean).",
                )
            )
    return "\n".join(parts)


def _model_section(model_info: pd.DataFrame | None) -> tuple[str, list[str], list[str]]:
    """The models section, the outcomes not fitted and the outcomes whose models warned."""
    if model_info is None or model_info.empty:
        return "<p>No model information was found.</p>", [], []
    warned, failed = [], []
    for _, r in model_info.iterrows():
        # a sensitivity analysis is named beside its outcome (the primary is the outcome's own)
        name = r["outcome"] if r.get("analysis") in (None, "primary") else f"{r['outcome']} ({r['analysis']})"
        if r.get("status") == "failed":  # not fitted: analysis.analyse_outcome recorded why
            failed.append(f"{name}: {r.get('message')}")
            continue
        # typed columns (prt_outcomes.analyse.outcomes.read_model_info): a list and a bool
        text = " | ".join(r["warnings"])
        converged = bool(r["converged"])
        if text or not converged:
            why = text or "did not converge"
            warned.append(f"{name}: {why}" + ("" if converged else " (not converged)"))
    parts = []
    if failed:
        items = "".join(f"<li>{_esc(f)}</li>" for f in failed)
        parts.append(
            f'<div class="warning"><strong>Outcomes not analysed.</strong> The trial model could '
            f"not be fitted to these outcomes, so they have no estimates:<ul>{items}</ul></div>"
        )
    if warned:
        items = "".join(f"<li>{_esc(w)}</li>" for w in warned)
        parts.append(
            f'<div class="warning"><strong>Model warnings.</strong> Read the estimates '
            f"of these outcomes with care:<ul>{items}</ul></div>"
        )
    elif not failed:
        parts.append('<p class="ok">All models converged without warnings.</p>')
    model_info = model_info.drop(columns=["message"], errors="ignore")  # listed above instead
    for col in ("loglik", "aic"):
        if col in model_info.columns:
            model_info[col] = model_info[col].map(lambda x: format_number(x, 1))
    info = _humanize(
        _shown(model_info),
        {
            "df_method": "df method",
            "n_obs": "Observations",
            "n_subjects": "Participants",
            "loglik": "Log-likelihood",
            "aic": "AIC",
        },
    )
    parts.append(_table_html(info, "Trial models"))
    return "\n".join(parts), failed, warned


def _shown_input_path(path) -> str:
    """An input path as the report shows it: never an absolute path of the machine that ran.

    A relative path (the manifest records paths relative to the config's folder) is shown as
    given, with ``/`` separators; an absolute one (POSIX, Windows drive or share, ``~``) by its
    file name only. The SHA-256 next to it identifies the file.

    Examples
    --------
    >>> _shown_input_path("/home/alice/trial/data/pain.csv"), _shown_input_path("data/pain.csv")
    ('pain.csv', 'data/pain.csv')
    >>> _shown_input_path("C:/Users/alice/pain.xlsx"), _shown_input_path(r"\\\\srv\\d\\x.csv")
    ('pain.xlsx', 'x.csv')
    """
    text = "" if path is None or (isinstance(path, float) and pd.isna(path)) else str(path)
    windows = PureWindowsPath(text)
    if PurePosixPath(text).is_absolute() or windows.drive or windows.root or text.startswith("~"):
        return windows.name
    return windows.as_posix()


def _provenance_section(path: Path | None) -> str:
    if path is None or not path.exists():
        return '<p class="warning">manifest.json was not found; provenance is unknown.</p>'
    manifest = json.loads(path.read_text(encoding="utf-8"))
    inputs = pd.DataFrame(manifest.get("inputs") or [], columns=["path", "sha256", "bytes"])
    inputs["path"] = inputs["path"].map(_shown_input_path)
    packages = pd.DataFrame(sorted((manifest.get("packages") or {}).items()), columns=["Package", "Version"])
    facts = "".join(
        f"<dt>{_esc(label)}</dt><dd><code>"
        f"{_esc('none' if manifest.get(key) is None else manifest.get(key))}</code></dd>"
        for label, key in (
            ("Created by", "created_by"),
            ("Python", "python"),
            ("Platform", "platform"),
            ("Seed", "seed"),
        )
        if key in manifest
    )
    return (
        f'<dl class="summary">{facts}</dl>'
        + _table_html(
            inputs.rename(columns={"path": "Input", "sha256": "SHA-256", "bytes": "Bytes"}), "Input files"
        )
        + _table_html(packages, "Package versions")
    )


def write_reports(config: "StudyConfig", *, inputs: Mapping[str, Path], html: Path, docx: Path) -> Path:
    """``report.html`` (:func:`build_report`), then ``report.docx`` written from that page
    (:func:`prt_outcomes.render.docx.report_to_docx`: the same sections and numbers); returns
    the HTML path. The report rule and :func:`prt_outcomes.pipeline.run` call this."""
    from .docx import report_to_docx

    page = build_report(config, inputs=inputs, out=html)
    report_to_docx(page, docx)
    return page


def build_report(
    config: "StudyConfig",
    results_dir: str | Path | None = None,
    *,
    inputs: Mapping[str, str | Path] | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write ``report.html``, a self-contained report of the run.

    Sections: study summary, data validation (without participant ids), participant flow,
    baseline characteristics, one section per outcome (journal table, trajectory and change
    figures), responders, forest plot, missingness, models (warnings shown prominently, also at
    the top) and provenance from ``manifest.json``. The journal tables and the figures are the
    files the renderers wrote (:func:`render_tables`, :func:`prt_outcomes.render.figures.render_figures`):
    HTML fragments pasted in, PNGs embedded as base64 at the config's ``dpi``; a missing one is
    shown as a warning in its place. Numbers the report states itself (rows read, participants
    randomized, model status) are read from the CSV results. Styles are inline; nothing is
    fetched from the network.

    Parameters
    ----------
    config : StudyConfig
    results_dir : str or Path, optional
        ``results/<study>``: read the files :class:`~prt_outcomes.layout.RunLayout` names there
        and write ``report.html`` there. Otherwise give the files:
    inputs : mapping of str to path
        The files the report reads, by name, as
        :meth:`~prt_outcomes.layout.RunLayout.report_inputs` names them.
    out : path
        The report file.

    Returns
    -------
    Path
        The report file.

    Examples
    --------
    >>> from prt_outcomes.config import load_config                        # doctest: +SKIP
    >>> build_report(load_config("config/config.yaml"), "results/boulder_example")  # doctest: +SKIP
    PosixPath('results/boulder_example/report.html')
    """
    if results_dir is not None:
        layout = RunLayout(config, Path(results_dir))
        inputs, out = layout.report_inputs(), layout.report
    if inputs is None or out is None:
        raise ValueError("give results_dir, or inputs and out")
    inputs = {name: Path(path) for name, path in inputs.items()}
    read = {
        name: _read_csv(inputs[name], required=name in ("flow", "contrasts")) if name in inputs else None
        for name in REPORT_TABLES
    }
    known_ids = _known_ids(inputs.get("analysis_data"), inputs.get("ingested"))
    reference = config.arm_labels.get(config.reference_arm, config.reference_arm or "")
    sections: list[tuple[str, str, str]] = []  # (anchor, title, html)

    def fragment(stem: str) -> str:
        return _fragment_html(inputs.get(file_key(stem, "html")), f"{stem}.html")

    def figure(stem: str, caption: str, alt: str) -> str:
        return _figure_html(inputs.get(file_key(stem, REPORT_FIGURE_FORMAT)), caption, alt)

    if config.is_audit:
        audit = {
            name: _read_csv(inputs[name], required=False) for name in REPORT_AUDIT_TABLES if name in inputs
        }
        sections.append(("study", "Study", _audit_summary(config, audit.get("audit_completion"))))
        sections.append(("validation", "Data validation", _validation_section(inputs, known_ids)))
        sections += _audit_sections(config, audit, figure)
        model_html, failed, warned = _model_section(read["model_info"])
        sections.append(
            ("models", "Models", model_html.replace("Trial models", "Models of the means per visit"))
        )
        sections.append(("provenance", "Provenance", _provenance_section(inputs.get("manifest"))))
        return _write_page(config, sections, failed, warned, out)
    sections.append(("study", "Study", _study_summary(config, read["flow"])))
    sections.append(("validation", "Data validation", _validation_section(inputs, known_ids)))
    flow = read["flow"]
    # the report is the only renderer of the flow as a journal table (render_tables writes the
    # tidy flow table), so it is drawn here from the CSV
    flow_html = _table_html(flow_journal_table(flow, config), "Participant flow") + figure(
        "flow", "Participant flow: randomized, then assessed at each visit.", "Participant flow diagram"
    )
    sections.append(("flow", "Participant flow", flow_html))
    sections.append(("baseline", "Baseline characteristics", fragment("baseline_table")))

    info, not_fitted = read["model_info"], set()
    if info is not None and "status" in info:
        failed_rows = info[info["status"] == "failed"]
        if "analysis" in failed_rows:  # the outcome's own estimates are its primary analysis's
            failed_rows = primary_rows(failed_rows, config)
        not_fitted = set(failed_rows["outcome"])
    for outcome in config.outcome_names:
        label = config.outcome(outcome).label
        # estimand first: the difference in change (or baseline-adjusted), then the MMRMT01
        # table of the LS mean change, then the table by visit with the observed values
        body = "" if outcome in not_fitted else _estimand_html(config, outcome, read)
        body += fragment(f"outcome_{outcome}")
        if outcome in not_fitted:  # analysis.analyse_outcome recorded why
            body += (
                '<p class="warning">The trial model could not be fitted to this outcome, '
                'so it has no model estimates; see <a href="#models">Models</a>.</p>'
            )
        else:
            body += figure(
                f"trajectory_{outcome}",
                f"{label}: model-estimated means (filled, 95% CI) and observed means (open) "
                "by arm over nominal time.",
                f"Trajectory of {label}",
            )
        body += figure(
            f"change_{outcome}",
            f"{label}: observed change from baseline, mean and 95% CI.",
            f"Change from baseline in {label}",
        )
        # responder curves (hF): outcomes with a percent-reduction threshold rule
        if f"responder_curve_{outcome}" in figure_stems(config):
            body += figure(
                f"responder_curve_{outcome}",
                f"{label}: responder curves, the percentage of each arm whose reduction from "
                "baseline is at least x% (dotted: the configured thresholds).",
                f"Responder curves of {label}",
            )
        body += _sensitivity_html(read["contrasts"], config, outcome)
        sections.append((f"outcome-{outcome}", label, body))

    if config.thresholds and read["responders"] is not None and len(read["responders"]):
        body = fragment("responder_table") + figure(
            "responders", "Responder rates with Wilson 95% confidence intervals.", "Responder rates by arm"
        )
        sections.append(("responders", "Responders", body))

    changes = read["reliable_change"]
    if changes is not None and len(changes):
        rules = "; ".join(
            f"{config.outcome(o.name).label}: reliability {o.reliable_change.reliability:g} "
            f"({o.reliable_change.source}), cut-off {o.reliable_change.cutoff}"
            for o in config.outcomes
            if o.reliable_change is not None
        )
        body = (
            "<p>Each participant's change from baseline is classed by Jacobson &amp; Truax (1991): "
            "reliable when |RCI| exceeds the critical value; recovered when reliably improved and "
            "moved from the dysfunctional into the functional range. Percentages are of the "
            f"participants with both scores (n_used); n_missing have one or none. {_esc(rules)}.</p>"
            + fragment("reliable_change")
        )
        sections.append(("reliable-change", "Reliable change", body))

    if len(config.arms) > 1 and len(read["contrasts"]):
        sections.append(
            (
                "forest",
                "Effects across outcomes",
                figure(
                    "forest",
                    f"Standardized differences (Hedges g, 95% CI) vs {reference} in each outcome's "
                    "primary estimand: the difference in change from baseline, or the "
                    "baseline-adjusted difference where the baseline is a covariate.",
                    "Forest plot of standardized differences",
                ),
            )
        )

    if read["missingness"] is not None and len(read["missingness"]):
        sections.append(
            (
                "missingness",
                "Missing data",
                figure(
                    "missingness",
                    "Percentage of randomized participants without a value, by arm and visit.",
                    "Missing data heatmap",
                ),
            )
        )

    # ---- sensitivity (issue 12): the missing-data sensitivity analyses of sensitivity:
    if config.sensitivity is not None and read.get("sensitivity") is not None and len(read["sensitivity"]):
        sections.append(
            (
                "sensitivity-missing-data",
                "Sensitivity to missing data",
                missing_data_section(config, read["sensitivity"], read.get("tipping_point"), figure),
            )
        )

    model_html, failed, warned = _model_section(read["model_info"])
    sections.append(("models", "Models", model_html))
    sections.append(("provenance", "Provenance", _provenance_section(inputs.get("manifest"))))
    return _write_page(config, sections, failed, warned, out)


def _write_page(config, sections, failed, warned, out) -> Path:
    """The report page: navigation, a warning banner for failed or warned models, the sections."""
    nav = "".join(f'<li><a href="#{a}">{_esc(t)}</a></li>' for a, t, _ in sections)
    alert = ""
    problems = ([f"{len(failed)} outcome(s) could not be analysed"] if failed else []) + (
        [f"{len(warned)} model(s) reported warnings"] if warned else []
    )
    if problems:
        alert = (
            '<div class="warning"><strong>Attention:</strong> '
            f"{'; '.join(problems)}; see "
            '<a href="#models">Models</a>.</div>'
        )
    body = "\n".join(f'<section id="{a}"><h2>{_esc(t)}</h2>\n{h}\n</section>' for a, t, h in sections)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(config.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_esc(config.title)}</h1>"
        f'<p class="meta">Outcome report generated by prt-outcomes from the result tables '
        f"of study <code>{_esc(config.name)}</code>.</p></header>\n{alert}\n"
        f"<nav><ul>{nav}</ul></nav>\n{body}\n</body>\n</html>\n"
    )
    out = write_text_file(Path(out), page)
    log.info("wrote %s (%d sections, %d model warning(s))", out, len(sections), len(warned))
    return out


# --------------------------------------------------------------------------------------------
# clinic audit (study.design: audit): the clinic's questions, in its order
# --------------------------------------------------------------------------------------------
#: How a suppressed count is shown in the report.
SUPPRESSED = "suppressed"


def _suppression_note(config) -> str:
    p = config.privacy
    return (
        f"{SUPPRESSED.capitalize()}: a count from 1 to {p.min_cell - 1} (privacy.min_cell = {p.min_cell}), "
        "or a count from which one could be worked out with the totals shown, is not published, "
        "so that no small group of patients can be recognised; its percentage and interval are "
        "hidden with it."
        + (
            f" Counts shown are rounded to a multiple of {p.round_to} (privacy.round_to)."
            if p.round_to
            else ""
        )
    )


def _count(v) -> str:
    return SUPPRESSED if pd.isna(v) else f"{int(v):,}"


def _pct_ci(row, decimals: int = 1) -> str:
    if pd.isna(row["percent"]):
        return SUPPRESSED
    return (
        f"{format_number(row['percent'], decimals)} "
        f"({format_number(row['ci_low'], decimals)} to {format_number(row['ci_high'], decimals)})"
    )


def _group_label(g) -> str:
    return "All patients" if g == "all" else str(g).replace("=", ": ", 1)


def _has_suppressed(frame: pd.DataFrame, columns) -> bool:
    return any(c in frame and frame[c].isna().any() for c in columns)


def _audit_summary(config, completion: pd.DataFrame | None) -> str:
    n = None
    if completion is not None and len(completion):
        overall = completion[completion["group"] == "all"]
        if len(overall) and not overall["eligible"].isna().all():
            n = int(overall["eligible"].max())
    visits, outcomes, thresholds = _study_lists(config, baseline_word="first visit")
    groups = ", ".join(g.name for g in config.audit.groups) or "none (the clinic as a whole)"
    return (
        '<dl class="summary">'
        f"<dt>Study</dt><dd><code>{_esc(config.name)}</code></dd>"
        "<dt>Design</dt><dd>clinic audit of routine care"
        + (f", {n:,} patients with a first-visit score" if n is not None else "")
        + "</dd>"
        f"<dt>Patients</dt><dd>{_esc(config.arms[0].label)}</dd>"
        f"<dt>Visits</dt><dd>{visits}</dd>"
        f"<dt>Compared units</dt><dd>{_esc(groups)}</dd>"
        f"<dt>Privacy</dt><dd>counts below {config.privacy.min_cell} are suppressed</dd>"
        "</dl>"
        f"<h3>Outcomes</h3><ul>{outcomes}</ul>"
        + (f"<h3>Improvement thresholds</h3><ul>{thresholds}</ul>" if thresholds else "")
    )


def _audit_sections(config, audit: Mapping[str, pd.DataFrame | None], figure) -> list[tuple[str, str, str]]:
    """The audit's sections: followed up, lost, change, recovered, benchmarks, units compared."""
    labels, visit_labels = {o.name: o.label for o in config.outcomes}, config.visit_labels
    note = _suppression_note(config)
    sections = []

    def table(df, caption, notes, suppressed):
        return _table_html(df, caption, notes + (" " + note if suppressed else ""))

    completion = audit.get("audit_completion")
    if completion is not None and len(completion):
        shown = pd.DataFrame(
            {
                "Outcome": completion["outcome"].map(labels),
                "Group": completion["group"].map(_group_label),
                "Visit": completion["visit"].map(visit_labels),
                "Eligible": completion["eligible"].map(_count),
                "Followed up": completion["assessed"].map(_count),
                "% (95% CI)": completion.apply(_pct_ci, axis=1),
            }
        )
        body = table(
            shown,
            "Patients followed up at each visit",
            "Eligible: a score at the first visit. Followed up: a score at the visit. Wilson 95% CI.",
            _has_suppressed(completion, ["eligible", "assessed"]),
        )
        sections.append(("followed-up", "How many did we follow up?", body))

    attrition = audit.get("audit_attrition")
    if attrition is not None and len(attrition):

        def value(v, kind, sd):
            if pd.isna(v):
                return SUPPRESSED
            text = format_number(v, 1)
            return f"{text} ({format_number(sd, 1)})" if kind == "numeric" and not pd.isna(sd) else f"{text}%"

        rows = attrition[attrition["level"] != "(overall)"]
        shown = pd.DataFrame(
            {
                "Characteristic": rows["variable"].map(lambda v: labels.get(v, _cov_label(config, v))),
                "Level": rows["level"].fillna(""),
                "Followed up": [
                    value(v, k, sd) for v, k, sd in zip(rows["followed"], rows["kind"], rows["followed_sd"])
                ],
                "Lost": [value(v, k, sd) for v, k, sd in zip(rows["lost"], rows["kind"], rows["lost_sd"])],
                "Standardized difference": rows["std_difference"].map(
                    lambda d: SUPPRESSED if pd.isna(d) else format_number(d, 2)
                ),
            }
        )
        followed = rows["n_followed"].dropna()
        lost = rows["n_lost"].dropna()
        head = (
            f"<p>{_count(followed.iloc[0]) if len(followed) else SUPPRESSED} patients were followed up at "
            f"the last visit and {_count(lost.iloc[0]) if len(lost) else SUPPRESSED} were lost. A "
            "standardized difference beyond 0.1 in either direction is a notable imbalance "
            "(Austin 2009): the patients followed up may not represent every patient seen.</p>"
        )
        body = head + table(
            shown,
            "First-visit characteristics of the patients followed up and lost",
            "Mean (SD) or % of patients with a known value; difference followed up minus lost.",
            _has_suppressed(attrition, ["followed", "lost", "n_followed", "n_lost"]),
        )
        sections.append(("lost", "Who did we lose?", body))

    change = audit.get("audit_change")
    if change is not None and len(change):
        shown = pd.DataFrame(
            {
                "Outcome": change["outcome"].map(labels),
                "Group": change["group"].map(_group_label),
                "Visit": change["visit"].map(visit_labels),
                "n": change["n"].map(_count),
                "First visit, mean": change["mean_baseline"].map(
                    lambda v: SUPPRESSED if pd.isna(v) else format_number(v, 2)
                ),
                "Follow-up, mean": change["mean_followup"].map(
                    lambda v: SUPPRESSED if pd.isna(v) else format_number(v, 2)
                ),
                "Change (95% CI)": [
                    SUPPRESSED
                    if pd.isna(m)
                    else f"{format_number(m, 2)} ({format_number(lo, 2)} to {format_number(hi, 2)})"
                    for m, lo, hi in zip(change["mean_change"], change["ci_low"], change["ci_high"])
                ],
                "Effect size": change["effect_size"].map(
                    lambda v: SUPPRESSED if pd.isna(v) else format_number(v, 2)
                ),
            }
        )
        sd = config.audit.effect_size_sd
        body = table(
            shown,
            "Change from the first visit, patients with both scores",
            f"Change is follow-up minus first visit; t 95% CI. Effect size: mean change / "
            f"{'SD at the first visit' if sd == 'baseline_sd' else 'SD of the change'} ({sd}). "
            "Patients not followed up are not in these means.",
            _has_suppressed(change, ["n"]),
        )
        # the observed change per visit over every patient (the describe stage's summary, which
        # obeys privacy.min_cell like the table above)
        body += "".join(
            figure(
                f"change_{o.name}", f"{o.label}: observed change from the first visit (mean, 95% CI)", o.label
            )
            for o in config.outcomes
        )
        sections.append(("change", "How much did they change?", body))

    responders = audit.get("audit_responders")
    if config.thresholds and responders is not None and len(responders):
        rule_labels = {t.rule: t.label for t in config.thresholds}
        shown = pd.DataFrame(
            {
                "Outcome": responders["outcome"].map(labels),
                "Threshold": responders["threshold"].map(lambda r: rule_labels.get(r, r)),
                "Group": responders["group"].map(_group_label),
                "Visit": responders["visit"].map(visit_labels),
                "Of": responders["denominator_basis"].map(
                    {"observed": "patients followed up", "eligible": "every eligible patient"}
                ),
                "Improved": responders["responders"].map(_count),
                "Patients": responders["denominator"].map(_count),
                "% (95% CI)": responders.apply(_pct_ci, axis=1),
            }
        )
        body = table(
            shown,
            "Patients who improved by each threshold",
            "Of patients followed up: those whose improvement can be decided. Of every eligible "
            "patient: those not followed up counted as not improved (a worst case). Wilson 95% CI.",
            _has_suppressed(responders, ["responders", "denominator"]),
        )
        sections.append(("recovered", "How many recovered?", body))

    if config.audit.benchmarks:
        sections.append(("benchmarks", "How do we compare?", _benchmark_html(config, responders, figure)))

    funnel = audit.get("audit_funnel")
    if funnel is not None and len(funnel):
        shown = pd.DataFrame(
            {
                "Outcome": funnel["outcome"].map(labels),
                "Measure": funnel["measure"],
                "Visit": funnel["visit"].map(visit_labels),
                "Unit": funnel["group"].map(_group_label),
                "Patients": funnel["volume"].map(lambda v: SUPPRESSED if pd.isna(v) else format_number(v, 0)),
                "Value": funnel["value"].map(lambda v: SUPPRESSED if pd.isna(v) else format_number(v, 3)),
                "Clinic": funnel["target"].map(lambda v: "" if pd.isna(v) else format_number(v, 3)),
                "95% limits": [
                    "" if pd.isna(lo) else f"{format_number(lo, 3)} to {format_number(hi, 3)}"
                    for lo, hi in zip(funnel["ll95"], funnel["ul95"])
                ],
                "Flag": funnel["flag"].fillna(SUPPRESSED),
            }
        )
        body = table(
            shown,
            "Units compared with the whole clinic",
            "A unit outside the 99.8% limits differs from the clinic by more than chance would "
            "explain (Spiegelhalter 2005); completion and responder measures are proportions. "
            f"Overdispersion adjustment: {config.audit.funnel_adjustment or 'none'}.",
            _has_suppressed(funnel, ["value"]),
        )
        for stem, (group, measure) in audit_funnel_stems(config).items():
            body += figure(
                stem,
                f"Funnel plot of {group}, {measure}: each unit against its number of patients, with "
                "the clinic's value and the 95% (dashed) and 99.8% (dotted) limits.",
                f"Funnel plot of {group}, {measure}",
            )
        for stem, (group, measure) in audit_run_chart_stems(config).items():
            body += figure(
                stem,
                f"Run chart of {group}, {measure}: each period of first visits in time order, with the "
                "clinic's value and the 95% (dashed) and 99.8% (dotted) limits at its number of patients.",
                f"Run chart of {group}, {measure}",
            )
        sections.append(("units", "How do we compare with each other?", body))
    return sections


def _cov_label(config, name: str) -> str:
    try:
        return config.covariate(name).label
    except KeyError:
        return name


def _benchmark_html(config, responders: pd.DataFrame | None, figure) -> str:
    """Published trial rates (:data:`prt_outcomes.benchmarks.BENCHMARKS`) beside the clinic's
    rate for the same rule at its last follow-up visit, on the same denominator
    (:func:`prt_outcomes.benchmarks.benchmark_comparison`), as a table and a figure."""
    from ..analyse.audit_tables import audit_outcome
    from ..benchmarks import benchmark_comparison, benchmark_table

    bench = benchmark_table()
    follow = [v for v in config.visit_names if v != config.baseline_visit]
    compared = benchmark_comparison(
        responders,
        outcome=audit_outcome(config),
        visit=follow[-1],
        visit_label=config.visit_labels[follow[-1]],
        clinic_label=config.arms[0].label,
    )
    rows = []
    for rule, part in compared.groupby("rule", sort=False):
        for _, b in part.iterrows():
            rows.append(
                {
                    "Source": b["source"],
                    "When": b["timepoint"],
                    "Improved": f"{_count(b['responders'])} of {_count(b['denominator'])}",
                    "% (95% CI)": _pct_ci(b),
                }
            )
        if not (part["who"] == "clinic").any():
            rows.append(
                {
                    "Source": "This clinic",
                    "When": "",
                    "Improved": f"no threshold '{rule}' in the config",
                    "% (95% CI)": "",
                }
            )
    sources = sorted(set(bench["source"]))
    labels = "; ".join(f"{r}: {lab}" for r, lab in dict(zip(bench["rule"], bench["label"])).items())
    return (
        _table_html(
            pd.DataFrame(rows),
            "The clinic beside published trials",
            f"Rules: {labels}. The trials' denominators are every patient they enrolled (those not "
            "assessed counted as not improved); the clinic's are every patient with a first-visit "
            "score, counted the same way. Trial patients were selected and treated under a "
            "protocol: a benchmark is a reference point, not a target. Wilson 95% CI.",
        )
        + "<p>Sources: "
        + "; ".join(_esc(x) for x in sources)
        + ".</p>"
        + figure(
            "audit_benchmarks", "The clinic beside published trials (Wilson 95% CI)", "Dot plot of rates"
        )
    )


# Sensitivity to missing data (issue 12): the estimands in words, the table, the figures
# --------------------------------------------------------------------------------------------

#: What each strategy assumes after the intercurrent event, in words ({arm}: the compared arm(s),
#: {reference}: the reference arm). Carpenter, Roger & Kenward (2013); rbmi's stat_specs vignette.
ESTIMAND_WORDS = {
    "MAR": (
        "after the intercurrent event, participants of every arm are assumed to have the outcome "
        "distribution of the participants of their own arm who stayed, conditional on their earlier "
        "values (missing at random): the effect had everyone continued the assigned treatment"
    ),
    "J2R": (
        "after leaving, participants of the {arm} arm are assumed to have the outcome distribution of "
        "the {reference} arm (jump to reference), conditional on their earlier values"
    ),
    "CR": (
        "participants of the {arm} arm who left are assumed to have had the outcome distribution of the "
        "{reference} arm at every visit, the earlier ones included (copy reference), conditional on "
        "their observed values: the benefit they had shown is taken as chance"
    ),
    "CIR": (
        "after leaving, participants of the {arm} arm are assumed to keep the difference from the "
        "{reference} arm that they had reached, and from then on to change as the {reference} arm "
        "does (copy increments in reference), conditional on their earlier values"
    ),
}


def estimand_sentence(strategy: str, arm: str, reference: str) -> str:
    """One sentence stating a strategy's estimand in words.

    >>> estimand_sentence("J2R", "PRT", "usual care")  # doctest: +NORMALIZE_WHITESPACE
    'J2R: after leaving, participants of the PRT arm are assumed to have the outcome distribution of
    the usual care arm (jump to reference), conditional on their earlier values.'
    """
    return f"{strategy}: " + ESTIMAND_WORDS[strategy].format(arm=arm, reference=reference) + "."


def per_participant_sentence(strategies: Iterable[str], fallback: str) -> str:
    """The ``per_participant`` job's estimand in words: how many participants follow each strategy.

    ``strategies`` holds one entry per participant with an event (blank: ``fallback``).

    >>> per_participant_sentence(["J2R", "J2R", "MAR", ""], "MAR")  # doctest: +NORMALIZE_WHITESPACE
    'per_participant: each participant with an intercurrent event follows the strategy given for them
    (MAR for those given none): J2R 2, MAR 2 participants.'
    """
    counts = pd.Series([x or fallback for x in strategies], dtype=object).value_counts()
    listed = ", ".join(f"{k} {counts[k]}" for k in sorted(counts.index))
    return (
        "per_participant: each participant with an intercurrent event follows the strategy given for them "
        f"({fallback} for those given none): {listed} participants."
    )


def deltas_sentence(deltas: Mapping[str, float], file_name: str) -> str:
    """The per-participant deltas of the events file in words (every strategy applies them).

    >>> deltas_sentence({"p1": 2.0, "p2": 2.0, "p3": -1.0}, "events.csv")  # doctest: +NORMALIZE_WHITESPACE
    "In every strategy, the imputed values of 3 participants are shifted from their intercurrent event
    on by the delta given for them in events.csv (from -1 to 2 points; 2 of them by 2): the outcome
    those participants are assumed to have is the strategy's plus their delta."
    """
    values = pd.Series(list(deltas.values()), dtype=float)
    common = values.mode().iloc[0]
    n_common = int((values == common).sum())
    return (
        f"In every strategy, the imputed values of {len(values)} participants are shifted from their "
        f"intercurrent event on by the delta given for them in {file_name} (from {values.min():g} to "
        f"{values.max():g} points; {n_common} of them by {common:g}): the outcome those participants are "
        "assumed to have is the strategy's plus their delta."
    )


def tipping_point_sentence(
    tipping: pd.DataFrame, *, visit_label: str, arm: str, strategy: str, higher_is_better: bool, alpha=0.05
) -> str:
    """The tipping point of one visit's scan in words.

    >>> t = pd.DataFrame({"delta": [0.0, 1.0, 2.0], "p": [0.01, 0.03, 0.07]})
    >>> tipping_point_sentence(t, visit_label="12 months", arm="PRT", strategy="MAR",
    ...                        higher_is_better=False)  # doctest: +NORMALIZE_WHITESPACE
    'The conclusion at 12 months (a difference at the 5% level) changes when those who left the PRT
    arm are assumed to be 1.50 points worse than MAR predicts.'
    """
    from ..stats.imputation import first_crossing

    t = tipping.sort_values("delta") if tipping["delta"].iloc[-1] > tipping["delta"].iloc[0] else tipping
    deltas, p = t["delta"].to_numpy(dtype=float), t["p"].to_numpy(dtype=float)
    start = "a difference" if p[0] < alpha else "no difference"
    level = f"{100 * alpha:g}% level"
    tip = first_crossing(deltas, p, alpha)
    if not pd.notna(tip):
        return (
            f"The conclusion at {visit_label} ({start} at the {level}) does not change for the shifts "
            f"examined, {deltas.min():g} to {deltas.max():g} points from what {strategy} predicts for those "
            f"who left the {arm} arm."
        )
    worse = (tip > 0) != higher_is_better
    return (
        f"The conclusion at {visit_label} ({start} at the {level}) changes when those who left the {arm} "
        f"arm are assumed to be {abs(tip):.2f} points {'worse' if worse else 'better'} than {strategy} "
        "predicts."
    )


def _strategy_rows(config, labels, rows, heading: str, decimals: int, *, scale: float = 1.0) -> pd.DataFrame:
    """The shown table of some ``tables/sensitivity.csv`` difference rows, one per strategy x visit
    x arm: the ANCOVA differences and each responder rule's risk differences (``scale`` 100:
    percentage points) alike."""

    def number(x):
        return format_number(x, decimals)

    estimate, low, high = (scale * rows[c] for c in ("estimate", "ci_low", "ci_high"))
    return pd.DataFrame(
        {
            "Strategy": rows["strategy"].astype(str),
            "Visit": [config.visit_labels.get(str(v), str(v)) for v in rows["visit"]],
            "Arm": [f"{labels.get(a, a)} vs {labels.get(b, b)}" for a, b in zip(rows["arm"], rows.reference)],
            heading: [f"{number(e)} ({number(lo)} to {number(h)})" for e, lo, h in zip(estimate, low, high)],
            "P": [format_p(p) for p in rows["p"]],
        }
    )


def missing_data_section(config: "StudyConfig", sensitivity: pd.DataFrame, tipping, figure) -> str:
    """The "Sensitivity to missing data" section: estimands, table, figures, the tipping point."""
    s = config.sensitivity
    ref = config.reference_arm
    labels = config.arm_labels
    others = [a for a in config.arm_names if a != ref]
    arm_words = " and ".join(labels.get(a, a) for a in others)
    if s.events_column is not None:
        events = f"the visit named in the data's column {s.events_column}"
    elif s.events_file is not None:
        events = f"the visit given in {s.events_file.name}"
    else:
        events = "the first visit after their last observed value (data missing after it)"
    method = {
        "conditional_mean": "conditional mean imputation with jackknife standard errors (deterministic)",
        "conditional_mean_bootstrap": f"conditional mean imputation, {s.n_imputations} bootstrap samples",
        "approximate_bayesian": f"approximate Bayesian multiple imputation, {s.n_imputations} imputations",
    }[s.method]
    parts = [
        f"<p>Each participant's intercurrent event is {_esc(events)}; every visit from it on is imputed "
        f"under the strategy, from a mixed model (unstructured covariance) of the visits, by {_esc(method)}, "
        "then analysed by an ANCOVA at each visit. The estimands:</p><ul>"
    ]
    for strategy in s.strategies:
        sentence = estimand_sentence(strategy, arm_words, labels.get(ref, ref))
        parts.append(f"<li>{_esc(sentence)}</li>")
    if s.per_participant:
        from ..analyse.sensitivity_jobs import events_strategies

        sentence = per_participant_sentence(events_strategies(s) or (), s.strategies[0])
        parts.append(f"<li>{_esc(sentence)}</li>")
    parts.append("</ul>")
    from ..analyse.sensitivity_jobs import events_deltas, responder_label

    deltas = events_deltas(s)
    if deltas:
        parts.append(f"<p>{_esc(deltas_sentence(deltas, s.events_file.name))}</p>")
    if s.responders:
        rules = ", ".join(s.responders)
        parts.append(
            f"<p>{_esc('Responders (' + rules + ')')} are counted in each imputed data set, the rule "
            "applied to the imputed score; the risk difference (percentage points) is pooled over the "
            "imputations by Rubin's rules.</p>"
        )
    differences = sensitivity[sensitivity["reference"].notna() & (sensitivity["reference"].astype(str) != "")]
    rows = differences[differences["analysis"].astype(str) == "ancova"]
    for outcome in s.outcomes:
        o = rows[rows["outcome"].astype(str) == outcome]
        if not len(o):
            continue
        d = outcome_decimals(config, outcome)
        label = config.outcome(outcome).label
        shown = _strategy_rows(config, labels, o, "Difference (95% CI)", d)
        parts.append(_table_html(shown, f"{label}: sensitivity to missing data", "tables/sensitivity.csv"))
        for rule in s.responders:
            r = differences[
                (differences["outcome"].astype(str) == outcome)
                & (differences["analysis"].astype(str) == responder_label(rule))
            ]
            if not len(r):
                continue
            shown_r = _strategy_rows(config, labels, r, "Risk difference, points (95% CI)", 1, scale=100)
            parts.append(
                _table_html(
                    shown_r, f"{label}: responders ({rule}) under each strategy", "tables/sensitivity.csv"
                )
            )
        parts.append(
            figure(
                f"sensitivity_{outcome}",
                f"{label}: difference (95% CI) under each strategy; grey: the primary analysis.",
                f"Forest of missing-data strategies for {label}",
            )
        )
        if s.tipping_deltas and tipping is not None and len(tipping):
            t = tipping[tipping["outcome"].astype(str) == outcome]
            tip_arms = " and ".join(labels.get(a, a) for a in (s.tipping_arms or others))
            words = [
                tipping_point_sentence(
                    t[t["visit"].astype(str) == v],
                    visit_label=config.visit_labels.get(v, v),
                    arm=tip_arms,
                    strategy=s.tipping_strategy,
                    higher_is_better=config.outcome(outcome).higher_is_better,
                )
                for v in config.visit_names
                if (t["visit"].astype(str) == v).any()
            ]
            parts.append("<p>" + " ".join(_esc(w) for w in words) + "</p>")
            parts.append(
                figure(
                    f"tipping_point_{outcome}",
                    f"{label}: difference (95% CI) as the imputed values of those who left are shifted "
                    "by delta; dashed: the tipping point.",
                    f"Tipping point for {label}",
                )
            )
    return "\n".join(parts)
