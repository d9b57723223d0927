"""Acceptance of issue 9: every shipped study config runs through ``prt-outcomes run`` from a
folder outside the project, and its manifest records exactly the file's content plus the
schema's defaults.

The manifest is checked against the YAML file itself and the JSON schema's ``default`` entries
(an independent reading), not against :func:`prt_outcomes.config.load_config`, which wrote it.
Each study is one full workflow run (about a minute), hence slow; one module, one worker.
"""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest
import yaml

from conftest import CLI_ENV, REPO_ROOT, cli_run_command
from prt_outcomes.config import config_schema
from prt_outcomes.outputs import expected_outputs, results_dir

STUDIES = sorted((REPO_ROOT / "config" / "studies").glob("*.yaml"))
ENV = CLI_ENV


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _only_defaults_added(given, recorded, node, schema, where="config"):
    """``recorded`` is ``given`` plus, for keys the file leaves out, the schema's defaults."""
    node = _resolve(schema, node)
    if isinstance(given, dict):
        assert isinstance(recorded, dict), where
        properties = node.get("properties", {})
        for key, value in recorded.items():
            child = properties.get(key, {})
            if key in given:
                _only_defaults_added(given[key], value, child, schema, f"{where}.{key}")
            else:
                child = _resolve(schema, child)
                if "default" in child:
                    assert value == child["default"], f"{where}.{key} is not the schema default"
                else:  # an object the file left out, filled with its own defaults only
                    assert isinstance(value, dict), f"{where}.{key} added without a default"
                    _only_defaults_added({}, value, child, schema, f"{where}.{key}")
        assert set(given) <= set(recorded), f"{where}: keys of the file missing from the manifest"
    elif isinstance(given, list):
        assert isinstance(recorded, list) and len(recorded) == len(given), where
        for i, (g, r) in enumerate(zip(given, recorded)):
            _only_defaults_added(g, r, node.get("items", {}), schema, f"{where}[{i}]")
    else:
        assert recorded == given, f"{where}: {recorded!r} recorded, {given!r} in the file"


def test_the_check_catches_a_key_that_is_neither_in_the_file_nor_a_default():
    schema = config_schema()
    given = {"study": {"name": "x"}}
    _only_defaults_added(given, {"study": {"name": "x", "design": "randomized"}}, schema, schema)
    with pytest.raises(AssertionError):
        _only_defaults_added(given, {"study": {"name": "x", "seed": 20221}}, schema, schema)
    with pytest.raises(AssertionError):
        _only_defaults_added(given, {"study": {"name": "x", "design": "single_arm"}}, schema, schema)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("config", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_runs_from_outside_the_project_exactly_as_configured(config, shared_data, tmp_path):
    from prt_outcomes.config import load_config

    results = tmp_path / "results"
    command = cli_run_command(config, "--results", results, "--cores", 2)
    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    study = load_config(config)
    missing = [p for p in expected_outputs(study, results) if not p.is_file()]
    assert not missing, missing
    manifest = json.loads((results_dir(study, results) / "manifest.json").read_text())
    schema = config_schema()
    _only_defaults_added(yaml.safe_load(config.read_text()), manifest["config"], schema, schema)
    for entry in manifest["inputs"]:
        assert not os.path.isabs(entry["path"]), entry  # relative to the config's folder
    assert str(tmp_path) not in json.dumps(manifest)
    # a config's reliable_change entries reach the table and the report (claus2020 has one)
    changes = pd.read_csv(results_dir(study, results) / "tables" / "reliable_change.csv")
    asked = {o.name for o in study.outcomes if o.reliable_change is not None}
    assert set(changes["outcome"]) == asked
    report = (results_dir(study, results) / "report.html").read_text(encoding="utf-8")
    assert ('id="reliable-change"' in report) == bool(asked)
