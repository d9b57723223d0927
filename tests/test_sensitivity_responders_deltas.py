"""Issue 12, the items left open: responder rules and per-participant deltas in the sensitivity
analyses (API, config, jobs, report) and the workflow's strategy wildcard.

Truths: a per-participant delta equal for every participant of the shifted arm is the API's
scalar delta (the same arithmetic, so exactly); a delta of 0 is none; under conditional mean
imputation a delta on one participant moves the ANCOVA's difference by the delta times that
participant's entry of ``(Z'Z)^-1 Z'`` (least squares is linear in the outcome, and the
imputation model never sees the delta). Responder rows are Rubin's rules, by hand, on the risk
differences of the rule evaluated on the kept imputed data sets.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import EXAMPLE_CONFIG
from prt_outcomes.analyse.sensitivity import sensitivity_analysis
from prt_outcomes.analyse.sensitivity_jobs import (
    events_deltas,
    read_events_file,
    responder_label,
    sensitivity_job,
    tipping_point_job,
)
from prt_outcomes.config import ConfigError, StudyConfig
from prt_outcomes.render.report import missing_data_section

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
VISITS = ["post", "m3", "m12"]
API = dict(
    outcome="pain_avg_change",
    arm="arm",
    visit="visit",
    subject="participant_id",
    baseline="pain_avg_baseline",
    reference_arm="usual_care",
    visits=VISITS,
    covariates=("age", "sex"),
)
SMALL = dict(API, covariates=())


def _data(n=40, seed=3) -> pd.DataFrame:
    """Derived-like long data: pain_avg change from baseline at post, m3, m12; a third leave at m12."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"p{i:02d}" for i in range(n)], 3)
    arm = np.repeat(np.where(np.arange(n) % 2, "prt", "usual_care"), 3)
    base = np.repeat(rng.uniform(4, 8, n), 3)
    visit = np.tile(VISITS, n)
    prt = (arm == "prt") * np.tile([0.5, 1.5, 2.0], n)
    change = -0.3 * base - prt + np.repeat(rng.normal(0, 1, n), 3) + rng.normal(0, 0.8, 3 * n)
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
    d.loc[np.repeat(np.arange(n) % 3 == 0, 3) & (visit == "m12"), "pain_avg_change"] = np.nan
    return d


def _raw(sensitivity, tmp_path=None):
    raw = copy.deepcopy(BASE)
    raw["arms"]["levels"] = [a for a in raw["arms"]["levels"] if a["name"] != "placebo"]
    raw["models"]["visits"] = ["baseline", "post", "m3", "m12"]
    raw["sensitivity"] = sensitivity
    if tmp_path is not None:
        raw["data"]["files"][0]["path"] = str(EXAMPLE_CONFIG.parent / raw["data"]["files"][0]["path"])
    return raw


def _config(sensitivity, tmp_path=None) -> StudyConfig:
    base_dir = EXAMPLE_CONFIG.parent if tmp_path is None else tmp_path
    return StudyConfig.from_dict(_raw(sensitivity, tmp_path), base_dir=base_dir)


def _m12(table, column="estimate"):
    return table.query("visit == 'm12' and reference == 'usual_care' and analysis == 'ancova'")[column].item()


def _left(data):
    """Participants without an m12 value (their m12 is imputed), by arm."""
    miss = data[data["pain_avg_change"].isna()]
    arm = miss.groupby("participant_id")["arm"].first()
    return arm


# ------------------------------------------------------------------ API: per-participant delta


