"""Integration: the Snakemake workflow on the bundled example, end to end.

One workflow run (through the CLI, as `make run` does) into a temporary results root; then:
every file of the output contract exists with the contract's columns, a second invocation has
nothing to do, and the in-process twin (`prt_outcomes.run`) writes byte-identical CSV tables.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO_ROOT, cli_run_command
from prt_outcomes.config import load_config
from prt_outcomes.outputs import RESULT_TABLES, expected_outputs, results_dir

CONTRACT_COLUMNS = {
    "flow": ["arm", "visit", "randomized", "assessed", "analysed"],
    "marginal_means": [
        "outcome",
        "analysis",
        "arm",
        "visit",
        "estimate",
        "se",
        "df",
        "ci_low",
        "ci_high",
        "n_observed",
    ],
    "contrasts": [
        "outcome",
        "analysis",
        "visit",
        "arm",
        "reference",
        "estimate",
        "se",
        "df",
        "t",
        "p",
        "ci_low",
        "ci_high",
        "hedges_g",
        "hedges_g_ci_low",
        "hedges_g_ci_high",
    ],
    "responders": [
        "outcome",
        "threshold",
        "visit",
        "arm",
        "responders",
        "denominator",
        "percent",
        "reference",
        "risk_difference",
        "rd_ci_low",
        "rd_ci_high",
        "odds_ratio",
        "or_ci_low",
        "or_ci_high",
        "p",
    ],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    config_path = REPO_ROOT / "config" / "config.yaml"
    command = cli_run_command(config_path, "--cores", 2, "--results", root)
    first = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    second = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    config = load_config(config_path)
    return {"root": root, "config": config, "first": first, "second": second}


def test_every_contract_output_exists(workflow_run):
    missing = [
        str(p) for p in expected_outputs(workflow_run["config"], workflow_run["root"]) if not p.is_file()
    ]
    assert not missing
    assert "Report:" in workflow_run["first"].stdout


def test_contract_columns(workflow_run):
    base = results_dir(workflow_run["config"], workflow_run["root"])
    for name, columns in CONTRACT_COLUMNS.items():
        table = pd.read_csv(base / "tables" / f"{name}.csv")
        assert list(table.columns[: len(columns)]) == columns, name
        assert len(table) > 0, name
    summary = pd.read_csv(base / "validation" / "summary.csv")
    assert {"rows_in", "rows_analysed", "rows_quarantined"} <= set(summary.columns)
    assert (summary["rows_in"] == summary["rows_analysed"] + summary["rows_quarantined"]).all()
    failures = pd.read_csv(base / "validation" / "failures.csv")
    assert list(failures.columns) == ["file", "row", "column", "rule", "value", "message"]
    manifest = json.loads((base / "manifest.json").read_text())
    assert manifest["seed"] == 20221
    assert manifest["inputs"][0]["sha256"]
    assert {"pandas", "statsmodels", "snakemake"} <= set(manifest["packages"])


def test_example_results_are_sensible(workflow_run):
    base = results_dir(workflow_run["config"], workflow_run["root"])
    contrasts = pd.read_csv(base / "tables" / "contrasts.csv")
    post = contrasts.query("outcome == 'pain_avg' and visit == 'post'").set_index("arm")
    # calibrated to Ashar 2022: PRT about 2 points below usual care after treatment
    assert -2.6 < post.loc["prt", "estimate"] < -1.4
    assert post.loc["prt", "p"] < 1e-6
    assert abs(post.loc["placebo", "estimate"]) < 1.0
    flow = pd.read_csv(base / "tables" / "flow.csv")
    assert flow.query("visit == 'baseline'")["randomized"].tolist() == [50, 51, 50]


def test_second_run_has_nothing_to_do(workflow_run):
    second = workflow_run["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Nothing to be done" in second.stdout + second.stderr


def test_report_is_self_contained_and_free_of_ids(workflow_run):
    base = results_dir(workflow_run["config"], workflow_run["root"])
    html = (base / "report.html").read_text(encoding="utf-8")
    assert "BBP-1" not in html
    assert 'src="http' not in html and 'href="http' not in html
    for table in RESULT_TABLES:
        text = (base / "tables" / f"{table}.csv").read_text()
        assert "BBP-1" not in text, table


def test_in_process_run_gives_byte_identical_tables(workflow_run, tmp_path):
    from prt_outcomes.pipeline import run

    report = run(workflow_run["config"], results_root=tmp_path)
    assert report.is_file()
    snake = results_dir(workflow_run["config"], workflow_run["root"])
    inproc = results_dir(workflow_run["config"], tmp_path)
    for table in RESULT_TABLES:
        a = (snake / "tables" / f"{table}.csv").read_bytes()
        b = (inproc / "tables" / f"{table}.csv").read_bytes()
        assert a == b, table
    for name in ("summary.csv", "failures.csv", "rule_counts.csv", "filtered.csv"):
        assert (snake / "validation" / name).read_bytes() == (inproc / "validation" / name).read_bytes()


def test_snakemake_report_builds(workflow_run, tmp_path):
    """Outputs flagged with report() and their captions make `snakemake --report` work."""
    out = tmp_path / "snakemake_report.html"
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        str(REPO_ROOT / "config" / "config.yaml"),
        "--config",
        f"results_root={workflow_run['root']}",
        "--report",
        str(out),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    html = out.read_text(encoding="utf-8", errors="replace")
    assert "trajectory_pain_avg.png" in html
