"""Read study data files into the pipeline's canonical long frame.

One entry point, :func:`read_study_data`, turns the files a study config names (CSV, XLSX or
Parquet; long or wide; one or several) into one long frame with the canonical columns
``participant_id, arm, visit, <outcomes>, <covariates>, source_file, source_row`` (see
``docs/architecture.md``). Every row keeps the file and the 1-based line it came from (header =
line 1; for wide files the participant's line), so validation can point at the exact cell.

Ingest is deliberately forgiving about *values* and strict about *structure*:

* values that cannot be used (text in a score, ``inf``, an ambiguous ``2,000``, an unparseable
  date, a formula without a saved value) become missing in ``data`` and are listed in
  ``issues`` with the raw text, so validation quarantines the row and the report shows what was
  in the file; so are lines that cannot be trusted as a whole (fewer fields than the header,
  not valid UTF-8, a repeated header line, a record that swallowed the following lines);
* arm, visit and categorical covariate values that match no code are kept as they were written,
  so validation can report ``unknown_arm`` with the typo itself;
* structure problems (missing file, empty file, wrong file type, missing required column,
  unreadable workbook, a workbook with several sheets and no ``sheet:``, two wide columns for
  one outcome x visit, columns that look like direct identifiers) raise :class:`InputError`,
  whose one-paragraph message names the file and says what to do.

Examples
--------
>>> from prt_outcomes.config import load_config
>>> from prt_outcomes.ingest import read_study_data
>>> cfg = load_config("config/config.yaml")                       # doctest: +SKIP
>>> ingest = read_study_data(cfg)                                 # doctest: +SKIP
>>> ingest.data.columns[:3].tolist(), ingest.rows_in              # doctest: +SKIP
(['participant_id', 'arm', 'visit'], {'outcomes_long.csv': 2114})
"""

from __future__ import annotations

import csv
import io as _stdio
import re
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .config import (
    ARM,
    DATE,
    SOURCE_FILE,
    SOURCE_ROW,
    SUBJECT,
    VISIT,
    WHOLE_NUMBER_WITH_ZEROS,
    DataFile,
    StudyConfig,
    normalise_code,
    resolve_path,
)
from .errors import PrtOutcomesError

__all__ = [
    "InputError",
    "IngestResult",
    "ISSUE_COLUMNS",
    "read_study_data",
    "read_raw_table",
    "find_identifier_columns",
    "normalise_codes",
    "INPUT_FORMATS",
    "InputFormat",
]

ISSUE_COLUMNS = ["file", "row", "column", "rule", "value", "message"]

_NUMERIC_RE = re.compile(WHOLE_NUMBER_WITH_ZEROS)


class InputError(PrtOutcomesError):
    """A data file cannot be used at all; the message names the file and says what to do."""


@dataclass
class IngestResult:
    """What :func:`read_study_data` read.

    Attributes
    ----------
    data : DataFrame
        Long frame in canonical columns. Outcomes and numeric covariates are float64 (cells
        that could not be parsed are missing here and listed in ``issues``); ``arm``, ``visit``
        and categorical covariates are strings mapped through the config codes, unmatched
        values kept as written; ``source_row`` is the line in the original file.
    issues : DataFrame
        Ingest-level problems, columns ``file, row, column, rule, value, message``. Rules
        that quarantine the row in validation: ``not_numeric``, ``not_finite``,
        ``ambiguous_number``, ``not_a_date``, ``short_record``, ``repeated_header``,
        ``encoding``, ``formula_without_value``, ``line_break_in_cell``; and
        ``filtered_by_config`` (row left out by the file's ``filter``; counted, not a failure).
        ``value`` never holds a participant id, a line break or more than
        :data:`MAX_VALUE_CHARS` characters (:func:`safe_values`).
    rows_in : dict
        Data lines read per file (blank lines excluded), before the filter.
    rows_filtered : dict
        Lines per file left out by the config filter.
    layouts : dict
        ``long`` or ``wide`` per file (for wide files ``data`` has one row per participant x
        visit, so its row count differs from ``rows_in``).
    issue_index : ndarray of int64
        For each ``issues`` row, the position of the affected row in ``data`` (-1 for rows
        left out by the filter). Wide files have several ``data`` rows per file line, so
        validation uses this rather than the line number to quarantine the right row.
    encodings : dict
        How each file's text was decoded (``utf-8``, ``cp1252``, ``utf-16``, ...; ``xlsx`` /
        ``parquet`` for binary formats).
    notes : list of str
        Things reading changed or assumed that the user should know (a file read as cp1252,
        byte-order marks removed inside a file); validation shows them as warnings.

    Files are keyed by their label (:func:`source_labels`): the file name, or a longer part of
    the path when two inputs share a name.
    """

    data: pd.DataFrame
    issues: pd.DataFrame
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_filtered: dict[str, int] = field(default_factory=dict)
    layouts: dict[str, str] = field(default_factory=dict)
    issue_index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    encodings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------
def read_study_data(config: StudyConfig, files: Sequence[str | Path] | None = None) -> IngestResult:
    """Read every data file of a study into one canonical long frame.

    Parameters
    ----------
    config : StudyConfig
        The study configuration (files, column mapping, codes, missing codes, filters).
    files : sequence of path, optional
        Read these files instead of the config's. Each takes the reading options (layout,
        separator, pattern, filter, ...) of the config's first file entry; the format comes
        from the file suffix.

    Returns
    -------
    IngestResult

    Raises
    ------
    InputError
        When a file is missing, empty, of an unsupported type, unreadable, lacks a required
        column, repeats a column name, has lines longer than its header, holds columns that
        look like direct identifiers, or has no rows left after its filter.

    Notes
    -----
    * ``filter: {column: value}`` keeps rows whose cell equals the code ``value``
      (case-blind, ``1.0`` equals ``1``); the values ``"<present>"`` / ``"<missing>"`` keep
      rows where the cell is / is not missing. Left-out rows are issues with rule
      ``filtered_by_config``.
    * Numbers: decimal point or comma (set ``decimal: "."`` to refuse commas); missing codes
      apply to every column, numeric codes also when written ``-99.0``. ``2,000`` is
      ``ambiguous_number`` (thousands separator or decimal comma?) unless the column's other
      cells use decimal commas or the file sets ``decimal:``; ``inf``, ``-inf`` and ``NaN``
      written out are ``not_finite`` (unless listed as missing codes).
    * Structure of lines: a line with fewer fields than the header (a truncated export) is
      ``short_record``; a line that repeats the header (concatenated exports) is
      ``repeated_header``; a used cell holding a line break (an unmatched quote swallowed the
      next lines) is ``line_break_in_cell``. Those rows are quarantined, never read as missing
      values. Byte-order marks inside a file are removed (and said so in ``notes``), so a
      participant's lines after a concatenation point are not a new participant.
    * Text encoding: ``encoding:`` if set; UTF-16 when the file starts with its BOM; else UTF-8,
      strictly: lines that are not valid UTF-8 in an otherwise UTF-8 file are quarantined (rule
      ``encoding``) and the rest stays UTF-8; a file with no UTF-8 character at all is read as
      Windows-1252 and ``notes`` says so. ``encodings`` records what was used per file.
    * Workbooks: a workbook with more than one sheet must name it (``sheet:`` in the file's
      entry); formula cells without a saved value are ``formula_without_value`` (value = the
      cell reference), not empty cells.
    * Wide files: visit suffixes are matched case-blind; two columns for the same outcome and
      visit are refused.
    * Files are labelled by name, or by the shortest tail of the path as given that tells two
      same-named files apart (:func:`source_labels`).
    * Privacy: column names and every value of text columns are checked for names,
      e-mail addresses, phone numbers, addresses and dates of birth; participant id values
      that are e-mail addresses or phone numbers are refused too. ``data.allow_identifiers``
      lists columns to let through.

    Examples
    --------
    >>> ingest = read_study_data(cfg, files=["export.csv"])      # doctest: +SKIP
    >>> ingest.issues.query("rule == 'not_numeric'")              # doctest: +SKIP
    """
    if files is None:
        specs = [(f, resolve_path(config.base_dir, f.path)) for f in config.files]
    else:
        template = config.files[0]
        specs = [(replace(template, path=str(p), format=None), Path(p)) for p in files]
    if not specs:
        raise InputError("no data files were given; list them under data.files in the config.")

    labels = source_labels([spec.path for spec, _ in specs], [path for _, path in specs])
    frames, issues = [], []
    rows_in, rows_filtered, layouts, encodings, notes = {}, {}, {}, {}, []
    offset = 0
    for (spec, path), label in zip(specs, labels):
        frame, file_issues, n_read, n_filtered, raw = _read_one(config, spec, path, label)
        for issue in file_issues:
            pos = issue["_pos"].to_numpy()
            issue["_pos"] = np.where(pos >= 0, pos + offset, -1)
        offset += len(frame)
        rows_in[label] = n_read
        rows_filtered[label] = n_filtered
        layouts[label] = spec.layout
        encodings[label] = raw.encoding
        notes.extend(raw.notes)
        frames.append(frame)
        issues.extend(file_issues)

    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    issue_frame = pd.concat(issues, ignore_index=True) if issues else _empty_issues()
    issue_frame = issue_frame.astype({"row": "int64", "_pos": "int64"})
    issue_index = issue_frame.pop("_pos").to_numpy()
    return IngestResult(data, issue_frame, rows_in, rows_filtered, layouts, issue_index, encodings, notes)


