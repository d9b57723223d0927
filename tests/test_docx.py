"""Word output: every journal table as .docx and the report as one report.docx (issue 14).

The .docx files open with python-docx; their cells are the journal table's cells (built here
from the result CSVs with the journal-table functions, which is what the CSV/HTML writers show),
the report.docx holds every table and figure of report.html, and reruns give identical bytes.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

docx = pytest.importorskip("docx")

from prt_outcomes.files import read_result_csv  # noqa: E402
from prt_outcomes.layout import RunLayout  # noqa: E402
from prt_outcomes.render.docx import (  # noqa: E402
    FIXED_DATE,
    docx_table_cells,
    report_html_counts,
    report_to_docx,
    to_docx,
)
from prt_outcomes.render.report import build_report, render_tables  # noqa: E402
from prt_outcomes.render.tables import (  # noqa: E402
    _cells,
    baseline_journal_table,
    outcome_journal_table,
    responder_journal_table,
)

MINUS = "\u2212"


def shown(text: str) -> str:
    """A journal cell as the Word table prints it: a true minus, em-space indents."""
    import re

    value = re.sub(r"(?<![\w.])-(?=\.?\d)", MINUS, text)
    stripped = value.lstrip(" ")
    pad = len(value) - len(stripped)
    return "\u2003" * (pad // 4) + stripped if pad >= 4 else stripped


def expected_cells(frame: pd.DataFrame) -> list[list[str]]:
    header, body = _cells(frame)
    return [[shown(h) for h in header], *[[shown(c) for c in row] for row in body]]


@pytest.fixture(scope="module")
def rendered(results, cfg):
    from dataclasses import replace

    from prt_outcomes.render.figures import render_figures

    render_tables(cfg, results)
    render_figures(replace(cfg, dpi=50, figure_formats=("png",)), results)
    html = build_report(cfg, results)
    report_to_docx(html, RunLayout(cfg, results).report_docx)
    return results


def test_to_docx_is_journal_style_and_deterministic(tmp_path):
    frame = pd.DataFrame(
        {
            "Characteristic": ["Age, y, mean (SD)", "Sex, No. (%)", "    Female"],
            "Difference (95% CI)": ["-1.20 (-1.90 to -0.50)", "", "25 (50.0)"],
        }
    )
    first = to_docx(frame, tmp_path / "a.docx", caption="Table 1. Caption", notes="Notes here.")
    second = to_docx(frame, tmp_path / "b.docx", caption="Table 1. Caption", notes="Notes here.")
    assert first.read_bytes() == second.read_bytes()
    document = docx.Document(first)
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == "Table 1. Caption" and texts[-1] == "Notes here."
    assert docx_table_cells(first) == [expected_cells(frame)]
    assert docx_table_cells(first)[0][1][1] == f"{MINUS}1.20 ({MINUS}1.90 to {MINUS}0.50)"
    # booktabs-like: a heavy rule above and below the table, a light one under the header,
    # no vertical rules; body cells do not wrap (a CI stays on one line)
    xml = zipfile.ZipFile(first).read("word/document.xml").decode()
    assert '<w:top w:val="single" w:sz="12"' in xml and '<w:bottom w:val="single" w:sz="12"' in xml
    assert '<w:bottom w:val="single" w:sz="6"' in xml
    assert "w:insideV" not in xml and "<w:noWrap/>" in xml
    assert 'w:ascii="Arial"' in xml
    props = document.core_properties
    assert props.created == props.modified == FIXED_DATE
    assert {i.date_time for i in zipfile.ZipFile(first).infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_wide_table_gets_a_landscape_page(tmp_path):
    from docx.enum.section import WD_ORIENT

    wide = pd.DataFrame(
        {f"Difference in change {i} (95% CI)": ["-10.20 (-11.90 to -8.50)"] for i in range(6)}
    )
    narrow = pd.DataFrame({"a": ["1"]})
    assert docx.Document(to_docx(wide, tmp_path / "w.docx")).sections[0].orientation == WD_ORIENT.LANDSCAPE
    assert docx.Document(to_docx(narrow, tmp_path / "n.docx")).sections[0].orientation == WD_ORIENT.PORTRAIT


def test_every_journal_table_has_a_docx_with_the_csv_numbers(rendered, cfg):
    layout = RunLayout(cfg, rendered)
    tables = {name: read_result_csv(path) for name, path in layout.result_tables().items()}
    journal = layout.journal_tables()
    assert journal and all("docx" in paths for paths in journal.values())
    for stem, paths in journal.items():
        cells = docx_table_cells(paths["docx"])
        assert len(cells) == 1, stem
        if stem.startswith("outcome_"):
            # the journal CSV is the table's one written form: the Word cells are its cells
            expected = read_result_csv(paths["csv"]).fillna("").astype(str)
            # a sanity check that the CSV is the table the journal function builds
            outcome = stem.removeprefix("outcome_")
            built = outcome_journal_table(
                outcome,
                tables["observed_summary"],
                tables["marginal_means"],
                tables["contrasts"],
                cfg,
                change_contrasts=tables["change_contrasts"],
            )
            assert expected.values.tolist() == built.fillna("").astype(str).values.tolist()
        elif stem == "baseline_table":
            expected = baseline_journal_table(tables["baseline"], cfg, flow=tables["flow"])
        else:
            expected = responder_journal_table(tables["responders"], cfg)
        assert cells[0] == expected_cells(expected), stem


def test_report_docx_holds_every_table_and_figure_of_the_html(rendered, cfg):
    layout = RunLayout(cfg, rendered)
    n_tables, n_figures = report_html_counts(layout.report)
    document = docx.Document(layout.report_docx)
    assert n_tables > 5 and n_figures > 3
    assert len(document.tables) == n_tables
    assert len(document.inline_shapes) == n_figures
    # pictures fit the portrait text width (6.5 in)
    assert max(s.width.inches for s in document.inline_shapes) <= 6.5 + 1e-6
    headings = [p.text for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    import lxml.html

    page = lxml.html.fromstring(layout.report.read_bytes())
    assert headings == [" ".join(h.text_content().split()) for h in page.iter("h1", "h2", "h3")]
    # the outcome tables of the report are the journal tables' cells
    for outcome in cfg.outcome_names:
        table = docx_table_cells(layout.table(f"outcome_{outcome}", "docx"))[0]
        assert any([[c.text for c in r.cells] for r in t.rows] == table for t in document.tables), outcome


def test_reruns_give_identical_bytes(rendered, cfg, tmp_path):
    layout = RunLayout(cfg, rendered)
    before = {
        p: p.read_bytes()
        for p in [layout.report_docx, *(v["docx"] for v in layout.journal_tables().values())]
    }
    render_tables(cfg, rendered)
    report_to_docx(layout.report, layout.report_docx)
    assert {p: p.read_bytes() for p in before} == before
    # and the document is a valid zip python-docx reopens from bytes
    docx.Document(io.BytesIO(before[layout.report_docx]))


def test_a_docx_write_failure_names_the_file(tmp_path):
    from prt_outcomes.errors import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="t.docx"):
        to_docx(pd.DataFrame({"a": ["1"]}), Path(blocker) / "t.docx")


def test_control_characters_and_markup_are_text(tmp_path):
    # XML cannot hold control characters: they are dropped, not a traceback; markup stays text
    frame = pd.DataFrame({"a\x01b": ['=HYPERLINK("x")\x07', "<img onerror=1>"]})
    path = to_docx(frame, tmp_path / "h.docx", caption="c\x00")
    assert docx_table_cells(path) == [[["ab"], ['=HYPERLINK("x")'], ["<img onerror=1>"]]]


def test_every_table_cell_has_the_table_font_size_weight_and_spacing(tmp_path):
    # The cells after the first of the header and of the body copy its formatting (the writer's
    # speed-up): each cell must still carry the full properties, header bold, body not.
    from prt_outcomes.render.docx import _TABLE_PT, TABLE_FONT

    frame = pd.DataFrame(
        {
            "Outcome": ["Pain", "    Month 1", "Function"],
            "PRT": ["1.2", "-0.4", "3"],
            "Usual care": ["2", "", "4"],
        }
    )
    document = docx.Document(to_docx(frame, tmp_path / "t.docx"))
    (table,) = document.tables
    seen = 0
    for i, row in enumerate(table.rows):
        for cell in row.cells:
            (paragraph,) = cell.paragraphs
            assert paragraph.paragraph_format.space_after.pt == 0
            assert paragraph.paragraph_format.space_before.pt == 1
            (run,) = paragraph.runs
            assert run.font.bold is (i == 0)
            assert run.font.size.pt == _TABLE_PT
            fonts = run._r.rPr.rFonts
            for script in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
                assert fonts.get(docx.oxml.ns.qn(script)) == TABLE_FONT
            seen += 1
    assert seen == 4 * 3
    # a copied property element is the cell's own, not shared with the first cell
    first, second = table.rows[1].cells[0].paragraphs[0].runs[0], table.rows[1].cells[1].paragraphs[0].runs[0]
    assert first._r.rPr is not second._r.rPr
