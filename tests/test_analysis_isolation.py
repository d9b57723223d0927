"""One outcome's model failure does not stop the others (issue 9, item 7).

An outcome whose data cannot support the trial model is recorded as not fitted:
``model_info.status == "failed"`` with a one-paragraph ``message`` naming the outcome, no rows in
the estimate tables, and a line in the report. The other outcomes are analysed as usual. An
outcome with values at the baseline visit only is refused (a baseline-only "fit" estimates no
treatment effect). Only user-facing errors are caught: a bug still surfaces.
"""

from __future__ import annotations

import runpy
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from conftest import EXAMPLE_CONFIG, REPO_ROOT
from prt_outcomes import models
from prt_outcomes.analyse.outcomes import MODEL_INFO_COLUMNS, analyse_outcome
from prt_outcomes.config import StudyConfig, load_config
from prt_outcomes.errors import ModelError
from prt_outcomes.pipeline import analyse, derive

VISITS = ["baseline", "post", "m3"]
FINE, BASELINE_ONLY, CONSTANT = "pain_avg", "sleep_quality", "odi"
SCRIPTS = REPO_ROOT / "workflow" / "scripts"


def _raw_config(covariance: str = "ar1") -> dict:
    """The example study cut to three visits, with a baseline-only and a constant outcome."""
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["visits"] = [v for v in raw["visits"] if v["name"] in VISITS]
    raw["outcomes"] = [
        {"name": FINE, "instrument": "bpi_average_pain"},
        {"name": BASELINE_ONLY, "instrument": "bpi_average_pain"},
        {"name": CONSTANT, "instrument": "oswestry"},
    ]
    raw["thresholds"] = [{"rule": "value <= 1", "outcomes": [FINE]}]
    raw["models"]["covariance"] = covariance
    return raw


def _data() -> pd.DataFrame:
    data = pd.read_csv(REPO_ROOT / "data" / "example" / "outcomes_long.csv")
    data = data[data["visit"].isin(VISITS)].copy()
    # Collected at baseline only (e.g. a wide file whose follow-up columns were not mapped).
    data[BASELINE_ONLY] = data[FINE].where(data["visit"] == "baseline")
    # Zero variance: the same score for everyone at every visit.
    data[CONSTANT] = 20.0
    return data


@pytest.fixture(scope="module")
def config() -> StudyConfig:
    return StudyConfig.from_dict(_raw_config(), base_dir=EXAMPLE_CONFIG.parent)


@pytest.fixture(scope="module")
def tables(config):
    return analyse(derive(_data(), config), config)


def _info(tables) -> pd.DataFrame:
    return tables["model_info"].set_index("outcome")


def test_model_info_has_status_and_message(tables):
    assert list(tables["model_info"].columns) == MODEL_INFO_COLUMNS
    assert _info(tables)["status"].to_dict() == {FINE: "fitted", BASELINE_ONLY: "failed", CONSTANT: "failed"}


def test_the_fine_outcome_is_analysed(tables):
    assert _info(tables).loc[FINE, "message"] == ""
    assert set(tables["marginal_means"]["outcome"]) == {FINE}
    assert set(tables["contrasts"]["outcome"]) == {FINE}
    assert set(tables["change_contrasts"]["outcome"]) == {FINE}
    assert tables["contrasts"]["estimate"].notna().all()


def test_baseline_only_outcome_is_refused_with_its_reason(tables):
    message = _info(tables).loc[BASELINE_ONLY, "message"]
    assert f"outcome {BASELINE_ONLY!r}" in message
    assert "baseline visit 'baseline' only" in message and "not fitted" in message
    assert "\n" not in message


def test_constant_outcome_fails_with_a_message_naming_it(tables):
    # The engine refuses a zero-variance outcome with a ModelError naming it, in one paragraph.
    message = _info(tables).loc[CONSTANT, "message"]
    assert f"{CONSTANT!r}" in message and "\n" not in message
    assert pd.isna(_info(tables).loc[CONSTANT, "n_obs"])


def test_responders_still_computed(tables):
    assert set(tables["responders"]["outcome"]) == {FINE}


def test_engine_model_error_is_recorded_not_raised(config, monkeypatch):
    real = models.fit_trial_model

    def engine(data, *, outcome, **kwargs):
        if outcome == FINE:
            raise ModelError(f"outcome {outcome!r}: the arm x visit cell ('prt', 'm3') is empty.")
        return real(data, outcome=outcome, **kwargs)

    monkeypatch.setattr(models, "fit_trial_model", engine)
    result = analyse_outcome(derive(_data(), config), config, FINE)
    assert not result.fitted
    message = "outcome 'pain_avg': the arm x visit cell ('prt', 'm3') is empty."
    assert result.model_info.loc[0, "message"] == message
    assert result.marginal_means.empty and result.contrasts.empty and result.change_contrasts.empty


