"""Read study data files into the pipeline's canonical long frame.

One entry point, :func:`read_study_data`, turns the files a study config names (CSV, XLSX or
Parquet; long or wide; one or several) into one long frame with the canonical columns
``participant_id, arm, visit, <outcomes>, <covariates>, source_file, source_row`` (see
``docs/architecture.md``). Every row keeps the file and the 1-based line it came from (header =
line 1; for wide files the participant's line), so validation can point at the exact cell.

Ingest is deliberately forgiving about *values* and strict about *structure*:

* values that cannot be used (text in a score, an unparseable date) become missing in
  ``data`` and are listed in ``issues`` with the raw text, so validation quarantines the row and
  the report shows what was in the file;
* arm, visit and categorical covariate values that match no code are kept as they were written,
  so validation can report ``unknown_arm`` with the typo itself;
* structure problems (missing file, empty file, wrong file type, missing required column,
  unreadable workbook, columns that look like direct identifiers) raise :class:`InputError`, a
  ``ValueError`` whose one-paragraph message names the file and says what to do.

Examples
--------
>>> from prt_outcomes.config import load_config
>>> from prt_outcomes.io import read_study_data
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .config import ARM, DATE, SOURCE_FILE, SOURCE_ROW, SUBJECT, VISIT, DataFile, StudyConfig, resolve_path
from .errors import PrtOutcomesError

__all__ = [
    "InputError",
    "IngestResult",
    "ISSUE_COLUMNS",
    "read_study_data",
    "read_raw_table",
    "find_identifier_columns",
    "normalise_codes",
]

ISSUE_COLUMNS = ["file", "row", "column", "rule", "value", "message"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_NUMERIC_PAT = r"^(-?\d+)\.0+$"
_NUMERIC_RE = re.compile(_NUMERIC_PAT)


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
        Ingest-level problems, columns ``file, row, column, rule, value, message``. Rules:
        ``not_numeric``, ``not_a_date`` (the row is quarantined by validation) and
        ``filtered_by_config`` (row left out by the file's ``filter``; counted, not a failure).
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
    """

    data: pd.DataFrame
    issues: pd.DataFrame
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_filtered: dict[str, int] = field(default_factory=dict)
    layouts: dict[str, str] = field(default_factory=dict)
    issue_index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


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
      apply to every column, numeric codes also when written ``-99.0``.
    * Privacy: column names and the first 5,000 values of text columns are checked for names,
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

    frames, issues = [], []
    rows_in, rows_filtered, layouts = {}, {}, {}
    offset = 0
    for spec, path in specs:
        frame, file_issues, n_read, n_filtered = _read_one(config, spec, path)
        for issue in file_issues:
            pos = issue["_pos"].to_numpy()
            issue["_pos"] = np.where(pos >= 0, pos + offset, -1)
        offset += len(frame)
        name = path.name
        rows_in[name] = rows_in.get(name, 0) + n_read
        rows_filtered[name] = rows_filtered.get(name, 0) + n_filtered
        layouts[name] = spec.layout
        frames.append(frame)
        issues.extend(file_issues)

    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    issue_frame = pd.concat(issues, ignore_index=True) if issues else _empty_issues()
    issue_frame = issue_frame.astype({"row": "int64", "_pos": "int64"})
    issue_index = issue_frame.pop("_pos").to_numpy()
    return IngestResult(data, issue_frame, rows_in, rows_filtered, layouts, issue_index)


