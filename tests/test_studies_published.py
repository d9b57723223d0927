"""Every study config in config/studies/ reproduces the published numbers its header names.

Each config is run in-process exactly as a study is (load_config -> ingest and validation ->
derive -> describe -> analyse, ``prt_outcomes.pipeline``), once per module, and the tables are
compared with the published figures. A tolerance is half a unit of the last published digit
(the published rounding) unless the test says otherwise. ashar2022.yaml is checked by
tests/test_reproduce_ashar2022.py (not repeated here); the engine itself is checked against the
SAS and R references by tests/test_models_reference_*.py.

Skipped when ../shared/data is absent.
"""

from __future__ import annotations

import functools

import pandas as pd
import pytest
import yaml
from scipy import stats

from conftest import EXAMPLE_CONFIG, REPO_ROOT
from prt_outcomes.config import load_config
from prt_outcomes.pipeline import analyse, derive, describe
from prt_outcomes.validate.checks import load_and_validate

pytestmark = [pytest.mark.shared, pytest.mark.slow]

STUDIES = REPO_ROOT / "config" / "studies"
# Where each config's published numbers are checked (a new config needs an entry).
CHECKED_IN = {
    "antidepressant": __name__,
    "ashar2022": "tests/test_reproduce_ashar2022.py",
    "ashar2022_simple_wide": __name__,
    "choir_registry": __name__,
    "clinic_example": __name__,
    "claus2020": __name__,
    "fev_data": __name__,
    "neck_pain": __name__,
    "vickers2004": __name__,
}
HEADER = "Published numbers this config reproduces"


def rounding(decimals: int) -> float:
    """Half a unit of the last digit of a number published with ``decimals`` decimals.

    (Plus 1e-12, so that a value exactly on the boundary of a float comparison passes.)
    """
    return 0.5 * 10.0**-decimals + 1e-12


@functools.lru_cache(maxsize=None)
def _run(name: str) -> dict:
    config = load_config(STUDIES / f"{name}.yaml")
    checked = load_and_validate(config)
    data = derive(checked.clean, config)
    return {
        "config": config,
        "checked": checked,
        "data": data,
        **describe(data, config),
        **analyse(data, config),
    }


@pytest.fixture
def run(shared_data):
    return _run


# ---------------------------------------------------------------------------------------------
# every config
# ---------------------------------------------------------------------------------------------
def test_every_config_says_what_it_reproduces_and_where_it_is_checked():
    names = sorted(p.stem for p in STUDIES.glob("*.yaml"))
    assert names == sorted(CHECKED_IN)
    for name in names:
        head = (STUDIES / f"{name}.yaml").read_text(encoding="utf-8").split("\nstudy:")[0]
        assert HEADER in head, f"{name}.yaml: the header must say which published numbers it reproduces"


@pytest.mark.parametrize("name", sorted(CHECKED_IN))
def test_config_runs_on_its_own_and_fits_every_outcome(run, name):
    """Each config is complete by itself: nothing came from the bundled example config."""
    tables = run(name)
    config = tables["config"]
    assert config.name == name
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    assert config.seed is None and config.title != example["study"]["title"]
    info = tables["model_info"]
    # one row per outcome x analysis (antidepressant has two analyses of its one outcome)
    assert list(dict.fromkeys(info["outcome"])) == list(config.outcome_names)
    assert len(info) == len(config.outcome_analyses())
    assert (info["status"] == "fitted").all(), info[["outcome", "message"]]
    assert info["converged"].all()


# ---------------------------------------------------------------------------------------------
# Vickers et al. 2004, BMJ 328:744
# ---------------------------------------------------------------------------------------------
def test_vickers2004_twelve_month_scores(run):
    tables = run("vickers2004")
    obs = tables["observed_summary"].query("visit == 'm12'").set_index("arm")
    for arm, (mean, sd, n) in {"acupuncture": (16.2, 13.7, 161), "usual_care": (22.3, 17.0, 140)}.items():
        assert obs.loc[arm, "n"] == n
        assert obs.loc[arm, "mean"] == pytest.approx(mean, abs=rounding(1))
        assert obs.loc[arm, "sd"] == pytest.approx(sd, abs=rounding(1))
    # "34% reduction from baseline" / "16%": fall of the mean score relative to the mean baseline
    # score of the same participants.
    data = tables["data"].query("visit == 'm12'").dropna(subset=["headache_score"])
    by_arm = data.groupby("arm")
    reduction = -100 * by_arm["headache_score_change"].mean() / by_arm["headache_score_baseline"].mean()
    assert reduction["acupuncture"] == pytest.approx(34, abs=rounding(0))
    assert reduction["usual_care"] == pytest.approx(16, abs=rounding(0))


