"""profiles/slurm: every rule of the workflow has its resources, and only rules that exist.

The cluster run itself is .ci/slurm (a one-node SLURM, every contract file compared byte for byte
with a local run); this test keeps the profile in step with the rule files without SLURM.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"


def _rules() -> set[str]:
    names = set()
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        names |= set(re.findall(r"^rule (\w+):", smk.read_text("utf-8"), flags=re.M))
    return names


def test_every_rule_has_its_slurm_resources():
    profile = yaml.safe_load(PROFILE.read_text("utf-8"))
    assert profile["executor"] == "slurm"
    resources = profile["set-resources"]
    assert set(resources) == _rules()
    for rule, res in resources.items():
        assert set(res) == {"mem_mb", "runtime", "cpus_per_task"}, rule
        # a Python job is ~195 MB resident before any data (benchmarks/README.md)
        assert res["mem_mb"] >= 1000 and res["runtime"] >= 10 and res["cpus_per_task"] == 1, rule


def test_ci_slurm_script_is_bounded_and_cleans_up():
    script = (ROOT / ".ci" / "slurm").read_text("utf-8")
    assert "trap cleanup EXIT" in script and "skipped:" in script
    # every workflow run bounded in time, the comparison over the whole contract
    assert script.count('timeout "$TOTAL_LIMIT"') == 2
    assert "contract()" in script and "read_bytes()" in script
    assert ".ci/slurm" in (ROOT / ".ci" / "run").read_text("utf-8")
