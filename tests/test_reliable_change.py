"""Reliable change in the pipeline: the config entry, its refusals, and the per-arm table.

The Jacobson-Truax formulas are checked against R (clinicalsignificance) in test_clinical.py and
the published README example through claus2020.yaml in test_studies_published.py; here: the
config's settings reach the computation, the counts reconcile, nothing is dropped.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import EXAMPLE_CONFIG
from prt_outcomes.analyse.reliable_change import RELIABLE_CHANGE_COLUMNS, reliable_change_table
from prt_outcomes.config import ConfigError, StudyConfig
from prt_outcomes.stats.clinical import clinical_significance_summary, reliable_change

SETTINGS = {"reliability": 0.8, "source": "test value", "critical_value": 1.96}


def _config(entry=SETTINGS, outcome="pain_avg"):
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    for o in raw["outcomes"]:
        if o["name"] == outcome and entry is not None:
            o["reliable_change"] = dict(entry)
    return StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)


@pytest.fixture(scope="module")
def data():
    from prt_outcomes.simulate import simulate_trial

    return simulate_trial(seed=7)


def test_config_reads_the_entry_with_the_schema_defaults():
    settings = next(o for o in _config().outcomes if o.name == "pain_avg").reliable_change
    assert (settings.reliability, settings.source, settings.cutoff, settings.critical_value) == (
        0.8,
        "test value",
        "a",
        1.96,
    )
    assert all(o.reliable_change is None for o in _config().outcomes if o.name != "pain_avg")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"reliability": 0.8}, "has no 'source'"),
        ({"source": "x"}, "no sourced reliability"),
        ({"reliability": 0.8, "source": "x", "cutoff": "c"}, "needs the functional population"),
        ({"reliability": 1.2, "source": "x"}, "reliability"),
        ({"reliability": 0.8, "source": "x", "cutoff": "d"}, "cutoff"),
    ],
)
def test_unusable_entries_are_refused_at_load(entry, message):
    with pytest.raises(ConfigError, match=message):
        _config(entry)


def test_table_equals_the_per_participant_classification_and_counts_reconcile(data):
    config = _config()
    table = reliable_change_table(data, config)
    assert list(table.columns) == list(RELIABLE_CHANGE_COLUMNS)
    assert set(table["outcome"]) == {"pain_avg"}
    follow_ups = [v for v in config.visit_names if v != config.baseline_visit]
    assert list(pd.unique(table["visit"])) == follow_ups
    n_arm = data.drop_duplicates("participant_id")["arm"].value_counts()
    for visit in follow_ups:
        direct = reliable_change(
            data,
            outcome="pain_avg",
            pre=config.baseline_visit,
            post=visit,
            reliability=0.8,
            cutoff="a",
            arm="arm",
        )
        expected = clinical_significance_summary(direct, arm="arm").set_index(["arm", "category"])
        got = table[table["visit"] == visit].set_index(["arm", "category"])
        assert got["n"].to_dict() == expected["n"].to_dict()
        np.testing.assert_allclose(got["percent"], expected.loc[got.index, "percent"], rtol=1e-12)
        # every participant of the arm is either classified or counted as missing
        per_arm = got.groupby(level="arm")[["n_used", "n_missing"]].first().sum(axis=1)
        assert per_arm.to_dict() == n_arm.to_dict()
        assert got["cutoff_value"].nunique() == 1
        assert got["cutoff_value"].iloc[0] == pytest.approx(direct["cutoff"].iloc[0], rel=1e-15)


def test_reliable_change_without_a_baseline_visit_is_refused():
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for v in raw["visits"]:
        v.pop("baseline", None)
    raw["outcomes"][0]["reliable_change"] = dict(SETTINGS)
    with pytest.raises(ConfigError, match="no visit has 'baseline: true'"):
        StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)


def test_no_entry_gives_an_empty_table_with_the_contract_columns(data):
    table = reliable_change_table(data, _config(entry=None))
    assert table.empty and list(table.columns) == list(RELIABLE_CHANGE_COLUMNS)
