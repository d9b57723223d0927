"""render_tables and build_report: every expected file, self-contained, no participant ids,
deterministic (prt_outcomes.render.report)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from prt_outcomes.analyse.outcomes import read_model_info  # noqa: E402
from prt_outcomes.outputs import RESULT_TABLES, journal_table_stems  # noqa: E402
from prt_outcomes.render.report import build_report, redact_failures, render_tables  # noqa: E402
from report_fakes import FAKE_IDS, QUARANTINED_ID  # noqa: E402


@pytest.fixture(scope="module")
def rendered(results, cfg):
    """The fake results with what the render rules write (the report embeds it): the tables,
    and the figures as PNG at a low dpi (fast; the report takes whatever dpi they have)."""
    from dataclasses import replace

    from prt_outcomes.render.figures import render_figures

    render_tables(cfg, results)
    render_figures(replace(cfg, dpi=72, figure_formats=("png",)), results)
    return results


@pytest.fixture(scope="module")
def report(rendered, cfg):
    path = build_report(cfg, rendered)
    return path, path.read_text(encoding="utf-8")


def without_data_uris(text: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", text)


class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action") and value:
                self.refs.append((tag, name, value))


def test_render_tables_writes_every_expected_file_deterministically(results, cfg):
    written = render_tables(cfg, results)
    names = {p.relative_to(results).as_posix() for p in written}
    for table in RESULT_TABLES:
        for ext in ("md", "html", "tex"):
            assert f"tables/{table}.{ext}" in names
    for stem in journal_table_stems(cfg):
        for ext in ("md", "html", "tex"):
            assert f"tables/{stem}.{ext}" in names
    for outcome in cfg.outcome_names:
        assert f"tables/outcome_{outcome}.csv" in names
    before = {p: p.read_bytes() for p in written}
    again = render_tables(cfg, results)
    assert {p: p.read_bytes() for p in again} == before
    tex = (results / "tables" / "outcome_pain_avg.tex").read_text()
    assert r"\toprule" in tex and "$-$" in tex
    page = (results / "tables" / "baseline_table.html").read_text()
    assert "PRT (n = 50)" in page and "<table" in page


def test_render_tables_reports_a_missing_table(tmp_path, cfg):
    with pytest.raises(FileNotFoundError, match="flow.csv does not exist"):
        render_tables(cfg, tmp_path)


def test_report_is_self_contained(report):
    _, text = report
    parser = _Resources()
    parser.feed(text)
    assert "script" not in parser.tags and "link" not in parser.tags
    for tag, attr, value in parser.refs:
        assert value.startswith(("data:image/png;base64,", "#")), (tag, attr, value[:60])
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text)
    assert "@import" not in text and "url(" not in without_data_uris(text)
    # every embedded image is a real PNG
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) >= 2 * 4 + 4
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)


def test_report_embeds_the_files_the_renderers_wrote(report, rendered, cfg):
    """The report neither redraws a figure nor rebuilds a journal table: it holds the PNG bytes
    of figures/ (so their dpi is the config's) and the HTML fragments of tables/."""
    _, text = report
    images = [base64.b64decode(b) for b in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)]
    for stem in ("flow", "forest", "missingness", "responders", "trajectory_pain_avg", "change_odi"):
        assert (rendered / "figures" / f"{stem}.png").read_bytes() in images, stem
    for stem in [f"outcome_{o}" for o in cfg.outcome_names] + ["baseline_table", "responder_table"]:
        fragment = (rendered / "tables" / f"{stem}.html").read_text(encoding="utf-8").rstrip()
        assert fragment in text, stem


def test_a_figure_not_rendered_is_a_warning_in_its_place(rendered, cfg, tmp_path):
    from prt_outcomes.layout import RunLayout

    inputs = RunLayout(cfg, rendered).report_inputs()
    inputs["forest_png"] = tmp_path / "never_written.png"
    text = build_report(cfg, inputs=inputs, out=tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Figure not rendered (never_written.png)" in text
    assert "Table not rendered" not in text


def test_report_has_no_participant_ids(report):
    _, text = report
    visible = without_data_uris(text)
    leaked = [pid for pid in FAKE_IDS if re.search(rf"(?<![\w-]){pid}(?![\w-])", visible)]
    assert leaked == []
    assert "[participant id removed]" in visible  # the duplicate-id failure is shown, redacted
    # a quarantined participant is only in the ingested data, not in the analysis data
    assert QUARANTINED_ID not in visible


def test_report_sections_and_content(report, cfg):
    _, text = report
    for anchor in (
        "study",
        "validation",
        "flow",
        "baseline",
        "responders",
        "forest",
        "missingness",
        "models",
        "provenance",
    ):
        assert f'id="{anchor}"' in text
    for outcome in cfg.outcome_names:
        assert f'id="outcome-{outcome}"' in text
    assert cfg.title in text
    assert "1060 rows read, 1050 analysed, 10 quarantined" in text
    assert "PRT (reference)" not in text and "Usual care (reference), n = 52" in text
    assert "ab" * 32 in text  # input hash from the manifest
    assert "20221" in text  # seed
    assert "&minus;" in text  # proper minus in the tables


def test_report_shows_model_warnings_prominently(report):
    _, text = report
    top = text.split("<nav>")[0]
    assert "Attention" in top and "1 model(s) reported warnings" in top
    assert "Hessian not positive definite" in text


def test_model_section_without_warnings_says_so(results):
    from prt_outcomes.render.report import _model_section

    info = read_model_info(results / "tables/model_info.csv").assign(converged=True)
    info["warnings"] = [[] for _ in range(len(info))]
    html, failed, warned = _model_section(info)
    assert failed == warned == [] and "All models converged without warnings" in html
    html, failed, warned = _model_section(info.assign(converged=False))
    assert failed == [] and len(warned) == len(info) and "not converged" in html


def test_an_outcome_not_fitted_is_counted_apart_from_warnings(results):
    from prt_outcomes.render.report import _model_section

    info = read_model_info(results / "tables/model_info.csv").assign(converged=True)
    info["warnings"] = [[] for _ in range(len(info))]
    info.loc[0, ["status", "message", "converged"]] = ["failed", "outcome 'x': constant", False]
    html, failed, warned = _model_section(info)
    assert failed == [f"{info.loc[0, 'outcome']}: outcome 'x': constant"] and warned == []
    assert "Outcomes not analysed" in html and "Model warnings" not in html


def test_report_is_byte_identical_on_rerun(report, results, cfg):
    path, text = report
    assert build_report(cfg, results).read_text(encoding="utf-8") == text


def test_redact_failures_handles_ids_in_values_and_messages():
    failures = pd.DataFrame(
        {
            "file": ["a.csv", "a.csv", "a.csv"],
            "row": [2, 3, 4],
            "column": ["participant_id", "visit", "pain"],
            "rule": ["unique", "isin", "range"],
            "value": ["P10", "week 9", "11"],
            "message": ["P10 twice", "visit of P1 unknown", "11 out of range 0-10"],
        }
    )
    out = redact_failures(failures, known_ids=["P1", "P10"])
    assert out["value"].tolist() == ["[participant id removed]", "week 9", "11"]
    assert out["message"].tolist() == [
        "[participant id removed] twice",
        "visit of [participant id removed] unknown",
        "11 out of range 0-10",
    ]
