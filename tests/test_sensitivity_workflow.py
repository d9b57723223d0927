"""The ``sensitivity:`` section in the workflow (issue 12): config, jobs, collect step, report words.

The numbers are prt_outcomes.analyse.sensitivity's (checked against rbmi and the SAS five macros
by tests/test_sensitivity.py, and on a study config by tests/test_studies_published.py); here the
wiring: a job is the API call on the study's columns, the collect step stacks the jobs, and the
report says what each strategy assumes.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import EXAMPLE_CONFIG
from prt_outcomes.analyse.sensitivity import (
    SENSITIVITY_COLUMNS,
    TIPPING_POINT_COLUMNS,
    sensitivity_analysis,
    tipping_point,
)
from prt_outcomes.analyse.sensitivity_jobs import (
    sensitivity_job,
    sensitivity_tables,
    stack_sensitivity,
    tipping_point_job,
)
from prt_outcomes.config import ConfigError, StudyConfig
from prt_outcomes.layout import RunLayout
from prt_outcomes.outputs import figure_stems
from prt_outcomes.render.report import estimand_sentence, missing_data_section, tipping_point_sentence

BASE = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def _config(sensitivity=None, *, two_arms=True, **changes) -> StudyConfig:
    raw = copy.deepcopy(BASE)
    if two_arms:
        raw["arms"]["levels"] = [a for a in raw["arms"]["levels"] if a["name"] != "placebo"]
    raw["models"]["visits"] = ["baseline", "post", "m3", "m12"]
    if sensitivity is not None:
        raw["sensitivity"] = sensitivity
    raw.update(changes)
    return StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)


def _data(n=40, seed=3) -> pd.DataFrame:
    """Derived-like long data: pain_avg change from baseline at post, m3, m12; dropout at m12."""
    rng = np.random.default_rng(seed)
    visits = ["post", "m3", "m12"]
    ids = np.repeat([f"p{i:02d}" for i in range(n)], 3)
    arm = np.repeat(np.where(np.arange(n) % 2, "prt", "usual_care"), 3)
    base = np.repeat(rng.uniform(4, 8, n), 3)
    person = np.repeat(rng.normal(0, 1, n), 3)
    visit = np.tile(visits, n)
    prt = (arm == "prt") * np.tile([0.5, 1.5, 2.0], n)
    change = -0.3 * base - prt + person + rng.normal(0, 0.8, 3 * n)
    d = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": arm,
            "visit": visit,
            "pain_avg_baseline": base,
            "pain_avg_change": change,
            "age": np.repeat(rng.uniform(30, 70, n), 3),
            "sex": np.repeat(np.where(rng.random(n) < 0.5, "female", "male"), 3),
        }
    )
    left = np.repeat(np.arange(n) % 3 == 0, 3) & (visit == "m12")
    d.loc[left, "pain_avg_change"] = np.nan
    return d


API = dict(
    outcome="pain_avg_change",
    arm="arm",
    visit="visit",
    subject="participant_id",
    baseline="pain_avg_baseline",
    reference_arm="usual_care",
    visits=["post", "m3", "m12"],
    covariates=("age", "sex"),
)


# ------------------------------------------------------------------------------- config


def test_a_config_without_the_section_runs_no_sensitivity():
    cfg = _config()
    assert cfg.sensitivity is None
    tables = sensitivity_tables(_data(), cfg)
    assert list(tables["sensitivity"].columns) == list(SENSITIVITY_COLUMNS) and tables["sensitivity"].empty
    assert list(tables["tipping_point"].columns) == list(TIPPING_POINT_COLUMNS)
    assert tables["tipping_point"].empty
    assert not [s for s in figure_stems(cfg) if s.startswith(("sensitivity", "tipping"))]


def test_the_section_defaults():
    cfg = _config({})
    s = cfg.sensitivity
    assert s.outcomes == ("pain_avg",)  # the primary outcome
    assert s.method == "conditional_mean" and s.n_imputations is None
    assert s.seed == BASE["study"]["seed"]
    assert s.strategies == ("MAR", "J2R")
    assert s.jobs == [("pain_avg", "MAR"), ("pain_avg", "J2R")]
    assert s.tipping_deltas == () and s.baseline is None
    assert figure_stems(cfg)[-1] == "sensitivity_pain_avg"
    layout = RunLayout.for_study(cfg, "results")
    assert layout.sensitivity_table("pain_avg", "J2R").parts[-3:] == ("sensitivity", "pain_avg", "J2R.csv")


def test_an_events_file_is_relative_to_the_config():
    cfg = _config({"events": {"file": "events.csv"}, "seed": 5, "tipping_point": {"deltas": [0, 1]}})
    assert cfg.sensitivity.events_file == (EXAMPLE_CONFIG.parent / "events.csv").resolve()
    assert cfg.sensitivity.seed == 5
    assert "tipping_point_pain_avg" in figure_stems(cfg)


@pytest.mark.parametrize(
    "section, says",
    [
        ({"outcomes": ["pain"]}, "not among the outcomes"),
        ({"baseline": "bmi"}, "not a covariate"),
        ({"method": "approximate_bayesian"}, "n_imputations"),
        ({"events": {"column": "ice", "file": "x.csv"}}, "not both"),
        ({"tipping_point": {"deltas": [0, 1], "arms": ["usual_care"]}}, "other than the reference"),
        ({"tipping_point": {"deltas": [0, 2, 1]}}, "strictly monotone"),
        ({"strategies": ["LOCF"]}, "schema"),
        ({"method": "bayes"}, "schema"),
    ],
)
def test_refusals(section, says):
    with pytest.raises(ConfigError, match=says):
        _config(section)


def test_a_tipping_point_needs_two_arms():
    with pytest.raises(ConfigError, match="exactly two arms"):
        _config({"tipping_point": {"deltas": [0, 1]}}, two_arms=False)


# ---------------------------------------------------------------------------------- jobs


def test_a_job_is_the_api_call_on_the_studys_columns():
    cfg, data = _config({"strategies": ["J2R"]}), _data()
    job = sensitivity_job(data, cfg, "pain_avg", "J2R")
    direct = sensitivity_analysis(data, strategy="JR", method="conditional_mean", **API).table
    assert list(job.columns) == list(SENSITIVITY_COLUMNS)
    assert set(job["outcome"]) == {"pain_avg"} and set(job["strategy"]) == {"J2R"}
    np.testing.assert_allclose(job["estimate"], direct["estimate"], rtol=0, atol=0)
    np.testing.assert_allclose(job["se"], direct["se"], rtol=0, atol=0)
    # J2R moves the m12 difference towards 0 from MAR's (the dropouts of PRT jump to usual care)
    mar = sensitivity_job(data, cfg, "pain_avg", "MAR")

    def m12(t):
        return t.query("visit == 'm12' and reference == 'usual_care'")["estimate"].item()

    assert m12(mar) < m12(job) < 0


def test_events_from_a_side_file_and_from_a_column(tmp_path):
    data = _data()
    # p01 (PRT) leaves at m3: its observed m3 and m12 values are then imputed under J2R
    (tmp_path / "events.csv").write_text("participant_id,visit\np01,m3\n", encoding="utf-8")
    raw = copy.deepcopy(BASE)
    raw["arms"]["levels"] = [a for a in raw["arms"]["levels"] if a["name"] != "placebo"]
    raw["models"]["visits"] = ["baseline", "post", "m3", "m12"]
    raw["sensitivity"] = {"events": {"file": "events.csv"}}
    raw["data"]["files"][0]["path"] = str(EXAMPLE_CONFIG.parent / raw["data"]["files"][0]["path"])
    cfg = StudyConfig.from_dict(raw, base_dir=tmp_path)
    job = sensitivity_job(data, cfg, "pain_avg", "J2R")
    events = pd.DataFrame({"subject": ["p01"], "visit": ["m3"]})
    direct = sensitivity_analysis(data, strategy="JR", events=events, **API).table
    np.testing.assert_allclose(job["estimate"], direct["estimate"], rtol=0, atol=0)
    # the same event as a column of the data
    cfg_col = _config({"events": {"column": "ice"}})
    with_col = data.assign(ice=np.where(data["participant_id"] == "p01", "m3", None))
    by_col = sensitivity_job(with_col, cfg_col, "pain_avg", "J2R")
    np.testing.assert_allclose(by_col["estimate"], direct["estimate"], rtol=0, atol=0)
    # a visit that is not a follow-up visit of the analysis is refused
    (tmp_path / "events.csv").write_text("participant_id,visit\np01,m6\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not follow-up visits"):
        sensitivity_job(data, cfg, "pain_avg", "J2R")
    # a strategy column is the per_participant job's: the J2R job applies J2R to every event
    (tmp_path / "events.csv").write_text("participant_id,visit,strategy\np01,m3,CR\n", encoding="utf-8")
    again = sensitivity_job(data, cfg, "pain_avg", "J2R")
    np.testing.assert_allclose(again["estimate"], direct["estimate"], rtol=0, atol=0)


def test_the_tipping_point_job_and_the_collect_step():
    cfg = _config({"strategies": ["MAR", "CIR"], "tipping_point": {"deltas": [0, 1, 2]}})
    data = _data()
    tp = tipping_point_job(data, cfg, "pain_avg")
    direct = tipping_point(data, deltas=[0, 1, 2], method="conditional_mean", **API).table
    assert list(tp.columns) == list(TIPPING_POINT_COLUMNS) and len(tp) == 9
    np.testing.assert_allclose(tp["estimate"], direct["estimate"], rtol=0, atol=0)
    jobs = [sensitivity_job(data, cfg, "pain_avg", s) for s in ("MAR", "CIR")]
    stacked = stack_sensitivity(
        [jobs[0], pd.DataFrame(columns=list(SENSITIVITY_COLUMNS)), jobs[1]], SENSITIVITY_COLUMNS
    )
    assert len(stacked) == len(jobs[0]) + len(jobs[1])
    assert stacked["strategy"].tolist() == ["MAR"] * len(jobs[0]) + ["CIR"] * len(jobs[1])
    tables = sensitivity_tables(data, cfg)  # the in-process twin of the jobs and collect_sensitivity
    pd.testing.assert_frame_equal(tables["sensitivity"], stacked)
    pd.testing.assert_frame_equal(tables["tipping_point"], tp)


# -------------------------------------------------------------------------------- report


def test_the_estimands_in_words():
    assert estimand_sentence("J2R", "PRT", "Usual care") == (
        "J2R: after leaving, participants of the PRT arm are assumed to have the outcome distribution of "
        "the Usual care arm (jump to reference), conditional on their earlier values."
    )
    assert "copy increments in reference" in estimand_sentence("CIR", "PRT", "Usual care")
    assert "copy reference" in estimand_sentence("CR", "PRT", "Usual care")
    assert "missing at random" in estimand_sentence("MAR", "PRT", "Usual care")


def test_the_tipping_point_in_words():
    # p crosses 0.05 between delta 1 (0.03) and 2 (0.07): linearly at 1.5
    t = pd.DataFrame({"delta": [0.0, 1.0, 2.0], "p": [0.01, 0.03, 0.07]})
    kw = dict(visit_label="12 months", arm="PRT", strategy="MAR")
    assert tipping_point_sentence(t, higher_is_better=False, **kw) == (
        "The conclusion at 12 months (a difference at the 5% level) changes when those who left the PRT "
        "arm are assumed to be 1.50 points worse than MAR predicts."
    )
    assert "1.50 points better" in tipping_point_sentence(t, higher_is_better=True, **kw)
    never = t.assign(p=[0.01, 0.02, 0.03])
    assert "does not change for the shifts examined, 0 to 2 points" in tipping_point_sentence(
        never, higher_is_better=False, **kw
    )


def test_the_report_section():
    cfg = _config({"strategies": ["MAR", "J2R"], "tipping_point": {"deltas": [0, 1, 2, 3]}})
    data = _data()
    tables = sensitivity_tables(data, cfg)
    html = missing_data_section(cfg, tables["sensitivity"], tables["tipping_point"], lambda *a: "<figure/>")
    assert "(jump to reference)" in html and "missing at random" in html
    assert "The conclusion at 12 months" in html and "pain_avg" not in html.split("<table")[0]
    assert html.count("<figure/>") == 2  # the forest of strategies and the tipping point
    assert "the first visit after their last observed value" in html


# ------------------------------------------------------------- per-participant strategies


def _file_config(tmp_path, text, strategies=("MAR", "J2R")):
    (tmp_path / "events.csv").write_text(text, encoding="utf-8")
    raw = copy.deepcopy(BASE)
    raw["arms"]["levels"] = [a for a in raw["arms"]["levels"] if a["name"] != "placebo"]
    raw["models"]["visits"] = ["baseline", "post", "m3", "m12"]
    raw["sensitivity"] = {"events": {"file": "events.csv"}, "strategies": list(strategies)}
    raw["data"]["files"][0]["path"] = str(EXAMPLE_CONFIG.parent / raw["data"]["files"][0]["path"])
    return StudyConfig.from_dict(raw, base_dir=tmp_path)


def _dropouts(data):
    """Each participant's first missing visit (the participants who left)."""
    miss = data[data["pain_avg_change"].isna()]
    return miss.groupby("participant_id", sort=True)["visit"].first()


