"""Named analyses per outcome (issue 11 item 4): ``analyses:`` in the config, the kinds of
prt_outcomes.analyse.kinds, and the ``analysis`` column of the model tables.

References: the ANCOVA against statsmodels OLS (the same least-squares problem, so to 1e-10);
cLDA against nlme::gls (tests/references/analyses/clda_gls.R, stored output clda_gls.csv, and
run live when R is installed); the formula kind against fit_trial_model fitting the same model;
cLDA against ANCOVA in a complete balanced trial (close, not equal: see the test).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

from conftest import EXAMPLE_CONFIG, REPO_ROOT
from prt_outcomes.analyse.kinds import ANALYSIS_KINDS
from prt_outcomes.analyse.outcomes import (
    CONTRAST_COLUMNS,
    MARGINAL_MEANS_COLUMNS,
    MODEL_INFO_COLUMNS,
    analyse_outcome,
    analyse_outcomes,
    primary_rows,
)
from prt_outcomes.config import ConfigError, StudyConfig
from prt_outcomes.pipeline import derive
from prt_outcomes.simulate import simulate_trial

REFERENCES = REPO_ROOT / "tests" / "references" / "analyses"
EXAMPLE_DATA = REPO_ROOT / "data" / "example" / "outcomes_long.csv"


def _raw() -> dict:
    return yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def _config(analyses=None, **models) -> StudyConfig:
    raw = _raw()
    if analyses is not None:
        raw["analyses"] = analyses
    raw["models"].update(models)
    return StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)


@pytest.fixture(scope="module")
def data():
    return derive(simulate_trial(), _config())


# ----- config --------------------------------------------------------------------------------
def test_without_analyses_there_is_one_primary_mmrm_of_the_models_settings():
    config = _config()
    assert config.analysis_names == ("primary",)
    assert config.primary_analysis.kind == "mmrm" and config.primary_analysis.model == config.model
    assert config.outcome_analyses() == [(o, "primary") for o in config.outcome_names]


def test_entries_override_the_models_settings_and_may_be_restricted():
    config = _config(
        [
            {"name": "main", "kind": "ancova", "visit": "m12"},
            {"name": "ar", "kind": "mmrm", "covariance": "ar1", "covariates": ["age"]},
            {"name": "only_pain", "kind": "completers", "outcomes": ["pain_avg"]},
        ]
    )
    main, ar, only = config.all_analyses
    assert main.model.visits == ("m12",) and main.model.baseline_adjusted
    assert main.model.covariates == ("age", "sex")  # from models:
    assert ar.model.covariance == "ar1" and ar.model.covariates == ("age",)
    assert [a.name for a in config.analyses_of("odi")] == ["main", "ar"]
    assert ("pain_avg", "only_pain") in config.outcome_analyses()
    assert ("odi", "only_pain") not in config.outcome_analyses()


@pytest.mark.parametrize(
    "entries, match",
    [
        ([{"name": "a", "kind": "mmrm"}, {"name": "a", "kind": "clda"}], r"analyses"),
        ([{"name": "a", "kind": "mmrm", "outcomes": ["nope"]}], r"analyses/a.outcomes lists \['nope'\]"),
        ([{"name": "a", "kind": "ancova"}], r"analyses/a: kind 'ancova' needs 'visit:'"),
        ([{"name": "a", "kind": "ancova", "visit": "m99"}], r"analyses/a.visit is 'm99'"),
        ([{"name": "a", "kind": "ancova", "visit": "baseline"}], r"analyses/a.visit is 'baseline'"),
        ([{"name": "a", "kind": "mmrm", "visit": "m12"}], r"analyses/a: the key 'visit'"),
        ([{"name": "a", "kind": "ancova", "visit": "m12", "visits": ["m3"]}], r"the key 'visits'"),
        ([{"name": "a", "kind": "clda", "baseline_adjusted": True}], r"the key 'baseline_adjusted'"),
        ([{"name": "a", "kind": "mmrm", "visits": ["m99"]}], r"analyses/a.visits lists \['m99'\]"),
        ([{"name": "a", "kind": "mmrm", "covariates": ["bmi"]}], r"analyses/a.covariates lists"),
        ([{"name": "a", "kind": "clda", "vcov": "empirical", "df_method": "kenward_roger"}], r"vcov"),
        ([{"name": "a", "kind": "formula"}], r"kind 'formula' needs 'formula:'"),
        ([{"name": "a", "kind": "formula", "formula": "pain_avg"}], r"kind 'formula' needs"),
        (
            [{"name": "a", "kind": "mmrm", "method": "ml", "df_method": "kenward_roger"}],
            r"analyses/a: df_method",
        ),
    ],
)
def test_bad_entries_are_refused_naming_the_key(entries, match):
    with pytest.raises(ConfigError, match=match):
        _config(entries)


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "a", "kind": "bootstrap"},
        {"name": "Bad Name", "kind": "mmrm"},
        {"name": "a", "kind": "mmrm", "x": 1},
    ],
)
def test_the_schema_refuses_unknown_kinds_names_and_keys(entry):
    with pytest.raises(ConfigError):
        _config([entry])


def test_an_analysis_kind_needing_a_baseline_is_refused_without_one():
    raw = _raw()
    for v in raw["visits"]:
        v.pop("baseline", None)
    raw["analyses"] = [{"name": "a", "kind": "clda"}]
    with pytest.raises(ConfigError, match="needs a baseline visit"):
        StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)


# ----- tables ---------------------------------------------------------------------------------
def test_every_table_has_the_analysis_second_and_model_info_its_kind(data):
    config = _config([{"name": "primary", "kind": "mmrm"}, {"name": "clda", "kind": "clda"}])
    result = analyse_outcome(data, config, "pain_avg", "clda")
    for frame, columns in (
        (result.marginal_means, MARGINAL_MEANS_COLUMNS),
        (result.contrasts, CONTRAST_COLUMNS),
        (result.change_contrasts, CONTRAST_COLUMNS),
        (result.model_info, MODEL_INFO_COLUMNS),
    ):
        assert list(frame.columns) == columns and columns[:2] == ["outcome", "analysis"]
        assert set(frame["analysis"]) == {"clda"}
    assert result.model_info["kind"].tolist() == ["clda"]
    with pytest.raises(ValueError, match="no analysis named 'nope'"):
        analyse_outcome(data, config, "pain_avg", "nope")


def test_the_default_primary_is_the_engine_fit_with_an_analysis_column(data):
    from prt_outcomes.analyse.outcomes import _fit

    config = _config()
    result = analyse_outcome(data, config, "pain_avg")
    fit = _fit(data, config, "pain_avg")
    got = result.contrasts.drop(columns=["outcome", "analysis"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, fit.contrasts.reset_index(drop=True), check_dtype=False)
    assert (result.contrasts["analysis"] == "primary").all()


def test_primary_rows_keep_each_outcomes_first_analysis(data):
    config = _config(
        [
            {"name": "main", "kind": "ancova", "visit": "m12", "outcomes": ["pain_avg"]},
            {"name": "mmrm", "kind": "mmrm", "outcomes": ["pain_avg", "odi"]},
        ]
    )
    frames = [r.contrasts for r in analyse_outcomes(data, config)]
    stacked = pd.concat(frames, ignore_index=True)
    kept = primary_rows(stacked, config)
    assert set(zip(kept["outcome"], kept["analysis"])) == {("pain_avg", "main"), ("odi", "mmrm")}


# ----- ancova -------------------------------------------------------------------------------
def test_ancova_is_ols_of_the_visit_on_arm_baseline_and_covariates(data):
    config = _config([{"name": "ancova_m12", "kind": "ancova", "visit": "m12"}])
    result = analyse_outcome(data, config, "pain_avg")
    assert result.fitted and result.model_info["visits"].iloc[0] == "m12"
    rows = data[(data["visit"] == "m12")].dropna(subset=["pain_avg", "pain_avg_baseline", "age", "sex"])
    ols = smf.ols(
        "pain_avg ~ C(arm, Treatment('usual_care')) + pain_avg_baseline + age + C(sex)",
        rows.astype({"arm": str, "sex": str}),
    ).fit()
    assert result.model_info["n_obs"].iloc[0] == len(rows)
    for arm in ("prt", "placebo"):
        term = f"C(arm, Treatment('usual_care'))[T.{arm}]"
        row = result.contrasts.set_index("arm").loc[arm]
        # the same least-squares problem: the estimate does not depend on the variance
        assert row["estimate"] == pytest.approx(ols.params[term], abs=1e-10)
        # REML's one variance is RSS / (n - p), found by the optimizer: to its tolerance
        assert row["se"] == pytest.approx(ols.bse[term], rel=1e-6)
        # Satterthwaite's df for one variance is n - p (numerically, to 1e-4)
        assert row["df"] == pytest.approx(ols.df_resid, abs=1e-4)


# ----- completers ----------------------------------------------------------------------------
def test_completers_is_the_primary_on_participants_seen_at_every_visit(data):
    from prt_outcomes.analyse.outcomes import _fit

    config = _config([{"name": "primary", "kind": "mmrm"}, {"name": "completers", "kind": "completers"}])
    result = analyse_outcome(data, config, "pain_avg", "completers")
    seen = data[data["pain_avg"].notna()].groupby("participant_id")["visit"].nunique()
    complete = seen.index[seen == len(config.visit_names)]
    assert result.model_info["n_subjects"].iloc[0] == len(complete) < data["participant_id"].nunique()
    message = result.model_info["message"].iloc[0]
    left = data["participant_id"].nunique() - len(complete)
    assert f"{len(complete)} of {data['participant_id'].nunique()} participants" in message
    assert f"; {left} participants with" in message
    fit = _fit(data[data["participant_id"].isin(complete)], config, "pain_avg")
    np.testing.assert_allclose(result.contrasts["estimate"], fit.contrasts["estimate"], rtol=0, atol=0)


# ----- clda -----------------------------------------------------------------------------------
def _clda_example():
    config = _config([{"name": "clda", "kind": "clda", "visits": ["m3", "m12"]}])
    from prt_outcomes.validate.checks import load_and_validate

    data = derive(load_and_validate(config).clean, config)
    return analyse_outcome(data, config, "pain_avg", "clda")


def _compare_clda(result, ref: pd.DataFrame):
    ref = ref.set_index("term")
    con = result.contrasts.set_index(["arm", "visit"])
    # Both fits find the REML optimum numerically (nlme's and the engine's optimizers), so the
    # covariance parameters agree to ~1e-6 relative; estimates and SEs follow to 1e-5.
    for arm in ("prt", "placebo"):
        for visit in ("m3", "m12"):
            assert con.loc[(arm, visit), "estimate"] == pytest.approx(
                ref.loc[f"t_{arm}_{visit}", "estimate"], abs=1e-5
            )
            assert con.loc[(arm, visit), "se"] == pytest.approx(ref.loc[f"t_{arm}_{visit}", "se"], rel=1e-5)
    assert result.model_info["loglik"].iloc[0] == pytest.approx(ref.loc["loglik", "estimate"], abs=1e-5)


def test_clda_matches_the_stored_nlme_gls_fit():
    result = _clda_example()
    assert result.fitted and result.model_info["visits"].iloc[0] == "baseline m3 m12"
    _compare_clda(result, pd.read_csv(REFERENCES / "clda_gls.csv"))
    means = result.marginal_means
    base = means[means["visit"] == "baseline"]
    # one baseline mean for every arm (the constraint), and at follow-up arm minus reference
    # equals the contrast
    assert base["estimate"].nunique() == 1 and len(base) == 3
    m = means.set_index(["arm", "visit"])["estimate"]
    con = result.contrasts.set_index(["arm", "visit"])["estimate"]
    assert m[("prt", "m12")] - m[("usual_care", "m12")] == pytest.approx(con[("prt", "m12")], abs=1e-10)
    pd.testing.assert_frame_equal(result.change_contrasts, result.contrasts)


@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_clda_matches_a_live_nlme_gls_fit(tmp_path):
    out = tmp_path / "clda.csv"
    done = subprocess.run(
        ["Rscript", str(REFERENCES / "clda_gls.R"), str(EXAMPLE_DATA), str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 and "there is no package called" in done.stderr:
        pytest.skip("R package nlme is not installed")
    assert done.returncode == 0, done.stderr
    _compare_clda(_clda_example(), pd.read_csv(out))


def _balanced_trial(n_per_arm=200, seed=3):
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    ids = [f"P{i:04d}" for i in range(n)]
    arm = np.repeat(["prt", "usual_care"], n_per_arm)
    base = rng.normal(5, 1.5, n)
    follow = 1.5 + 0.6 * base - 1.0 * (arm == "prt") + rng.normal(0, 1.2, n)
    return pd.DataFrame(
        {
            "participant_id": np.repeat(ids, 2),
            "arm": np.repeat(arm, 2),
            "visit": np.tile(["baseline", "m12"], n),
            "pain_avg": np.column_stack([base, follow]).ravel(),
        }
    )


def test_clda_is_close_to_ancova_in_a_complete_balanced_trial():
    """In complete data cLDA's effect is the follow-up difference minus slope x baseline
    difference, the slope from the pooled covariance; ANCOVA's slope is the within-arm one. They
    differ by (pooled - within slope) x (baseline difference), small when the arms are balanced
    at baseline (Liu et al. 2009): close, not equal."""
    raw = _raw()
    raw["arms"] = {"reference": "usual_care", "levels": [{"name": "prt"}, {"name": "usual_care"}]}
    raw["visits"] = [{"name": "baseline", "day": 0, "baseline": True}, {"name": "m12", "day": 365}]
    raw["covariates"] = []
    raw["models"] = {"covariates": []}
    raw["thresholds"] = []
    raw["outcomes"] = raw["outcomes"][:1]
    raw["analyses"] = [{"name": "ancova", "kind": "ancova", "visit": "m12"}, {"name": "clda", "kind": "clda"}]
    config = StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)
    data = derive(_balanced_trial(), config)
    ancova = analyse_outcome(data, config, "pain_avg", "ancova").contrasts.iloc[0]
    clda = analyse_outcome(data, config, "pain_avg", "clda").contrasts.iloc[0]
    assert clda["estimate"] != ancova["estimate"]
    assert abs(clda["estimate"] - ancova["estimate"]) < 0.05 * ancova["se"]
    assert clda["se"] == pytest.approx(ancova["se"], rel=0.02)


# ----- formula ---------------------------------------------------------------------------------
def test_a_formula_of_the_trial_model_reproduces_the_primary(data):
    formula = "{outcome} ~ arm * visit + age + sex + us(visit | participant_id)"
    config = _config(
        [{"name": "primary", "kind": "mmrm"}, {"name": "custom", "kind": "formula", "formula": formula}]
    )
    primary = analyse_outcome(data, config, "pain_avg")
    custom = analyse_outcome(data, config, "pain_avg", "custom")
    assert custom.model_info["formula"].iloc[0].startswith("pain_avg ~ arm * visit")
    # the same model through two front ends: equal to the optimizer's tolerance
    cols = ["estimate", "se", "ci_low", "ci_high", "hedges_g"]
    np.testing.assert_allclose(custom.contrasts[cols], primary.contrasts[cols], rtol=1e-5, atol=1e-6)
    keys = ["visit", "arm", "reference"]
    assert (
        custom.contrasts[keys].astype(str).values.tolist()
        == primary.contrasts[keys].astype(str).values.tolist()
    )
    np.testing.assert_allclose(
        custom.marginal_means[["estimate", "se"]],
        primary.marginal_means[["estimate", "se"]],
        rtol=1e-5,
        atol=1e-6,
    )
    assert custom.marginal_means["n_observed"].tolist() == primary.marginal_means["n_observed"].tolist()
    assert custom.change_contrasts.empty and "no change-from-baseline" in custom.model_info["message"].iloc[0]


def test_a_formula_without_visit_or_arm_writes_what_it_can_and_says_so(data):
    config = _config(
        [
            {"name": "primary", "kind": "mmrm"},
            {
                "name": "no_visit",
                "kind": "formula",
                "formula": "{outcome} ~ arm + age + us(visit | participant_id)",
            },
            {
                "name": "no_arm",
                "kind": "formula",
                "formula": "{outcome} ~ visit + age + us(visit | participant_id)",
            },
        ]
    )
    no_visit = analyse_outcome(data, config, "pain_avg", "no_visit")
    assert no_visit.fitted and len(no_visit.contrasts) == 2 and no_visit.contrasts["visit"].isna().all()
    assert "no visit factor" in no_visit.model_info["message"].iloc[0]
    no_arm = analyse_outcome(data, config, "pain_avg", "no_arm")
    assert no_arm.fitted and no_arm.contrasts.empty and len(no_arm.marginal_means) == len(config.visit_names)
    assert "no arm factor" in no_arm.model_info["message"].iloc[0]


def test_a_formula_the_engine_refuses_is_a_failed_analysis_row(data):
    config = _config(
        [
            {"name": "primary", "kind": "mmrm"},
            {"name": "bad", "kind": "formula", "formula": "{outcome} ~ arm + nope"},
        ]
    )
    result = analyse_outcome(data, config, "pain_avg", "bad")
    assert not result.fitted and result.contrasts.empty
    assert result.model_info["status"].iloc[0] == "failed" and result.model_info["message"].iloc[0]


def test_every_kind_is_described():
    assert list(ANALYSIS_KINDS) == ["mmrm", "ancova", "clda", "completers", "formula"]
    readme = (REPO_ROOT / "config" / "README.md").read_text(encoding="utf-8")
    for name, kind in ANALYSIS_KINDS.items():
        assert kind.description and kind.fits
        assert f"| `{name}` |" in readme


def test_config_copies_are_independent():
    # analyses: entries are read, not mutated (the raw mapping goes into the manifest)
    raw = _raw()
    raw["analyses"] = [{"name": "a", "kind": "ancova", "visit": "m12"}]
    before = copy.deepcopy(raw["analyses"])
    StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)
    assert raw["analyses"] == before


def test_the_report_shows_the_other_analyses_in_one_compact_table(data):
    from prt_outcomes.render.report import _sensitivity_html

    config = _config(
        [
            {"name": "primary", "kind": "mmrm"},
            {"name": "ancova_m12", "kind": "ancova", "visit": "m12"},
            {"name": "clda", "kind": "clda", "outcomes": ["odi"]},
        ]
    )
    results = analyse_outcomes(data, config)
    contrasts = pd.concat([r.contrasts for r in results], ignore_index=True)
    html = _sensitivity_html(contrasts, config, "pain_avg")
    assert "Sensitivity analyses" in html and "ancova_m12 (ancova)" in html and "clda" not in html
    row = contrasts.query("outcome == 'pain_avg' and analysis == 'ancova_m12' and arm == 'prt'").iloc[0]
    from prt_outcomes.render.tables import format_number, outcome_decimals

    d = outcome_decimals(config, "pain_avg")
    est, lo, hi = (format_number(row[c], d) for c in ("estimate", "ci_low", "ci_high"))
    # the cell as text (the writer keeps the interval in a span that does not break)
    text = re.sub(r"<[^>]+>", "", html).replace("&minus;", "\N{MINUS SIGN}")
    assert f"{est} ({lo} to {hi})".replace("-", "\N{MINUS SIGN}") in text
    assert "primary (mmrm)" not in html.split("Primary analysis")[0]
    assert _sensitivity_html(primary_rows(contrasts, config), config, "pain_avg") == ""


def test_the_journal_table_shows_the_primary_analysis(data):
    from prt_outcomes.describe import observed_summary
    from prt_outcomes.render.tables import outcome_journal_table

    config = _config([{"name": "primary", "kind": "mmrm"}, {"name": "clda", "kind": "clda"}])
    results = analyse_outcomes(data, config)
    mm = pd.concat([r.marginal_means for r in results], ignore_index=True)
    con = pd.concat([r.contrasts for r in results], ignore_index=True)
    obs = observed_summary(data, config)
    both = outcome_journal_table("pain_avg", obs, mm, con, config)
    only = outcome_journal_table("pain_avg", obs, primary_rows(mm, config), primary_rows(con, config), config)
    pd.testing.assert_frame_equal(both, only)