def source_labels(given: Sequence[str | Path], resolved: Sequence[Path]) -> list[str]:
    """How each input file is named in ``source_file``, the summary and the failures.

    The file name when the names are unique (the usual case); when two inputs share a name, the
    shortest trailing part of the path as given that tells them apart (``site_a/data.csv``,
    ``site_b/data.csv``): never an absolute path, so outputs do not depend on where the project
    lives. The same file listed twice is refused.

    >>> given = ["a/x.csv", "b/x.csv", "y.csv"]
    >>> source_labels(given, [Path("/p") / g for g in given])
    ['a/x.csv', 'b/x.csv', 'y.csv']
    """
    resolved = [Path(r) for r in resolved]
    seen: dict[str, int] = {}
    for i, r in enumerate(resolved):
        key = str(r.resolve()) if r.exists() else str(r)
        if key in seen:
            raise InputError(
                f"data file '{r}' is listed twice (entries {seen[key] + 1} and {i + 1} of the "
                "data files); its rows would be read twice. Remove one of the entries."
            )
        seen[key] = i
    parts = [Path(g).parts or r.parts for g, r in zip(given, resolved)]
    labels = [r.name for r in resolved]
    for depth in range(2, max(len(p) for p in parts) + 1):
        counts = Counter(labels)
        if max(counts.values()) == 1:
            break
        labels = [
            "/".join(p[-depth:]).lstrip("/") if counts[lab] > 1 else lab for p, lab in zip(parts, labels)
        ]
    counts = Counter(labels)
    if max(counts.values()) > 1:  # same tail everywhere (different base directories)
        labels = [f"{lab} ({i + 1})" if counts[lab] > 1 else lab for i, lab in enumerate(labels)]
    return labels


