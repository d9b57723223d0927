"""The PDF figures embed Type 42 font subsets without the OpenType layout tables.

``save_figure`` has fontTools drop GSUB, GPOS, GDEF and MATH while matplotlib subsets the
fonts (issue 15, part 3: subsetting DejaVu Sans with them was a third of the figures job).
These tests read the fonts back out of the written PDF.
"""

from __future__ import annotations

import io
import re
import zlib

from fontTools.subset import Options
from fontTools.ttLib import TTFont
from matplotlib.figure import Figure

from prt_outcomes.render.figures import _UNUSED_PDF_FONT_TABLES, save_figure


def _embedded_fonts(pdf: bytes) -> list[TTFont]:
    """Every TrueType font program (a ``/FontFile2`` stream) of a PDF written by matplotlib."""
    fonts = []
    for number in re.findall(rb"/FontFile2 (\d+) 0 R", pdf):
        body = re.search(rb"\n" + number + rb" 0 obj\n(.*?)stream\n", pdf, re.S)
        length = int(re.search(rb"/Length (\d+)", body.group(1)).group(1))
        start = body.end()
        data = pdf[start : start + length]
        if b"/FlateDecode" in body.group(1):
            data = zlib.decompress(data)
        fonts.append(TTFont(io.BytesIO(data)))
    return fonts


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("Pain intensity", fontweight="bold")  # a second font
    ax.set_xlabel("Months since baseline, 95% CI")
    return fig


def test_pdf_embeds_type42_fonts_without_layout_tables(tmp_path):
    (path,) = save_figure(_figure(), {"pdf": tmp_path / "f.pdf"})
    pdf = path.read_bytes()
    assert b"/CIDFontType2" in pdf  # Type 42: TrueType outlines, not Type 3
    fonts = _embedded_fonts(pdf)
    assert len(fonts) >= 2
    for font in fonts:
        tables = set(font.keys())
        assert {"glyf", "loca", "hmtx", "head", "cmap"} <= tables
        assert not tables & set(_UNUSED_PDF_FONT_TABLES), sorted(tables)
        assert font["maxp"].numGlyphs > 5  # the text's glyphs are there


def test_fonttools_defaults_are_restored_after_the_save(tmp_path):
    before = list(Options._drop_tables_default)
    save_figure(_figure(), {"pdf": tmp_path / "f.pdf"})
    assert Options._drop_tables_default == before
    assert not set(_UNUSED_PDF_FONT_TABLES) & set(Options().drop_tables)


def test_pdf_text_is_unchanged_by_the_smaller_subsets(tmp_path):
    # The glyphs drawn and their Unicode mapping do not depend on the layout tables: the page
    # content and the ToUnicode maps equal those of a PDF whose fonts keep them.
    import contextlib

    from prt_outcomes.render import figures

    (ours,) = save_figure(_figure(), {"pdf": tmp_path / "ours.pdf"})
    original = figures._font_subsets_without_layout_tables
    figures._font_subsets_without_layout_tables = contextlib.nullcontext
    try:
        (full,) = save_figure(_figure(), {"pdf": tmp_path / "full.pdf"})
    finally:
        figures._font_subsets_without_layout_tables = original
    full_fonts, our_fonts = _embedded_fonts(full.read_bytes()), _embedded_fonts(ours.read_bytes())
    assert any("GPOS" in font for font in full_fonts)  # the comparison is not vacuous
    for full_font, our_font in zip(full_fonts, our_fonts, strict=True):
        assert full_font.getGlyphOrder() == our_font.getGlyphOrder()
        assert full_font["hmtx"].metrics == our_font["hmtx"].metrics
        assert full_font["cmap"].getBestCmap() == our_font["cmap"].getBestCmap()
        assert full_font["glyf"].compile(full_font) == our_font["glyf"].compile(our_font)
    # every stream but the fonts' is the same (page content, ToUnicode, widths)
    streams = re.compile(rb"stream\n(.*?)\nendstream", re.S)
    full_streams = [s for s in streams.findall(full.read_bytes())]
    our_streams = [s for s in streams.findall(ours.read_bytes())]
    assert len(full_streams) == len(our_streams)
    differing = sum(a != b for a, b in zip(full_streams, our_streams, strict=True))
    assert differing == len(full_fonts)