def test_per_participant_all_j2r_is_the_j2r_job(tmp_path):
    data = _data()
    left = _dropouts(data)
    text = "participant_id,visit,strategy\n" + "".join(f"{p},{v},J2R\n" for p, v in left.items())
    cfg = _file_config(tmp_path, text)
    assert cfg.sensitivity.per_participant
    assert cfg.sensitivity.jobs == [("pain_avg", s) for s in ("MAR", "J2R", "per_participant")]
    per = sensitivity_job(data, cfg, "pain_avg", "per_participant")
    j2r = sensitivity_job(data, cfg, "pain_avg", "J2R")
    assert set(per["strategy"]) == {"per_participant"}
    np.testing.assert_array_equal(per["estimate"], j2r["estimate"])
    np.testing.assert_array_equal(per["se"], j2r["se"])
    # a blank strategy is the config's first strategy: all blank but one J2R under strategies [J2R]
    blank = "participant_id,visit,strategy\n" + "".join(
        f"{p},{v},{'J2R' if k == 0 else ''}\n" for k, (p, v) in enumerate(left.items())
    )
    cfg_b = _file_config(tmp_path, blank, strategies=("J2R", "MAR"))
    np.testing.assert_array_equal(
        sensitivity_job(data, cfg_b, "pain_avg", "per_participant")["estimate"], j2r["estimate"]
    )
    # the in-process twin runs the job too
    tables = sensitivity_tables(data, cfg)
    assert (tables["sensitivity"]["strategy"] == "per_participant").sum() == len(per)


