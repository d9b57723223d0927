"""Word (``.docx``) writers: a journal table per file, and the whole report as one document.

:func:`to_docx` writes one table journal-style: the caption above, booktabs-like rules (a heavy
rule above the header, a light one below it, a heavy one below the last row, no vertical
rules), the notes below, fonts set explicitly, column widths that keep "estimate (CI)" cells on
one line, and a landscape page when the table is wider than a portrait page.

:func:`report_to_docx` writes ``report.docx`` from ``report.html``: the same sections in the
same order (headings, the study summary, every table as a Word table, every figure as the PNG
the figure renderer wrote, embedded and fitted to the page width, provenance). It copies the
report's text and cells as they are, so every number has one producer (the journal and report
writers of :mod:`prt_outcomes.render.tables` and :mod:`prt_outcomes.render.report`); no number
is parsed back or computed again.

Both write deterministic files: the core properties carry a fixed date (:data:`FIXED_DATE`) and
the zip members a fixed timestamp, so the same input gives the same bytes.

Examples
--------
>>> import pandas as pd, tempfile, pathlib, docx
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.docx"
>>> _ = to_docx(pd.DataFrame({"Arm": ["PRT"], "Difference (95% CI)": ["-1.20 (-1.90 to -0.50)"]}),
...             path, caption="Table 2", notes="Arm minus usual care.")
>>> [c.text for c in docx.Document(path).tables[0].rows[1].cells]
['PRT', '−1.20 (−1.90 to −0.50)']
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..files import _minus, output_file

__all__ = ["FIXED_DATE", "TABLE_FONT", "to_docx", "report_to_docx", "docx_table_cells"]

#: The created/modified date written into every document (reruns give identical bytes).
FIXED_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
#: The zip members' timestamp (the earliest a zip can hold).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Fonts: a sans-serif present in Word and LibreOffice installations (Liberation Sans is
#: metric-compatible with Arial), at journal table and body sizes (points).
TABLE_FONT = "Arial"
_TABLE_PT = 8.5
_BODY_PT = 10
_NOTE_PT = 8
#: Page geometry (inches): US Letter text widths, 1 in margins (0.75 in on a landscape page).
_PORTRAIT_WIDTH = 6.5
_LANDSCAPE_WIDTH = 9.5
#: Estimated width of one character of the table font, and each cell's padding (inches).
_CHAR_IN = _TABLE_PT * 0.55 / 72
_PAD_IN = 0.16


# --------------------------------------------------------------------------------------------
# low-level helpers
# --------------------------------------------------------------------------------------------
def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def _set_font(run_or_style, size: float | None = None, *, bold: bool | None = None) -> None:
    """Name the font for every script (ASCII, high ANSI, East Asian, complex), so Word does
    not substitute the theme font."""
    from docx.shared import Pt

    font = run_or_style.font
    font.name = TABLE_FONT
    if size is not None:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    element = run_or_style.element
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(_qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(_qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(_qn(attr), TABLE_FONT)


def _new_document():
    import docx

    document = docx.Document()
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "Caption", "List Bullet"):
        try:
            style = document.styles[name]
        except KeyError:  # pragma: no cover - the default template has them all
            continue
        _set_font(style, _BODY_PT if name in ("Normal", "List Bullet") else None)
        if name.startswith(("Heading", "Title")):
            style.font.color.rgb = None
    return document


def _border(element, edge: str, size: int) -> None:
    """A single black rule of ``size`` eighths of a point on ``edge`` of a cell or table."""
    borders_tag = "w:tcBorders" if element.tag == _qn("w:tcPr") else "w:tblBorders"
    borders = element.find(_qn(borders_tag))
    if borders is None:
        borders = element.makeelement(_qn(borders_tag), {})
        element.append(borders)
    rule = borders.makeelement(
        _qn(f"w:{edge}"),
        {_qn("w:val"): "single", _qn("w:sz"): str(size), _qn("w:space"): "0", _qn("w:color"): "000000"},
    )
    old = borders.find(_qn(f"w:{edge}"))
    if old is not None:
        borders.remove(old)
    borders.append(rule)


def _display(text) -> str:
    """A cell as printed: a true minus in negative numbers (as the HTML/LaTeX writers), the
    four-space indent of a sub-row as an em space per level."""
    value = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    # XML 1.0 cannot hold control characters (a pasted label may carry one): drop them
    value = _XML_ILLEGAL.sub("", value)
    value = _minus(value, "\u2212")
    stripped = value.lstrip(" ")
    pad = len(value) - len(stripped)
    return ("\u2003" * (pad // 4) + stripped) if pad >= 4 else stripped


#: A number cell: digits and the punctuation of "1.77 (1.20 to 2.34)", "33/50 (66.0)", "<.001".
_NUMBER_CELL = re.compile(r"[\d\s.,:;()/%<>+=\-\u2212]*(?:to[\d\s.,()\-\u2212]+)?")
#: A label column wraps at this many characters (a long threshold or characteristic name).
_LABEL_CHARS = 16


def _is_label_column(cells: list[str]) -> bool:
    """No cell of the column is a number: its text may wrap (a number or CI never does)."""
    shown = [c.strip() for c in cells if c.strip() and c.strip() != "[Reference]"]
    return bool(shown) and not any(_NUMBER_CELL.fullmatch(c) for c in shown)


def _column_widths(header: list[str], body: list[list[str]]) -> list[float]:
    """Inches per column: the longest body cell on one line (a CI never wraps), a label column
    (no numbers) wrapping at :data:`_LABEL_CHARS`, the header wrapping at its longest word."""
    widths = []
    for j, head in enumerate(header):
        cells = [row[j] for row in body if j < len(row)]
        longest_cell = max((len(c) for c in cells), default=0)
        if _is_label_column(cells):
            longest_word = max((len(w) for c in cells for w in c.split()), default=0)
            longest_cell = max(min(longest_cell, _LABEL_CHARS), longest_word)
        longest_word = max((len(w) for w in head.split()), default=0)
        chars = max(longest_cell, longest_word, min(len(head), 14))
        widths.append(chars * _CHAR_IN + _PAD_IN)
    return widths


def _set_orientation(section, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Inches

    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    long, short = Inches(11), Inches(8.5)
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Inches(0.75 if landscape else 1))


def _paragraph(document, text: str, *, size: float = _BODY_PT, bold: bool = False, style=None):
    paragraph = document.add_paragraph(style=style)
    run = paragraph.add_run(_display(text) if text else "")
    _set_font(run, size, bold=bold)
    return paragraph


def _add_table(document, header: list[str], body: list[list[str]], *, caption=None, notes=None, width):
    """The journal table in ``document``'s current section, ``width`` inches wide at most."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Inches, Pt

    header = [_display(h) for h in header]
    body = [[_display(c) for c in row] + [""] * (len(header) - len(row)) for row in body]
    if caption:
        paragraph = _paragraph(document, caption, size=_BODY_PT, bold=True)
        paragraph.paragraph_format.keep_with_next = True
        paragraph.paragraph_format.space_after = Pt(3)
    widths = _column_widths(header, body)
    label_columns = [_is_label_column([row[j] for row in body]) for j in range(len(header))]
    scale = min(1.0, width / sum(widths)) if widths else 1.0
    size = _TABLE_PT if scale >= 0.999 else max(6.0, _TABLE_PT * scale)
    table = document.add_table(rows=1 + len(body), cols=len(header))
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    _border(tbl_pr, "top", 12)
    _border(tbl_pr, "bottom", 12)
    # The first header cell and the first body cell are formatted through python-docx; every
    # other cell gets a copy of their paragraph and run properties (the same XML; setting each
    # cell's font, size, weight and spacing anew was most of the time of writing a document).
    formats: dict[bool, tuple] = {}
    for i, values in enumerate([header, *body]):
        row = table.rows[i]
        if i == 0:
            # the header repeats on each page of a long table
            row._tr.get_or_add_trPr().append(row._tr.makeelement(_qn("w:tblHeader"), {}))
        cells = row.cells  # python-docx rebuilds this list on each access
        for j, value in enumerate(values):
            cell = cells[j]
            cell.width = Inches(widths[j] * scale)
            tc_pr = cell._tc.get_or_add_tcPr()
            if i == 0:
                _border(tc_pr, "bottom", 6)
            elif not label_columns[j]:
                tc_pr.append(tc_pr.makeelement(_qn("w:noWrap"), {}))
            paragraph, in_header = cell.paragraphs[0], i == 0
            if in_header in formats:
                paragraph_properties, run_properties = formats[in_header]
                paragraph._p.insert(0, copy.deepcopy(paragraph_properties))
                paragraph.add_run(value)._r.insert(0, copy.deepcopy(run_properties))
            else:
                paragraph.paragraph_format.space_after = Pt(0)
                paragraph.paragraph_format.space_before = Pt(1)
                run = paragraph.add_run(value)
                _set_font(run, size, bold=in_header)
                formats[in_header] = (paragraph._p.pPr, run._r.rPr)
    for j, column in enumerate(table.columns):
        column.width = Inches(widths[j] * scale)
    if notes:
        paragraph = _paragraph(document, notes, size=_NOTE_PT)
        paragraph.paragraph_format.space_before = Pt(3)
    return table


