"""Validate a study's long frame: quarantine failing rows, report every failure, reconcile counts.

:func:`validate_study_data` runs the pandera schema of :mod:`prt_outcomes.validate.schemas` with lazy
validation, so that *every* failure is collected, maps each failure back to the file and line
it came from, and splits the frame into clean rows (analysed) and quarantined rows (reported).
:func:`load_and_validate` reads the files first; :func:`validate_command` is the
``prt-outcomes validate`` command.

Choices (documented here because the report depends on them):

* **One line per failure**: ``failures`` has one line per (row, rule, column). A row that breaks
  two rules appears twice. Cross-row rules (two arms, duplicated visit, no baseline, required
  covariate empty on every row, dates out of order) list *every* row of the participant,
  because the whole participant is quarantined.
* **Cascade**: when a participant's baseline row is quarantined by a row-level rule and
  ``baseline_required`` is ``error``, the participant's remaining rows are quarantined too
  (rule ``baseline_quarantined``): without baseline they cannot be analysed as change.
  With ``warning`` they stay and a warning names how many participants lack a baseline.
* **Privacy**: ``value`` shows the offending cell for outcome, covariate, arm, visit and date
  columns, and is always empty for ``participant_id``; a cell holding a line break (a record
  that swallowed the next lines, other participants' ids among them) is shown as
  ``<record spanning lines a-b>`` and a very long cell as ``<text of N characters>``
  (:func:`prt_outcomes.ingest.safe_values`), and a cell holding another participant's id (not a
  plain number) as ``<a participant id>``; messages never contain participant ids. Rows are
  located by ``file`` and ``row`` (line in the original file). The ``quarantined`` frame is
  row-level data and does keep ``participant_id``: :meth:`ValidationResult.write` never
  writes it into the report folder, which stays id-free; it is written only on request, by
  :meth:`ValidationResult.write_quarantine`, to a file outside that folder (the workflow keeps
  it in ``intermediate/``). Aggregate outputs (``summary``, ``rule_counts``, the markdown
  report) never contain ids.
* **Reading notes** (a file read as cp1252, byte-order marks removed inside a file) are listed
  in ``warnings``.
* **Filtered rows** (``filter:`` in the config) are not failures: they are listed in
  ``filtered`` and counted in ``summary.rows_filtered``.
* **Counts**: per file, ``rows_read = rows_filtered + rows_in`` for long files and
  ``rows_in = rows_analysed + rows_quarantined`` always (for wide files ``rows_in`` counts
  participant x visit rows).

Examples
--------
>>> from prt_outcomes.config import load_config
>>> from prt_outcomes.validate.checks import load_and_validate
>>> result = load_and_validate(load_config("config/config.yaml"))   # doctest: +SKIP
>>> result.ok, result.summary.iloc[-1].to_dict()                    # doctest: +SKIP
(True, {'file': 'total', 'rows_read': 2114, ..., 'rows_quarantined': 0})
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..config import (
    ARM,
    DATE,
    SOURCE_FILE,
    SOURCE_ROW,
    SUBJECT,
    VISIT,
    ConfigError,
    StudyConfig,
    load_config,
)
from ..errors import PrtOutcomesError
from ..ingest import (
    ISSUE_COLUMNS,
    NUMBER_PROBLEMS,
    IngestResult,
    InputError,
    _code_map,
    _map_codes,
    _to_float,
    normalise_codes,
    read_study_data,
    safe_values,
)
from ..outputs import write_csv
from .schemas import build_schema, column_rules, forget_cached_codes, frame_check_rule

__all__ = [
    "ValidationResult",
    "ValidationFailed",
    "validate_study_data",
    "load_and_validate",
    "validate_command",
    "FAILURE_COLUMNS",
    "SUMMARY_COLUMNS",
]

FAILURE_COLUMNS = ISSUE_COLUMNS
SUMMARY_COLUMNS = ["file", "rows_read", "rows_filtered", "rows_in", "rows_analysed", "rows_quarantined"]

_MESSAGES = {
    "missing_value": "{column} is empty",
    "unknown_arm": "arm '{value}' is not one of the study's arms ({allowed})",
    "unknown_visit": "visit '{value}' is not one of the study's visits ({allowed})",
    "out_of_range": "{column} = {value} is outside its range {allowed}",
    "off_step": "{column} = {value} is not on the instrument's step {allowed}",
    "unknown_level": "{column} '{value}' is not one of its levels ({allowed})",
    "wrong_type": "{column} has the wrong type: {value}",
    "duplicate_visit": "the participant has the same visit more than once; "
    "all rows of the participant are quarantined",
    "multiple_arms": "the participant's rows name more than one arm; "
    "all rows of the participant are quarantined",
    "missing_baseline": "the participant has no {allowed} row; all rows are quarantined "
    "(set validation.baseline_required: warning to keep them)",
    "missing_covariate": "required covariate {column} is empty on every row of the participant",
    "covariate_changes": "baseline covariate {column} has different values on the participant's "
    "rows; all rows are quarantined (correct the export so each participant has one value)",
    "dates_out_of_order": "the participant's dates decrease along the visit order",
    "not_finite": "{column} = {value} is not a finite number",
    "ids_differ_only_in_case": "the participant id equals another id but for letter case (one "
    "person typed two ways, or two people?); all rows of both are quarantined: make the ids "
    "consistent in the export",
    "baseline_quarantined": "the participant's baseline row was quarantined, so this row "
    "cannot be analysed either",
}


class ValidationFailed(PrtOutcomesError):
    """Strict mode: some rows failed validation. The message is the report's summary."""