def test_mixed_strategies_differ_from_the_pure_ones(tmp_path):
    data = _data()
    left = _dropouts(data)
    mixed = "".join(f"{p},{v},{'J2R' if k % 4 < 2 else 'MAR'}\n" for k, (p, v) in enumerate(left.items()))
    cfg = _file_config(tmp_path, "participant_id,visit,strategy\n" + mixed)
    per = sensitivity_job(data, cfg, "pain_avg", "per_participant")

    def m12(t):
        return t.query("visit == 'm12' and reference == 'usual_care'")["estimate"].item()

    mar, j2r = (m12(sensitivity_job(data, cfg, "pain_avg", s)) for s in ("MAR", "J2R"))
    # half the PRT dropouts jump to usual care (k % 4 < 2 alternates within each arm)
    assert mar < m12(per) < j2r  # between the pure strategies, different from both
    # equal to the API call with the per-participant mapping
    events = pd.DataFrame({"subject": list(left.index), "visit": list(left.values)})
    mapping = {p: ("JR" if k % 4 < 2 else "MAR") for k, p in enumerate(left.index)}
    direct = sensitivity_analysis(data, strategy=mapping, events=events, **API).table
    np.testing.assert_array_equal(per["estimate"], direct["estimate"])


@pytest.mark.parametrize(
    "text, says",
    [
        (
            "participant_id,visit,strategy\np01,m12,MAR\np03,m12,LOCF\n",
            r"line 3, column strategy: 'LOCF'.*allowed",
        ),
        (
            "participant_id,visit,strategy\np01,m12,J2R\np03,,CR\n",
            r"line 3, column visit: the strategy 'CR'.*without",
        ),
        ("participant_id,visit,strategy\np01,m12,J2R\nx99,m12,CR\n", r"line 3, column participant_id: 'x99'"),
        (
            "participant_id,visit,strategy\np01,m12,J2R\np01,m3,CR\n",
            r"line 3, column participant_id\) gives more",
        ),
        (
            "participant_id,visit,strategy\np01,m12,J2R\np03,m6,CR\n",
            r"line 3, column visit\) names visits \['m6'\]",
        ),
    ],
)
def test_per_participant_refusals(tmp_path, text, says):
    cfg = _file_config(tmp_path, text)
    with pytest.raises(ConfigError, match=says) as err:
        sensitivity_job(_data(), cfg, "pain_avg", "per_participant")
    assert "events.csv" in str(err.value)


