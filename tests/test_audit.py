"""Clinic-audit tables on the CHOIR registry, recomputed here from the wide file by another path.

The CHOIR / PORT registry (../shared/data/choir_pain_registry, PROVENANCE.md: 21,659 patients,
average pain NRS at the first visit and at 3 months) is reshaped to the pipeline's long frame and
run through prt_outcomes.analyse.audit. The references are computed in this file straight from
the wide columns with numpy / scipy, written out formula by formula: the Wilson interval by its
closed form, responder rules by integer arithmetic on the 0-10 scores (10 (b - f) >= 3 b for a
30% reduction: no floating point), standardized differences by Austin (2009) and Yang & Dalton
(2012) written with numpy. Tolerances: counts exact; means and intervals 1e-10 relative (the
same sums in a different order); the Yang-Dalton distance 1e-8 (a 16 x 16 solve vs a
pseudo-inverse).
"""

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prt_outcomes.analyse.audit import (
    ALL_GROUPS,
    AUDIT_ATTRITION_COLUMNS,
    AUDIT_CHANGE_COLUMNS,
    AUDIT_COMPLETION_COLUMNS,
    AUDIT_FUNNEL_COLUMNS,
    AUDIT_RESPONDER_COLUMNS,
    MISSING_GROUP,
    audit_attrition,
    audit_change,
    audit_completion,
    audit_funnel,
    audit_responders,
    followed_up_flags,
    suppress_audit_table,
)
from prt_outcomes.stats.funnel import funnel_table
from test_disclosure import _recoverable_by_rank

PAIN, FOLLOW = "PAIN_INTENSITY_AVERAGE", "PAIN_INTENSITY_AVERAGE.FOLLOW_UP"
Z = stats.norm.ppf(0.975)


def wilson(x, n, z=Z):
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


@pytest.fixture(scope="module")
def choir(shared_data):
    path = shared_data / "choir_pain_registry" / "choir_pain_registry.csv"
    if not path.exists():
        pytest.skip("the CHOIR registry file is absent")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def long(choir):
    ids = choir["PATIENT_NUM"].astype(str)
    keep = ["AGE_AT_CONTACT", "BMI", "PAT_SEX", "PAT_RACE", "MEDICAID_BIN", "CCI_BIN"]
    base = pd.DataFrame({"participant_id": ids, "visit": "first visit", "pain": choir[PAIN]})
    base = pd.concat([base, choir[keep]], axis=1)
    follow = pd.DataFrame({"participant_id": ids, "visit": "3 months", "pain": choir[FOLLOW]})
    follow["PAT_SEX"] = choir["PAT_SEX"]
    follow = follow[follow["pain"].notna()]  # only the assessments that happened have rows
    return pd.concat([base, follow], ignore_index=True)


def test_choir_completion(choir, long):
    table = audit_completion(long, "pain", baseline_visit="first visit", group="PAT_SEX")
    assert list(table.columns) == list(AUDIT_COMPLETION_COLUMNS)
    b, f = choir[PAIN].notna(), choir[FOLLOW].notna()
    for label, members in [
        ("female", choir["PAT_SEX"] == "female"),
        ("male", choir["PAT_SEX"] == "male"),
        (MISSING_GROUP, choir["PAT_SEX"].isna()),
        (ALL_GROUPS, pd.Series(True, index=choir.index)),
    ]:
        row = table[table["group"] == label].iloc[0]
        n, x = int((b & members).sum()), int((b & f & members).sum())
        assert (row["eligible"], row["assessed"]) == (n, x)
        if n:
            assert row["percent"] == pytest.approx(100 * x / n, rel=1e-12)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(x, n), rel=1e-10)
    overall = table[table["group"] == ALL_GROUPS].iloc[0]
    assert overall["eligible"] == 21658 and overall["assessed"] == int((b & f).sum())


