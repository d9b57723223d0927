"""The typed study config: schema validation, defaults, resolution from the instrument catalogue."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import EXAMPLE_CONFIG, REPO_ROOT
from prt_outcomes.config import ConfigError, StudyConfig, load_config


def _raw() -> dict:
    return yaml.safe_load(EXAMPLE_CONFIG.read_text())


def test_example_config_loads(example_config):
    cfg = example_config
    assert cfg.name == "boulder_example"
    assert cfg.arm_names == ("prt", "placebo", "usual_care")
    assert cfg.reference_arm == "usual_care"
    assert cfg.visit_names == ("baseline", "post", "m1", "m2", "m3", "m6", "m12")
    assert cfg.baseline_visit == "baseline"
    assert cfg.visit_days["m12"] == 390
    pain = cfg.outcome("pain_avg")
    assert (pain.min, pain.max, pain.higher_is_better) == (0, 10, False)
    assert pain.primary
    assert cfg.outcome("odi").max == 100
    assert cfg.model.covariance == "unstructured"
    assert cfg.model.covariates == ("age", "sex")
    assert cfg.thresholds[0].rule == "value <= 1"
    assert cfg.data_paths()[0] == REPO_ROOT / "data" / "example" / "outcomes_long.csv"


def test_schema_defaults_are_filled():
    raw = _raw()
    del raw["validation"]
    del raw["models"]
    cfg = StudyConfig.from_dict(raw)
    assert cfg.validation_mode == "lenient"
    assert cfg.model.method == "reml"
    assert cfg.raw["results_root"] == "results"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["arms"].update(reference="waitlist"), "arms.reference"),
        (lambda r: r["study"].pop("name"), "'name' is a required property"),
        (lambda r: r["models"].update(covariance="banded"), "models/covariance"),
        (lambda r: r["outcomes"].append({"name": "pain_avg", "instrument": "nrs_0_10"}), "appears twice"),
        (lambda r: r["outcomes"][0].update(instrument="bpi_avg"), "unknown instrument 'bpi_avg'"),
        (lambda r: r["models"].update(covariates=["bmi"]), "not declared under 'covariates:'"),
        (lambda r: r.update(colour="blue"), "Additional properties"),
        (lambda r: r["visits"][1].update(baseline=True), "more than one visit"),
    ],
)
def test_invalid_configs_get_clear_errors(mutate, message):
    raw = copy.deepcopy(_raw())
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_dict(raw)


def test_outcome_without_instrument_needs_range():
    raw = _raw()
    raw["outcomes"].append({"name": "custom_score", "min": 0, "max": 5, "higher_is_better": True})
    cfg = StudyConfig.from_dict(raw)
    assert cfg.outcome("custom_score").higher_is_better is True
    raw["outcomes"].append({"name": "bad_score", "min": 0})
    with pytest.raises(ConfigError, match="needs"):
        StudyConfig.from_dict(raw)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_snakemake_validates_with_the_same_schema():
    from snakemake.utils import validate

    raw = _raw()
    validate(raw, str(REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    raw["models"]["method"] = "bayes"
    with pytest.raises(Exception, match="bayes"):
        validate(raw, str(REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"))


@pytest.mark.parametrize(
    "rule, message",
    [("value <== 1", "cannot read"), ("pain_avg <= 1 and bmi <= 3", "bmi")],
)
def test_bad_threshold_rules_fail_at_load(rule, message):
    raw = _raw()
    raw["thresholds"].append({"rule": rule})
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_dict(raw)