# --------------------------------------------------------------------------------------------
# reading raw tables
# --------------------------------------------------------------------------------------------
def read_raw_table(path: str | Path, spec: DataFile | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Read one file as text cells and return it with each row's line number.

    CSV separators (``,`` ``;`` tab) are detected from the header line unless the spec sets
    ``sep``. Text is decoded strictly (see :func:`read_study_data`, Notes). Cells are returned
    as stripped strings (Parquet keeps its own column types).

    Returns
    -------
    table : DataFrame
        One column per file column, RangeIndex.
    lines : ndarray of int64
        Line of each row in the original file, header = line 1 (XLSX: sheet row; Parquet:
        record number + 1, as if it were exported to CSV).

    Raises
    ------
    InputError
        Missing, empty, unreadable, or unsupported file.

    Examples
    --------
    >>> table, lines = read_raw_table("tests/malformed/ok.csv")
    >>> table.columns[:3].tolist(), lines[:3].tolist()
    (['id', 'group', 'visit'], [2, 3, 4])
    """
    raw = _read_raw(Path(path), spec or DataFile(path=str(path)))
    return raw.table, raw.lines


@dataclass
class _RawTable:
    """A file's cells plus what reading them found: row-level issues (keyed by line, so they
    follow the row through the filter and the wide reshape), notes for the report, encoding."""

    table: pd.DataFrame
    lines: np.ndarray
    row_issues: list[pd.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoding: str = ""
    #: False for a CSV without quotes: none of its cells can hold a line break
    line_breaks_possible: bool = True


def _read_raw(path: Path, spec: DataFile) -> _RawTable:
    fmt = spec.format or _FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        readable = [f"{f.label} ({f.suffixes[0]})" for f in INPUT_FORMATS.values()]
        raise InputError(
            f"data file '{path}' has the extension '{path.suffix or '(none)'}', which prt-outcomes "
            f"cannot read. Export the data as {', '.join(readable[:-1])} or {readable[-1]}, or "
            "set 'format:' for this file in the config's data.files entry."
        )
    if not path.exists():
        raise InputError(
            f"data file '{path}' does not exist. Check the path under data.files in the config "
            "(relative paths are resolved from the directory you run prt-outcomes in) or the "
            "--data argument."
        )
    if path.is_dir():
        raise InputError(f"data file '{path}' is a directory; give the path of a file inside it.")
    if path.stat().st_size == 0:
        raise InputError(
            f"data file '{path}' is empty (0 bytes). Re-export the data with a header line and "
            "one line per participant and visit."
        )
    raw = INPUT_FORMATS[fmt].reader(path, spec)
    if len(raw.table) == 0:
        raise InputError(
            f"data file '{path}' has a header but no data rows. Re-export it with the data, or "
            "remove it from data.files."
        )
    return raw


def _row_issue(rows, column, rule, message, value="") -> pd.DataFrame:
    """Issues of whole file lines (``row`` = line); located in the long frame later."""
    rows = np.asarray(rows, dtype=np.int64)
    return pd.DataFrame({"row": rows, "column": column, "rule": rule, "value": value, "message": message})


# A UTF-8 multi-byte sequence (2-4 bytes, no overlong forms): a file holding none of them and
# failing UTF-8 is a genuinely single-byte (Windows-1252 / latin-1) file.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xef][\x80-\xbf]{2}"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def _decode(path: Path, raw: bytes) -> tuple[str, str, list[int]]:
    """Decode a CSV's bytes strictly: (text, encoding, physical lines that are not UTF-8).

    UTF-8 (with or without BOM) first. A file with no UTF-8 multi-byte sequence at all is a
    single-byte export and is read as Windows-1252 (latin-1 for its 5 undefined bytes). A file
    that is UTF-8 except for some lines keeps UTF-8 everywhere: the other lines are decoded with
    a replacement character and returned, so their records are quarantined (rule ``encoding``)
    instead of the whole file being re-decoded and every accented label garbled.
    """
    if b"\x00" in raw[:4096] or raw[:4] == b"PK\x03\x04":
        raise InputError(
            f"data file '{path}' looks binary, not like a text CSV (it may be an Excel file with "
            "a .csv name). Export it as CSV, or give it its real extension."
        )
    try:
        return raw.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError:
        pass
    if not _UTF8_MULTIBYTE.search(raw):
        try:
            return raw.decode("cp1252"), "cp1252", []
        except UnicodeDecodeError:
            return raw.decode("latin-1"), "latin-1", []
    parts, bad = [], []
    for line_no, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            parts.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            parts.append(chunk.decode("utf-8", errors="replace"))
            bad.append(line_no)
    if bad and bad[0] == 1:
        raise InputError(
            f"data file '{path}': line 1 (the header) is not valid UTF-8, so its column names "
            "cannot be trusted. Re-save the file as UTF-8 (in Excel: 'CSV UTF-8'), or set "
            "'encoding:' for this file in the config."
        )
    return "\n".join(parts), "utf-8", bad


def _read_csv(path: Path, spec: DataFile) -> _RawTable:
    raw = path.read_bytes()
    bad_lines: list[int] = []
    notes: list[str] = []
    if spec.encoding:
        try:
            text = raw.decode(spec.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                f"data file '{path}' cannot be decoded as {spec.encoding!r} ({exc}). Set the "
                "right 'encoding:' for this file in the config, or re-save it as UTF-8."
            ) from None
        encoding = spec.encoding
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode text" export: UTF-16 with BOM, usually tab separated
        text, encoding = raw.decode("utf-16"), "utf-16"
    else:
        text, encoding, bad_lines = _decode(path, raw)
        if encoding != "utf-8":
            notes.append(
                f"{path.name} is not UTF-8; it holds no UTF-8 character at all and was read as "
                f"{'Windows-1252' if encoding == 'cp1252' else 'latin-1'}. Check its accented "
                "labels, or re-save it as UTF-8."
            )
    if "\x00" in text[:4096]:
        raise InputError(
            f"data file '{path}' looks binary, not like a text CSV (it may be an Excel file with "
            "a .csv name). Export it as CSV, or give it its real extension."
        )
    # byte-order marks inside the text come from concatenated exports: one would glue itself to
    # the first cell of its line (a participant id "\ufeffP01" that is not "P01")
    inner_boms = text[1:].count("\ufeff")
    text = text.replace("\ufeff", "")
    if inner_boms:
        notes.append(
            f"{path.name} holds {inner_boms} byte-order mark(s) (U+FEFF) inside the file, as "
            "concatenated exports do; they were removed, so the cells they preceded compare "
            "equal to the same text elsewhere."
        )
    if not text.strip():
        raise InputError(
            f"data file '{path}' holds no text. Re-export the data with a header line and one "
            "line per participant and visit."
        )
    first_line = text.splitlines()[0]
    if not first_line.strip():
        raise InputError(
            f"data file '{path}': line 1 is empty, so there is no header. Put the column names "
            "on line 1 (delete the empty lines above them)."
        )
    sep = spec.sep or _detect_separator(first_line)
    header = [_clean_name(c) for c in next(csv.reader([first_line], delimiter=sep))]
    _refuse_duplicate_names(path, header)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            table = pd.read_csv(
                _stdio.StringIO(text),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                quoting=csv.QUOTE_MINIMAL,
                # never promote the first column to an index when lines end with a separator
                index_col=False,
                engine="c",
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(
            f"data file '{path}' is not a well-formed table: {str(exc).strip()}. Check that every "
            f"line has the same number of '{sep}'-separated fields as the header (quote cells "
            "that contain the separator)."
        ) from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        _refuse_extra_fields(path, text, sep)
    table.columns = [_clean_name(c) for c in table.columns]
    lines = np.arange(2, len(table) + 2, dtype=np.int64)
    counts = None
    if '"' in text:
        lines, counts = _record_starts_and_widths(text, sep, len(table), lines)
    if counts is None:
        counts = _fields_per_line(text, sep, len(table))
    row_issues = []
    if bad_lines:
        # a physical line belongs to the record that starts on it or before it
        owner = lines[np.clip(np.searchsorted(lines, bad_lines, side="right") - 1, 0, None)]
        row_issues.append(
            _row_issue(
                np.unique(owner),
                "",
                "encoding",
                "this line is not valid UTF-8 while the rest of the file is; its cells cannot be "
                "trusted: re-save the file as UTF-8 (in Excel: 'CSV UTF-8')",
            )
        )
    if counts is not None:
        width = len(table.columns)
        short = counts < width
        if short.any():
            short &= ~_blank_mask(table)  # a blank line is dropped below, not reported
        if short.any():
            got = counts[short]
            row_issues.append(
                pd.DataFrame(
                    {
                        "row": lines[short],
                        "column": [table.columns[k] for k in got],
                        "rule": "short_record",
                        "value": "",
                        "message": [
                            f"the line has {k} of the header's {width} fields (a truncated "
                            "export?); its missing cells are not read as empty: re-export the "
                            "file or complete the line"
                            for k in got
                        ],
                    }
                )
            )
    repeated = _repeated_header_rows(table)
    if repeated.any():
        row_issues.append(
            _row_issue(
                lines[repeated],
                "",
                "repeated_header",
                "the line repeats the header (concatenated exports?); delete it",
            )
        )
    keep_lines = np.unique(np.concatenate([r["row"].to_numpy() for r in row_issues])) if row_issues else None
    table, lines = _drop_blank_rows(table, lines, keep_lines)
    return _RawTable(table, lines, row_issues, notes, encoding, line_breaks_possible='"' in text)


def _repeated_header_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows whose cells are the column names again."""
    if table.shape[1] == 0:
        return np.zeros(len(table), dtype=bool)
    same = np.ones(len(table), dtype=bool)
    for col in table.columns[:3]:
        same &= (table[col].astype("string").str.strip() == col).fillna(False).to_numpy(dtype=bool)
        if not same.any():
            return same
    for col in table.columns[3:]:
        same &= (table[col].astype("string").str.strip() == col).fillna(False).to_numpy(dtype=bool)
    return same