def test_vickers2004_primary_ancova(run):
    """Adjusted difference 4.6 (95% CI 2.2 to 7.0; P = 0.0002), usual care minus acupuncture."""
    tables = run("vickers2004")
    # the primary analysis is named ancova_m12 (analyses:, kind ancova), not hand-picked visits
    assert tables["config"].primary_analysis.name == "ancova_m12"
    assert "visits" not in tables["config"].raw["models"]
    info = tables["model_info"].query("analysis == 'ancova_m12'").iloc[0]
    assert info["kind"] == "ancova"
    assert info["visits"] == "m12" and info["n_obs"] == 301 and info["n_subjects"] == 301
    assert "baseline_headache_score" in info["formula"]
    contrasts = tables["contrasts"].query("analysis == 'ancova_m12'")
    assert contrasts["visit"].tolist() == ["m12"]
    row = contrasts.iloc[0]
    assert row["arm"] == "acupuncture" and row["reference"] == "usual_care"
    assert -row["estimate"] == pytest.approx(4.6, abs=rounding(1))
    assert -row["ci_high"] == pytest.approx(2.2, abs=rounding(1))
    assert -row["ci_low"] == pytest.approx(7.0, abs=rounding(1))
    # The published P agrees with the normal approximation of the t statistic at its rounding;
    # the t-based p on the model's 283 df is 0.00025, which rounds to 0.0003 (the one published
    # figure that sits just past a rounding boundary).
    normal_p = 2 * stats.norm.sf(abs(row["t"]))
    assert normal_p == pytest.approx(0.0002, abs=rounding(4))
    assert row["p"] < 0.0003


# ---------------------------------------------------------------------------------------------
# Ashar 2022 teaching wide file: the course notebook's MATLAB fitlme output
# ---------------------------------------------------------------------------------------------
def test_ashar2022_simple_wide_matches_the_notebook_fitlme(run):
    tables = run("ashar2022_simple_wide")
    info = tables["model_info"].iloc[0]
    assert (info["n_obs"], info["n_subjects"]) == (286, 151)
    assert info["loglik"] == pytest.approx(-466.19, abs=rounding(2))
    change = tables["change_contrasts"].set_index("arm")  # arm minus usual care, change to post
    usual_care_minus_prt = -change.loc["prt", "estimate"]
    placebo_minus_prt = change.loc["placebo", "estimate"] - change.loc["prt", "estimate"]
    assert usual_care_minus_prt == pytest.approx(2.0878, abs=rounding(4))
    assert change.loc["prt", "se"] == pytest.approx(0.25945, abs=rounding(5))
    assert placebo_minus_prt == pytest.approx(1.7695, abs=rounding(4))


# ---------------------------------------------------------------------------------------------
# mmrm fev_data: SAS PROC MIXED
# ---------------------------------------------------------------------------------------------
def test_fev_data_matches_sas(run):
    """The config gives the SAS fit; SAS's numbers and the tolerances (SAS stops at a slightly
    different REML optimum than a tight one, so estimates 1e-3, SEs 1e-3 relative, df within 1)
    are those of tests/test_models_reference_sas.py, which checks the engine itself."""
    from test_models_reference_sas import DF_ABS, EST_ABS, SAS_DIFFS, SAS_M2LL, SAS_VIS4_P, SE_REL

    tables = run("fev_data")
    info = tables["model_info"].iloc[0]
    assert (info["n_obs"], info["n_subjects"]) == (537, 197)
    assert -2 * info["loglik"] == pytest.approx(SAS_M2LL, abs=rounding(1))
    assert info["aic"] == pytest.approx(3406.4, abs=rounding(1))
    contrasts = tables["contrasts"].set_index("visit")
    for visit, (estimate, se, df, ci_low, ci_high) in SAS_DIFFS.items():
        row = contrasts.loc[visit.lower()]
        assert row["estimate"] == pytest.approx(estimate, abs=EST_ABS)
        assert row["se"] == pytest.approx(se, rel=SE_REL)
        assert row["df"] == pytest.approx(df, abs=DF_ABS)
        # est +- t(df) SE: SAS's 4 decimals plus the estimate, SE and df tolerances above
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci_low, ci_high), abs=5e-3)
    # printed to 4 decimals (5e-5) plus what the SE tolerance can move it (~7e-5)
    assert contrasts.loc["vis4", "p"] == pytest.approx(SAS_VIS4_P, abs=1.2e-4)