def test_choir_mean_change(choir, long):
    table = audit_change(long, "pain", baseline_visit="first visit")
    assert list(table.columns) == list(AUDIT_CHANGE_COLUMNS)
    row = table.iloc[0]
    both = choir[PAIN].notna() & choir[FOLLOW].notna()
    b = choir.loc[both, PAIN].to_numpy()
    f = choir.loc[both, FOLLOW].to_numpy()
    d = f - b
    n = d.size
    mean, sd = d.sum() / n, math.sqrt(((d - d.mean()) ** 2).sum() / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    assert row["n"] == n
    assert row[["mean_baseline", "mean_followup", "mean_change", "sd_change"]].tolist() == pytest.approx(
        [b.mean(), f.mean(), mean, sd], rel=1e-10
    )
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((mean - half, mean + half), rel=1e-10)
    assert row["effect_size"] == pytest.approx(mean / b.std(ddof=1), rel=1e-10)
    assert row["effect_size_sd"] == "baseline_sd"
    srm = audit_change(long, "pain", baseline_visit="first visit", standardizer="change_sd").iloc[0]
    assert srm["effect_size"] == pytest.approx(mean / sd, rel=1e-10)


def test_choir_responders(choir, long):
    rules = ["percent_reduction >= 30", "percent_reduction >= 50", "reduction >= 2", "value <= 3"]
    table = audit_responders(long, {"pain": rules}, baseline_visit="first visit")
    assert list(table.columns) == list(AUDIT_RESPONDER_COLUMNS)
    b = choir[PAIN].to_numpy()
    f = choir[FOLLOW].to_numpy()
    eligible = ~np.isnan(b)
    both = eligible & ~np.isnan(f)
    bi = np.where(both, b, 0).astype(int)
    fi = np.where(both, f, 0).astype(int)
    reference = {
        # percent kinds are undefined for a baseline of 0: left out of the observed denominator
        "percent_reduction >= 30": (both & (bi > 0) & (10 * (bi - fi) >= 3 * bi), both & (bi > 0)),
        "percent_reduction >= 50": (both & (bi > 0) & (2 * (bi - fi) >= bi), both & (bi > 0)),
        "reduction >= 2": (both & (bi - fi >= 2), both),
        "value <= 3": (both & (fi <= 3), both),  # recovery: mild pain at 3 months
    }
    for rule, (hit, decided) in reference.items():
        for basis, denominator in [("observed", int(decided.sum())), ("eligible", int(eligible.sum()))]:
            row = table[(table["threshold"] == rule) & (table["denominator_basis"] == basis)].iloc[0]
            x = int(hit.sum())
            assert (row["responders"], row["denominator"]) == (x, denominator), (rule, basis)
            assert row["percent"] == pytest.approx(100 * x / denominator, rel=1e-12)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(x, denominator), rel=1e-10)


def test_choir_attrition(choir, long):
    people = followed_up_flags(
        long,
        "pain",
        baseline_visit="first visit",
        followup_visit="3 months",
        characteristics=["AGE_AT_CONTACT", "BMI", "PAT_SEX", "PAT_RACE", "MEDICAID_BIN"],
    )
    table = audit_attrition(people, ["pain", "AGE_AT_CONTACT", "BMI", "PAT_SEX", "PAT_RACE", "MEDICAID_BIN"])
    assert list(table.columns) == list(AUDIT_ATTRITION_COLUMNS)
    eligible = choir[PAIN].notna()
    followed = choir[FOLLOW].notna()[eligible]
    wide = choir[eligible]
    for name, col in [("pain", PAIN), ("AGE_AT_CONTACT", "AGE_AT_CONTACT"), ("BMI", "BMI")]:
        a = wide.loc[followed, col].dropna().to_numpy()
        c = wide.loc[~followed, col].dropna().to_numpy()
        smd = (a.mean() - c.mean()) / math.sqrt((a.var(ddof=1) + c.var(ddof=1)) / 2)
        row = table[table["variable"] == name].iloc[0]
        assert (row["n_followed"], row["n_lost"]) == (a.size, c.size)
        assert row["std_difference"] == pytest.approx(smd, rel=1e-10)
        assert row["missing_followed"] == int(wide.loc[followed, col].isna().sum())
    for name in ["PAT_SEX", "MEDICAID_BIN", "PAT_RACE"]:
        a = wide.loc[followed, name].dropna()
        c = wide.loc[~followed, name].dropna()
        levels = sorted(set(a) | set(c))
        pa = np.array([(a == lev).mean() for lev in levels])
        pc = np.array([(c == lev).mean() for lev in levels])
        for lev, p1, p0 in zip(levels, pa, pc):
            row = table[(table["variable"] == name) & (table["level"] == lev)].iloc[0]
            assert row["std_difference"] == pytest.approx(
                (p1 - p0) / math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
            )
        if len(levels) > 2:
            t, k = pa[1:], pc[1:]
            s = np.empty((t.size, t.size))
            for i in range(t.size):
                for j in range(t.size):
                    s[i, j] = (
                        (t[i] * (1 - t[i]) + k[i] * (1 - k[i])) / 2
                        if i == j
                        else -(t[i] * t[j] + k[i] * k[j]) / 2
                    )
            yd = math.sqrt((t - k) @ np.linalg.solve(s, t - k))
            row = table[(table["variable"] == name) & (table["level"] == "(overall)")].iloc[0]
            assert row["std_difference"] == pytest.approx(yd, rel=1e-8)
    # the followed-up patients had lower pain at the first visit: a real, not a tested-in, finding
    assert table.loc[table["variable"] == "pain", "std_difference"].iloc[0] < 0