def _fields_per_line(text: str, sep: str, n_rows: int) -> np.ndarray | None:
    """Fields on each data line of a text without quotes (vectorised over the bytes), or None
    when the lines do not line up with the parsed rows."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    newline = np.flatnonzero(data == 10)
    if len(newline) == 0 or len(sep.encode()) != 1:
        return None
    ends = newline if newline[-1] == len(data) - 1 else np.r_[newline, len(data)]
    starts = np.r_[0, ends[:-1] + 1]
    sep_at = np.flatnonzero(data == sep.encode()[0])
    counts = np.searchsorted(sep_at, ends) - np.searchsorted(sep_at, starts) + 1
    counts = counts[1:]  # the header
    if len(counts) != n_rows:
        return None
    # an empty line (or a lone "\r") has one empty field
    return counts.astype(np.int64)


def _record_starts_and_widths(text: str, sep: str, n_rows: int, default: np.ndarray):
    """Line on which each record starts and its number of fields, when quoted cells may span
    several lines. ``(default, None)`` when the two parsers disagree."""
    reader = csv.reader(_stdio.StringIO(text), delimiter=sep)
    starts, widths = [], []
    previous_end = 0
    for fields in reader:
        starts.append(previous_end + 1)
        widths.append(len(fields) if fields else 1)
        previous_end = reader.line_num
    starts, widths = starts[1:], widths[1:]  # the header
    if len(starts) != n_rows:  # keep the simple numbering
        return default, None
    return np.asarray(starts, dtype=np.int64), np.asarray(widths, dtype=np.int64)


def _refuse_extra_fields(path: Path, text: str, sep: str) -> None:
    """Lines longer than the header are fine only when the extra fields are empty
    (a trailing separator); otherwise pandas would drop values, so refuse the file."""
    reader = csv.reader(_stdio.StringIO(text), delimiter=sep)
    width = None
    for line_no, fields in enumerate(reader, start=1):
        if width is None:
            width = len(fields)
            continue
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            raise InputError(
                f"data file '{path}' is not a well-formed table: line {line_no} has "
                f"{len(fields)} '{sep}'-separated fields but the header has {width}. Check that "
                "every line has as many fields as the header (quote cells that contain the "
                "separator)."
            )


def _refuse_duplicate_names(path: Path, names: list[str]) -> None:
    seen, dup = set(), []
    for n in names:
        if n in seen and n not in dup and n:
            dup.append(n)
        seen.add(n)
    if dup:
        raise InputError(
            f"data file '{path}' has duplicated column names {dup}. Rename them so that each "
            "column name appears once."
        )


def _detect_separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _read_xlsx(path: Path, spec: DataFile) -> _RawTable:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
        sheets = list(book.sheet_names)
        sheet = _choose_sheet(path, spec, sheets)
        table = pd.read_excel(book, sheet_name=sheet, dtype=str, keep_default_na=False, na_filter=False)
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"data file '{path}' cannot be read as an Excel workbook ({type(exc).__name__}: "
            f"{str(exc).strip() or 'no details'}). Open it in Excel and save it again as .xlsx, "
            "or export the sheet as CSV; check 'sheet:' in the config names an existing sheet."
        ) from None
    except Exception as exc:  # openpyxl raises a zoo of its own errors on corrupt files
        raise InputError(
            f"data file '{path}' cannot be read as an Excel workbook ({type(exc).__name__}). "
            "Open it in Excel and save it again as .xlsx, or export the sheet as CSV."
        ) from None
    table.columns = [_clean_name(c) for c in table.columns]
    # pandas renames a repeated header "pain" to "pain.1"; a workbook cannot tell us otherwise
    mangled = [
        c
        for c in table.columns
        if re.fullmatch(r"(.+)\.\d+", c) and re.fullmatch(r"(.+)\.\d+", c).group(1) in table.columns
    ]
    if mangled:
        _refuse_duplicate_names(path, [re.fullmatch(r"(.+)\.\d+", c).group(1) for c in mangled] * 2)
    if len(table.columns) and all(c.startswith("Unnamed:") for c in table.columns):
        raise InputError(
            f"data file '{path}': the first row of the sheet is empty, so there is no header. "
            "Put the column names in row 1 (delete the empty rows above them)."
        )
    table = table.apply(lambda s: s.str.replace("\ufeff", "").str.strip() if _is_text(s) else s)
    lines = np.arange(2, len(table) + 2, dtype=np.int64)
    row_issues = _formulas_without_values(path, sheet, table)
    keep_lines = np.unique(np.concatenate([r["row"].to_numpy() for r in row_issues])) if row_issues else None
    table, lines = _drop_blank_rows(table, lines, keep_lines)
    return _RawTable(table, lines, row_issues, [], "xlsx")


def _choose_sheet(path: Path, spec: DataFile, sheets: list[str]):
    """The sheet the config names; a workbook with several sheets must name one."""
    listing = ", ".join(repr(s) for s in sheets)
    if spec.sheet is None:
        if len(sheets) > 1:
            raise InputError(
                f"data file '{path}' is an Excel workbook with {len(sheets)} sheets ({listing}) "
                "and the config does not say which one holds the data. Add 'sheet: <name>' to "
                "this file's entry under data.files (one entry per sheet if several hold data), "
                "or keep only the data sheet in the workbook."
            )
        return 0
    if isinstance(spec.sheet, int) and not isinstance(spec.sheet, bool):
        if not 0 <= spec.sheet < len(sheets):
            raise InputError(
                f"data file '{path}': 'sheet: {spec.sheet}' is not a sheet of the workbook (its "
                f"sheets, numbered from 0, are {listing}). Fix 'sheet:' under data.files."
            )
        return spec.sheet
    if str(spec.sheet) not in sheets:
        raise InputError(
            f"data file '{path}' has no sheet {str(spec.sheet)!r}; its sheets are {listing}. "
            "Fix 'sheet:' under data.files."
        )
    return str(spec.sheet)


def _formulas_without_values(path: Path, sheet, table: pd.DataFrame) -> list[pd.DataFrame]:
    """Formula cells whose workbook holds no saved result (written by a library, never opened
    in a spreadsheet program): pandas reads them as empty; report them instead."""
    import openpyxl  # the xlsx engine; imported here so CSV-only use does not load it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
    except Exception:  # noqa: BLE001 - pandas already read the workbook; nothing to add
        return []
    try:
        ws = book.worksheets[sheet] if isinstance(sheet, int) else book[sheet]
        header: list[str] = []
        found: list[tuple[int, str, str]] = []
        for row in ws.iter_rows():
            for cell in row:
                if getattr(cell, "row", None) == 1:
                    header.append(_clean_name(cell.value) if cell.value is not None else "")
                elif cell.data_type == "f":
                    col = cell.column - 1
                    name = header[col] if col < len(header) else ""
                    found.append((cell.row, name, cell.coordinate))
    finally:
        book.close()
    rows, cols, refs = [], [], []
    for line, name, ref in found:
        pos = line - 2
        value = table[name].iloc[pos] if name in table.columns and 0 <= pos < len(table) else ""
        if value is None or (isinstance(value, str) and value.strip() == "") or pd.isna(value):
            rows.append(line)
            cols.append(name)
            refs.append(ref)
    if not rows:
        return []
    return [
        pd.DataFrame(
            {
                "row": np.asarray(rows, dtype=np.int64),
                "column": cols,
                "rule": "formula_without_value",
                "value": refs,
                "message": [
                    f"{c or 'a column'}: cell {r} holds a formula but no saved value (the "
                    "workbook was written by a program that does not calculate formulas), so it "
                    "would read as empty: open the workbook in Excel or LibreOffice and save it, "
                    "or export the values only"
                    for c, r in zip(cols, refs)
                ],
            }
        )
    ]


def _read_parquet(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow's errors differ by version; all mean "unreadable"
        raise InputError(
            f"data file '{path}' cannot be read as Parquet ({type(exc).__name__}). Write it "
            "again with pandas.DataFrame.to_parquet, or export it as CSV."
        ) from None
    table = table.reset_index(drop=True)
    table.columns = [_clean_name(c) for c in table.columns]
    lines = np.arange(2, len(table) + 2, dtype=np.int64)
    return table, lines


def _read_parquet_table(path: Path, spec: DataFile) -> _RawTable:
    table, lines = _read_parquet(path)
    return _RawTable(table, lines, encoding="parquet")


@dataclass(frozen=True)
class InputFormat:
    """One row of :data:`INPUT_FORMATS`: a data-file format the readers understand.

    ``name`` is the value of ``data.files[].format`` in a config, ``label`` how messages name
    it, ``suffixes`` the file extensions that select it (the first is the one messages
    suggest), ``reader`` the function ``(path, spec) -> _RawTable`` that reads a file.
    """

    name: str
    label: str
    suffixes: tuple[str, ...]
    reader: Callable[[Path, DataFile], _RawTable]


#: The input formats, by name: the one table that suffix detection, the reader dispatch and the
#: unreadable-extension message read, and that the config schema's ``data.files[].format`` enum
#: and config/README.md are checked against (tests/test_registries.py).
INPUT_FORMATS: dict[str, InputFormat] = {
    fmt.name: fmt
    for fmt in (
        InputFormat("csv", "CSV", (".csv", ".tsv"), _read_csv),
        InputFormat("xlsx", "Excel", (".xlsx", ".xlsm"), _read_xlsx),
        InputFormat("parquet", "Parquet", (".parquet", ".pq"), _read_parquet_table),
    )
}
_FORMAT_OF_SUFFIX = {suffix: fmt.name for fmt in INPUT_FORMATS.values() for suffix in fmt.suffixes}


def _clean_name(name) -> str:
    return str(name).replace("\ufeff", "").strip()


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _blank_mask(table: pd.DataFrame) -> np.ndarray:
    blank = np.ones(len(table), dtype=bool)
    for col in table.columns:
        s = table[col]
        blank &= (s.isna() | (s.astype(str).str.strip() == "")).to_numpy()
        if not blank.any():
            break
    return blank


def _drop_blank_rows(
    table: pd.DataFrame, lines: np.ndarray, keep_lines: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Drop rows whose every cell is empty, except those on ``keep_lines`` (a reported issue)."""
    if table.shape[1] == 0:
        return table, lines
    blank = _blank_mask(table)
    if keep_lines is not None and len(keep_lines):
        blank &= ~np.isin(lines, keep_lines)
    if blank.any():
        keep = ~blank
        table = table.loc[keep].reset_index(drop=True)
        lines = lines[keep]
    return table, lines


# --------------------------------------------------------------------------------------------
# codes and values
# --------------------------------------------------------------------------------------------
def normalise_codes(values: pd.Series) -> pd.Series:
    """Codes compared case-blind, stripped, with ``"1.0"`` equal to ``"1"``.

    >>> normalise_codes(pd.Series([" PRT", "1.0", "Usual care"])).tolist()
    ['prt', '1', 'usual care']
    """
    s = values.astype("string").str.strip().str.lower()
    return s.str.replace(WHOLE_NUMBER_WITH_ZEROS, r"\1", regex=True)