def _needs_landscape(header: list[str], body: list[list[str]]) -> bool:
    return sum(_column_widths([_display(h) for h in header], [[_display(c) for c in r] for r in body])) > (
        _PORTRAIT_WIDTH
    )


def _save(document, path: Path, *, title: str = "") -> Path:
    """Save with fixed core properties and zip timestamps: the same document, the same bytes."""
    props = document.core_properties
    props.author = "prt-outcomes"
    props.last_modified_by = "prt-outcomes"
    props.title = _XML_ILLEGAL.sub("", title)
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    raw = io.BytesIO()
    document.save(raw)
    fixed = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(item.filename))
    path = Path(path)
    with output_file(path):
        path.write_bytes(fixed.getvalue())
    return path


# --------------------------------------------------------------------------------------------
# one table
# --------------------------------------------------------------------------------------------
def to_docx(
    df: pd.DataFrame, path: str | Path, *, caption: str | None = None, notes: str | None = None
) -> Path:
    """Write ``df`` as a journal-style Word table: caption above, three rules, notes below.

    Cells are written as text (as :func:`prt_outcomes.render.tables.to_html` writes them, with
    a true minus sign); a table wider than a portrait page gets a landscape page, and one wider
    than a landscape page a smaller font. The file is deterministic (:func:`_save`). A failed
    write raises :class:`~prt_outcomes.errors.OutputError` naming the file.

    Parameters
    ----------
    df : DataFrame
        The journal table (all cells strings, as the ``*_journal_table`` functions return).
    path : str or Path
        The ``.docx`` file.
    caption, notes : str, optional
        Title above the table and footnote below it.

    Returns
    -------
    Path
        The file written.
    """
    from .tables import _cells

    header, body = _cells(df)
    document = _new_document()
    landscape = _needs_landscape(header, body)
    _set_orientation(document.sections[0], landscape)
    _add_table(
        document,
        header,
        body,
        caption=caption,
        notes=notes,
        width=_LANDSCAPE_WIDTH if landscape else _PORTRAIT_WIDTH,
    )
    return _save(document, Path(path), title=caption or "")


