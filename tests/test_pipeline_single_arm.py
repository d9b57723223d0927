"""A clinic audit: one arm, pre/post, run in-process through every stage."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import EXAMPLE_CONFIG, REPO_ROOT
from prt_outcomes.config import load_config
from prt_outcomes.outputs import expected_outputs, figure_stems, results_dir
from prt_outcomes.pipeline import run


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    data = pd.read_csv(REPO_ROOT / "data" / "example" / "outcomes_long.csv")
    clinic = data[(data.arm == "prt") & data.visit.isin(["baseline", "post", "m3"])]
    clinic.to_csv(tmp / "clinic.csv", index=False)
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["study"] = {"name": "clinic_audit", "design": "single_arm"}
    raw["data"]["files"] = [{"path": str(tmp / "clinic.csv")}]
    raw["arms"] = {"levels": [{"name": "prt", "label": "PRT clinic"}]}
    raw["visits"] = [v for v in raw["visits"] if v["name"] in ("baseline", "post", "m3")]
    raw["outcomes"] = raw["outcomes"][:2]
    raw["thresholds"] = raw["thresholds"][:2]
    (tmp / "audit.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp / "audit.yaml")
    report = run(config, results_root=tmp / "results")
    return config, tmp / "results", report


def test_every_output_of_a_single_arm_study(audit):
    config, root, report = audit
    assert report.is_file()
    assert "forest" not in figure_stems(config)
    assert not [p for p in expected_outputs(config, root) if not p.is_file()]


def test_single_arm_tables(audit):
    config, root, _ = audit
    base = results_dir(config, root)
    contrasts = pd.read_csv(base / "tables" / "contrasts.csv")
    assert contrasts.empty
    means = pd.read_csv(base / "tables" / "marginal_means.csv").query("outcome == 'pain_avg'")
    assert means["visit"].tolist() == ["baseline", "post", "m3"]
    responders = pd.read_csv(base / "tables" / "responders.csv")
    assert responders["reference"].isna().all()
    post = responders.query("threshold == 'value <= 1' and visit == 'post'").iloc[0]
    assert post["denominator"] == 50 and 0 < post["responders"] < 50