def test_eligible_pairs_and_groups():
    d = pd.DataFrame(
        {
            "participant_id": list("aabbccd"),
            "visit": ["b", "f", "b", "f", "b", "f", "b"],
            "site": ["x", "x", "x", "x", "y", "y", None],
            "pain": [8.0, 4.0, 6.0, None, 7.0, 7.0, 5.0],
        }
    )
    t = audit_completion(d, "pain", baseline_visit="b", group="site")
    assert t[["group", "eligible", "assessed"]].values.tolist() == [
        [MISSING_GROUP, 1, 0],
        ["x", 2, 1],
        ["y", 1, 1],
        [ALL_GROUPS, 4, 2],
    ]
    due = pd.DataFrame({"participant_id": ["a", "c"], "visit": ["f", "f"]})
    t = audit_completion(d, "pain", baseline_visit="b", eligible=due)
    assert t[["eligible", "assessed"]].values.tolist() == [[2, 2]]
    with pytest.raises(ValueError, match="more than one row"):
        audit_change(pd.concat([d, d.iloc[[1]]]), "pain", baseline_visit="b")


def test_audit_funnel_matches_funnel_table():
    rng = np.random.default_rng(11)
    n = 400
    site = rng.choice(list("abcdef"), n)
    base = rng.integers(3, 11, n).astype(float)
    follow = np.clip(base - rng.integers(-1, 5, n), 0, 10).astype(float)
    d = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(n), 2),
            "visit": ["b", "f"] * n,
            "site": np.repeat(site, 2),
            "pain": np.column_stack([base, follow]).ravel(),
        }
    )
    t = audit_funnel(d, "pain", group="site", baseline_visit="b", visit="f", adjustment="multiplicative")
    assert list(t.columns) == list(AUDIT_FUNNEL_COLUMNS)
    change = follow - base
    means = [change[site == s].mean() for s in "abcdef"]
    sizes = [(site == s).sum() for s in "abcdef"]
    within = math.sqrt(
        sum(((change[site == s] - change[site == s].mean()) ** 2).sum() for s in "abcdef") / (n - 6)
    )
    ref = funnel_table(means, sizes, list("abcdef"), kind="mean", sd=within, adjustment="multiplicative")
    np.testing.assert_allclose(t["value"], ref["value"], rtol=1e-12)
    np.testing.assert_allclose(t["ll998"], ref["ll998"], rtol=1e-12)
    r = audit_funnel(d, "pain", group="site", baseline_visit="b", visit="f", measure="reduction >= 2")
    hits = [((base - follow)[site == s] >= 2).mean() for s in "abcdef"]
    np.testing.assert_allclose(r["value"], hits, rtol=1e-12)


def test_suppressed_audit_tables_show_no_small_count():
    d = pd.DataFrame(
        {
            "participant_id": [f"p{i}" for i in range(60) for _ in (0, 1)],
            "visit": ["b", "f"] * 60,
            "site": [s for s in ["x"] * 40 + ["y"] * 17 + ["z"] * 3 for _ in (0, 1)],
        }
    )
    rng = np.random.default_rng(2)
    pain = rng.integers(2, 11, 120).astype(float)
    pain[1::2][rng.random(60) < 0.3] = np.nan
    d["pain"] = pain
    comp = audit_completion(d, "pain", baseline_visit="b", group="site")
    safe = suppress_audit_table(comp, "assessed", denominator="eligible", by=("outcome", "visit"))
    shown = pd.concat([safe["assessed"], safe["eligible"], safe["eligible"] - safe["assessed"]]).dropna()
    assert not ((shown >= 1) & (shown < 5)).any()
    assert safe.loc[safe["group"] == "z", "assessed"].isna().all()
    assert safe.loc[safe["group"] == "z", "percent"].isna().all()
    # the hidden site cannot be recovered from the total: another site is hidden with it
    assert safe["assessed"].isna().sum() >= 2
    resp = audit_responders(d, {"pain": ["reduction >= 2"]}, baseline_visit="b", group="site")
    safe = suppress_audit_table(
        resp,
        "responders",
        denominator="denominator",
        by=("outcome", "threshold", "visit", "denominator_basis"),
    )
    shown = pd.concat([safe["responders"], safe["denominator"] - safe["responders"]]).dropna()
    assert not ((shown >= 1) & (shown < 5)).any()
    change = audit_change(d, "pain", baseline_visit="b", group="site")
    safe = suppress_audit_table(change, "n")
    assert safe.loc[safe["group"] == "z", ["n", "mean_change", "ci_low"]].isna().all(axis=None)
    assert safe["n"].isna().sum() >= 2  # the all row's n would give z's n otherwise
    assert not ((safe["n"] >= 1) & (safe["n"] < 5)).fillna(False).any()