def test_rows_without_an_event_are_reported(tmp_path, caplog):
    cfg = _file_config(tmp_path, "participant_id,visit,strategy\np01,m12,J2R\np03,,\n")
    with caplog.at_level("WARNING"):
        sensitivity_job(_data(), cfg, "pain_avg", "per_participant")
    assert "1 row(s) name no visit (lines 3)" in caplog.text
    # a participant with no follow-up row (left before the first) is reported, not refused
    data = _data()
    data = data[data["participant_id"] != "p05"]
    caplog.clear()
    cfg = _file_config(tmp_path, "participant_id,visit,strategy\np01,m12,J2R\np05,m3,CR\n")
    with_p05 = pd.concat([data, pd.DataFrame({"participant_id": ["p05"], "visit": ["baseline"]})])
    with caplog.at_level("WARNING"):
        per = sensitivity_job(with_p05, cfg, "pain_avg", "per_participant")
    assert "1 participant(s) have no row at the follow-up visits" in caplog.text and "p05" in caplog.text
    only = _file_config(tmp_path, "participant_id,visit,strategy\np01,m12,J2R\n")
    np.testing.assert_array_equal(
        per["estimate"], sensitivity_job(data, only, "pain_avg", "per_participant")["estimate"]
    )
    # no strategy value anywhere: no per-participant job
    assert not _file_config(tmp_path, "participant_id,visit,strategy\np01,m12,\n").sensitivity.per_participant