def _map_codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map raw codes to names; unmatched values stay as written (validation reports them)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.array([pd.NA] * len(values), dtype="string"), index=values.index)
    raw_u = pd.Series(uniques).astype("string").str.strip()
    norm_u = normalise_codes(raw_u)
    # as text before the fill: with no code matching (an empty mapping, e.g. a categorical
    # covariate without levels) the mapped values are all-NaN floats, which cannot take text
    mapped_u = norm_u.map(mapping).astype("string")
    out_u = mapped_u.where(mapped_u.notna(), raw_u).astype("string")
    # spread the few distinct names over the rows inside Arrow (a take on the codes): going
    # through a million-element object array cost seconds on large data
    name_codes, names = pd.factorize(out_u.to_numpy(dtype=object), use_na_sentinel=True)
    row_codes = np.where(codes < 0, -1, name_codes[np.where(codes < 0, 0, codes)])
    dictionary = pa.array(list(names), type=pa.large_string())
    taken = pc.take(dictionary, pa.array(row_codes, mask=row_codes < 0, type=pa.int64()))
    return pd.Series(pd.arrays.ArrowStringArray(taken), index=values.index)


def _code_map(names_labels_codes: Iterable[tuple[str, str, Iterable]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for name, label, codes in names_labels_codes:
        for raw in (name, label, *codes):
            mapping.setdefault(normalise_code(raw), name)
    return mapping


def _missing_mask(s: pd.Series, missing: set[str]) -> np.ndarray:
    if not _is_text(s):
        return s.isna().to_numpy()
    text = s.astype("string")
    return (text.isna() | text.str.strip().isin(missing)).to_numpy()


# --------------------------------------------------------------------------------------------
# privacy
# --------------------------------------------------------------------------------------------
# "name" alone is too broad (redcap_event_name, site_name, drug_name): it flags a column only
# when the column is just "name" or the name belongs to a person
_PERSON_WORDS = {
    "first", "last", "full", "given", "family", "middle", "maiden", "nick", "patient",
    "participant", "subject", "person", "contact", "parent", "guardian", "mother", "father",
    "partner", "user", "pt", "client",
}  # fmt: skip
_IDENTIFIER_TOKENS = {
    "firstname", "lastname", "surname", "fullname", "givenname", "familyname",
    "forename", "email", "mail", "phone", "telephone", "tel", "mobile", "cellphone", "fax",
    "address", "street", "postcode", "zipcode", "zip", "dob", "birthdate", "birthday",
    "dateofbirth", "ssn", "mrn", "nhsnumber", "passport",
}  # fmt: skip
_IDENTIFIER_PHRASES = (
    "first_name", "last_name", "full_name", "given_name", "family_name", "e_mail",
    "date_of_birth", "birth_date", "phone_number", "street_address", "home_address",
    "social_security", "medical_record", "nhs_number", "zip_code", "post_code", "postal_code",
)  # fmt: skip
_EMAIL_RE = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
# phone: optional +, at least 9 digits, and a phone-like separator or a leading +
_PHONE_RE = r"^\+?\(?\d[\d\s().\-/]{7,}\d$"


def _identifier_values(s: pd.Series) -> str | None:
    """Why the values of ``s`` look like direct identifiers, or None.

    Every row is scanned: the distinct values are matched with Arrow's (RE2) regular
    expressions, so a million-row column costs a hash pass plus a match per distinct value.
    """
    if not _is_text(s):
        return None
    text = pc.utf8_trim_whitespace(pc.unique(_arrow_text(s)))
    text = pc.drop_null(text)
    text = pc.filter(text, pc.not_equal(text, ""))
    if len(text) == 0:
        return None
    if pc.any(pc.match_substring_regex(text, _EMAIL_RE)).as_py():
        return "its values look like e-mail addresses"
    phone = pc.match_substring_regex(text, _PHONE_RE)
    if pc.any(phone).as_py():
        cand = pc.filter(text, phone)
        digits = pc.count_substring_regex(cand, r"\d")
        separated = pc.or_(pc.match_substring_regex(cand, r"[\s()\-/]"), pc.starts_with(cand, "+"))
        if pc.any(pc.and_(pc.greater_equal(digits, 9), separated)).as_py():
            return "its values look like phone numbers"
    return None


def find_identifier_columns(table: pd.DataFrame, allowed: Iterable[str] = ()) -> dict[str, str]:
    """Columns that look like direct identifiers, with the reason.

    Names are matched against patterns for names, e-mail, phone, address and date of birth;
    values (every row of text columns) against an e-mail and a phone-number pattern.

    >>> find_identifier_columns(pd.DataFrame({"id": ["1"], "E-mail": ["a@b.org"]}))
    {'E-mail': 'its name looks like a direct identifier'}
    """
    allowed_set = {a.lower() for a in allowed}
    found: dict[str, str] = {}
    for col in table.columns:
        if col.lower() in allowed_set:
            continue
        norm = re.sub(r"[^a-z0-9]+", "_", col.lower()).strip("_")
        parts = norm.split("_")
        tokens = set(parts) | {norm.replace("_", "")}
        person_name = "name" in parts and (len(parts) == 1 or bool(set(parts) & _PERSON_WORDS))
        if person_name or tokens & _IDENTIFIER_TOKENS or any(p in norm for p in _IDENTIFIER_PHRASES):
            found[col] = "its name looks like a direct identifier"
            continue
        why = _identifier_values(table[col])
        if why:
            found[col] = why
    return found


# --------------------------------------------------------------------------------------------
# one file -> canonical long frame
# --------------------------------------------------------------------------------------------
def _read_one(
    config: StudyConfig, spec: DataFile, path: Path, label: str
) -> tuple[pd.DataFrame, list[pd.DataFrame], int, int, _RawTable]:
    raw = _read_raw(path, spec)
    table, lines = raw.table, raw.lines
    n_read = len(table)

    allowed = set(config.allow_identifiers)
    allowed |= {k for k, v in config.column_map.items() if v in config.allow_identifiers}
    # the participant id column is pseudonymous by contract: its *name* is fine, but its values
    # must not be e-mail addresses or phone numbers (REDCap record ids sometimes are)
    id_columns = {k for k, v in config.column_map.items() if v == SUBJECT} | {SUBJECT}
    allowed |= id_columns
    flagged = find_identifier_columns(table, allowed)
    if SUBJECT not in config.allow_identifiers:
        for col in id_columns & set(table.columns):
            why = _identifier_values(table[col])
            if why:
                flagged[col] = f"participant ids: {why}"
    if flagged:
        listing = "; ".join(f"'{c}' ({why})" for c, why in flagged.items())
        raise InputError(
            f"data file '{path}' has columns that look like direct identifiers: {listing}. "
            "Participant data must be pseudonymised before analysis: remove these columns from "
            "the export, or, if they do not identify anyone, list them under "
            "data.allow_identifiers in the config. (rule: identifier_column)"
        )

    _refuse_duplicate_names(path, list(table.columns))

    missing = {str(c).strip() for c in config.missing_codes} | {""}
    missing |= {_NUMERIC_RE.sub(r"\1", m) for m in missing}

    issues: list[pd.DataFrame] = []
    table, lines, filtered = _apply_filter(config, spec, path, table, lines, missing, label)
    if filtered is not None and len(filtered):
        issues.append(filtered)
    n_filtered = n_read - len(table)
    if len(table) == 0:
        raise InputError(
            f"data file '{path}' has no rows left after the config filter "
            f"({_describe_filter(spec.filter)}): all {n_read} rows were left out. Check the "
            "filter's column and value under data.files."
        )

    if spec.layout == "wide":
        table, lines = _wide_to_long(config, spec, path, table, lines)
    else:
        table = table.rename(columns=lambda c: config.column_map.get(c, c))
    _refuse_clashing_names(table, path, config)
    table, lines, unassigned = _assign_windows(config, path, table, lines, missing, label)
    if unassigned is not None and len(unassigned):
        issues.append(unassigned)
        n_filtered += len(unassigned)

    frame, value_issues = _canonical(
        config, path, table, lines, missing, spec.decimal, label, raw.line_breaks_possible
    )
    issues.extend(_locate_row_issues(raw.row_issues, lines, label))
    issues.extend(value_issues)
    return frame, issues, n_read, n_filtered, raw


#: The column of days since the first visit that ``visits[].window`` reads (or the date column).
WINDOW_DAY = "day"


def _assign_windows(config, path, table, lines, missing, label):
    """Name the visit of each row of a long file without a visit column from its day (or date)
    and the config's ``visits[].window`` (:func:`prt_outcomes.visit_windows.assign_visit_windows`).

    A row no window takes (no day, outside every window, or not the patient's nearest
    assessment in its window) is left out like a row of the config filter: listed in
    ``validation/filtered.csv`` with its reason and counted in ``rows_filtered``, so that
    ``rows_read = rows_filtered + rows_in`` still holds.
    """
    windows = {v.name: v.window for v in config.visits if v.window is not None}
    if not windows or VISIT in table.columns:
        return table, lines, None
    by_day = WINDOW_DAY in table.columns
    if not by_day and DATE not in table.columns:
        raise InputError(
            f"data file '{path}' has no visit column, and the config's visit windows need a "
            f"'{WINDOW_DAY}' column (days since the first visit) or a '{DATE}' column to place each "
            "row; map the file's column to one of them under 'columns:', or give a visit column."
        )
    if len(windows) != len(config.visits):
        bare = [v.name for v in config.visits if v.window is None]
        raise InputError(
            f"data file '{path}' is placed on visits by their windows, but the visits {bare} have no "
            "'window:'; give every visit a window (config/README.md, visits)."
        )
    from .visit_windows import assign_visit_windows

    frame = table.copy()
    source = WINDOW_DAY if by_day else DATE
    frame[source] = frame[source].where(~_missing_mask(frame[source], missing))
    frame["_line"] = lines
    result = assign_visit_windows(
        frame,
        windows,
        day=WINDOW_DAY if by_day else "_window_day",
        date=None if by_day else DATE,
        subject=SUBJECT,
    )
    assigned = result.assigned
    kept_lines = assigned["_line"].to_numpy(dtype=np.int64)
    assigned = assigned.drop(columns=[c for c in ("_line", "distance", "_window_day") if c in assigned])
    left = result.unassigned
    if not len(left):
        return assigned.reset_index(drop=True), kept_lines, None
    reasons = {
        "missing_day": f"no {source} recorded",
        "outside_windows": "outside every visit window",
        "not_nearest": "another assessment lies nearer the target of the same window",
    }
    dropped = pd.DataFrame(
        {
            "file": label,
            "row": left["_line"].to_numpy(dtype=np.int64),
            "column": source,
            "rule": "filtered_by_config",
            "value": safe_values(left["day"].astype("string").fillna("").tolist(), left["_line"].to_numpy()),
            "message": [
                f"row left out by the visit windows: {reasons[r]}" + (f" ({w})" if w else "")
                for r, w in zip(left["reason"], left["window"])
            ],
            "_pos": -1,
        }
    )
    return assigned.reset_index(drop=True), kept_lines, dropped


def _locate_row_issues(row_issues: list[pd.DataFrame], lines: np.ndarray, label: str) -> list[pd.DataFrame]:
    """Reading issues (keyed by file line) on every long row from that line (a wide file's
    line gives one row per visit). Lines the config filter left out are reported as filtered."""
    if not row_issues:
        return []
    found = pd.concat(row_issues, ignore_index=True)
    where = pd.DataFrame({"row": lines.astype(np.int64), "_pos": np.arange(len(lines), dtype=np.int64)})
    located = found.merge(where, on="row", how="inner", sort=False)
    located.insert(0, "file", label)
    return [located[[*ISSUE_COLUMNS, "_pos"]]] if len(located) else []


FILTER_PRESENT, FILTER_MISSING = "<present>", "<missing>"


def _describe_filter(filt) -> str:
    def one(col, wanted):
        if wanted == FILTER_PRESENT:
            return f"{col} is present"
        if wanted == FILTER_MISSING:
            return f"{col} is missing"
        return f"{col} == {wanted!r}"

    return " and ".join(one(k, v) for k, v in filt.items())


def _refuse_clashing_names(table: pd.DataFrame, path: Path, config: StudyConfig) -> None:
    clash = sorted(set(table.columns[table.columns.duplicated()]))
    if clash:
        sources = {c: [k for k, v in config.column_map.items() if v == c] for c in clash}
        raise InputError(
            f"data file '{path}': after renaming with 'columns:' the column name(s) {clash} occur "
            f"twice (the file already has them and 'columns:' also maps {sources} to them). "
            "Remove one of the two from the export or from the mapping."
        )


def _apply_filter(config, spec, path, table, lines, missing, label):
    """Keep rows matching every ``column: value`` of the file's filter.

    A value ``"<present>"`` keeps rows where the column is not missing (after the missing
    codes), ``"<missing>"`` rows where it is; any other value is compared as a code
    (case-blind, ``1.0`` equals ``1``). Rows left out are returned as ``filtered_by_config``
    issues naming the first filter column they failed.
    """
    if not spec.filter:
        return table, lines, None
    inverse = {v: k for k, v in config.column_map.items()}
    keep = np.ones(len(table), dtype=bool)
    col_of_row = np.full(len(table), "", dtype=object)
    for col, wanted in spec.filter.items():
        file_col = col if col in table.columns else inverse.get(col)
        if file_col not in table.columns:
            raise InputError(
                f"data file '{path}' has no column '{col}', which the config's filter "
                f"({col} == {wanted!r}) needs. Fix the filter under data.files or the export; "
                f"the file's columns are: {', '.join(map(str, table.columns))}."
            )
        if wanted in (FILTER_PRESENT, FILTER_MISSING):
            absent = _missing_mask(table[file_col], missing)
            ok = ~absent if wanted == FILTER_PRESENT else absent
        else:
            ok = (normalise_codes(table[file_col].astype("string")) == normalise_code(wanted)).fillna(False)
            ok = ok.to_numpy(dtype=bool)
        col_of_row[keep & ~ok] = file_col
        keep &= ok
    dropped = ~keep
    if not dropped.any():
        return table, lines, None
    cols = col_of_row[dropped]
    id_columns = {SUBJECT} | {k for k, v in config.column_map.items() if v == SUBJECT}
    values = ["" if c in id_columns else table.at[i, c] for i, c in zip(np.flatnonzero(dropped), cols)]
    values = safe_values(values, lines[dropped])
    desc = _describe_filter(spec.filter)
    filtered = pd.DataFrame(
        {
            "file": label,
            "row": lines[dropped],
            "column": cols,
            "rule": "filtered_by_config",
            "value": values,
            "message": f"row left out by the config filter ({desc})",
            "_pos": -1,
        }
    )
    return table.loc[keep].reset_index(drop=True), lines[keep], filtered


def _wide_to_long(config, spec, path, table, lines):
    """Reshape one-row-per-participant to one row per participant x visit.

    Visit suffixes are matched case-blind (``pain_T1`` is visit code ``t1``), as visit codes in
    long files are; the outcome part of a column name is matched exactly, like any column name.
    Two columns for the same outcome and visit (``pain_t1`` and ``pain_T1``, or ``pain_t1`` and
    ``pain_baseline`` when both codes name the baseline visit) are refused: which one holds the
    data cannot be guessed.
    """
    pattern = spec.wide_pattern
    visit_map = {str(k).lower(): v for k, v in (spec.visit_codes or {}).items()}
    if not visit_map:
        for v in config.visits:
            for code in (v.name, *v.codes):
                visit_map.setdefault(normalise_code(code), v.name)
    visit_alt = "|".join(sorted((re.escape(k) for k in visit_map), key=len, reverse=True))
    visit_alt = f"(?i:{visit_alt})"
    parts = re.split(r"(\{outcome\}|\{visit\})", pattern)
    regex = ""
    for part in parts:
        if part == "{outcome}":
            regex += r"(?P<outcome>.+?)"
        elif part == "{visit}":
            regex += f"(?P<visit>{visit_alt})"
        else:
            regex += re.escape(part)
    compiled = re.compile(f"^{regex}$")
    has_outcome = "{outcome}" in pattern
    if not has_outcome and len(config.outcomes) != 1:
        raise InputError(
            f"data file '{path}' is wide with pattern '{pattern}', which has no {{outcome}}, but "
            "the config lists several outcomes. Use a pattern like '{outcome}_{visit}'."
        )
    measured = set(config.outcome_names) | {c.name for c in config.covariates if c.type == "numeric"}
    cells: dict[str, dict[str, str]] = {}  # visit name -> study column -> file column
    used: set[str] = set()
    for col in table.columns:
        m = compiled.match(col)
        if not m:
            continue
        stem = m.group("outcome") if has_outcome else config.outcome_names[0]
        study = config.column_map.get(stem, stem)
        if study not in measured:
            continue
        visit = visit_map[m.group("visit").lower()]
        earlier = cells.setdefault(visit, {}).get(study)
        if earlier is not None:
            raise InputError(
                f"data file '{path}' has two columns for {study} at visit {visit!r}: '{earlier}' "
                f"and '{col}' (wide_pattern '{pattern}', visit codes matched case-blind). Keep "
                "one of them in the export, or rename the other so it matches no visit code."
            )
        cells[visit][study] = col
        used.add(col)
    if not cells:
        raise InputError(
            f"data file '{path}' is wide, but no column matches the pattern '{pattern}' for the "
            f"outcomes {list(config.outcome_names)} and visit codes {sorted(visit_map)}. Check "
            "'wide_pattern', 'visit_codes' and 'columns:' in the config."
        )
    fixed = [c for c in table.columns if c not in used]
    base = table[fixed].rename(columns=lambda c: config.column_map.get(c, c))
    _refuse_clashing_names(base, path, config)
    order = {v.name: v.order for v in config.visits}
    pieces, piece_lines = [], []
    for visit in sorted(cells, key=lambda v: order.get(v, 1_000)):
        piece = base.copy()
        for study, col in cells[visit].items():
            piece[study] = table[col]
        piece[VISIT] = visit
        pieces.append(piece)
        piece_lines.append(lines)
    long = pd.concat(pieces, ignore_index=True)
    long_lines = np.concatenate(piece_lines)
    # participant order, then visit order, like a long export
    idx = np.lexsort((np.repeat(np.arange(len(pieces)), len(table)), long_lines))
    return long.iloc[idx].reset_index(drop=True), long_lines[idx]


def _canonical(config, path, table, lines, missing, decimal=None, label=None, line_breaks_possible=True):
    """Build the canonical frame; list unparseable values as issues."""
    name = label or path.name
    present = set(table.columns)
    required = [SUBJECT, VISIT]
    single_arm = len(config.arms) == 1
    if not single_arm:
        required.append(ARM)
    required += list(config.outcome_names)
    required += [c.name for c in config.covariates if c.required]
    absent = [c for c in required if c not in present]
    if absent:
        inverse: dict[str, list[str]] = {}
        for k, v in config.column_map.items():
            inverse.setdefault(v, []).append(k)
        wanted = [f"'{c}'" + (f" (file name {inverse[c]})" if c in inverse else "") for c in absent]
        raise InputError(
            f"data file '{path}' lacks the required column(s) {', '.join(wanted)}. "
            f"Its columns are: {', '.join(map(str, table.columns))}. Add the column to the export, "
            "or map the file's name to the study's name under 'columns:' in the config."
        )

    out: dict[str, object] = {}
    issues: list[pd.DataFrame] = []
    n = len(table)

    ids = table[SUBJECT]
    ids_text = ids.astype("string").str.strip()
    ids_text = ids_text.str.replace(WHOLE_NUMBER_WITH_ZEROS, r"\1", regex=True)
    ids_text = ids_text.mask(pd.Series(_missing_mask(ids, missing), index=ids.index))
    out[SUBJECT] = ids_text
    # An unmatched quote makes a CSV parser read several lines as one record, the swallowed lines
    # (other participants' ids among them) ending up inside one cell. Such a record is
    # quarantined, never analysed, and the cell's text is never shown.
    used = [
        c
        for c in (SUBJECT, ARM, VISIT, *config.outcome_names, *(c.name for c in config.covariates), DATE)
        if c in present
    ]
    for col in used if line_breaks_possible else []:
        cell = table[col]
        if not _is_text(cell):
            continue
        breaks = pc.fill_null(pc.match_substring_regex(_arrow_text(cell), r"[\r\n]"), False)
        joined = breaks.to_numpy(zero_copy_only=False)
        if not joined.any():
            continue
        where = "the participant id cell" if col == SUBJECT else f"the {col} cell"
        issues.append(
            pd.DataFrame(
                {
                    "file": name,
                    "row": lines[joined],
                    "column": col,
                    "rule": "line_break_in_cell",
                    "value": safe_values(cell[joined], lines[joined]),
                    "message": f"{where} holds a line break: an unmatched quote probably joined "
                    "this line and the next ones into one record; fix the quote in the file",
                    "_pos": np.flatnonzero(joined),
                }
            )
        )

    arm_map = _code_map((a.name, a.label, a.codes) for a in config.arms)
    if ARM in present:
        arm_raw = table[ARM].mask(pd.Series(_missing_mask(table[ARM], missing), index=table.index))
        out[ARM] = _map_codes(arm_raw, arm_map)
    else:
        out[ARM] = pd.Series(pd.array([config.arms[0].name] * n, dtype="string"))

    visit_map = _code_map((v.name, v.label, v.codes) for v in config.visits)
    visit_raw = table[VISIT].mask(pd.Series(_missing_mask(table[VISIT], missing), index=table.index))
    out[VISIT] = _map_codes(visit_raw, visit_map)

    for col in config.outcome_names:
        out[col], problems = _to_float(table[col], missing, decimal)
        issues.extend(_number_issues(name, lines, col, table[col], problems))
    for cov in config.covariates:
        if cov.name not in present:
            out[cov.name] = (
                np.full(n, np.nan)
                if cov.type == "numeric"
                else pd.Series(pd.array([pd.NA] * n, dtype="string"))
            )
            continue
        raw = table[cov.name]
        if cov.type == "numeric":
            out[cov.name], problems = _to_float(raw, missing, decimal)
            issues.extend(_number_issues(name, lines, cov.name, raw, problems))
        else:
            level_map = {normalise_code(k): v for k, v in cov.codes.items()}
            for lvl in cov.levels:
                level_map.setdefault(normalise_code(lvl), lvl)
            masked = raw.mask(pd.Series(_missing_mask(raw, missing), index=raw.index))
            out[cov.name] = _map_codes(masked, level_map)

    if DATE in present:
        out[DATE], bad = _to_date(table[DATE], missing)
        issues.append(
            _value_issues(name, lines, DATE, table[DATE], bad, "not_a_date", "is not a date (use YYYY-MM-DD)")
        )

    frame = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()})
    for col in (SUBJECT, ARM, VISIT):
        frame[col] = frame[col].astype("str")
    for cov in config.covariates:
        if cov.type == "categorical":
            frame[cov.name] = frame[cov.name].astype("str")
    frame[SOURCE_FILE] = pd.Series([name] * len(frame), dtype="str")
    frame[SOURCE_ROW] = lines.astype(np.int64)
    return frame, [i for i in issues if i is not None and len(i)]