# ----------------------------------------------------------------------------------------------
# The same CHOIR numbers from base R (tests/references/audit/make_choir_reference.R, stored in
# choir_reference.csv with 15 significant digits): prop.test's Wilson interval, t.test's paired
# interval, Austin / Yang & Dalton in R. Tolerance 1e-10 relative: 15 printed digits, and sums
# of ~7000 values in another order.
# ----------------------------------------------------------------------------------------------
REFERENCE_DIR = Path(__file__).parent / "references" / "audit"


def _ours(long):
    comp = audit_completion(long, "pain", baseline_visit="first visit").iloc[0]
    change = audit_change(long, "pain", baseline_visit="first visit").iloc[0]
    rules = {"pr30": "percent_reduction >= 30", "pr50": "percent_reduction >= 50", "red2": "reduction >= 2"}
    resp = audit_responders(long, {"pain": list(rules.values())}, baseline_visit="first visit")
    ours = {
        "completion_x": comp["assessed"],
        "completion_n": comp["eligible"],
        "completion_ci_low": comp["ci_low"],
        "completion_ci_high": comp["ci_high"],
        "change_n": change["n"],
        "change_mean_baseline": change["mean_baseline"],
        "change_mean_followup": change["mean_followup"],
        "change_mean": change["mean_change"],
        "change_sd": change["sd_change"],
        "change_ci_low": change["ci_low"],
        "change_ci_high": change["ci_high"],
        "change_effect_size_baseline_sd": change["effect_size"],
    }
    for key, rule in rules.items():
        for basis in ("observed", "eligible"):
            row = resp[(resp["threshold"] == rule) & (resp["denominator_basis"] == basis)].iloc[0]
            ours[f"{key}_{basis}_x"] = row["responders"]
            ours[f"{key}_{basis}_n"] = row["denominator"]
            ours[f"{key}_{basis}_ci_low"] = row["ci_low"]
            ours[f"{key}_{basis}_ci_high"] = row["ci_high"]
    people = followed_up_flags(
        long,
        "pain",
        baseline_visit="first visit",
        followup_visit="3 months",
        characteristics=["AGE_AT_CONTACT", "BMI", "PAT_SEX", "PAT_RACE", "MEDICAID_BIN"],
    )
    att = audit_attrition(people, ["pain", "AGE_AT_CONTACT", "BMI", "PAT_SEX", "PAT_RACE", "MEDICAID_BIN"])

    def smd(variable, level=""):
        return att[(att["variable"] == variable) & (att["level"] == level)]["std_difference"].iloc[0]

    ours.update(
        smd_pain=smd("pain"),
        smd_age=smd("AGE_AT_CONTACT"),
        smd_bmi=smd("BMI"),
        smd_sex_male=smd("PAT_SEX", "male"),
        smd_medicaid_yes=smd("MEDICAID_BIN", "yes"),
        smd_race_overall=smd("PAT_RACE", "(overall)"),
    )
    return ours


def _compare(reference: pd.DataFrame, ours: dict):
    ref = dict(zip(reference["quantity"], reference["value"]))
    assert set(ref) == set(ours)
    for key, value in ref.items():
        if key.endswith(("_x", "_n")):
            assert ours[key] == int(value), key
        else:
            assert float(ours[key]) == pytest.approx(value, rel=1e-10), key


def test_choir_against_stored_r_reference(long):
    _compare(pd.read_csv(REFERENCE_DIR / "choir_reference.csv"), _ours(long))


def test_choir_r_reference_live(rscript, shared_data, tmp_path, long):
    out = tmp_path / "choir_reference.csv"
    data = shared_data / "choir_pain_registry" / "choir_pain_registry.csv"
    subprocess.run(
        [rscript, str(REFERENCE_DIR / "make_choir_reference.R"), str(data), str(out)],
        check=True,
        capture_output=True,
    )
    _compare(pd.read_csv(out), _ours(long))


