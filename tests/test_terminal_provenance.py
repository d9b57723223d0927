"""Issue #14 part 6: provenance without absolute paths; a short terminal, the full log in logs/."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from prt_outcomes.cli import _summary, _Terminal
from prt_outcomes.config import load_config
from prt_outcomes.layout import RunLayout
from prt_outcomes.provenance import build_manifest, provenance_path

ROOT = Path(__file__).resolve().parents[1]


def test_example_inputs_are_named_relative_to_the_project_root():
    config = load_config(ROOT / "config" / "config.yaml")
    manifest = build_manifest(config, config.data_paths())
    assert [(r["path"], r["relative_to"]) for r in manifest["inputs"]] == [
        ("data/example/outcomes_long.csv", "project")
    ]
    text = json.dumps(manifest)
    assert str(ROOT) not in text and "/tmp/" not in text and "/home/" not in text


def test_absolute_data_path_outside_any_project_is_relative_to_the_config(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "cfg").mkdir()
    data = tmp_path / "data" / "v.csv"
    data.write_text("x\n")
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw["data"]["files"][0]["path"] = str(data)  # absolute, as a user may write it
    (tmp_path / "cfg" / "s.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "cfg" / "s.yaml")
    assert provenance_path(config, data) == ("../data/v.csv", "config")
    manifest = build_manifest(config, config.data_paths())
    assert str(tmp_path) not in json.dumps(manifest)
    assert manifest["config"]["data"]["files"][0]["path"] == "../data/v.csv"


def test_terminal_shows_progress_only_and_logs_everything(tmp_path, capsys):
    log = tmp_path / "logs" / "snakemake.log"
    terminal = _Terminal(log)
    lines = ["Building DAG of jobs...\n", "localrule ingest:\n", "1 of 18 steps (6%) done\n"] * 10
    for line in lines:
        terminal(line)
    terminal.close()
    shown = capsys.readouterr().out.splitlines()
    assert shown == ["1 of 18 steps (6%) done"] * 10
    assert log.read_text().count("\n") == len(lines)


def test_summary_names_report_warnings_and_quarantine(tmp_path):
    config = load_config(ROOT / "config" / "config.yaml")
    layout = RunLayout.for_study(config, tmp_path)
    layout.log_dir.mkdir(parents=True)
    (layout.log_dir / "fit_model.log").write_text(
        "INFO x\nWARNING prt_outcomes: a\nWARNING prt_outcomes: b\n"
    )
    layout.validation.summary.parent.mkdir(parents=True)
    layout.validation.summary.write_text("file,rows_quarantined\nf.csv,3\ntotal,3\n")
    lines = _summary(layout, ROOT)
    assert lines[0] == f"Report: {layout.report.resolve()}"
    assert lines[1].startswith("Warnings: 2")
    assert lines[2].startswith("Quarantined rows: 3; read ") and lines[2].endswith("report.md")
