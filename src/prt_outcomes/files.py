"""Result files read and written safely: the ground every stage's writers share.

A CSV cell that starts like a spreadsheet formula is neutralised on writing and restored on
reading (OWASP "CSV Injection"); numbers keep their sign. Markdown cells are escaped so that no
raw HTML, link or cell split survives. A file that cannot be written raises
:class:`~prt_outcomes.errors.OutputError` naming the file and what to do. The CSV writer itself
is :func:`prt_outcomes.outputs.write_csv`; the journal tables (:mod:`prt_outcomes.render.tables`),
the validation report and the figures all read and write through these functions.

Examples
--------
>>> neutralise_formula("=1+1"), restore_formula(neutralise_formula("=1+1")), neutralise_formula("-1.5")
("'=1+1", '=1+1', '-1.5')
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .errors import OutputError, os_problem

MINUS = "\u2212"
EN_DASH = "\u2013"
# A hyphen is a minus sign when it starts a number: not preceded by a word character or a
# decimal point (so "0-10", "12-month" and "Pain-free" keep their hyphens).
_NEGATIVE_NUMBER = re.compile(r"(?<![\w.)])-(?=\.?\d)")


# --------------------------------------------------------------------------------------------
# writers: cells that stay text (CSV formulas, Markdown markup) and write failures
# --------------------------------------------------------------------------------------------
#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number written as text ("-1.5", "+2", "1e-05"): a spreadsheet reads it as that number, which
# is what it is, so it keeps its sign and stays a number.
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def is_number_text(text: str) -> bool:
    """Whether ``text`` is a number as a spreadsheet or a reader would read it ("-1.5", "007").

    Examples
    --------
    >>> is_number_text("-1.5"), is_number_text("1e-05"), is_number_text("P12"), is_number_text("-")
    (True, True, False, False)
    """
    return bool(_NUMBER_TEXT.fullmatch(text))


def neutralise_formula(value):
    """A CSV cell that no spreadsheet runs as a formula (OWASP's rule for CSV injection).

    Text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single
    quote in front, so Excel, LibreOffice and Google Sheets show it as text instead of
    evaluating it (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``). Everything else is
    returned unchanged: numbers (``-1.5`` as a float or as the text ``"-1.5"``), missing
    values, and text that already starts with a quote, so applying the rule twice (a table
    read back and written again) changes nothing. A display cell that starts with a negative
    number, such as ``"-1.20 (-2.00 to -0.40)"``, is text and gets the quote too: a spreadsheet
    would otherwise try to evaluate it.

    Examples
    --------
    >>> neutralise_formula("=HYPERLINK(1)"), neutralise_formula("@SUM(A1)")
    ("'=HYPERLINK(1)", "'@SUM(A1)")
    >>> neutralise_formula("-1.5"), neutralise_formula(-1.5), neutralise_formula("Pain-free")
    ('-1.5', -1.5, 'Pain-free')
    >>> neutralise_formula(neutralise_formula("+cmd"))
    "'+cmd"
    """
    if not isinstance(value, str) or not value or value[0] not in FORMULA_START:
        return value
    if is_number_text(value):
        return value
    return "'" + value


def restore_formula(value):
    """Undo :func:`neutralise_formula` on a cell read back from a CSV the run wrote.

    The renderers read the result CSVs to write Markdown, HTML, LaTeX and the report, which
    escape text their own way; there the label is shown as the user wrote it. (Text that
    genuinely began with a quote followed by ``=`` and the like loses that quote: the one
    ambiguity of a rule that must be idempotent.)

    Examples
    --------
    >>> restore_formula("'=1+1"), restore_formula("'quoted"), restore_formula("'-1.5")
    ('=1+1', "'quoted", "'-1.5")
    """
    if (
        isinstance(value, str)
        and len(value) > 1
        and value[0] == "'"
        and value[1] in FORMULA_START
        and not is_number_text(value[1:])
    ):
        return value[1:]
    return value


def _is_text_column(column: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(column)
        or pd.api.types.is_bool_dtype(column)
        or pd.api.types.is_datetime64_any_dtype(column)
        or pd.api.types.is_timedelta64_dtype(column)
    )


def _map_text(frame: pd.DataFrame, cell) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [cell(c) if isinstance(c, str) else c for c in frame.columns]
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        # Numeric columns are numbers, never formulas: only text columns are touched.
        if _is_text_column(column):
            if isinstance(column.dtype, pd.CategoricalDtype):
                column = column.astype(object)
            out.isetitem(i, column.map(cell, na_action="ignore"))
    return out


_LONE_CARRIAGE_RETURN = re.compile(r"\r(?!\n)")


def _csv_cell(value):
    value = neutralise_formula(value)
    if isinstance(value, str) and "\r" in value:
        # Python's CSV writer quotes a field for "\n" but not for a lone "\r", which readers and
        # spreadsheets take as the end of the row: the rest of the cell would start a new row
        # (and could be a formula). As a line feed the break stays inside the quoted cell.
        value = _LONE_CARRIAGE_RETURN.sub("\n", value)
    return value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ready for a CSV file that spreadsheets open safely.

    :func:`neutralise_formula` is applied to the header and the text cells (numeric columns are
    left alone), and a lone carriage return inside a text cell becomes a line feed, so that the
    CSV writer quotes the cell instead of letting the return end the row.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"arm": ["=cmd", "a\\rb"], "estimate": [-1.5, 2.0]})
    >>> csv_safe_frame(f).to_dict("list")
    {'arm': ["'=cmd", 'a\\nb'], 'estimate': [-1.5, 2.0]}
    """
    return _map_text(frame, _csv_cell)


def restore_formula_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`restore_formula` on the header and the text cells of a CSV read back.

    Examples
    --------
    >>> import pandas as pd
    >>> restore_formula_frame(pd.DataFrame({"'=x": ["'@y", "z"]})).to_dict("list")
    {'=x': ['@y', 'z']}
    """
    return _map_text(frame, restore_formula)


def read_result_csv(path: str | Path, *, required: bool = True) -> pd.DataFrame | None:
    """A CSV the run wrote, read back for rendering, with its text as the user wrote it.

    :func:`restore_formula_frame` undoes the spreadsheet guard of ``write_csv``; the renderers
    escape text their own way. A missing file is ``None``, or with ``required`` a
    ``FileNotFoundError`` that says to run the earlier stages.

    Examples
    --------
    >>> read_result_csv("no/such/table.csv", required=False) is None
    True
    """
    path = Path(path)
    if not path.exists():
        if required:
            raise FileNotFoundError(
                f"{path} does not exist; run the analysis stages first (prt-outcomes run, or "
                "snakemake) so that the result tables exist."
            )
        return None
    return restore_formula_frame(pd.read_csv(path))


def write_error(path: str | Path, error: OSError) -> OutputError:
    """The one-paragraph :class:`~prt_outcomes.errors.OutputError` for a failed write.

    Examples
    --------
    >>> import errno
    >>> str(write_error("results/s/report.html", OSError(errno.ENOSPC, "No space left")))[:52]
    'cannot write results/s/report.html: the disk is full'
    """
    what, todo = os_problem(error) or (
        "the file could not be written",
        "check that the folder exists and is writable, then run again",
    )
    detail = error.strerror or str(error) or type(error).__name__
    return OutputError(f"cannot write {path}: {what} ({detail}). The incomplete file was removed; {todo}.")


@contextmanager
def output_file(path: str | Path):
    """Create ``path``'s folder, run the write in the block, turn a failure into ``OutputError``.

    Every writer of a run (CSV, Markdown/HTML/LaTeX tables, figures, the report) writes inside
    this block. When the disk is full or the folder read-only, the partial file is removed (a
    truncated table must not pass for a result) and the error names the file and what to do.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a" / "t.txt"
    >>> with output_file(path):
    ...     _ = path.write_text("x")
    >>> path.read_text()
    'x'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path
    except OSError as error:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # the folder itself is the problem (read-only): nothing was left behind
        raise write_error(path, error) from None


def write_text_file(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 with ``\\n`` line endings, inside :func:`output_file`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> write_text_file(pathlib.Path(tempfile.mkdtemp()) / "a" / "t.md", "x\\n").name
    't.md'
    """
    path = Path(path)
    with output_file(path):
        path.write_text(text, encoding="utf-8", newline="\n")
    return path


def _minus(text: str, minus: str) -> str:
    return _NEGATIVE_NUMBER.sub(minus, text)


# Markdown renderers pass raw HTML through and turn [text](url) into links: in a cell these
# characters are text, written as entities or backslash escapes every renderer honours.
_MARKDOWN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\\": "&#92;",  # an entity, not "\\\\": a backslash before an escaped pipe must not free it
    "|": "\\|",
    "[": "\\[",
    "]": "\\]",
    "`": "\\`",
    "\n": " ",
    "\r": " ",
}


def markdown_text(text: str, *, true_minus: bool = True) -> str:
    """Text as one Markdown table cell: no raw HTML, link, image, code span or cell split.

    ``true_minus`` writes negative numbers with the typographic minus of the journal tables;
    the validation report keeps the file's own characters (``true_minus=False``).

    Examples
    --------
    >>> print(markdown_text("<img src=x onerror=alert(1)> [x](javascript:alert(1)) a|b"))
    &lt;img src=x onerror=alert(1)&gt; \\[x\\](javascript:alert(1)) a\\|b
    """
    return "".join(_MARKDOWN_ESCAPES.get(ch, ch) for ch in (_minus(text, MINUS) if true_minus else text))