def test_attrition_binary_and_pooled_sd():
    p = pd.DataFrame(
        {
            "smoker": [1, 0, 1, 1, 0, 0, 1, 0],
            "flag": [True, False, True, True, True, False, False, False],
            "age": [30.0, 40, 50, 60, 35, 45, 55, 70],
            "followed_up": [True, True, True, False, False, False, False, False],
        }
    )
    t = audit_attrition(p, ["smoker", "flag", "age"]).set_index("variable")
    p1, p0 = 2 / 3, 2 / 5
    assert t.loc["smoker", "kind"] == "binary" and t.loc["flag", "kind"] == "binary"
    assert t.loc["smoker", "std_difference"] == pytest.approx(
        (p1 - p0) / math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    )
    assert t.loc["smoker", ["followed", "lost"]].tolist() == pytest.approx([100 * p1, 100 * p0])
    a, c = np.array([30.0, 40, 50]), np.array([60.0, 35, 45, 55, 70])
    pooled = math.sqrt((2 * a.var(ddof=1) + 4 * c.var(ddof=1)) / 6)
    t2 = audit_attrition(p, ["age"], sd_convention="pooled").iloc[0]
    assert t2["std_difference"] == pytest.approx((a.mean() - c.mean()) / pooled)
    t3 = audit_attrition(p, ["smoker"], categorical=["smoker"])
    assert t3["level"].tolist() == ["0", "1"] and (t3["kind"] == "categorical").all()


def test_audit_funnel_case_mix():
    from prt_outcomes.stats.funnel import indirect_standardisation

    rng = np.random.default_rng(5)
    n = 500
    site = rng.choice(list("abcde"), n)
    age = rng.normal(55, 12, n)
    base = np.clip(np.round(rng.normal(6.5, 1.5, n)), 1, 10)
    follow = np.clip(np.round(base - 1 - 0.03 * (age - 55) + rng.normal(0, 1.5, n)), 0, 10)
    d = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(n), 2),
            "visit": ["b", "f"] * n,
            "site": np.repeat(site, 2),
            "age": np.repeat(age, 2),
            "pain": np.column_stack([base, follow]).ravel(),
        }
    )
    t = audit_funnel(d, "pain", group="site", baseline_visit="b", visit="f", case_mix=["age"])
    per = pd.DataFrame({"y": follow - base, "age": age, "unit": site})
    ref, sd = indirect_standardisation(per, "y", ["age"], "unit", family="gaussian")
    np.testing.assert_allclose(t["value"], ref["adjusted"], rtol=1e-12)
    np.testing.assert_allclose(t["se"], sd / np.sqrt(ref["n"]), rtol=1e-12)
    r = audit_funnel(
        d, "pain", group="site", baseline_visit="b", visit="f", measure="reduction >= 2", case_mix=["age"]
    )
    per["hit"] = (base - follow >= 2).astype(float)
    ref, _ = indirect_standardisation(per, "hit", ["age"], "unit")
    np.testing.assert_allclose(r["value"], ref["ratio"], rtol=1e-10)
    np.testing.assert_allclose(r["volume"], ref["expected"], rtol=1e-10)
    assert (r["target"] == 1).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=6))
def test_property_suppressed_groups_reveal_nothing(groups):
    """Random group tables (assessed, not assessed): no count 1..4 shown, the all row included,
    and no hidden count is fixed by the published ones (the rank check of test_disclosure)."""
    rows = [("pain", "3m", f"g{i}", a + m, a) for i, (a, m) in enumerate(groups)]
    rows.append(("pain", "3m", ALL_GROUPS, sum(a + m for a, m in groups), sum(a for a, _ in groups)))
    t = pd.DataFrame(rows, columns=["outcome", "visit", "group", "eligible", "assessed"])
    t["percent"] = 100 * t["assessed"] / t["eligible"].where(t["eligible"] > 0)
    safe = suppress_audit_table(t, "assessed", denominator="eligible")
    rest = safe["eligible"] - safe["assessed"]
    for col in (safe["assessed"], safe["eligible"], rest):
        shown = col.dropna()
        assert not ((shown >= 1) & (shown < 5)).any()
    assert safe.loc[safe["assessed"].isna(), "percent"].isna().all()
    # the published grid: groups x (assessed, not assessed, eligible) + the all row
    hidden = np.column_stack([safe["assessed"].isna(), rest.isna(), safe["eligible"].isna()])
    # a "not assessed" count is hidden only if it cannot be had from eligible - assessed
    assert _recoverable_by_rank(hidden) == []