def test_the_per_participant_estimand_in_words(tmp_path):
    from prt_outcomes.render.report import per_participant_sentence

    assert per_participant_sentence(["CR", "J2R", "", "J2R"], "MAR") == (
        "per_participant: each participant with an intercurrent event follows the strategy given for them "
        "(MAR for those given none): CR 1, J2R 2, MAR 1 participants."
    )
    cfg = _file_config(tmp_path, "participant_id,visit,strategy\np01,m12,J2R\np03,m12,CR\np05,m12,\n")
    empty = pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    html = missing_data_section(cfg, empty, None, lambda *a: "<figure/>")
    assert "(MAR for those given none): CR 1, J2R 1, MAR 1 participants." in html


def test_antidepressant_everyone_j2r_from_a_side_file_is_rbmis_j2r(shared_data, tmp_path):
    """The per_participant job with J2R for every dropout (first visit after the last observed
    one, rbmi's default) is rbmi's CondMean_Inference vignette's J2R: 2.126 (SE 0.858) PLACEBO -
    DRUG at visit 7 (3 decimals; config/studies/antidepressant.yaml's header)."""
    import dataclasses

    from conftest import REPO_ROOT
    from prt_outcomes.analyse.sensitivity_jobs import sensitivity_inputs
    from prt_outcomes.config import load_config
    from prt_outcomes.pipeline import derive
    from prt_outcomes.validate.checks import load_and_validate

    config = load_config(REPO_ROOT / "config" / "studies" / "antidepressant.yaml")
    data = derive(load_and_validate(config).clean, config)
    rows, kwargs = sensitivity_inputs(data, config, config.sensitivity.outcomes[0])
    wide = rows.pivot(index="participant_id", columns="visit", values=kwargs["outcome"])[kwargs["visits"]]
    seen = wide.notna().to_numpy()
    last = seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    lines = [
        f"{p},{kwargs['visits'][k + 1]},J2R\n" for p, k in zip(wide.index, last) if k < seen.shape[1] - 1
    ]
    (tmp_path / "events.csv").write_text("participant_id,visit,strategy\n" + "".join(lines), encoding="utf-8")
    s = dataclasses.replace(
        config.sensitivity, events_file=tmp_path / "events.csv", per_participant=True, strategies=("MAR",)
    )
    job = sensitivity_job(data, dataclasses.replace(config, sensitivity=s), s.outcomes[0], "per_participant")
    v7 = job[(job["visit"] == "v7") & (job["reference"] == "placebo")].iloc[0]
    assert len(lines) > 0
    assert -v7["estimate"] == pytest.approx(2.126, abs=0.0005 + 1e-5)
    assert v7["se"] == pytest.approx(0.858, abs=0.0005 + 1e-5)