# ---------------------------------------------------------------------------------------------
# Claus 2020: the clinicalsignificance README's Jacobson-Truax example
# ---------------------------------------------------------------------------------------------
def test_claus2020_jacobson_truax_as_the_package_readme(run):
    # the config's reliable_change entry for bdi (reliability, norms, cut-off c) is the README's
    from prt_outcomes.analyse.reliable_change import reliable_change_table

    tables = run("claus2020")
    table = reliable_change_table(tables["data"], tables["config"])
    assert set(table["outcome"]) == {"bdi"} and list(pd.unique(table["visit"])) == ["t2", "t3", "t4"]
    at_t4 = table[table["visit"] == "t4"]
    counts = at_t4.groupby("category", sort=False)["n"].sum().to_dict()
    assert counts == {"recovered": 10, "improved": 8, "unchanged": 22, "deteriorated": 0}
    # both arms' participants are counted once: 40 with both scores, 3 without, 43 in all
    per_arm = at_t4.drop_duplicates("arm").set_index("arm")
    assert per_arm["n_used"].sum() == 40 and (per_arm["n_used"] + per_arm["n_missing"]).sum() == 43
    assert at_t4["cutoff_value"].iloc[0] == pytest.approx(21.02, abs=rounding(2))


# ---------------------------------------------------------------------------------------------
# Chow 2006 neck pain: no published numbers; the provenance file's own descriptive means
# ---------------------------------------------------------------------------------------------
def test_neck_pain_counts_and_provenance_means(run):
    tables = run("neck_pain")
    info = tables["model_info"].iloc[0]
    assert (info["n_obs"], info["n_subjects"]) == (264, 90)
    obs = tables["observed_summary"].set_index(["arm", "visit"])["mean"]
    computed = {"laser": (0.592, 0.277, 0.324), "sham": (0.404, 0.455, 0.429)}  # PROVENANCE.md
    for arm, means in computed.items():
        for visit, mean in zip(("baseline", "week7", "week12"), means):
            assert obs[(arm, visit)] == pytest.approx(mean, abs=rounding(3))


# ---------------------------------------------------------------------------------------------
# CHOIR pain registry, a clinic audit: no published numbers; the values tests/test_audit.py
# recomputes from the raw CSV (and base R, tests/references/audit/choir_reference.csv)
# ---------------------------------------------------------------------------------------------
def test_choir_registry_audit_tables_match_the_independent_recomputation(run):
    tables = run("choir_registry")
    assert tables["config"].is_audit
    # the reader drops the file's one blank line: 21,658 patients, all with a first-visit row
    summary = tables["checked"].summary.set_index("file").loc["total"]
    assert summary["rows_read"] == 21658 and summary["rows_quarantined"] == 0
    completion = tables["audit_completion"].set_index("group").loc["all"]
    assert (completion["eligible"], completion["assessed"]) == (21658, 7138)
    assert completion["percent"] == pytest.approx(100 * 7138 / 21658, rel=1e-12)
    change = tables["audit_change"].set_index("group").loc["all"]
    assert change["n"] == 7138
    # published to three decimals in tests/test_audit.py's header: the rounding of the last digit
    assert change["mean_change"] == pytest.approx(-0.338, abs=rounding(3))
    assert change["ci_low"] == pytest.approx(-0.382, abs=rounding(3))
    assert change["ci_high"] == pytest.approx(-0.293, abs=rounding(3))
    resp = tables["audit_responders"].set_index(["threshold", "denominator_basis"])
    assert tuple(resp.loc[("percent_reduction >= 30", "observed"), ["responders", "denominator"]]) == (
        1178,
        7135,
    )
    assert tuple(resp.loc[("reduction >= 2", "observed"), ["responders", "denominator"]]) == (1598, 7138)
    assert tuple(resp.loc[("reduction >= 2", "eligible"), ["responders", "denominator"]]) == (1598, 21658)
    attrition = tables["audit_attrition"].set_index(["variable", "level"])
    assert attrition.loc[("pain", ""), ["n_followed", "n_lost"]].tolist() == [7138, 21658 - 7138]
    assert set(attrition.index.get_level_values("variable")) == {"pain", "age", "sex", "bmi", "medicaid"}
    assert tables["audit_funnel"].empty  # one registry: no units to compare


