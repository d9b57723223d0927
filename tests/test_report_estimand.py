"""Issue 14 acceptance on the bundled example: each outcome section of report.html leads with
the difference in change from baseline (or the baseline-adjusted difference), no baseline row or
column of any report table carries a P value, Hedges g, risk difference or NNT (CONSORT 2010
item 15), and the report's MMRMT01 table shows the numbers of ``tables/lsmeans_change.csv``.
"""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from conftest import REPO_ROOT, cli_run_command
from prt_outcomes.config import load_config
from prt_outcomes.outputs import results_dir

pytestmark = pytest.mark.slow

INFERENCE = re.compile(r"^P$|P value|Hedges|[Rr]isk difference|NNT|[Oo]dds ratio|Difference")


class _Tables(HTMLParser):
    """Every <table> of a page in document order: caption, header, body rows, and the section."""

    def __init__(self):
        super().__init__()
        self.tables, self.section, self._cell, self._row = [], None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.section = dict(attrs).get("id")
        elif tag == "table":
            self.tables.append({"section": self.section, "caption": "", "header": [], "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th", "caption") and self.tables:
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "caption" and self._cell is not None:
            self.tables[-1]["caption"] = "".join(self._cell).strip()
            self._cell = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if table["header"]:
                table["rows"].append(self._row)
            else:  # the first row is the header
                table["header"] = self._row
            self._row = None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    config_path = REPO_ROOT / "config" / "config.yaml"
    run = subprocess.run(
        cli_run_command(config_path, "--cores", 1, "--results", root),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    config = load_config(config_path)
    base = results_dir(config, root)
    parser = _Tables()
    parser.feed((base / "report.html").read_text(encoding="utf-8"))
    return {"config": config, "base": base, "tables": parser.tables, "root": root}


def test_each_outcome_section_leads_with_the_difference_in_change(report):
    config, tables = report["config"], report["tables"]
    for outcome in config.outcome_names:
        first = [t for t in tables if t["section"] == f"outcome-{outcome}"][0]
        adjusted = config.analyses_of(outcome)[0].model.baseline_adjusted
        what = "Baseline-adjusted difference" if adjusted else "Difference in change from baseline"
        assert first["header"][2] == f"{what} (95% CI)", (outcome, first["header"])
        assert first["header"][3:] == ["P", "Hedges g (95% CI)"]
        assert "Baseline" not in {row[0] for row in first["rows"]}
    # the example: PROMIS depression's levels favour usual care, its change PRT
    change = pd.read_csv(report["base"] / "tables" / "change_contrasts.csv")
    levels = pd.read_csv(report["base"] / "tables" / "contrasts.csv")
    key = "outcome == 'promis_dep' and arm == 'prt' and visit == 'm3'"
    assert change.query(key)["estimate"].iloc[0] < 0 < levels.query(key)["estimate"].iloc[0]
    first = [t for t in tables if t["section"] == "outcome-promis_dep"][0]
    prt_m3 = [r for r in first["rows"] if r[0] == "3 months" and r[1].startswith("PRT")][0]
    assert prt_m3[2].startswith(f"\u2212{abs(change.query(key)['estimate'].iloc[0]):.1f} (")


def test_no_baseline_row_or_column_carries_p_g_rd_or_nnt(report):
    checked = 0
    for table in report["tables"]:
        header = table["header"]
        inferential = [i for i, h in enumerate(header) if INFERENCE.search(h)]
        for row in table["rows"]:
            if row and row[0] == "Baseline":  # a baseline row (tables by visit and arm)
                checked += 1
                assert all(row[i] == "" for i in inferential if i < len(row)), (table["caption"], row)
        if "Baseline" in header:  # the responder table: visits as columns
            at = header.index("Baseline")
            for row in table["rows"]:
                if len(row) > at and (INFERENCE.search(row[0]) or " vs " in row[0]):
                    checked += 1
                    assert row[at] == "", (table["caption"], row)
    assert checked > 0


def test_the_reports_mmrmt01_table_is_lsmeans_change(report):
    config, tables = report["config"], report["tables"]
    lsm = pd.read_csv(report["base"] / "tables" / "lsmeans_change.csv")
    labels = {config.visit_labels[v]: v for v in config.visit_names}
    arms = {config.arm_labels[a]: a for a in config.arm_names}
    for outcome in config.outcome_names:
        d = config.outcome(outcome).instrument.decimals
        table = [t for t in tables if t["section"] == f"outcome-{outcome}" and "LS" in t["caption"]][0]
        assert table["header"][:5] == ["Visit", "Arm", "n", "Adjusted mean change (SE)", "95% CI"]
        mine = lsm[lsm["outcome"] == outcome].set_index(["visit", "arm"])
        rows = [r for r in table["rows"] if len(r) == len(table["header"])]  # not the notes
        assert len(rows) == len(mine)
        for row in rows:
            r = mine.loc[(labels[row[0]], arms[row[1]])]
            shown = row[3].replace("\u2212", "-")
            # the SE one decimal finer than the mean (render.tables._with_se)
            expected = f"{r['estimate']:.{d}f} ({r['se']:.{d + 1}f})"
            assert shown == (expected[1:] if expected.startswith("-0.0 ") and d == 1 else expected)
            assert row[2] == str(int(r["n"]))
            if pd.notna(r["difference"]):
                assert row[5].replace("\u2212", "-").startswith(f"{r['difference']:.{d}f} (")


def test_the_report_and_manifest_name_no_absolute_path(report):
    # issue 14 acceptance: provenance relative to the project root; the run wrote into a
    # temporary folder outside the project, so neither that folder nor the project may appear
    base = report["base"]
    for name in ("report.html", "manifest.json"):
        text = (base / name).read_text(encoding="utf-8")
        for absolute in (str(REPO_ROOT), str(report["root"]), "/tmp/", "/home/", "/work/", "/root/"):
            assert absolute not in text, (name, absolute)
    assert "data/example/outcomes_long.csv" in (base / "report.html").read_text(encoding="utf-8")
