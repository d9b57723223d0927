"""Trust (issue 9), through the real workflow: a study runs exactly as its file says, from any
folder; a changed config value or a replaced data file rebuilds what it affects (and nothing
else); an unchanged rerun has nothing to do; strict validation keeps its report; a failing step
says one paragraph, never a traceback.

The slow tests share two small studies (one outcome, three visits, PNG figures at 72 dpi), each
run through the CLI from a folder outside the project.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import CLI_ENV, REPO_ROOT, cli_run_command
from prt_outcomes.config import load_config
from prt_outcomes.logs import FAILURE_MARKER, failure_from_log

ENV = CLI_ENV
EXAMPLE_DATA = REPO_ROOT / "data" / "example" / "outcomes_long.csv"
SCRIPTS = REPO_ROOT / "workflow" / "scripts"
# fit_model.py and collect_models.py belong to the analysis stage's owner; they are to follow.
SMALL_STUDY = {
    "study": {"name": "trust_small"},
    "data": {"files": [{"path": "../data/visits.csv"}]},
    "arms": {
        "reference": "usual_care",
        "levels": [{"name": "prt"}, {"name": "placebo"}, {"name": "usual_care"}],
    },
    "visits": [
        {"name": "baseline", "day": 0, "baseline": True},
        {"name": "post", "day": 30},
        {"name": "m3", "day": 120},
    ],
    "outcomes": [{"name": "pain_avg", "instrument": "bpi_average_pain", "primary": True}],
    "outputs": {"figure_formats": ["png"], "dpi": 72},
}


def _small_data() -> pd.DataFrame:
    data = pd.read_csv(EXAMPLE_DATA)
    return data[data["visit"].isin(["baseline", "post", "m3"])][
        ["participant_id", "arm", "visit", "pain_avg"]
    ]


def _write_study(folder: Path, study: dict, data: pd.DataFrame) -> Path:
    (folder / "config").mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    data.to_csv(folder / "data" / "visits.csv", index=False)
    path = folder / "config" / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def _run(config: Path, results: Path, cwd: Path) -> subprocess.CompletedProcess:
    command = cli_run_command(config, "--results", results, "--cores", 2)
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=1200)


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        # the lock, and logs/snakemake.log: the terminal's full record of each run, rewritten by
        # every `prt-outcomes run` by design (the step logs are rewritten only with their step)
        if p.is_file() and p.name not in (".prt-outcomes.lock", "snakemake.log")
    }


def _changed(before: dict, after: dict) -> set[str]:
    """Files rewritten between two snapshots (new timestamp or new bytes)."""
    return {name for name in after if before.get(name) != after[name]}


@pytest.fixture(scope="module")
def edits(tmp_path_factory):
    """Run the small study, rerun it, then edit one thing at a time and rerun after each."""
    root = tmp_path_factory.mktemp("trust")
    elsewhere = root / "elsewhere"  # the user's shell is not in the project
    elsewhere.mkdir()
    config = _write_study(root / "study", SMALL_STUDY, _small_data())
    results = root / "results"
    study = results / "trust_small"
    steps = {}

    def step(name):
        done = _run(config, results, elsewhere)
        steps[name] = {
            "run": done,
            "files": _snapshot(study),
            "manifest": json.loads((study / "manifest.json").read_text()),
        }

    step("first")
    step("unchanged")
    edited = json.loads(json.dumps(SMALL_STUDY))
    edited["models"] = {"covariance": "compound_symmetry"}
    config.write_text(yaml.safe_dump(edited, sort_keys=False))
    step("covariance")
    edited["study"]["title"] = "A title of its own"
    config.write_text(yaml.safe_dump(edited, sort_keys=False))
    step("title")
    # another export of the data: different values, same size, and an older timestamp
    data_file = root / "study" / "data" / "visits.csv"
    before = data_file.stat()
    changed = _small_data()
    post_prt = (changed["arm"] == "prt") & (changed["visit"] == "post") & (changed["pain_avg"] <= 8)
    changed.loc[post_prt, "pain_avg"] += 1
    changed.to_csv(data_file, index=False)
    os.utime(data_file, ns=(before.st_atime_ns - 10**13, before.st_mtime_ns - 10**13))
    step("data")
    return {"steps": steps, "config": config, "data_file": data_file, "study": study}


@pytest.mark.slow
def test_runs_from_outside_the_project(edits):
    first = edits["steps"]["first"]["run"]
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert (edits["study"] / "report.html").is_file()


@pytest.mark.slow
def test_manifest_is_the_file_plus_schema_defaults_and_nothing_from_the_example(edits):
    manifest = edits["steps"]["title"]["manifest"]
    assert manifest["config"] == json.loads(json.dumps(load_config(edits["config"]).raw))
    assert manifest["config"]["study"] == {
        "name": "trust_small",
        "title": "A title of its own",
        "design": "randomized",
    }
    assert manifest["seed"] is None  # the example's seed 20221 used to leak in
    for key in ("thresholds", "covariates", "columns"):  # the example's sections
        assert key not in manifest["config"]
    assert "covariates" not in manifest["config"]["models"]  # the example's [age, sex]


@pytest.mark.slow
def test_manifest_inputs_are_relative_with_hash_and_size(edits):
    inputs = edits["steps"]["data"]["manifest"]["inputs"]
    data_file = edits["data_file"]
    assert inputs == [
        {
            "path": "../data/visits.csv",
            "relative_to": "config",  # no Snakefile above: outside any project
            "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),  # the replacing export's
            "bytes": data_file.stat().st_size,
        }
    ]


@pytest.mark.slow
def test_unchanged_rerun_has_nothing_to_do_and_rewrites_nothing(edits):
    steps = edits["steps"]
    done = steps["unchanged"]["run"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nothing to be done" in done.stdout + done.stderr
    assert steps["unchanged"]["files"] == steps["first"]["files"]


@pytest.mark.slow
def test_changed_covariance_refits_without_reading_the_data_again(edits):
    steps = edits["steps"]
    assert steps["covariance"]["run"].returncode == 0, steps["covariance"]["run"].stderr[-3000:]
    changed = _changed(steps["unchanged"]["files"], steps["covariance"]["files"])
    assert {"tables/contrasts.csv", "tables/model_info.csv", "report.html", "manifest.json"} <= changed
    assert "intermediate/ingested.parquet" not in changed and "validation/summary.csv" not in changed
    info = pd.read_csv(edits["study"] / "tables" / "model_info.csv")
    assert "compound_symmetry" in info.to_csv()


@pytest.mark.slow
def test_changed_title_rerenders_without_refitting(edits):
    steps = edits["steps"]
    assert steps["title"]["run"].returncode == 0, steps["title"]["run"].stderr[-3000:]
    changed = _changed(steps["covariance"]["files"], steps["title"]["files"])
    assert {"report.html", "manifest.json"} <= changed
    assert not {name for name in changed if name.startswith(("intermediate/models/", "validation/"))}
    assert "tables/contrasts.csv" not in changed
    assert "A title of its own" in (edits["study"] / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_replaced_data_with_an_older_timestamp_rebuilds_everything(edits):
    steps = edits["steps"]
    assert steps["data"]["run"].returncode == 0, steps["data"]["run"].stderr[-3000:]
    before, after = steps["title"]["files"], steps["data"]["files"]
    for name in ("intermediate/ingested.parquet", "tables/contrasts.csv", "tables/observed_summary.csv"):
        assert before[name][0] != after[name][0], name  # new content, not only a new timestamp


# (every shipped study config runs from outside the project: tests/test_studies_run.py)


# ---- strict validation keeps its report; the user reads one paragraph ---------------------------
@pytest.fixture(scope="module")
def strict_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("strict")
    data = _small_data()
    data.loc[data.index[4], "pain_avg"] = 99  # out of the 0-10 range
    study = {**json.loads(json.dumps(SMALL_STUDY)), "validation": {"mode": "strict"}}
    study["study"] = {"name": "trust_strict"}
    config = _write_study(root / "study", study, data)
    done = _run(config, root / "results", root)
    return done, root / "results" / "trust_strict"


@pytest.mark.slow
def test_strict_mode_keeps_the_report_it_stops_for(strict_run):
    done, study = strict_run
    assert done.returncode != 0
    failures = pd.read_csv(study / "validation" / "failures.csv")
    assert "out_of_range" in set(failures["rule"])
    assert (study / "validation" / "report.md").is_file()
    assert (study / "validation" / "summary.csv").is_file()
    assert not (study / "tables" / "contrasts.csv").exists()


@pytest.mark.slow
def test_strict_mode_stop_is_one_paragraph_without_traceback(strict_run):
    done, study = strict_run
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    final = [
        line for line in done.stderr.splitlines() if line.startswith("prt-outcomes: the workflow stopped.")
    ]
    assert len(final) == 1, done.stderr[-4000:]
    assert "step 'derive' failed" in final[0] and "strict" in final[0]
    assert str(study / "validation" / "report.md") in final[0]
    assert "failures.csv" in final[0]


# ---- one way for every script to fail -------------------------------------------------------------
def _fake_step(tmp_path: Path, body: str, rule: str = "render_tables", wildcards: dict | None = None):
    log = tmp_path / "step.log"
    script = tmp_path / "step.py"
    script.write_text(
        textwrap.dedent(f"""
        import errno, types
        from prt_outcomes.errors import ModelError
        from prt_outcomes.logs import WorkflowStep
        snakemake = types.SimpleNamespace(rule={rule!r}, log=[{str(log)!r}], wildcards={wildcards or {}!r},
                                          config={{}})
        with WorkflowStep(snakemake) as step:
            step.log.info("working")
    """)
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    done = subprocess.run([sys.executable, str(script)], env=ENV, capture_output=True, text=True, timeout=120)
    return done, log


def test_a_full_disk_is_one_paragraph_in_log_and_stderr(tmp_path):
    done, log = _fake_step(
        tmp_path, 'raise OSError(errno.ENOSPC, "No space left on device", "tables/flow.csv")'
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "prt-outcomes: step 'render_tables' failed: No space left on device: 'tables/flow.csv' [ENOSPC]; "
        "the disk is full: free some space, or write the results elsewhere with prt-outcomes run "
        "--results DIR, then run again."
    ]
    assert FAILURE_MARKER in log.read_text()
    assert failure_from_log(log) == done.stderr.strip().removeprefix("prt-outcomes: ")


def test_a_user_error_names_the_step_and_outcome(tmp_path):
    done, log = _fake_step(
        tmp_path,
        "raise ModelError(\"outcome 'pain': the arm 'prt' has no values.\")",
        rule="fit_model",
        wildcards={"outcome": "pain"},
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        failure_from_log(log)
        == "step 'fit_model' (outcome pain) failed: outcome 'pain': the arm 'prt' has no values."
    )


def test_a_bug_keeps_its_traceback(tmp_path):
    done, _ = _fake_step(tmp_path, "raise ZeroDivisionError('a bug')")
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_ctrl_c_in_a_step_is_quiet(tmp_path):
    done, _ = _fake_step(tmp_path, "raise KeyboardInterrupt")
    assert done.returncode == 130 and "Traceback" not in done.stderr


def test_every_workflow_script_fails_through_workflow_step():
    scripts = sorted(SCRIPTS.glob("*.py"))
    assert len(scripts) >= 11
    for script in scripts:
        text = script.read_text()
        assert "with WorkflowStep(snakemake) as step:" in text, script.name
        assert "snakemake.config)" not in text, script.name  # the study comes from load_config