def test_a_bug_is_not_swallowed(config, monkeypatch):
    def engine(*args, **kwargs):
        raise KeyError("a bug in the engine")

    monkeypatch.setattr(models, "fit_trial_model", engine)
    with pytest.raises(KeyError):
        analyse_outcome(derive(_data(), config), config, FINE)


def test_models_visits_restricts_the_analysed_visits():
    raw = _raw_config(covariance="unstructured")
    raw["models"].update(visits=["m3"], baseline_adjusted=True)
    raw["outcomes"] = raw["outcomes"][:1]
    config = StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)
    result = analyse_outcome(derive(_data(), config), config, FINE)
    assert result.model_info.loc[0, "visits"] == "m3"
    assert result.contrasts["visit"].unique().tolist() == ["m3"]
    assert "baseline_pain_avg" in result.model_info.loc[0, "formula"]


def test_models_visits_must_name_declared_visits():
    from prt_outcomes.config import ConfigError

    raw = _raw_config()
    raw["models"]["visits"] = ["m12"]
    with pytest.raises(ConfigError, match=r"models.visits lists \['m12'\]"):
        StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)


def test_workflow_scripts_write_and_stack_a_failed_outcome(config, tmp_path):
    """fit_model.py writes a failed outcome without failing the job; collect_models.py stacks it."""
    data = derive(_data(), config)
    data.to_parquet(tmp_path / "data.parquet", index=False)
    from prt_outcomes.outputs import MODEL_TABLE_NAMES as names

    # the scripts load the study from its file, as the workflow's jobs do (config_path)
    raw = _raw_config()
    raw["data"]["files"] = [{"path": str(REPO_ROOT / "data" / "example" / "outcomes_long.csv")}]
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(raw))
    for outcome in (FINE, BASELINE_ONLY):
        out = {n: str(tmp_path / outcome / f"{n}.csv") for n in names}
        job = SimpleNamespace(
            config={"config_path": str(tmp_path / "study.yaml")},
            input=SimpleNamespace(data=str(tmp_path / "data.parquet")),
            output=SimpleNamespace(**out),
            log=[str(tmp_path / f"{outcome}.log")],
            wildcards=SimpleNamespace(outcome=outcome, analysis="primary"),
        )
        runpy.run_path(str(SCRIPTS / "fit_model.py"), init_globals={"snakemake": job})
    assert "not fitted" in (tmp_path / f"{BASELINE_ONLY}.log").read_text()
    job = SimpleNamespace(
        input={n: [str(tmp_path / o / f"{n}.csv") for o in (FINE, BASELINE_ONLY)] for n in names},
        output={n: str(tmp_path / f"{n}.csv") for n in names},
        log=[str(tmp_path / "collect.log")],
        config={"config_path": str(tmp_path / "study.yaml")},
    )
    runpy.run_path(str(SCRIPTS / "collect_models.py"), init_globals={"snakemake": job})
    info = pd.read_csv(tmp_path / "model_info.csv", keep_default_na=False).set_index("outcome")
    assert info["status"].to_dict() == {FINE: "fitted", BASELINE_ONLY: "failed"}
    assert set(pd.read_csv(tmp_path / "contrasts.csv")["outcome"]) == {FINE}


@pytest.mark.slow
def test_run_completes_and_the_report_names_the_failed_outcome(tmp_path):
    """The in-process pipeline writes every output, and the report says what was not fitted."""
    from prt_outcomes.outputs import expected_outputs, results_dir
    from prt_outcomes.pipeline import run

    _data().to_csv(tmp_path / "data.csv", index=False)
    raw = _raw_config()
    raw["data"]["files"] = [{"path": str(tmp_path / "data.csv")}]
    raw["outputs"] = {"figure_formats": ["png"], "dpi": 72}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "study.yaml")
    report = run(config, results_root=tmp_path / "results")
    assert not [p for p in expected_outputs(config, tmp_path / "results") if not p.is_file()]
    html = report.read_text(encoding="utf-8")
    assert "Outcomes not analysed" in html
    assert "2 outcome(s) could not be analysed" in html.split("<nav>")[0]  # baseline-only, constant
    assert f"{BASELINE_ONLY}: outcome &#x27;{BASELINE_ONLY}&#x27; has values at the baseline visit" in html
    base = results_dir(config, tmp_path / "results")
    assert set(pd.read_csv(base / "tables" / "marginal_means.csv")["outcome"]) == {FINE}