#: Why a number cell was not used, and what the message says after the cell's text.
NUMBER_PROBLEMS = {
    "not_numeric": "is not a number",
    "not_finite": "is not a finite number (infinity and NaN are not scores or covariate values); "
    "leave the cell empty or use a missing code",
    "ambiguous_number": "could be a number with a thousands separator or a decimal comma; set "
    "'decimal:' for this file under data.files (',' or '.'), or export numbers without "
    "thousands separators",
}
_NON_FINITE_WORDS = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan")
_GROUPED_COMMA = r"^[+-]?\d{1,3}(,\d{3})+$"
_GROUPED_POINT = r"^[+-]?\d{1,3}(\.\d{3})+$"
_DECIMAL_COMMA = r"^[+-]?\d*,\d+$"


def _to_float(
    raw: pd.Series, missing: set[str], decimal: str | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Parse numbers; return float values and, per problem (:data:`NUMBER_PROBLEMS`), a mask of
    the cells that were not used (missing in the values).

    ``decimal`` "," reads decimal commas, "." only decimal points (``1,5`` is not numeric).
    ``None`` (auto) reads both, except where that would guess: ``2,000`` is 2000 with a
    thousands separator or 2.0 with a decimal comma, so it is ``ambiguous_number`` unless the
    column's other cells use decimal commas (``2,5``), and ``1.234`` is ambiguous in such a
    decimal-comma column. Non-finite numbers (``inf``, ``-inf``, ``NaN`` written out) are
    ``not_finite`` unless they are missing codes. Numeric missing codes (e.g. -99) also match
    when the file stores them as -99.0.

    >>> values, problems = _to_float(pd.Series(["1,5", "2,000", "inf"]), {""}, None)
    >>> values.tolist()[0], sorted(k for k, v in problems.items() if v.any())
    (1.5, ['not_finite'])
    """
    numeric_codes = _numeric_codes(missing)
    n = len(raw)
    if not _is_text(raw):
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan, copy=True)
        if numeric_codes.size:
            values[np.isin(values, numeric_codes)] = np.nan
        infinite = np.isinf(values)
        values[infinite] = np.nan
        return values, {"not_finite": infinite}
    text = _arrow_text(raw)
    text = pc.utf8_trim_whitespace(text)
    miss = pc.fill_null(pc.is_in(text, value_set=pa.array(sorted(missing), type=pa.string())), True)
    miss = miss.to_numpy(zero_copy_only=False)
    ambiguous = np.zeros(n, dtype=bool)
    if decimal != ".":
        has_comma = pc.fill_null(pc.match_substring(text, ","), False)
        if pc.any(has_comma).as_py():
            if decimal is None:
                grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED_COMMA), False)
                decimal_comma = pc.and_(
                    pc.fill_null(pc.match_substring_regex(text, _DECIMAL_COMMA), False), pc.invert(grouped)
                )
                if pc.any(decimal_comma).as_py():
                    grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED_POINT), False)
                ambiguous = grouped.to_numpy(zero_copy_only=False) & ~miss
            # a cell with both marks ("1.234,5") stays unparseable rather than being guessed
            both = pc.and_(pc.match_substring(text, "."), has_comma)
            text = pc.if_else(pc.fill_null(both, False), pa.scalar("?"), text)
            text = pc.replace_substring(text, ",", ".")
    # plain decimal numbers are cast by Arrow (fast); anything else (1e5, inf, ...) by pandas
    plain = pc.fill_null(pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)$"), False)
    plain_np = plain.to_numpy(zero_copy_only=False) & ~miss & ~ambiguous
    values = np.full(n, np.nan)
    if plain_np.any():
        cast = pc.cast(pc.filter(text, pa.array(plain_np)), pa.float64())
        values[plain_np] = cast.to_numpy(zero_copy_only=False)
    other = ~plain_np & ~miss & ~ambiguous
    non_finite = np.zeros(n, dtype=bool)
    if other.any():
        rest = pd.Series(pc.filter(text, pa.array(other)).to_pylist(), dtype=object)
        parsed = pd.to_numeric(rest, errors="coerce").to_numpy(dtype="float64", na_value=np.nan, copy=True)
        # "NA", "null", "none" spelled out are missing; "NaN", "inf" are numbers that are not
        # finite: refused, not silently missing or infinite
        words = rest.str.lower()
        idx = np.flatnonzero(other)
        non_finite[idx[words.isin(_NON_FINITE_WORDS).to_numpy() | np.isinf(parsed)]] = True
        spelled_missing = words.isin({"na", "n/a", "null", "none"}).to_numpy()
        miss = miss.copy()
        miss[idx[spelled_missing]] = True
        parsed[~np.isfinite(parsed)] = np.nan
        values[other] = parsed
    if numeric_codes.size:
        coded = np.isin(values, numeric_codes)
        values[coded] = np.nan
        miss = miss | coded
    bad = np.isnan(values) & ~miss & ~non_finite & ~ambiguous
    return values, {"not_numeric": bad, "not_finite": non_finite, "ambiguous_number": ambiguous}


def _number_issues(file, lines, column, raw, problems) -> list[pd.DataFrame]:
    out = []
    for rule, mask in problems.items():
        issue = _value_issues(file, lines, column, raw, mask, rule, NUMBER_PROBLEMS[rule])
        if issue is not None:
            out.append(issue)
    return out


def _arrow_text(raw: pd.Series) -> pa.Array:
    """A text column as one Arrow string array (zero-copy for Arrow-backed strings)."""
    try:
        arr = pa.array(raw)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        if pa.types.is_string(arr.type):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    values = raw.to_numpy(dtype=object, na_value=None)
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _numeric_codes(missing: set[str]) -> np.ndarray:
    codes = []
    for m in missing:
        try:
            value = float(m)
        except ValueError:
            continue
        if np.isfinite(value):
            codes.append(value)
    return np.asarray(codes, dtype="float64")


def _to_date(raw: pd.Series, missing: set[str]) -> tuple[pd.Series, np.ndarray]:
    miss = _missing_mask(raw, missing)
    text = raw.astype("string").str.strip().mask(miss)
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    retry = parsed.isna() & ~miss
    if retry.any():
        # d/m/yyyy exports (UK / EU REDCap) after ISO dates
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", dayfirst=True, format="mixed")
    bad = (parsed.isna() & ~miss).to_numpy()
    return parsed.to_numpy(), bad


#: Longest cell text a failure shows; longer text is described, not printed (see safe_values).
MAX_VALUE_CHARS = 60


def safe_values(values, rows) -> np.ndarray:
    """Cell texts fit for a failure report: a cell holding a line break (a record that
    swallowed the following lines, other participants' ids among them) becomes
    ``<record spanning lines a-b>``, a cell longer than :data:`MAX_VALUE_CHARS` becomes
    ``<text of N characters>``; other cells are shown as written.

    >>> safe_values(["5", "x\\nP07,1,post"], [2, 9]).tolist()
    ['5', '<record spanning lines 9-10>']
    """
    text = pd.Series(values, dtype=object).reset_index(drop=True)
    text = text.where(text.notna(), "").astype(str)
    rows = np.asarray(rows, dtype=np.int64)
    breaks = text.str.contains(r"[\r\n]", regex=True).to_numpy(dtype=bool)
    long = (text.str.len() > MAX_VALUE_CHARS).to_numpy(dtype=bool) & ~breaks
    if not (breaks.any() or long.any()):
        return text.to_numpy(dtype=object)
    out = text.to_numpy(dtype=object).copy()
    for i in np.flatnonzero(breaks):
        n_lines = len(out[i].replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        out[i] = f"<record spanning lines {rows[i]}-{rows[i] + n_lines - 1}>"
    for i in np.flatnonzero(long):
        out[i] = f"<text of {len(out[i])} characters>"
    return out


def _value_issues(file, lines, column, raw, bad, rule, what) -> pd.DataFrame | None:
    if not bad.any():
        return None
    values = safe_values(raw[bad].astype("string").fillna("").to_numpy(dtype=object), lines[bad])
    return pd.DataFrame(
        {
            "file": file,
            "row": lines[bad],
            "column": column,
            "rule": rule,
            "value": values,
            "message": [f"{column}: '{v}' {what}" for v in values],
            "_pos": np.flatnonzero(bad),
        }
    )


def _empty_issues() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str") for c in ISSUE_COLUMNS})
    frame["_pos"] = pd.Series(dtype="int64")
    return frame