def test_a_delta_for_every_participant_of_the_arm_is_the_scalar_delta():
    data = _data()
    prt = sorted(set(data.loc[data["arm"] == "prt", "participant_id"]))
    scalar = sensitivity_analysis(data, strategy="JR", delta=1.5, **API)
    mapping = sensitivity_analysis(data, strategy="JR", delta=dict.fromkeys(prt, 1.5), **API)
    np.testing.assert_array_equal(mapping.table["estimate"], scalar.table["estimate"])
    np.testing.assert_array_equal(mapping.table["se"], scalar.table["se"])
    none = sensitivity_analysis(data, strategy="JR", **API)
    assert _m12(scalar.table) > _m12(none.table)  # the shift is there (PRT's dropouts worse)
    # a delta of 0 for everyone is no delta
    zero = sensitivity_analysis(data, strategy="JR", delta=dict.fromkeys(prt, 0.0), **API)
    np.testing.assert_array_equal(zero.table["estimate"], none.table["estimate"])
    np.testing.assert_array_equal(zero.table["se"], none.table["se"])
    assert "per-participant delta (20 participants)" in mapping.table["strategy"].iloc[0]


@pytest.mark.parametrize("arm", ["prt", "usual_care"])
def test_a_delta_on_one_participant_moves_the_difference_by_its_least_squares_weight(arm):
    data = _data()
    who = _left(data)
    one = who[who == arm].index[0]
    d = 2.5
    none = sensitivity_analysis(data, strategy="MAR", **SMALL).table
    moved = sensitivity_analysis(data, strategy="MAR", delta={one: d}, **SMALL).table
    # the ANCOVA at m12: y ~ 1 + prt + baseline over every participant (all imputed)
    people = data.groupby("participant_id", sort=False).first()
    z = np.column_stack(
        [np.ones(len(people)), (people["arm"] == "prt").to_numpy(float), people["pain_avg_baseline"]]
    )
    weight = (np.linalg.pinv(z.T @ z) @ z.T)[1, list(people.index).index(one)]
    np.testing.assert_allclose(_m12(moved) - _m12(none), d * weight, rtol=1e-9)
    assert np.sign(weight) == (1 if arm == "prt" else -1)
    # the visits it did not miss do not move
    early = "visit != 'm12' and reference == 'usual_care'"
    np.testing.assert_array_equal(moved.query(early)["estimate"], none.query(early)["estimate"])


@pytest.mark.parametrize(
    "delta, extra, says",
    [
        ({"x99": 1.0}, {}, "not in the data"),
        ({"p00": "lots"}, {}, "not a number"),
        ({"p00": float("nan")}, {}, "finite"),
        ({"p00": 1.0}, {"delta_arms": ["prt"]}, "neither delta_arms"),
        ({"p00": 1.0}, {"delta_cumulative": True}, "neither delta_arms"),
    ],
)
def test_per_participant_delta_refusals(delta, extra, says):
    with pytest.raises(ValueError, match=says):
        sensitivity_analysis(_data(), delta=delta, **extra, **SMALL)


# ------------------------------------------------------------------------- API: responders


def _rubin(values_list, hits, arm_prt):
    rd, var = [], []
    for hit in hits:
        p1, p0 = hit[arm_prt].mean(axis=0), hit[~arm_prt].mean(axis=0)
        rd.append(p1 - p0)
        var.append(p1 * (1 - p1) / arm_prt.sum() + p0 * (1 - p0) / (~arm_prt).sum())
    rd, var = np.array(rd), np.array(var)
    m = len(rd)
    return rd.mean(axis=0), np.sqrt(var.mean(axis=0) + (1 + 1 / m) * rd.var(axis=0, ddof=1))