# ---------------------------------------------------------------------------------------------
# Antidepressant trial (rbmi / DIA working group): the MMRM (SAS) and reference-based imputation
# ---------------------------------------------------------------------------------------------


def test_antidepressant_mmrm_matches_sas_and_the_sensitivity_analyses_rbmi(run):
    """PROVENANCE.md A (SAS PROC MIXED, 4 decimals) and B / rbmi's CondMean_Inference vignette (3
    decimals), as tests/test_sensitivity.py checks them on the API; here through the config. Our
    differences are DRUG - PLACEBO, the published ones PLACEBO - DRUG at visit 7."""
    tables = run("antidepressant")
    contrasts = tables["contrasts"]
    c = contrasts[contrasts["analysis"] == "sas_basval_by_visit"].set_index("visit").loc["v7"]
    assert c["estimate"] == pytest.approx(-2.8018, abs=rounding(4))
    assert c["se"] == pytest.approx(1.1163, abs=rounding(4))
    assert c["df"] == pytest.approx(150, abs=1)  # SAS prints 150 (KR), ours 150.10
    assert c["p"] == pytest.approx(0.0131, abs=rounding(4))
    s = tables["sensitivity"]
    diff = s[(s["visit"] == "v7") & (s["reference"] == "placebo")].set_index("strategy")
    assert set(diff["method"]) == {"conditional mean, jackknife"}
    assert set(diff["n_imputations"]) == {172}  # one leave-one-out sample per patient
    # conditional-mean MAR is the MMRM's difference (the ANCOVA of conditional means), so SAS's
    assert diff.loc["MAR", "estimate"] == pytest.approx(c["estimate"], abs=1e-6)
    # J2R: rbmi's vignette, printed to 3 decimals, plus the two REML optimisations' agreement
    assert -diff.loc["J2R", "estimate"] == pytest.approx(2.126, abs=rounding(3) + 1e-5)
    assert diff.loc["J2R", "se"] == pytest.approx(0.858, abs=rounding(3) + 1e-5)
    # the tipping point (MAR + delta in the DRUG arm): p crosses 0.05 between two grid points
    tp = tables["tipping_point"].query("visit == 'v7'").sort_values("delta")
    assert tp["estimate"].iloc[0] == pytest.approx(c["estimate"], abs=1e-6)
    steps = tp["estimate"].diff().dropna()
    assert steps.max() - steps.min() < 1e-9  # a delta shifts the ANCOVA estimate linearly
    crossed = (tp["p"] >= 0.05).to_numpy()
    assert not crossed[0] and crossed[-1]


# ---------------------------------------------------------------------------------------------
# clinic_example.yaml: synthetic, no published numbers; the simulator and the counts are checked
# ---------------------------------------------------------------------------------------------
def test_clinic_example_is_the_simulator_s_and_its_counts_reconcile(tmp_path):
    from prt_outcomes.simulate import write_clinic_example

    committed = REPO_ROOT / "data" / "clinic_example" / "clinic_long.csv"
    assert write_clinic_example(tmp_path).read_bytes() == committed.read_bytes()
    result = _run("clinic_example")
    checked = result["checked"]
    summary = checked.summary.set_index("file").loc["total"]
    assert summary["rows_read"] == summary["rows_filtered"] + summary["rows_in"]
    raw = pd.read_csv(committed)
    assert summary["rows_read"] == len(raw)
    # the windows recomputed from the file: days since each patient's earliest date
    day = (
        pd.to_datetime(raw["date"]) - pd.to_datetime(raw.groupby("participant_id")["date"].transform("min"))
    ).dt.days
    windows = {"first_visit": (0, 0), "month3": (60, 120), "month6": (150, 210)}
    seen = {
        v: raw.loc[day.between(lo, hi) & raw["pain"].notna(), "participant_id"].nunique()
        for v, (lo, hi) in windows.items()
    }
    assert (
        summary["rows_filtered"]
        == (~pd.concat([day.between(lo, hi) for lo, hi in windows.values()], axis=1).any(axis=1)).sum()
    )
    completion = result["audit_completion"]
    overall = completion[(completion["outcome"] == "pain") & (completion["group"] == "all")].set_index(
        "visit"
    )
    assert overall["eligible"].tolist() == [seen["first_visit"]] * 2
    assert overall.loc["month3", "assessed"] == seen["month3"]
    assert overall.loc["month6", "assessed"] == seen["month6"]
    # clinician c10 sees fewer than min_cell patients: its counts are blank
    c10 = completion[completion["group"] == "clinician=c10"]
    assert len(c10) and c10["eligible"].isna().all()