@dataclass
class ValidationResult:
    """Outcome of validating one study's data.

    Attributes
    ----------
    clean : DataFrame
        Rows that pass, canonical columns; outcomes and numeric covariates float64, ids, arm,
        visit and categorical covariates ``str``.
    failures : DataFrame
        ``file, row, column, rule, value, message``, one line per failure (``row`` = line in
        the original file).
    quarantined : DataFrame
        The failing rows (canonical columns) plus ``rules`` (the rules they broke, ``;``-joined).
    summary : DataFrame
        ``file, rows_read, rows_filtered, rows_in, rows_analysed, rows_quarantined`` per file
        plus a ``total`` row.
    rule_counts : DataFrame
        ``rule, column, n`` (number of failures; ``filtered_by_config`` counts filtered rows).
    filtered : DataFrame
        Rows left out by the config filter or by the visit windows (``visits[].window``), in
        the failures format; the ``message`` says which.
    warnings : list of str
    mode : str
        ``strict`` or ``lenient`` (from the config).
    """

    clean: pd.DataFrame
    failures: pd.DataFrame
    quarantined: pd.DataFrame
    summary: pd.DataFrame
    rule_counts: pd.DataFrame
    filtered: pd.DataFrame = field(default_factory=lambda: _empty_failures())
    warnings: list[str] = field(default_factory=list)
    mode: str = "lenient"

    @property
    def ok(self) -> bool:
        """True when no row was quarantined."""
        return len(self.failures) == 0

    @property
    def n_quarantined(self) -> int:
        return int(self.summary["rows_quarantined"].iloc[-1])

    def headline(self) -> str:
        """One paragraph: how many rows were quarantined and why."""
        total = self.summary.iloc[-1]
        rows_in, n_q = int(total["rows_in"]), int(total["rows_quarantined"])
        parts = []
        if n_q == 0:
            parts.append(f"All {rows_in} rows passed validation; {rows_in} rows analysed.")
        else:
            counts = self.rule_counts[self.rule_counts["rule"] != "filtered_by_config"]
            why = ", ".join(f"{r.rule} on {r.column} ({r.n})" for r in counts.head(8).itertuples())
            more = "" if len(counts) <= 8 else f", and {len(counts) - 8} more rule/column pairs"
            n_p = self.quarantined["participant_id"].nunique()
            who = f" ({n_p} participant{'s' if n_p != 1 else ''})" if n_p else ""
            parts.append(
                f"{n_q} of {rows_in} rows quarantined{who}, {rows_in - n_q} analysed. Failures: {why}{more}."
            )
        n_f = int(total["rows_filtered"])
        if n_f:
            # a row the visit windows did not place is not one the file's filter dropped: say which
            messages = (
                self.filtered["message"].astype(str) if len(self.filtered) else pd.Series([], dtype=str)
            )
            n_w = int(messages.str.startswith(VISIT_WINDOW_MESSAGE).sum()) if len(messages) == n_f else 0
            if n_f - n_w:
                parts.append(f"{n_f - n_w} rows left out by the config filter (filtered_by_config).")
            if n_w:
                parts.append(
                    f"{n_w} rows left out by the visit windows (no day or date, outside every "
                    "window, or not the patient's assessment nearest the window's target; "
                    "listed in filtered.csv)."
                )
        return " ".join(parts)

    def to_markdown(self, max_failures: int = 20) -> str:
        """A short markdown report; its first lines say what was quarantined and why."""
        lines = ["# Validation report", "", self.headline(), ""]
        if self.warnings:
            lines += ["## Warnings", ""] + [f"- {w}" for w in self.warnings] + [""]
        lines += ["## Rows per file", "", _md_table(self.summary), ""]
        if len(self.rule_counts):
            lines += ["## Failures per rule and column", "", _md_table(self.rule_counts), ""]
        if len(self.failures):
            head = self.failures.head(max_failures)
            title = f"## First {len(head)} of {len(self.failures)} failures"
            lines += [title, "", _md_table(head), ""]
            lines += ["Every failure is in `failures.csv` (row = line in the original file).", ""]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`ValidationFailed` when rows were quarantined."""
        if not self.ok:
            raise ValidationFailed(self.headline())

    def write(self, report_dir: str | Path) -> list[Path]:
        """Write summary.csv, failures.csv, rule_counts.csv, filtered.csv and report.md to
        ``report_dir``; return the paths. These files hold no participant id; the quarantined
        rows (which do) are written only by :meth:`write_quarantine`."""
        out = Path(report_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in (
            ("summary.csv", self.summary),
            ("failures.csv", self.failures),
            ("rule_counts.csv", self.rule_counts),
            ("filtered.csv", self.filtered),
        ):
            written.append(write_csv(frame, out / name))
        (out / "report.md").write_text(self.to_markdown(), encoding="utf-8")
        written.append(out / "report.md")
        return written

    def write_quarantine(self, path: str | Path, report_dir: str | Path | None = None) -> Path:
        """Write the quarantined rows (with participant ids) to the CSV file ``path``.

        Refused when ``path`` lies inside ``report_dir``: the report folder is id-free, so it
        can be shared.

        >>> result.write_quarantine("private/quarantined.csv", report_dir="report")  # doctest: +SKIP
        """
        path = Path(path)
        if report_dir is not None:
            inside = path.resolve().is_relative_to(Path(report_dir).resolve())
            if inside:
                raise InputError(
                    f"the quarantine file '{path}' would be inside the report folder "
                    f"'{report_dir}', which must stay free of participant ids. Give a path "
                    "outside it."
                )
        return write_csv(self.quarantined, path)  # creates the folder


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def validate_study_data(
    frame: pd.DataFrame, config: StudyConfig, *, ingest: IngestResult | None = None
) -> ValidationResult:
    """Validate a canonical long frame against the study config.

    Parameters
    ----------
    frame : DataFrame
        Canonical long frame (``read_study_data(...).data`` or any frame with the canonical
        columns; arm / visit codes and labels are mapped to names here as well, text numbers
        are parsed, and ``source_file`` / ``source_row`` default to ``"<frame>"`` / index + 2).
    config : StudyConfig
    ingest : IngestResult, optional
        The ingest that produced ``frame``: its unparseable cells become ``not_numeric`` /
        ``not_a_date`` failures, its filtered rows and line counts go into the summary.

    Returns
    -------
    ValidationResult

    Raises
    ------
    InputError
        When a required canonical column is absent.

    Examples
    --------
    >>> result = validate_study_data(frame, cfg)                  # doctest: +SKIP
    >>> result.failures.query("rule == 'out_of_range'")           # doctest: +SKIP
    """
    df, bad_numeric = _prepare(frame, config)
    failures = [_coercion_failures(df, bad_numeric)] if bad_numeric else []

    if ingest is not None and len(ingest.issues):
        failures.append(_ingest_failures(ingest, df))
    warnings: list[str] = list(ingest.notes) if ingest is not None else []

    schema = build_schema(config)
    checked = df
    if ingest is not None and len(ingest.issues) and len(ingest.data) == len(df):
        # lines that are not data (a repeated header) break their own rule only
        not_data = ingest.issue_index[(ingest.issues["rule"] == "repeated_header").to_numpy()]
        if len(not_data):
            keep = np.ones(len(df), dtype=bool)
            keep[not_data] = False
            checked = df.loc[keep]
            failures = [
                f[keep[f["_pos"].to_numpy()] | (f["rule"] == "repeated_header").to_numpy()] for f in failures
            ]
    for part, view in _schema_parts(schema, checked):
        try:
            part.validate(view, lazy=True)
        except pa.errors.SchemaErrors as exc:
            failures.append(_schema_failures(exc.failure_cases, df, config, schema))
        except pa.errors.SchemaError as exc:  # pragma: no cover - lazy mode collects these
            raise InputError(f"the data cannot be validated: {exc}") from None
        finally:
            forget_cached_codes()

    fail = _concat_failures(failures)
    failed_pos = np.zeros(len(df), dtype=bool)
    failed_pos[fail["_pos"].to_numpy()] = True

    cascade = _baseline_cascade(df, config, failed_pos, warnings)
    if cascade is not None and len(cascade):
        fail = _concat_failures([fail, cascade])
        failed_pos[cascade["_pos"].to_numpy()] = True

    fail = fail.sort_values(["_pos", "rule", "column"], kind="stable")
    rules_per_row = _rules_per_row(fail)

    canonical = _canonical_columns(df, config)
    clean = df.loc[~failed_pos, canonical].reset_index(drop=True)
    quarantined = df.loc[failed_pos, canonical].copy()
    quarantined["rules"] = rules_per_row.reindex(np.flatnonzero(failed_pos)).to_numpy()
    quarantined = quarantined.reset_index(drop=True)

    failures_out = _hide_participant_ids(fail[FAILURE_COLUMNS].reset_index(drop=True), df)
    filtered = _filtered(ingest)
    summary = _summary(df, failed_pos, ingest)
    rule_counts = _rule_counts(failures_out, filtered)

    if config.design == "randomized" and len(clean):
        present = set(clean[ARM].dropna().unique())
        absent = [a for a in config.arm_names if a not in present]
        if absent:
            warnings.append(f"no analysable rows for arm(s) {absent}.")
    return ValidationResult(
        clean=clean,
        failures=failures_out,
        quarantined=quarantined,
        summary=summary,
        rule_counts=rule_counts,
        filtered=filtered,
        warnings=warnings,
        mode=config.validation_mode,
    )


def load_and_validate(config: StudyConfig, files: Sequence[str | Path] | None = None) -> ValidationResult:
    """Read the study's files (or ``files``) and validate them.

    >>> result = load_and_validate(cfg)                          # doctest: +SKIP
    >>> if cfg.validation_mode == "strict": result.raise_if_failed()   # doctest: +SKIP
    """
    ingest = read_study_data(config, files)
    return validate_study_data(ingest.data, config, ingest=ingest)


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def validate_command(
    config_path: str | Path,
    data_files: Sequence[str | Path] | None = None,
    report_dir: str | Path | None = None,
    stream: TextIO = sys.stdout,
    quarantine_file: str | Path | None = None,
) -> int:
    """``prt-outcomes validate``: check a study's data and report.

    Parameters
    ----------
    config_path : path
        Study config YAML.
    data_files : sequence of path, optional
        Validate these files instead of the config's ``data.files``.
    report_dir : path, optional
        Write summary.csv, failures.csv, rule_counts.csv, filtered.csv and report.md here;
        none of them holds a participant id.
    stream : text stream
        Where the short summary goes.
    quarantine_file : path, optional
        Also write the quarantined rows, which carry participant ids, to this CSV file; it
        must lie outside ``report_dir``.

    Returns
    -------
    int
        0 when every row passes; 1 when rows were quarantined; 2 when the input is unusable
        (unreadable, empty or wrong-type file, missing required column, direct identifiers,
        invalid config) or ``quarantine_file`` lies inside ``report_dir``. Bad data never
        produces a traceback.

    Examples
    --------
    >>> validate_command("config/config.yaml", report_dir="results/validation")  # doctest: +SKIP
    0
    """
    try:
        config = load_config(config_path)
        result = load_and_validate(config, data_files)
    except (ConfigError, InputError) as exc:
        print(f"prt-outcomes validate: the input cannot be used.\n{exc}", file=stream)
        return 2
    except Exception as exc:  # never a traceback for a user's data; but say it is on us
        print(
            "prt-outcomes validate: the input could not be validated because of an unexpected "
            f"error ({type(exc).__name__}: {exc}). This is probably a bug in prt-outcomes; "
            "please report it together with the config (not the data).",
            file=stream,
        )
        return 2
    try:
        if quarantine_file is not None:
            result.write_quarantine(quarantine_file, report_dir)
        if report_dir is not None:
            result.write(report_dir)
    except InputError as exc:
        print(f"prt-outcomes validate: {exc}", file=stream)
        return 2
    print(result.headline(), file=stream)
    for w in result.warnings:
        print(f"warning: {w}", file=stream)
    if not result.ok:
        print("", file=stream)
        print(_plain_table(result.rule_counts), file=stream)
        print("", file=stream)
        print(_plain_table(result.failures.head(5)), file=stream)
        if report_dir is not None:
            print(f"\nFull report: {Path(report_dir) / 'report.md'}", file=stream)
    return 0 if result.ok else 1


# --------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------
def _prepare(frame: pd.DataFrame, config: StudyConfig) -> tuple[pd.DataFrame, dict]:
    """Canonical dtypes on a RangeIndex copy, and the text numbers that did not parse
    (column -> (mask, raw values))."""
    required = [SUBJECT, ARM, VISIT, *config.outcome_names]
    if len(config.arms) == 1 and ARM not in frame.columns:
        frame = frame.assign(**{ARM: config.arms[0].name})
    absent = [c for c in required if c not in frame.columns]
    if absent:
        raise InputError(
            f"the data frame lacks the required column(s) {absent}; its columns are "
            f"{list(frame.columns)}. Read files with read_study_data, or rename the columns to "
            "the canonical names (see docs/architecture.md)."
        )
    df = frame.reset_index(drop=True)
    if SOURCE_FILE not in df.columns:
        df[SOURCE_FILE] = "<frame>"
    if SOURCE_ROW not in df.columns:
        df[SOURCE_ROW] = np.arange(2, len(df) + 2, dtype=np.int64)
    df[SOURCE_FILE] = df[SOURCE_FILE].astype("str")
    df[SOURCE_ROW] = df[SOURCE_ROW].astype("int64")

    bad_numeric: dict[str, tuple[np.ndarray, pd.Series]] = {}
    numeric = list(config.outcome_names) + [c.name for c in config.covariates if c.type == "numeric"]
    for col in numeric:
        if col not in df.columns:
            df[col] = np.nan
            continue
        s = df[col]
        if s.dtype == "float64":
            continue
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            df[col] = s.to_numpy(dtype="float64", na_value=np.nan)
            continue
        values, problems = _to_float(s, {""} | {str(m) for m in config.missing_codes}, None)
        problems = {rule: mask for rule, mask in problems.items() if mask.any()}
        if problems:
            bad_numeric[col] = (problems, s)
        df[col] = values

    def as_str(s: pd.Series) -> pd.Series:
        if s.dtype == "str":
            return s
        out = s.astype("str")
        return out.mask(s.isna())

    df[SUBJECT] = as_str(df[SUBJECT])
    df[ARM] = _map_codes(df[ARM], _code_map((a.name, a.label, a.codes) for a in config.arms)).astype("str")
    df[VISIT] = _map_codes(df[VISIT], _code_map((v.name, v.label, v.codes) for v in config.visits)).astype(
        "str"
    )
    for cov in config.covariates:
        if cov.type != "categorical":
            continue
        if cov.name not in df.columns:
            df[cov.name] = pd.Series([np.nan] * len(df), dtype="str")
            continue
        level_map = {normalise_codes(pd.Series([k])).iloc[0]: v for k, v in cov.codes.items()}
        for lvl in cov.levels:
            level_map.setdefault(normalise_codes(pd.Series([lvl])).iloc[0], lvl)
        df[cov.name] = _map_codes(df[cov.name], level_map).astype("str")
    return df, bad_numeric


def _coercion_failures(df: pd.DataFrame, bad_numeric: dict) -> pd.DataFrame:
    pieces = []
    for col, (problems, raw) in bad_numeric.items():
        for rule, bad in problems.items():
            pos = np.flatnonzero(bad)
            values = safe_values(raw.iloc[pos].astype("str").to_numpy(), df[SOURCE_ROW].to_numpy()[pos])
            what = NUMBER_PROBLEMS[rule]
            pieces.append(
                pd.DataFrame(
                    {
                        "_pos": pos,
                        "column": col,
                        "rule": rule,
                        "value": values,
                        "message": [f"{col}: '{v}' {what}" for v in values],
                    }
                )
            )
    return _locate(pd.concat(pieces, ignore_index=True), df)


def _ingest_failures(ingest: IngestResult, df: pd.DataFrame) -> pd.DataFrame:
    issues = ingest.issues.assign(_pos=ingest.issue_index)
    issues = issues[issues["rule"] != "filtered_by_config"]
    if len(issues) == 0:
        return _empty_failures(with_pos=True)
    if len(ingest.data) != len(df):
        # frame was changed after ingest: locate by file and line (exact for long files)
        where = pd.MultiIndex.from_arrays([df[SOURCE_FILE], df[SOURCE_ROW]])
        key = pd.Series(np.arange(len(df)), index=where)
        key = key[~key.index.duplicated()]
        pos = key.reindex(pd.MultiIndex.from_arrays([issues["file"], issues["row"]])).to_numpy()
        issues = issues.assign(_pos=pos).dropna(subset=["_pos"])
    issues = issues.astype({"_pos": "int64"})
    return _locate(issues[["_pos", "column", "rule", "value", "message"]], df)


def _schema_failures(fc: pd.DataFrame, df: pd.DataFrame, config: StudyConfig, schema) -> pd.DataFrame:
    """pandera failure cases -> failures with positions, rule names and readable messages."""
    structural = fc[fc["index"].isna()]
    if len(structural):
        # failures without a row (a column of the wrong type or missing) concern the whole
        # frame; _prepare coerces every canonical column, so reaching this is a caller error
        what = "; ".join(
            f"{c}: {chk} ({case})"
            for c, chk, case in structural[["column", "check", "failure_case"]]
            .astype("str")
            .itertuples(index=False)
        )
        raise InputError(
            f"the data frame does not have the structure the study config describes: {what}. "
            "Read files with read_study_data, or give each canonical column its type."
        )
    if len(fc) == 0:
        return _empty_failures(with_pos=True)
    rules = column_rules(schema)
    frame_level = (fc["schema_context"] == "DataFrameSchema").to_numpy()
    pieces = []

    col_fc = fc[~frame_level]
    if len(col_fc):
        check = col_fc["check"].astype("str")
        number = pd.to_numeric(col_fc["check_number"], errors="coerce")
        # map each distinct (column, check, check_number) once, not once per failing cell
        key = pd.MultiIndex.from_arrays([col_fc["column"].astype("str"), check, number.fillna(-1)])
        codes, uniq = pd.factorize(key)

        def rule_of(colname, chk, num):
            if chk == "not_nullable":
                return "missing_value"
            if num < 0:
                return "wrong_type"
            names = rules.get(colname, [])
            return names[int(num)] if int(num) < len(names) else str(chk)

        rule = np.array([rule_of(*u) for u in uniq], dtype=object)[codes]
        piece = pd.DataFrame(
            {
                "_pos": col_fc["index"].astype("int64").to_numpy(),
                "column": col_fc["column"].astype("str").to_numpy(),
                "rule": rule,
                "value": _format_values(
                    col_fc["failure_case"],
                    col_fc["column"].isin(_float_columns(df)).to_numpy(dtype=bool),
                ),
            }
        )
        # dtype failures are reported once per column, not per row: spread to every row
        wrong = piece["rule"] == "wrong_type"
        piece.loc[wrong, "value"] = col_fc["check"].astype("str").to_numpy()[wrong.to_numpy()]
        pieces.append(piece)

    frm = fc[frame_level]
    if len(frm):
        frm = frm.drop_duplicates(subset=["check", "index"])
        check_codes, check_names = pd.factorize(frm["check"].astype("str"))
        parsed_u = [frame_check_rule(c) for c in check_names]
        pos = frm["index"].astype("int64").to_numpy()
        cols = np.array([c for _, c in parsed_u], dtype=object)[check_codes]
        values = np.empty(len(frm), dtype=object)
        for col in set(cols):
            sel = cols == col
            if col in df.columns and col != SUBJECT:
                values[sel] = _format_values(df[col].iloc[pos[sel]])
            else:
                values[sel] = ""
        pieces.append(
            pd.DataFrame(
                {
                    "_pos": pos,
                    "column": cols,
                    "rule": np.array([r for r, _ in parsed_u], dtype=object)[check_codes],
                    "value": values,
                }
            )
        )

    out = pd.concat(pieces, ignore_index=True)
    out["value"] = safe_values(out["value"].to_numpy(), df[SOURCE_ROW].to_numpy()[out["_pos"].to_numpy()])
    out.loc[out["column"] == SUBJECT, "value"] = ""
    out["message"] = _messages(out, config)
    return _locate(out, df)


def _schema_parts(schema: pa.DataFrameSchema, df: pd.DataFrame):
    """The schema as (column checks on the frame) and (frame-wide checks on the id columns).

    pandera reports a failing frame-wide check once per column of every failing row; running
    the cross-row checks on only the columns they read keeps that table small on large data.
    The checks are the very same objects as in ``schema``.
    """
    yield pa.DataFrameSchema(schema.columns, strict=False, name=schema.name), df
    needed = [SUBJECT, ARM, VISIT]
    needed += [c for c in df.columns if c == DATE]
    needed += sorted({frame_check_rule(c.name)[1] for c in schema.checks} - set(needed))
    needed = [c for c in needed if c in df.columns]
    yield pa.DataFrameSchema(checks=schema.checks, name=schema.name), df[needed]


def _rules_per_row(fail: pd.DataFrame) -> pd.Series:
    """';'-joined rule names per failing row position (vectorised: rows x rules bit masks)."""
    if len(fail) == 0:
        return pd.Series(dtype="str")
    codes, names = pd.factorize(fail["rule"], sort=True)
    if len(names) > 62:  # pragma: no cover - there are 14 rules
        raise RuntimeError("too many distinct rules")
    bits = np.left_shift(np.int64(1), codes.astype(np.int64))
    pos = fail["_pos"].to_numpy()
    order = np.argsort(pos, kind="stable")
    pos_s, bits_s = pos[order], bits[order]
    starts = np.flatnonzero(np.r_[True, pos_s[1:] != pos_s[:-1]])
    masks = np.bitwise_or.reduceat(bits_s, starts)
    unique_masks, inverse = np.unique(masks, return_inverse=True)
    labels = np.array(
        [";".join(n for i, n in enumerate(names) if (int(m) >> i) & 1) for m in unique_masks],
        dtype=object,
    )
    return pd.Series(labels[inverse], index=pos_s[starts])


def _baseline_cascade(df, config, failed_pos, warnings) -> pd.DataFrame | None:
    baseline = config.baseline_visit
    if baseline is None:
        return None
    codes, _ = pd.factorize(df[SUBJECT], use_na_sentinel=True)
    if not (codes >= 0).any():
        return None
    n_part = codes.max() + 1
    has_id = codes >= 0
    kept = ~failed_pos & has_id
    at_base = (df[VISIT] == baseline).fillna(False).to_numpy(dtype=bool)
    base_kept = np.bincount(codes[kept & at_base], minlength=n_part) > 0
    had_base = np.bincount(codes[has_id & at_base], minlength=n_part) > 0
    safe = np.where(has_id, codes, 0)
    lacking = kept & ~base_kept[safe]
    if not lacking.any():
        return None
    if config.baseline_required != "error":
        n_participants = len(np.unique(codes[lacking]))
        warnings.append(
            f"{n_participants} participant(s) have no usable {baseline!r} row; they are kept "
            "(baseline_required: warning) but cannot contribute change scores."
        )
        return None
    # participants that never had a baseline row already failed missing_baseline
    cascade = lacking & had_base[safe]
    if not cascade.any():
        return None
    pos = np.flatnonzero(cascade)
    out = pd.DataFrame(
        {
            "_pos": pos,
            "column": VISIT,
            "rule": "baseline_quarantined",
            "value": df[VISIT].iloc[pos].astype("str").to_numpy(),
            "message": _MESSAGES["baseline_quarantined"],
        }
    )
    return _locate(out, df)


def _messages(out: pd.DataFrame, config: StudyConfig) -> list[str]:
    allowed: dict[tuple[str, str], str] = {}
    for o in config.outcomes:
        allowed[("out_of_range", o.name)] = f"{o.min:g}-{o.max:g}"
        if o.step:
            allowed[("off_step", o.name)] = f"of {o.step:g}"
    for c in config.covariates:
        if c.type == "numeric":
            lo = "-inf" if c.min is None else f"{c.min:g}"
            hi = "inf" if c.max is None else f"{c.max:g}"
            allowed[("out_of_range", c.name)] = f"{lo}-{hi}"
        else:
            allowed[("unknown_level", c.name)] = ", ".join(c.levels)
    allowed[("unknown_arm", ARM)] = ", ".join(config.arm_names)
    allowed[("unknown_visit", VISIT)] = ", ".join(config.visit_names)
    allowed[("missing_baseline", VISIT)] = repr(config.baseline_visit)
    # few distinct (rule, column, value) combinations even on a million rows
    key = pd.MultiIndex.from_arrays(
        [out["rule"].astype("str"), out["column"].astype("str"), out["value"].astype("str")]
    )
    codes, uniq = pd.factorize(key)
    text = np.array(
        [_MESSAGES.get(r, r).format(column=c, value=v, allowed=allowed.get((r, c), "")) for r, c, v in uniq],
        dtype=object,
    )
    return list(text[codes])


ID_PLACEHOLDER = "<a participant id>"


def _hide_participant_ids(failures: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """A failing cell that holds another participant's id (shifted columns, a pasted id) is
    shown as ``<a participant id>``, in ``value`` and in the message. Plain numbers are kept:
    with numeric ids every score would look like an id, and a number in a text column is a
    code far more often than an id."""
    if len(failures) == 0:
        return failures
    from ..files import is_number_text  # the report's redaction spares the same numbers

    values = failures["value"].astype("str")
    candidate = (values != "") & ~values.map(is_number_text).astype(bool)
    if not candidate.any():
        return failures
    # few distinct failing texts: look them up among the ids, not the ids among them
    texts = pd.unique(values[candidate].to_numpy(dtype=object))
    is_id = df[SUBJECT].isin(texts).to_numpy(dtype=bool)
    id_texts = set(pd.unique(df[SUBJECT].to_numpy(dtype=object)[is_id])) if is_id.any() else set()
    hit = (candidate & values.isin(id_texts)).to_numpy(dtype=bool)
    if not hit.any():
        return failures
    failures = failures.copy()
    hidden = values[hit]
    failures.loc[hit, "message"] = [
        m.replace(f"'{v}'", f"'{ID_PLACEHOLDER}'").replace(f"= {v} ", f"= {ID_PLACEHOLDER} ")
        for m, v in zip(failures.loc[hit, "message"], hidden)
    ]
    failures.loc[hit, "value"] = ID_PLACEHOLDER
    return failures


def _locate(frame: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    pos = frame["_pos"].to_numpy()
    frame = frame.copy()
    # take the failing rows first: the whole file column as objects costs ~0.5 s a million rows
    frame["file"] = df[SOURCE_FILE].take(pos).to_numpy(dtype=object)
    frame["row"] = df[SOURCE_ROW].to_numpy()[pos]
    return frame[["_pos", *FAILURE_COLUMNS]]


def _concat_failures(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    pieces = [p for p in pieces if p is not None and len(p)]
    if not pieces:
        return _empty_failures(with_pos=True)
    out = pd.concat(pieces, ignore_index=True)
    out = out.drop_duplicates(subset=["_pos", "rule", "column"])
    return out.astype({"_pos": "int64", "row": "int64"})


def _empty_failures(with_pos: bool = False) -> pd.DataFrame:
    cols = (["_pos"] if with_pos else []) + FAILURE_COLUMNS
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("_pos", "row") else "str") for c in cols})


def _format_values(values: pd.Series, numeric: np.ndarray | bool | None = None) -> np.ndarray:
    """Cells as short text: 11.0 -> '11', 2.5 -> '2.5', missing -> ''.

    ``numeric`` marks the cells that come from float columns (only those lose a trailing
    ``.0``; text such as an arm typo ``"1.0"`` is shown as written). ``None``: from the dtype.
    """
    s = pd.Series(values).reset_index(drop=True)
    if numeric is None:
        numeric = pd.api.types.is_float_dtype(s.dtype)
    text = s.astype("str")
    numeric = np.broadcast_to(np.asarray(numeric, dtype=bool), (len(s),))
    if numeric.any():
        text = text.where(~numeric, text.str.replace(r"\.0$", "", regex=True))
    return text.where(s.notna(), "").to_numpy(dtype=object)


def _float_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if pd.api.types.is_float_dtype(df[c].dtype)]


def _canonical_columns(df: pd.DataFrame, config: StudyConfig) -> list[str]:
    cols = [SUBJECT, ARM, VISIT, *config.outcome_names, *(c.name for c in config.covariates)]
    if DATE in df.columns:
        cols.append(DATE)
    return cols + [SOURCE_FILE, SOURCE_ROW]


#: The start of the message of a row the visit windows left out (prt_outcomes.ingest).
VISIT_WINDOW_MESSAGE = "row left out by the visit windows"


def _filtered(ingest: IngestResult | None) -> pd.DataFrame:
    if ingest is None or len(ingest.issues) == 0:
        return _empty_failures()
    f = ingest.issues[ingest.issues["rule"] == "filtered_by_config"]
    return f[FAILURE_COLUMNS].reset_index(drop=True)


def _summary(df: pd.DataFrame, failed_pos: np.ndarray, ingest: IngestResult | None) -> pd.DataFrame:
    files = pd.unique(df[SOURCE_FILE])
    per_in = df[SOURCE_FILE].value_counts()
    per_q = df.loc[failed_pos, SOURCE_FILE].value_counts()
    names = list(ingest.rows_in) if ingest is not None else list(files)
    names += [f for f in files if f not in names]
    rows = []
    for name in names:
        n_in = int(per_in.get(name, 0))
        n_q = int(per_q.get(name, 0))
        n_filt = int(ingest.rows_filtered.get(name, 0)) if ingest is not None else 0
        n_read = int(ingest.rows_in.get(name, n_in + n_filt)) if ingest is not None else n_in
        rows.append((name, n_read, n_filt, n_in, n_in - n_q, n_q))
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    total = ["total", *summary[SUMMARY_COLUMNS[1:]].sum().astype("int64").tolist()]
    summary.loc[len(summary)] = total
    return summary.astype({c: "int64" for c in SUMMARY_COLUMNS[1:]})


def _rule_counts(failures: pd.DataFrame, filtered: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat([failures[["rule", "column"]], filtered[["rule", "column"]]], ignore_index=True)
    if len(both) == 0:
        return pd.DataFrame(
            {"rule": pd.Series(dtype="str"), "column": pd.Series(dtype="str"), "n": pd.Series(dtype="int64")}
        )
    counts = both.groupby(["rule", "column"], sort=False).size().rename("n").reset_index()
    return counts.sort_values(["n", "rule"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _md_table(frame: pd.DataFrame) -> str:
    # the same escaping as every other Markdown table: data values are text, never HTML or links
    from functools import partial

    from ..files import markdown_text

    esc = partial(markdown_text, true_minus=False)
    cols = [esc(str(c)) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(esc("" if pd.isna(v) else str(v)) for v in row) + " |")
    return "\n".join(lines)


def _plain_table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, max_colwidth=70) if len(frame) else "(none)"