def test_a_rule_on_the_percent_reduction_reads_the_baseline_and_is_pooled_by_rubin():
    data = _data()
    rule = "percent_reduction >= 30"
    res = sensitivity_analysis(
        data,
        strategy="JR",
        method="approximate_bayesian",
        n_imputations=6,
        seed=4,
        responder={"pr30": rule, "value": "value <= 2"},
        outcome_is_change=True,
        **SMALL,
    )
    people = data.groupby("participant_id", sort=False).first()
    ids = res.imputed[0][0]
    base = people.loc[ids, "pain_avg_baseline"].to_numpy()[:, None]
    prt = (people.loc[ids, "arm"] == "prt").to_numpy()
    for label, hit_of in (
        ("pr30", lambda change: 100 * (-change) / np.abs(base) >= 30 - 1e-9),
        ("value", lambda change: base + change <= 2 + 1e-9),
    ):
        est, se = _rubin(None, [hit_of(v) for _, v in res.imputed], prt)
        rows = res.table[res.table["analysis"] == label]
        assert len(rows) == 3 * 3  # per visit: the risk difference, then each arm's proportion
        diff = rows[rows["reference"] == "usual_care"].set_index("visit").loc[VISITS]
        np.testing.assert_allclose(diff["estimate"], est, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(diff["se"], se, rtol=1e-12)
        arms = rows[rows["reference"] == ""]
        assert set(arms["arm"]) == {"prt", "usual_care"} and arms["estimate"].between(0, 1).all()
    # the old form (a threshold on the imputed outcome) is the rule 'value <= t' on the outcome
    old = sensitivity_analysis(
        data,
        strategy="JR",
        method="approximate_bayesian",
        n_imputations=6,
        seed=4,
        responder=("<=", -2.0),
        **SMALL,
    )
    new = sensitivity_analysis(
        data,
        strategy="JR",
        method="approximate_bayesian",
        n_imputations=6,
        seed=4,
        responder="value <= -2",
        **SMALL,
    )
    pick = old.table["analysis"] == "responder"
    np.testing.assert_array_equal(old.table[pick]["estimate"], new.table[pick]["estimate"])


def test_a_rule_on_another_outcome_is_refused():
    with pytest.raises(ValueError, match="one outcome"):
        sensitivity_analysis(
            _data(), method="approximate_bayesian", n_imputations=2, responder="odi <= 10", **SMALL
        )


# ---------------------------------------------------------------------------- config


def test_responders_need_random_imputations():
    with pytest.raises(ConfigError) as err:
        _config({"responders": ["percent_reduction >= 30"]})
    text = str(err.value)
    assert "sensitivity.responders" in text and "sensitivity.method" in text
    assert "conditional means" in text and "approximate_bayesian" in text and "n_imputations" in text


@pytest.mark.parametrize(
    "rule, says",
    [
        ("percent_reduction >= ", r"sensitivity.responders\[0\]: rule .* cannot be used"),
        ("odi <= 10", r"sensitivity.responders\[0\]: rule 'odi <= 10' reads \['odi'\]"),
    ],
)
def test_responder_rule_refusals(rule, says):
    with pytest.raises(ConfigError, match=says):
        _config({"method": "approximate_bayesian", "n_imputations": 3, "responders": [rule]})


def test_responders_are_read_as_written():
    cfg = _config({"method": "approximate_bayesian", "n_imputations": 3, "responders": ["value <= 1"]})
    assert cfg.sensitivity.responders == ("value <= 1",)
    assert _config({}).sensitivity.responders == ()


# ------------------------------------------------------------------------------ jobs


def test_a_job_with_responders_is_the_api_call_and_keeps_the_ancova_rows():
    data = _data()
    section = {"method": "approximate_bayesian", "n_imputations": 3, "seed": 2, "strategies": ["J2R"]}
    rules = ["percent_reduction >= 30", "change <= -2"]
    plain = sensitivity_job(data, _config(section), "pain_avg", "J2R")
    cfg = _config(dict(section, responders=rules))
    job = sensitivity_job(data, cfg, "pain_avg", "J2R")
    assert list(dict.fromkeys(job["analysis"])) == ["ancova", *map(responder_label, rules)]
    assert (job["analysis"] == "responder: change <= -2").sum() == 3 * 3
    ancova = job[job["analysis"] == "ancova"].reset_index(drop=True)
    pd.testing.assert_frame_equal(ancova, plain)  # responders draw no random numbers
    direct = sensitivity_analysis(
        data,
        strategy="JR",
        method="approximate_bayesian",
        n_imputations=3,
        seed=2,
        responder={responder_label(r): r for r in rules},
        outcome_is_change=True,
        **API,
    ).table
    np.testing.assert_array_equal(job["estimate"], direct["estimate"])
    assert set(job["strategy"]) == {"J2R"} and set(job["outcome"]) == {"pain_avg"}


def _file_config(tmp_path, text, **section):
    (tmp_path / "events.csv").write_text(text, encoding="utf-8")
    return _config({"events": {"file": "events.csv"}, "strategies": ["MAR", "J2R"], **section}, tmp_path)


def test_deltas_from_the_events_file_apply_in_every_strategy_job(tmp_path):
    data = _data()
    left = _left(data)
    d = {p: (1.0 if a == "prt" else 0.5) for p, a in left.items()}
    d[left.index[0]] = None  # a blank cell: no delta
    text = "participant_id,visit,strategy,delta\n" + "".join(
        f"{p},m12,{'J2R' if k % 2 else ''},{'' if x is None else x}\n" for k, (p, x) in enumerate(d.items())
    )
    cfg = _file_config(tmp_path, text)
    shifted = {p: x for p, x in d.items() if x is not None}
    assert events_deltas(cfg.sensitivity) == shifted
    events = pd.DataFrame({"subject": list(left.index), "visit": "m12"})
    for strategy, api in (("MAR", "MAR"), ("J2R", "JR")):
        job = sensitivity_job(data, cfg, "pain_avg", strategy)
        direct = sensitivity_analysis(data, strategy=api, events=events, delta=shifted, **API).table
        np.testing.assert_array_equal(job["estimate"], direct["estimate"])
        np.testing.assert_array_equal(job["se"], direct["se"])
        assert set(job["strategy"]) == {strategy}
        plain = sensitivity_analysis(data, strategy=api, events=events, **API).table
        assert _m12(job) != _m12(plain)
    per = sensitivity_job(data, cfg, "pain_avg", "per_participant")
    mapping = {p: ("JR" if k % 2 else "MAR") for k, p in enumerate(left.index)}
    direct = sensitivity_analysis(data, strategy=mapping, events=events, delta=shifted, **API).table
    np.testing.assert_array_equal(per["estimate"], direct["estimate"])
    # the tipping-point scan shifts by its grid alone
    cfg_tp = _file_config(tmp_path, text, tipping_point={"deltas": [0, 1]})
    tp = tipping_point_job(data, cfg_tp, "pain_avg")
    no_delta = _file_config(tmp_path, text.replace(",delta\n", ",other\n"), tipping_point={"deltas": [0, 1]})
    pd.testing.assert_frame_equal(tp, tipping_point_job(data, no_delta, "pain_avg"))


def test_a_file_delta_for_every_prt_dropout_is_the_scalar_delta(tmp_path):
    data = _data()
    left = _left(data)
    text = "participant_id,visit,delta\n" + "".join(
        f"{p},m12,{2 if a == 'prt' else ''}\n" for p, a in left.items()
    )
    job = sensitivity_job(data, _file_config(tmp_path, text), "pain_avg", "J2R")
    events = pd.DataFrame({"subject": list(left.index), "visit": "m12"})
    direct = sensitivity_analysis(data, strategy="JR", events=events, delta=2.0, **API).table
    np.testing.assert_array_equal(job["estimate"], direct["estimate"])


@pytest.mark.parametrize(
    "text, says",
    [
        (
            "participant_id,visit,delta\np01,m12,1\np03,m12,lots\n",
            r"line 3, column delta: 'lots' is not a number",
        ),
        (
            "participant_id,visit,delta\np01,m12,1\np03,m12,inf\n",
            r"line 3, column delta: 'inf' is not a number",
        ),
        (
            "participant_id,visit,delta\np01,m12,1\np03,,2\n",
            r"line 3, column visit: the delta '2' is given without",
        ),
    ],
)
def test_events_file_delta_refusals(tmp_path, text, says):
    cfg = _file_config(tmp_path, text)
    with pytest.raises(ConfigError, match=says) as err:
        sensitivity_job(_data(), cfg, "pain_avg", "J2R")
    message = str(err.value)
    assert "events.csv" in message and ("blank" in message or "drop the delta" in message)


def test_read_events_file_keeps_the_deltas_as_numbers(tmp_path):
    f = tmp_path / "events.csv"
    f.write_text("participant_id,visit,delta\np1,m3,1.5\np2,m3,\n", encoding="utf-8")
    got = read_events_file(f)
    assert got["delta"].iloc[0] == 1.5 and np.isnan(got["delta"].iloc[1])


# ----------------------------------------------------------------------------- report


def test_the_report_states_the_deltas_and_shows_the_responders_apart(tmp_path):
    data = _data()
    left = _left(data)
    text = "participant_id,visit,delta\n" + "".join(f"{p},m12,1.5\n" for p in left.index)
    cfg = _file_config(
        tmp_path, text, method="approximate_bayesian", n_imputations=3, responders=["percent_reduction >= 30"]
    )
    table = pd.concat([sensitivity_job(data, cfg, "pain_avg", s) for s in ("MAR", "J2R")], ignore_index=True)
    html = missing_data_section(cfg, table, None, lambda *a: "<figure/>")
    assert f"the imputed values of {len(left)} participants are shifted" in html
    assert "by the delta given for them in events.csv" in html
    assert "percent_reduction &gt;= 30" in html and "Rubin" in html
    tables = html.split("<table")[1:]
    assert len(tables) == 2  # the ANCOVA's differences, then the responders'
    assert tables[0].count("<tr") == tables[1].count("<tr")  # one row per strategy x visit each
    assert "Risk difference" in tables[1] and "Risk difference" not in tables[0]


# --------------------------------------------------------------------------- workflow


def _constraint_expression() -> str:
    text = (ROOT / "workflow" / "rules" / "analyse.smk").read_text(encoding="utf-8")
    rule = text[text.index("rule sensitivity:") : text.index("rule tipping_point:")]
    return re.search(r"^\s*strategy=(.+),\s*$", rule[rule.index("wildcard_constraints:") :], re.M).group(1)


@pytest.mark.parametrize(
    "sensitivity, allowed",
    [
        ({"strategies": ["CR"]}, {"CR"}),
        ({"strategies": ["MAR", "CIR"]}, {"MAR", "CIR"}),
        (None, set()),
    ],
)
def test_the_strategy_wildcard_is_the_studys_jobs(sensitivity, allowed):
    jobs = _config(sensitivity).sensitivity.jobs if sensitivity is not None else []
    pattern = eval(_constraint_expression(), {"SENSITIVITY_JOBS": jobs})  # noqa: S307 - the rule's own line
    for name in ("MAR", "J2R", "CR", "CIR", "per_participant", "LOCF"):
        assert bool(re.fullmatch(pattern, name)) == (name in allowed), name


# ------------------------------------------------------------- edges the responders reach


def test_a_proportion_without_variance_pools_without_dividing_by_zero():
    from prt_outcomes.stats.imputation import rubin_rules

    # no responder in any imputation of either arm: a risk difference of 0 with no variance
    none = rubin_rules([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], df_complete=float("inf"))
    assert none.estimate == 0 and none.se == 0 and np.isnan(none.p_value)
    # everyone responds in one arm, no one in the other, in every imputation
    sure = rubin_rules([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], df_complete=float("inf"))
    assert sure.p_value == 0


def test_the_forest_shows_the_ancova_differences_only():
    from prt_outcomes.render.figures import sensitivity_forest_figure

    row = dict(outcome="y", strategy="MAR", method="m", visit="w4", arm="prt", reference="uc", se=0.5)
    row |= dict(df=float("inf"), p=0.01, n_imputations=3)
    t = pd.DataFrame(
        [
            # a responder row first: the figure must not take whichever row comes first
            row | dict(analysis="responder: value <= 1", estimate=0.2, ci_low=0.0, ci_high=0.4),
            row | dict(analysis="ancova", estimate=-2.0, ci_low=-3.0, ci_high=-1.0),
        ]
    )
    fig = sensitivity_forest_figure(t, outcome="y")
    assert [x.get_text() for x in fig.axes[0].get_yticklabels()] == ["w4: MAR"]
    xs = np.concatenate([line.get_xdata() for line in fig.axes[0].get_lines()])
    assert -2.0 in xs and not np.isin([0.2, 0.4], xs).any()