def docx_table_cells(path: str | Path) -> list[list[list[str]]]:
    """Every table of a ``.docx`` as rows of cell texts (what a reader of the file sees).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = to_docx(pd.DataFrame({"a": ["1"]}), pathlib.Path(tempfile.mkdtemp()) / "t.docx")
    >>> docx_table_cells(p)
    [[['a'], ['1']]]
    """
    import docx

    return [[[c.text for c in row.cells] for row in t.rows] for t in docx.Document(str(path)).tables]


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------
_SPACE = re.compile(r"\s+")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SKIP = {"head", "style", "script", "nav", "title", "meta"}
_CONTAINERS = {"html", "body", "section", "div", "header", "main", "article", "footer"}


def _text_of(element) -> str:
    return _SPACE.sub(" ", element.text_content()).strip()


def _html_table(element) -> tuple[str | None, list[str], list[list[str]], str | None]:
    """Caption, header, body rows and notes of an HTML ``<table>`` as the report shows it."""

    def cells(row) -> list[str]:
        # keep the em-space indent of sub-rows; collapse other white space
        return [_SPACE.sub(" ", c.text_content()).strip(" \n\t") for c in row if c.tag in ("td", "th")]

    caption = element.find("caption")
    header: list[str] = []
    body: list[list[str]] = []
    for row in element.iter("tr"):
        parent = row.getparent()
        kind = parent.tag if parent is not None else "tbody"
        if kind == "tfoot":
            continue
        if kind == "thead" or (not header and not body and all(c.tag == "th" for c in row)):
            header = cells(row)
        else:
            body.append(cells(row))
    notes = " ".join(_text_of(f) for f in element.iter("tfoot")) or None
    return (_text_of(caption) if caption is not None else None), header, body, notes