# --------------------------------------------------------------------------------------------
# reading raw tables
# --------------------------------------------------------------------------------------------
def read_raw_table(path: str | Path, spec: DataFile | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Read one file as text cells and return it with each row's line number.

    CSV separators (``,`` ``;`` tab) are detected from the header line unless the spec sets
    ``sep``; UTF-8 with or without BOM is tried first, then cp1252 (Excel's Western default).
    Cells are returned as stripped strings (Parquet keeps its own column types).

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
    """
    path = Path(path)
    spec = spec or DataFile(path=str(path))
    fmt = spec.format or _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"data file '{path}' has the extension '{path.suffix or '(none)'}', which prt-outcomes "
            "cannot read. Export the data as CSV (.csv), Excel (.xlsx) or Parquet (.parquet), or "
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
    if fmt == "csv":
        table, lines = _read_csv(path, spec)
    elif fmt == "xlsx":
        table, lines = _read_xlsx(path, spec)
    else:
        table, lines = _read_parquet(path)
    if len(table) == 0:
        raise InputError(
            f"data file '{path}' has a header but no data rows. Re-export it with the data, or "
            "remove it from data.files."
        )
    return table, lines


def _read_csv(path: Path, spec: DataFile) -> tuple[pd.DataFrame, np.ndarray]:
    raw = path.read_bytes()
    if spec.encoding:
        try:
            text = raw.decode(spec.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                f"data file '{path}' cannot be decoded as {spec.encoding!r} ({exc}). Set the "
                "right 'encoding:' for this file in the config, or re-save it as UTF-8."
            ) from None
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode text" export: UTF-16 with BOM, usually tab separated
        text = raw.decode("utf-16")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
    if "\x00" in text[:4096]:
        raise InputError(
            f"data file '{path}' looks binary, not like a text CSV (it may be an Excel file with "
            "a .csv name). Export it as CSV, or give it its real extension."
        )
    if not text.strip():
        raise InputError(
            f"data file '{path}' holds no text. Re-export the data with a header line and one "
            "line per participant and visit."
        )
    first_line = text.lstrip("\ufeff").splitlines()[0]
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
    if '"' in text:
        lines = _record_start_lines(text, sep, len(table), lines)
    table, lines = _drop_blank_rows(table, lines)
    return table, lines


def _record_start_lines(text: str, sep: str, n_rows: int, default: np.ndarray) -> np.ndarray:
    """Line on which each record starts, when quoted cells may span several lines."""
    reader = csv.reader(_stdio.StringIO(text.lstrip("\ufeff")), delimiter=sep)
    starts = []
    previous_end = 0
    for _ in reader:
        starts.append(previous_end + 1)
        previous_end = reader.line_num
    starts = starts[1:]  # the header
    if len(starts) != n_rows:  # the two parsers disagree: keep the simple numbering
        return default
    return np.asarray(starts, dtype=np.int64)


def _refuse_extra_fields(path: Path, text: str, sep: str) -> None:
    """Lines longer than the header are fine only when the extra fields are empty
    (a trailing separator); otherwise pandas would drop values, so refuse the file."""
    reader = csv.reader(_stdio.StringIO(text.lstrip("\ufeff")), delimiter=sep)
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


def _read_xlsx(path: Path, spec: DataFile) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        table = pd.read_excel(
            path,
            sheet_name=spec.sheet if spec.sheet is not None else 0,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="openpyxl",
        )
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
    mangled = [c for c in table.columns
               if re.fullmatch(r"(.+)\.\d+", c) and re.fullmatch(r"(.+)\.\d+", c).group(1) in table.columns]
    if mangled:
        _refuse_duplicate_names(path, [re.fullmatch(r"(.+)\.\d+", c).group(1) for c in mangled] * 2)
    if len(table.columns) and all(c.startswith("Unnamed:") for c in table.columns):
        raise InputError(
            f"data file '{path}': the first row of the sheet is empty, so there is no header. "
            "Put the column names in row 1 (delete the empty rows above them)."
        )
    table = table.apply(lambda s: s.str.strip() if _is_text(s) else s)
    lines = np.arange(2, len(table) + 2, dtype=np.int64)
    return _drop_blank_rows(table, lines)


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


def _clean_name(name) -> str:
    return str(name).replace("\ufeff", "").strip()


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _drop_blank_rows(table: pd.DataFrame, lines: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    if table.shape[1] == 0:
        return table, lines
    blank = np.ones(len(table), dtype=bool)
    for col in table.columns:
        s = table[col]
        blank &= (s.isna() | (s.astype(str).str.strip() == "")).to_numpy()
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
    return s.str.replace(_NUMERIC_PAT, r"\1", regex=True)


def _norm_code(value) -> str:
    return normalise_codes(pd.Series([str(value)])).iloc[0]


def _map_codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map raw codes to names; unmatched values stay as written (validation reports them)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.array([pd.NA] * len(values), dtype="string"), index=values.index)
    raw_u = pd.Series(uniques).astype("string").str.strip()
    norm_u = normalise_codes(raw_u)
    mapped_u = norm_u.map(mapping)
    out_u = mapped_u.where(mapped_u.notna(), raw_u).astype("string")
    out = out_u.take(np.where(codes < 0, 0, codes)).to_numpy()
    result = pd.Series(pd.array(out, dtype="string"), index=values.index)
    result[codes < 0] = pd.NA
    return result


def _code_map(names_labels_codes: Iterable[tuple[str, str, Iterable]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for name, label, codes in names_labels_codes:
        for raw in (name, label, *codes):
            mapping.setdefault(_norm_code(raw), name)
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
_VALUE_SCAN_ROWS = 5000


def _identifier_values(s: pd.Series) -> str | None:
    """Why the values of ``s`` look like direct identifiers, or None."""
    if not _is_text(s):
        return None
    text = s.astype("string").str.strip().dropna()
    text = text[text != ""]
    if text.empty:
        return None
    if text.str.contains(_EMAIL_RE, regex=True).any():
        return "its values look like e-mail addresses"
    phone = text.str.match(_PHONE_RE)
    if phone.any():
        cand = text[phone]
        digits = cand.str.count(r"\d")
        phone_like = (digits >= 9) & (
            cand.str.contains(r"[\s()\-/]", regex=True) | cand.str.startswith("+")
        )
        if phone_like.any():
            return "its values look like phone numbers"
    return None


def find_identifier_columns(table: pd.DataFrame, allowed: Iterable[str] = ()) -> dict[str, str]:
    """Columns that look like direct identifiers, with the reason.

    Names are matched against patterns for names, e-mail, phone, address and date of birth;
    values (first 5,000 rows of text columns) against an e-mail and a phone-number pattern.

    >>> find_identifier_columns(pd.DataFrame({"id": ["1"], "E-mail": ["a@b.org"]}))
    {'E-mail': 'its name looks like a direct identifier'}
    """
    allowed_set = {a.lower() for a in allowed}
    found: dict[str, str] = {}
    head = table.head(_VALUE_SCAN_ROWS)
    for col in table.columns:
        if col.lower() in allowed_set:
            continue
        norm = re.sub(r"[^a-z0-9]+", "_", col.lower()).strip("_")
        parts = norm.split("_")
        tokens = set(parts) | {norm.replace("_", "")}
        person_name = "name" in parts and (len(parts) == 1 or bool(set(parts) & _PERSON_WORDS))
        if (
            person_name
            or tokens & _IDENTIFIER_TOKENS
            or any(p in norm for p in _IDENTIFIER_PHRASES)
        ):
            found[col] = "its name looks like a direct identifier"
            continue
        why = _identifier_values(head[col])
        if why:
            found[col] = why
    return found


# --------------------------------------------------------------------------------------------
# one file -> canonical long frame
# --------------------------------------------------------------------------------------------
def _read_one(
    config: StudyConfig, spec: DataFile, path: Path
) -> tuple[pd.DataFrame, list[pd.DataFrame], int, int]:
    table, lines = read_raw_table(path, spec)
    name = path.name
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
            why = _identifier_values(table[col].head(_VALUE_SCAN_ROWS))
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
    table, lines, filtered = _apply_filter(config, spec, path, table, lines, missing)
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

    frame, value_issues = _canonical(config, path, table, lines, missing, spec.decimal)
    issues.extend(value_issues)
    return frame, issues, n_read, n_filtered


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


def _apply_filter(config, spec, path, table, lines, missing):
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
            ok = (normalise_codes(table[file_col].astype("string")) == _norm_code(wanted)).fillna(False)
            ok = ok.to_numpy(dtype=bool)
        col_of_row[keep & ~ok] = file_col
        keep &= ok
    dropped = ~keep
    if not dropped.any():
        return table, lines, None
    cols = col_of_row[dropped]
    values = [table.at[i, c] for i, c in zip(np.flatnonzero(dropped), cols)]
    desc = _describe_filter(spec.filter)
    filtered = pd.DataFrame(
        {
            "file": path.name,
            "row": lines[dropped],
            "column": cols,
            "rule": "filtered_by_config",
            "value": pd.Series(values, dtype="string").fillna(""),
            "message": f"row left out by the config filter ({desc})",
            "_pos": -1,
        }
    )
    return table.loc[keep].reset_index(drop=True), lines[keep], filtered


def _wide_to_long(config, spec, path, table, lines):
    """Reshape one-row-per-participant to one row per participant x visit."""
    pattern = spec.wide_pattern
    visit_map = {str(k): v for k, v in (spec.visit_codes or {}).items()}
    if not visit_map:
        for v in config.visits:
            for code in (v.name, *v.codes):
                visit_map.setdefault(str(code), v.name)
    visit_alt = "|".join(sorted((re.escape(k) for k in visit_map), key=len, reverse=True))
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
        visit = visit_map[m.group("visit")]
        cells.setdefault(visit, {})[study] = col
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


def _canonical(config, path, table, lines, missing, decimal=None):
    """Build the canonical frame; list unparseable values as issues."""
    name = path.name
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
    ids_text = ids_text.str.replace(_NUMERIC_PAT, r"\1", regex=True)
    ids_text = ids_text.mask(pd.Series(_missing_mask(ids, missing), index=ids.index))
    out[SUBJECT] = ids_text
    # An unmatched quote makes a CSV parser read several lines as one record, the swallowed lines
    # ending up inside one cell. Arm, visit and score cells then fail their own rules; an id cell
    # accepts any text, so it is checked here: such a record is quarantined, never analysed.
    joined = ids.astype("string").str.contains(r"[\r\n]", regex=True).fillna(False).to_numpy(dtype=bool)
    if joined.any():
        issues.append(
            pd.DataFrame(
                {
                    "file": name,
                    "row": lines[joined],
                    "column": SUBJECT,
                    "rule": "line_break_in_cell",
                    "value": "",  # never show participant ids
                    "message": "the participant id cell holds a line break: an unmatched quote "
                    "probably joined this line and the next ones into one record; fix the quote "
                    "in the file",
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
        out[col], bad = _to_float(table[col], missing, decimal)
        issues.append(_value_issues(name, lines, col, table[col], bad, "not_numeric",
                                    "is not a number"))
    for cov in config.covariates:
        if cov.name not in present:
            out[cov.name] = (
                np.full(n, np.nan) if cov.type == "numeric"
                else pd.Series(pd.array([pd.NA] * n, dtype="string"))
            )
            continue
        raw = table[cov.name]
        if cov.type == "numeric":
            out[cov.name], bad = _to_float(raw, missing, decimal)
            issues.append(_value_issues(name, lines, cov.name, raw, bad, "not_numeric",
                                        "is not a number"))
        else:
            level_map = {_norm_code(k): v for k, v in cov.codes.items()}
            for lvl in cov.levels:
                level_map.setdefault(_norm_code(lvl), lvl)
            masked = raw.mask(pd.Series(_missing_mask(raw, missing), index=raw.index))
            out[cov.name] = _map_codes(masked, level_map)

    if DATE in present:
        out[DATE], bad = _to_date(table[DATE], missing)
        issues.append(_value_issues(name, lines, DATE, table[DATE], bad, "not_a_date",
                                    "is not a date (use YYYY-MM-DD)"))

    frame = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()})
    for col in (SUBJECT, ARM, VISIT):
        frame[col] = frame[col].astype("str")
    for cov in config.covariates:
        if cov.type == "categorical":
            frame[cov.name] = frame[cov.name].astype("str")
    frame[SOURCE_FILE] = pd.Series([name] * len(frame), dtype="str")
    frame[SOURCE_ROW] = lines.astype(np.int64)
    return frame, [i for i in issues if i is not None and len(i)]


def _to_float(raw: pd.Series, missing: set[str], decimal: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Parse numbers; return float values and a mask of unparseable cells.

    ``decimal`` "," or None (auto) reads a decimal comma; "." reads only decimal points, so a
    cell like ``1,5`` is reported as not numeric instead of being guessed. Numeric missing codes
    (e.g. -99) also match when the file stores them as -99.0.
    """
    numeric_codes = _numeric_codes(missing)
    if not _is_text(raw):
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan, copy=True)
        if numeric_codes.size:
            values[np.isin(values, numeric_codes)] = np.nan
        return values, np.zeros(len(raw), dtype=bool)
    text = _arrow_text(raw)
    text = pc.utf8_trim_whitespace(text)
    miss = pc.fill_null(pc.is_in(text, value_set=pa.array(sorted(missing), type=pa.string())), True)
    miss = miss.to_numpy(zero_copy_only=False)
    if decimal != ".":
        # a cell with both marks ("1.234,5") stays unparseable rather than being guessed
        both = pc.and_(pc.match_substring(text, "."), pc.match_substring(text, ","))
        text = pc.if_else(pc.fill_null(both, False), pa.scalar("?"), text)
        text = pc.replace_substring(text, ",", ".")
    # plain decimal numbers are cast by Arrow (fast); anything else (1e5, inf, ...) by pandas
    plain = pc.fill_null(pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)$"), False)
    plain_np = plain.to_numpy(zero_copy_only=False) & ~miss
    values = np.full(len(raw), np.nan)
    if plain_np.any():
        cast = pc.cast(pc.filter(text, pa.array(plain_np)), pa.float64())
        values[plain_np] = cast.to_numpy(zero_copy_only=False)
    other = ~plain_np & ~miss
    if other.any():
        rest = pd.Series(pc.filter(text, pa.array(other)).to_pylist(), dtype=object)
        values[other] = pd.to_numeric(rest, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if numeric_codes.size:
        coded = np.isin(values, numeric_codes)
        values[coded] = np.nan
        miss = miss | coded
    bad = np.isnan(values) & ~miss
    if bad.any():
        # "NaN"/"nan" spelled out are missing, not malformed
        spelled = pd.Series(pc.filter(text, pa.array(bad)).to_pylist(), dtype=object)
        lowered = spelled.str.lower().isin({"nan", "na", "n/a", "null", "none"}).to_numpy()
        idx = np.flatnonzero(bad)
        bad[idx[lowered]] = False
    return values, bad


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


def _value_issues(file, lines, column, raw, bad, rule, what) -> pd.DataFrame | None:
    if not bad.any():
        return None
    values = raw[bad].astype("string").fillna("")
    return pd.DataFrame(
        {
            "file": file,
            "row": lines[bad],
            "column": column,
            "rule": rule,
            "value": values.to_numpy(),
            "message": [f"{column}: '{v}' {what}" for v in values],
            "_pos": np.flatnonzero(bad),
        }
    )


def _empty_issues() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str") for c in ISSUE_COLUMNS})
    frame["_pos"] = pd.Series(dtype="int64")
    return frame
