"""Threshold rules and responder analyses (issue 5), including the Ashar 2022 acceptance numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_outcomes.analyse.responders import (
    RESPONDER_COLUMNS,
    RESPONDER_EXTRA_COLUMNS,
    Threshold,
    ThresholdError,
    parse_threshold,
    responder_analysis,
    responders_from_config,
)
from prt_outcomes.stats.proportions import compare_proportions

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ASHAR = SHARED / "ashar2022_prt_backpain" / "Ashar2022_outcomes_demographics.csv"


# ----------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, canonical, needs_baseline",
    [
        ("value <= 1", "value(pain) <= 1", False),
        ("value == 0", "value(pain) == 0", False),
        ("value < 2", "value(pain) < 2", False),
        ("reduction >= 2", "reduction(pain) >= 2", True),
        ("percent_reduction >= 30", "percent_reduction(pain) >= 30", True),
        ("percent_reduction >= 50%", "percent_reduction(pain) >= 50", True),
        ("improvement >= 5", "improvement(pain) >= 5", True),
        ("percent_improvement >= 35", "percent_improvement(pain) >= 35", True),
        ("change <= -2", "change(pain) <= -2", True),
        ("percent_change <= -30", "percent_change(pain) <= -30", True),
        ("  value<=1.5 ", "value(pain) <= 1.5", False),
        ("pain <= 1 and odi <= 10", "value(pain) <= 1 and value(odi) <= 10", False),
        (
            "percent_reduction(pain) >= 30 or pain <= 1",
            "percent_reduction(pain) >= 30 or value(pain) <= 1",
            True,
        ),
        (
            "(value <= 1 OR reduction >= 3) AND odi < 20",
            "(value(pain) <= 1 or reduction(pain) >= 3) and value(odi) < 20",
            True,
        ),
        (
            "value <= 1 or value >= 9 and odi > 5",
            "value(pain) <= 1 or (value(pain) >= 9 and value(odi) > 5)",
            False,
        ),
    ],
)
def test_parse_valid_rules(text, canonical, needs_baseline):
    rule = parse_threshold(text, outcome="pain")
    assert isinstance(rule, Threshold)
    assert rule.canonical == canonical
    assert rule.needs_baseline is needs_baseline
    assert rule.text == " ".join(text.split())


def test_outcomes_and_label_of_combined_rule():
    rule = parse_threshold("pain_avg <= 1 and odi <= 10")
    assert rule.outcomes == ("pain_avg", "odi")
    assert rule.outcome_label == "pain_avg+odi"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("value <=", "expected a number"),
        ("value => 1", "expected a number|cannot read"),
        ("value 1", "comparison operator"),
        ("value <= 1 and", "expected a quantity"),
        ("(value <= 1", "missing '\\)'"),
        ("value <= 1)", "unexpected"),
        ("value <= abc", "expected a number"),
        ("value <= 1%", "'%' only follows"),
        ("foo(bar) >= 1", "comparison operator"),
        ("__import__('os').system('x')", "cannot read|comparison operator"),
        ("value != 1", "cannot read|expected a number"),
        ("percent_reduction() >= 30", "outcome name"),
    ],
)
def test_parse_errors_say_what_is_allowed(text, fragment):
    with pytest.raises(ThresholdError, match=fragment) as info:
        parse_threshold(text, outcome="pain")
    message = str(info.value)
    assert "percent_reduction" in message and "<=" in message  # lists the allowed forms
    assert isinstance(info.value, ValueError)


def test_bare_kind_needs_an_outcome():
    with pytest.raises(ThresholdError, match="pass outcome="):
        parse_threshold("value <= 1")
    with pytest.raises(ThresholdError, match="several outcomes"):
        parse_threshold("value <= 1", outcome=["pain", "odi"])
    assert parse_threshold("value <= 1", outcome=["pain"]).outcomes == ("pain",)


def test_non_string_rule():
    with pytest.raises(ThresholdError, match="string"):
        parse_threshold(3, outcome="pain")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="valuepercnt_dios()<>=!%.-+ 0123456789&|", max_size=40))
def test_parser_never_fails_uncontrolled(text):
    try:
        rule = parse_threshold(text, outcome="pain")
    except ThresholdError:
        return
    assert rule.outcomes


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
def frame(values, baselines, name="pain"):
    return pd.DataFrame({name: values, f"{name}_baseline": baselines}, dtype="float64")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("value <= 1", [True, False, False, True, None]),
        ("value == 0", [False, False, False, True, None]),
        ("value < 2", [True, False, False, True, None]),
        ("reduction >= 2", [True, False, False, False, None]),
        ("change <= -2", [True, False, False, False, None]),
        ("percent_reduction >= 50", [True, False, False, None, None]),
        ("percent_change <= -50", [True, False, False, None, None]),
        ("improvement >= 2", [True, False, False, False, None]),
        ("percent_improvement >= 50", [True, False, False, None, None]),
        ("change > 0", [False, False, True, False, None]),
    ],
)
def test_kinds(text, expected):
    # baseline -> value: 4 -> 1 (-75%), 4 -> 3 (-25%), 4 -> 6 (+50%), 0 -> 0 (undefined %), 5 -> NA
    data = frame([1, 3, 6, 0, None], [4, 4, 4, 0, 5])
    got = parse_threshold(text, outcome="pain").evaluate(data)
    assert str(got.dtype) == "boolean"
    assert [None if pd.isna(v) else bool(v) for v in got] == expected


def test_improvement_follows_direction():
    data = frame([60.0, 45.0], [50.0, 50.0], name="who")
    higher = parse_threshold("improvement >= 5", outcome="who", higher_is_better=True)
    lower = parse_threshold("improvement >= 5", outcome="who", higher_is_better=False)
    assert higher.evaluate(data).tolist() == [True, False]
    assert lower.evaluate(data).tolist() == [False, True]
    pct = parse_threshold("percent_improvement >= 20", outcome="who", higher_is_better={"who": True})
    assert pct.evaluate(data).tolist() == [True, False]
    # reduction and change ignore the direction: they are about the numbers
    rule = parse_threshold("reduction >= 5", outcome="who", higher_is_better=True)
    assert rule.evaluate(data).tolist() == [False, True]


def test_percent_boundary_survives_binary_rounding():
    # 100 * (7 - 4.9) / 7 is 29.999999999999996 in floating point; it is exactly 30%.
    data = frame([4.9, 4.91], [7.0, 7.0])
    assert parse_threshold("percent_reduction >= 30", outcome="pain").evaluate(data).tolist() == [True, False]
    assert parse_threshold("percent_reduction > 30", outcome="pain").evaluate(data).tolist() == [False, False]


def test_kleene_logic_for_missing_parts():
    data = pd.DataFrame({"pain": [0.0, 5.0, np.nan, 0.0], "pain_baseline": [np.nan, np.nan, 6.0, 6.0]})
    either = parse_threshold("percent_reduction(pain) >= 30 or pain <= 1")
    both = parse_threshold("percent_reduction(pain) >= 30 and pain <= 1")
    assert [None if pd.isna(v) else bool(v) for v in either.evaluate(data)] == [True, None, None, True]
    assert [None if pd.isna(v) else bool(v) for v in both.evaluate(data)] == [None, False, None, True]
    assert either.inputs_present(data).tolist() == [False, False, False, True]


def test_separate_baseline_frame():
    current = pd.DataFrame({"pain": [1.0, 5.0]}, index=["a", "b"])
    baseline = pd.DataFrame({"pain": [6.0, 6.0]}, index=["b", "a"])  # aligned by index
    rule = parse_threshold("reduction >= 5", outcome="pain")
    assert rule.evaluate(current, baseline).tolist() == [True, False]


def test_evaluate_reports_missing_and_non_numeric_columns():
    rule = parse_threshold("reduction >= 2", outcome="pain")
    with pytest.raises(ThresholdError, match="baseline column 'pain_baseline'"):
        rule.evaluate(pd.DataFrame({"pain": [1.0]}))
    with pytest.raises(ThresholdError, match="non-numeric.*'n/a'"):
        parse_threshold("value <= 1", outcome="pain").evaluate(pd.DataFrame({"pain": ["1", "n/a"]}))


# ----------------------------------------------------------------------------------------------
# responder_analysis on a small hand-checked trial
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def trial():
    """Two arms, three visits; hand-checked responder counts below."""
    rows = [
        # id, arm, visit, pain, odi
        (1, "prt", "base", 6, 40),
        (1, "prt", "post", 1, 10),
        (1, "prt", "fu", 0, 8),
        (2, "prt", "base", 5, 30),
        (2, "prt", "post", 2, 20),
        (2, "prt", "fu", 1, 30),
        (3, "prt", "base", 4, 20),
        (3, "prt", "post", np.nan, 20),
        (4, "prt", "base", 0, 10),
        (4, "prt", "post", 0, 12),
        (4, "prt", "fu", 3, 12),
        (5, "uc", "base", 6, 44),
        (5, "uc", "post", 5, 40),
        (5, "uc", "fu", 6, 40),
        (6, "uc", "base", 5, 30),
        (6, "uc", "post", 1, 12),
        (6, "uc", "fu", 4, 30),
        (7, "uc", "base", np.nan, 30),
        (7, "uc", "post", 1, 30),
    ]
    return pd.DataFrame(rows, columns=["participant_id", "arm", "visit", "pain", "odi"])


VISITS = ["base", "post", "fu"]


def counts(table):
    return table[["visit", "arm", "responders", "denominator", "n_missing", "n_undefined"]].values.tolist()


def test_columns_and_order(trial):
    table = responder_analysis(trial, outcome="pain", threshold="value <= 1", visit_levels=VISITS)
    assert list(table.columns) == [*RESPONDER_COLUMNS, *RESPONDER_EXTRA_COLUMNS]
    assert table["visit"].tolist() == ["base", "base", "post", "post", "fu", "fu"]
    assert table["arm"].tolist() == ["prt", "uc"] * 3
    assert (table["reference"] == ["uc", ""] * 3).all()
    assert (table["outcome"] == "pain").all() and (table["threshold"] == "value <= 1").all()


def test_value_rule_observed_and_randomized(trial):
    observed = responder_analysis(trial, outcome="pain", threshold="value <= 1", visit_levels=VISITS)
    assert counts(observed) == [
        ["base", "prt", 1, 4, 0, 0],
        ["base", "uc", 0, 2, 1, 0],
        ["post", "prt", 2, 3, 1, 0],
        ["post", "uc", 2, 3, 0, 0],
        ["fu", "prt", 2, 3, 1, 0],
        ["fu", "uc", 0, 2, 1, 0],
    ]
    randomized = responder_analysis(
        trial, outcome="pain", threshold="value <= 1", visit_levels=VISITS, denominator="randomized"
    )
    assert randomized["denominator"].tolist() == [4, 3] * 3
    assert randomized["responders"].tolist() == observed["responders"].tolist()
    assert (randomized["denominator_type"] == "randomized").all()
    row = randomized.iloc[2]
    expected = compare_proportions(2, 4, 2, 3)
    assert row["percent"] == expected.percent
    assert row["risk_difference"] == expected.risk_difference
    assert row["odds_ratio"] == expected.odds_ratio and row["p"] == expected.p
    assert row["nnt_label"] == expected.nnt_label and row["test"] == expected.test


def test_baseline_rule_skips_baseline_visit_and_counts_undefined(trial):
    table = responder_analysis(
        trial, outcome="pain", threshold="percent_reduction >= 50", visit_levels=VISITS
    )
    # post: 1 (6->1 yes), 2 (5->2 yes), 3 missing, 4 (0->0 undefined); 5 no, 6 yes, 7 no baseline
    assert counts(table) == [
        ["post", "prt", 2, 2, 2, 1],
        ["post", "uc", 1, 2, 1, 0],
        ["fu", "prt", 2, 2, 2, 1],
        ["fu", "uc", 0, 2, 1, 0],
    ]
    rand = responder_analysis(
        trial,
        outcome="pain",
        threshold="percent_reduction >= 50",
        visit_levels=VISITS,
        denominator="randomized",
    )
    assert rand["denominator"].tolist() == [4, 3, 4, 3]


def test_multi_outcome_rule(trial):
    table = responder_analysis(trial, threshold="pain <= 1 and odi <= 12", visit_levels=VISITS)
    assert (table["outcome"] == "pain+odi").all()
    post = table[table["visit"] == "post"]
    # prt: 1 yes, 2 no, 3 pain missing but odi 20 > 12 -> decided False, 4 yes; uc: 6 yes only
    assert post[["responders", "denominator"]].values.tolist() == [[2, 4], [1, 3]]


def test_outcome_list_for_rule_naming_outcomes(trial):
    table = responder_analysis(trial, outcome=["pain"], threshold="value <= 1", visit_levels=VISITS)
    assert len(table) == 6


def test_randomized_list_adds_never_assessed_participants(trial):
    randomized = pd.Series(["prt"] * 4 + ["uc"] * 4, index=[1, 2, 3, 4, 5, 6, 7, 8])
    table = responder_analysis(
        trial,
        outcome="pain",
        threshold="value <= 1",
        visit_levels=VISITS,
        denominator="randomized",
        randomized=randomized,
    )
    assert table["denominator"].tolist() == [4, 4] * 3
    assert table.loc[table["arm"] == "uc", "n_missing"].tolist() == [2, 1, 2]
    as_frame = randomized.rename("arm").rename_axis("participant_id").reset_index()
    again = responder_analysis(
        trial,
        outcome="pain",
        threshold="value <= 1",
        visit_levels=VISITS,
        denominator="randomized",
        randomized=as_frame,
    )
    pd.testing.assert_frame_equal(table, again)


def test_reference_arm_and_levels(trial):
    table = responder_analysis(
        trial,
        outcome="pain",
        threshold="value <= 1",
        visit_levels=VISITS,
        reference_arm="prt",
        arm_levels=["uc", "prt"],
    )
    assert table["arm"].tolist()[:2] == ["uc", "prt"]
    assert table["reference"].tolist()[:2] == ["prt", ""]


def test_unobserved_visit_levels_are_left_out(trial):
    table = responder_analysis(
        trial,
        outcome="pain",
        threshold="value <= 1",
        visit_levels=[*VISITS, "m12"],
        denominator="randomized",
    )
    assert "m12" not in set(table["visit"])


def test_single_arm_has_no_comparison(trial):
    clinic = trial[trial["arm"] == "prt"]
    table = responder_analysis(clinic, outcome="pain", threshold="value <= 1", visit_levels=VISITS)
    assert (table["reference"] == "").all() and table["risk_difference"].isna().all()
    assert table["percent"].notna().all()


@pytest.mark.parametrize(
    "change, kwargs, fragment",
    [
        (lambda d: pd.concat([d, d.iloc[[0]]]), {}, "repeat a participant x visit"),
        (lambda d: d.assign(arm=np.where(d.index == 1, "uc", d["arm"])), {}, "more than one arm"),
        (lambda d: d, {"reference_arm": "placebo"}, "reference_arm 'placebo'"),
        (lambda d: d, {"denominator": "all"}, "denominator must be"),
        (lambda d: d.drop(columns="visit"), {}, "lack the columns \\['visit'\\]"),
        (lambda d: d, {"visit_levels": ["base", "post"]}, "not in visit_levels"),
        (lambda d: d, {"alpha": 1.5}, "alpha"),
        (lambda d: d, {"randomized": pd.Series(["prt"], index=[1])}, "not in 'randomized'"),
        (lambda d: d, {"randomized": pd.Series(["uc"] * 7, index=range(1, 8))}, "different arm"),
    ],
)
def test_bad_input_is_explained(trial, change, kwargs, fragment):
    args = {"outcome": "pain", "threshold": "value <= 1", "visit_levels": VISITS, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        responder_analysis(change(trial), **args)


def test_missing_outcome_and_missing_baseline_visit(trial):
    with pytest.raises(ThresholdError, match="'odx'"):
        responder_analysis(trial, threshold="odx <= 1", visit_levels=VISITS)
    with pytest.raises(ValueError, match="baseline visit 'screen'"):
        responder_analysis(
            trial, outcome="pain", threshold="reduction >= 2", visit_levels=VISITS, baseline_visit="screen"
        )


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=12, max_size=12),
    cut=st.integers(0, 10),
)
def test_randomized_never_exceeds_observed_percent(values, cut):
    ids = np.repeat(np.arange(6), 2)
    data = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": np.where(ids < 3, "a", "b"),
            "visit": ["pre", "post"] * 6,
            "pain": pd.array(values, dtype="Float64").astype("float64"),
        }
    )
    kw = dict(outcome="pain", threshold=f"reduction >= {cut}", visit_levels=["pre", "post"])
    obs = responder_analysis(data, **kw)
    rnd = responder_analysis(data, denominator="randomized", **kw)
    assert (obs["responders"] == rnd["responders"]).all()
    assert (rnd["denominator"] == 3).all()
    assert (obs["denominator"] + obs["n_missing"] == 3).all()
    both = obs["percent"].notna()
    assert (rnd.loc[both, "percent"] <= obs.loc[both, "percent"] + 1e-12).all()


# ----------------------------------------------------------------------------------------------
# Config-driven analyses
# ----------------------------------------------------------------------------------------------
def test_responders_from_config(trial):
    from prt_outcomes.config import Threshold as ConfigThreshold
    from prt_outcomes.config import load_config

    cfg = load_config(REPO / "config" / "config.yaml")
    data = trial.rename(columns={"pain": "pain_avg"}).replace(
        {"visit": {"base": "baseline", "fu": "m1"}, "arm": {"uc": "usual_care"}}
    )
    cfg = dataclasses.replace(
        cfg,
        thresholds=(
            ConfigThreshold(rule="value <= 1", label="nearly pain-free", outcomes=("pain_avg", "odi")),
            ConfigThreshold(rule="pain_avg <= 1 and odi <= 12", label="both", outcomes=("pain_avg", "odi")),
        ),
    )
    table = responders_from_config(data, cfg)
    assert table["outcome"].drop_duplicates().tolist() == ["pain_avg", "odi", "pain_avg+odi"]
    assert set(table["threshold_label"]) == {"nearly pain-free", "both"}
    assert table["visit"].drop_duplicates().tolist() == ["baseline", "post", "m1"]
    assert (table["denominator_type"] == cfg.responder_denominator).all()
    # the placebo arm has nobody: its rows exist and are empty, not an error
    placebo = table[table["arm"] == "placebo"]
    assert (placebo["denominator"] == 0).all() and placebo["percent"].isna().all()


# ----------------------------------------------------------------------------------------------
# Acceptance: Ashar et al. 2022 public data
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ashar():
    if not ASHAR.exists():
        pytest.skip(f"shared data not present at {ASHAR}")
    data = pd.read_csv(ASHAR, na_values=["<undefined>"])
    data = data[data["group"].notna()].copy()  # healthy controls have no group
    data["arm"] = data["group"].map({1: "prt", 2: "placebo", 3: "usual_care"})
    return data


def ashar_table(data, rule):
    return responder_analysis(
        data,
        outcome="pain_avg",
        threshold=rule,
        arm="arm",
        visit="time",
        subject="id",
        denominator="randomized",
        arm_levels=["prt", "placebo", "usual_care"],
        reference_arm="usual_care",
    ).query("visit == 2")


@pytest.mark.shared
def test_ashar_pain_free_or_nearly(ashar):
    """Ashar 2022 (JAMA Psychiatry) Fig 2C: 33/50 (66%), 10/51 (20%), 5/50 (10%) of all randomized."""
    post = ashar_table(ashar, "value <= 1")
    assert post[["arm", "responders", "denominator"]].values.tolist() == [
        ["prt", 33, 50],
        ["placebo", 10, 51],
        ["usual_care", 5, 50],
    ]
    assert post["n_missing"].tolist() == [6, 7, 3]  # no post-treatment pain score: non-responders


@pytest.mark.shared
def test_ashar_fifty_percent_reduction(ashar):
    """eTable 2: >=50% reduction in 70% / 29% / 16% at post-treatment."""
    post = ashar_table(ashar, "percent_reduction >= 50")
    assert post["responders"].tolist() == [35, 15, 8]
    assert post["percent"].round(0).tolist() == [70.0, 29.0, 16.0]


@pytest.mark.shared
def test_ashar_thirty_percent_reduction_from_public_file(ashar):
    """eTable 2 reports 78% / 49% / 38%; the public file gives 74% / 43% / 26%.

    The paper's baseline is the average of two prerandomization assessments; the public file holds
    only the pre-treatment session, so percent reductions from it differ. The test pins what the
    file gives (37/50, 22/51, 13/50), checked independently in the data's PROVENANCE.md.
    """
    post = ashar_table(ashar, "percent_reduction >= 30")
    assert post["responders"].tolist() == [37, 22, 13]
    assert post["percent"].round(0).tolist() == [74.0, 43.0, 26.0]


@pytest.mark.shared
def test_ashar_statistics_match_direct_computation(ashar):
    post = ashar_table(ashar, "value <= 1").set_index("arm")
    expected = compare_proportions(33, 50, 5, 50)
    assert post.loc["prt", "rd_ci_low"] == expected.rd_ci_low
    assert post.loc["prt", "or_ci_high"] == expected.or_ci_high
    assert post.loc["prt", "nnt_label"] == "NNTB 1.8 (1.5 to 2.6)"
    assert post.loc["prt", "test"] == "chi2" and post.loc["prt", "p"] < 1e-7


def test_categorical_columns_give_the_order(trial):
    data = trial.astype(
        {
            "visit": pd.CategoricalDtype(["base", "post", "fu"], ordered=True),
            "arm": pd.CategoricalDtype(["uc", "prt"]),
        }
    )
    table = responder_analysis(data, outcome="pain", threshold="reduction >= 2")
    assert table["visit"].tolist() == ["post", "post", "fu", "fu"]
    assert table["arm"].tolist() == ["uc", "prt", "uc", "prt"]
    assert table["reference"].tolist() == ["prt", ""] * 2  # default reference: the last arm level


def test_catalogue_recovery_rules_parse():
    """Recovery cut-offs in the instrument catalogue are written in the same rule language."""
    from prt_outcomes.instruments import INSTRUMENTS

    rules = {name: inst.recovery for name, inst in INSTRUMENTS.items() if inst.recovery}
    assert rules, "the catalogue should hold at least one recovery rule"
    for name, text in rules.items():
        rule = parse_threshold(text, outcome=name, higher_is_better=INSTRUMENTS[name].higher_is_better)
        assert rule.outcomes == (name,)