class _ReportWriter:
    """Walks ``report.html`` and writes each element as its Word counterpart."""

    def __init__(self):
        self.document = _new_document()
        _set_orientation(self.document.sections[0], False)
        self.landscape = False
        self.tables = 0
        self.figures = 0

    def orientation(self, landscape: bool) -> None:
        from docx.enum.section import WD_SECTION

        if landscape != self.landscape:
            _set_orientation(self.document.add_section(WD_SECTION.NEW_PAGE), landscape)
            self.landscape = landscape

    def walk(self, element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _SKIP or not tag:
            return
        if tag in _CONTAINERS:
            for child in element:
                self.walk(child)
            return
        if tag in ("h1", "h2", "h3", "h4"):
            self.orientation(False)
            heading = self.document.add_heading(_text_of(element), level=int(tag[1]) - 1)
            for run in heading.runs:
                _set_font(run)
            return
        if tag == "table":
            caption, header, body, notes = _html_table(element)
            landscape = _needs_landscape(header, body)
            if landscape:
                self.orientation(True)
            _add_table(
                self.document,
                header,
                body,
                caption=caption,
                notes=notes,
                width=_LANDSCAPE_WIDTH if self.landscape else _PORTRAIT_WIDTH,
            )
            self.tables += 1
            return
        if tag == "figure":
            self.figure(element)
            return
        if tag in ("ul", "ol"):
            for item in element.iter("li"):
                _paragraph(self.document, _text_of(item), style="List Bullet")
            return
        if tag == "dl":
            for term in element.iter("dt"):
                definition = term.getnext()
                paragraph = self.document.add_paragraph()
                _set_font(paragraph.add_run(_text_of(term) + ": "), _BODY_PT, bold=True)
                if definition is not None and definition.tag == "dd":
                    _set_font(paragraph.add_run(_display(_text_of(definition))), _BODY_PT)
            return
        text = _text_of(element)
        if text:
            _paragraph(self.document, text)

    def figure(self, element) -> None:
        from docx.shared import Inches, Pt

        self.orientation(False)
        for image in element.iter("img"):
            source = image.get("src", "")
            prefix = "data:image/png;base64,"
            if not source.startswith(prefix):
                continue
            self.document.add_picture(
                io.BytesIO(base64.b64decode(source[len(prefix) :])), width=Inches(_PORTRAIT_WIDTH)
            )
            self.document.paragraphs[-1].paragraph_format.keep_with_next = True
            self.figures += 1
        for caption in element.iter("figcaption"):
            paragraph = _paragraph(self.document, _text_of(caption), size=_NOTE_PT)
            paragraph.paragraph_format.space_after = Pt(8)


def report_to_docx(html_path: str | Path, out: str | Path, *, title: str | None = None) -> Path:
    """Write ``report.docx``: the sections of ``report.html`` in order, as a Word document.

    Headings stay headings, the summary lists stay lists, each HTML table becomes a Word table
    (:func:`to_docx`'s style; a wide one on a landscape page) and each embedded PNG an embedded
    picture fitted to the page width, with its caption. The navigation list is left out (Word
    has its own). The text and cells are the report's own, so the numbers are the ones the
    report states (read there from the result CSVs).

    Parameters
    ----------
    html_path : str or Path
        ``report.html`` as :func:`prt_outcomes.render.report.build_report` wrote it.
    out : str or Path
        ``report.docx``.
    title : str, optional
        The document title (core properties); the page's ``<title>`` by default.

    Returns
    -------
    Path
        The file written.
    """
    import lxml.html

    root = lxml.html.fromstring(Path(html_path).read_bytes())
    writer = _ReportWriter()
    body = root.find("body")
    for child in body if body is not None else root:
        writer.walk(child)
    page_title = root.findtext(".//title") or ""
    return _save(writer.document, Path(out), title=title if title is not None else page_title.strip())


def report_html_counts(html_path: str | Path) -> tuple[int, int]:
    """The number of tables and of embedded figures of ``report.html`` (for checks)."""
    import lxml.html

    root = lxml.html.fromstring(Path(html_path).read_bytes())
    figures: Iterable = (
        img for img in root.iter("img") if (img.get("src") or "").startswith("data:image/png;base64,")
    )
    return len(list(root.iter("table"))), len(list(figures))
