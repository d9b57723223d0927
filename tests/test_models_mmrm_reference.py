"""``prt_outcomes.mmrm`` (formula interface) vs SAS PROC MIXED and vs lmerTest + emmeans.

A. SAS: the antidepressant trial, ../shared/data/rbmi_antidepressant (PROVENANCE.md section A,
   rbmi ``misc/antidepressant_analysis/results_SAS.pdf``)::

       MODEL change = basval*VISIT THERAPY*VISIT / DDFM=KR;
       REPEATED VISIT / TYPE=UN SUBJECT=PATIENT R;

   SAS's ``*`` is R's ``:`` and SAS adds an intercept, so X is [1, a cell indicator per
   THERAPY x VISIT, a basval slope per visit]: 13 columns of rank 12. R's coding rule gives that
   matrix for ``change ~ THERAPY:VISIT + basval:VISIT`` (the first term has no margins, so both
   factors get full indicators; the last cell is aliased with the intercept and dropped, as SAS
   does); ``VISIT + basval:VISIT + THERAPY:VISIT`` spans the same space with full rank.
   (``basval:VISIT + THERAPY:VISIT`` does not: R codes THERAPY there by contrasts, because
   VISIT is contained in the preceding ``basval:VISIT``; 9 columns, another model.)
   Tolerances: -2 REML LL 1e-4 absolute (SAS prints 3494.20285008; both are the same
   likelihood at the optimum, where it is flat to second order); UN estimates, LS means,
   differences and their KR standard errors 1e-4 absolute (SAS prints 4 decimals, so the
   rounding is 5e-5; the optimum agrees to ~1e-6 in the covariance parameters).
   KR df and KR F tests are helper hC's (inference.Inference.f_test): tested when present.

B. lme4 + lmerTest + emmeans, live fixture tests/references/models/formula/hA_lmer_reference.csv
   (script hA_make_reference.R there; versions hA_r_versions.txt) on sim2_two_arm_cs.csv:
   ``y ~ arm * visit + site + age * visit + (1 | participant_id)``, REML. Tolerances as
   test_models_reference_r.py states them: estimates and SEs 1e-6 relative (the same REML
   optimum; lme4 run with rhoend 1e-12, measured differences <= 1e-8), Satterthwaite df 1e-4
   relative (lmerTest's Hessian is numDeriv's, accurate to ~1e-6; measured <= 3e-8). The Type
   III F statistic does not depend on the df: 1e-6 relative.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prt_outcomes as po

REPO_ROOT = Path(__file__).resolve().parents[1]
AD = REPO_ROOT.parent / "shared" / "data" / "rbmi_antidepressant" / "antidepressant_chapter15.csv"
FORMULA_REF = REPO_ROOT / "tests" / "references" / "models" / "formula"
SIM2 = REPO_ROOT / "tests" / "references" / "models" / "sim2_two_arm_cs.csv"

# the module, not the function prt_outcomes.models.mmrm that the package exports under its name

# ---------------------------------------------------------------------- A. SAS PROC MIXED
SAS_M2LL = 3494.20285008
SAS_UN = {  # (row, col) 1-based in visit order 4, 5, 6, 7
    (1, 1): 19.6845,
    (2, 1): 16.5157,
    (2, 2): 34.2105,
    (3, 1): 15.3879,
    (3, 2): 25.4250,
    (3, 3): 38.4363,
    (4, 1): 16.3599,
    (4, 2): 26.1843,
    (4, 3): 33.8949,
    (4, 4): 45.2587,
}
SAS_LSMEANS = {  # (therapy, visit): (estimate, SE, df)
    ("DRUG", "4"): (-1.6051, 0.4865, 169),
    ("PLACEBO", "4"): (-1.6969, 0.4747, 169),
    ("DRUG", "5"): (-4.2200, 0.6579, 165),
    ("PLACEBO", "5"): (-2.8168, 0.6428, 165),
    ("DRUG", "6"): (-6.3663, 0.7101, 161),
    ("PLACEBO", "6"): (-4.1416, 0.6967, 162),
    ("DRUG", "7"): (-7.6239, 0.7914, 149),
    ("PLACEBO", "7"): (-4.8221, 0.7785, 151),
}
SAS_DIFFS = {  # visit: (estimate, SE, df, p)  DRUG - PLACEBO
    "4": (0.09181, 0.6826, 169, 0.8932),
    "5": (-1.4032, 0.9244, 165, 0.1309),
    "6": (-2.2247, 1.0008, 162, 0.0276),
    "7": (-2.8018, 1.1163, 150, 0.0131),
}
SAS_TYPE3 = {"basval:VISIT": (4, 153, 6.46), "THERAPY:VISIT": (7, 206, 1.99)}  # num_df, den_df, F


@pytest.fixture(scope="module")
def antidepressant():
    if not AD.exists():
        pytest.skip("../shared/data/rbmi_antidepressant not available")
    data = pd.read_csv(AD)
    return data.assign(VISIT=data["VISIT"].astype(str))


@pytest.fixture(scope="module")
def sas_fit(antidepressant):
    return po.mmrm(
        "change ~ THERAPY:VISIT + basval:VISIT + us(VISIT | PATIENT)",
        antidepressant,
        df_method="kenward_roger",
    )


@pytest.fixture(scope="module")
def sas_fit_full_rank(antidepressant):
    return po.mmrm(
        "change ~ VISIT + basval:VISIT + THERAPY:VISIT + us(VISIT | PATIENT)",
        antidepressant,
        df_method="kenward_roger",
    )


@pytest.mark.shared
def test_sas_fit_statistics(sas_fit, sas_fit_full_rank):
    assert sas_fit.n_obs == 608 and sas_fit.n_subjects == 172
    assert sas_fit.n_covariance_parameters == 10
    assert -2 * sas_fit.loglik == pytest.approx(SAS_M2LL, abs=1e-4)
    assert -2 * sas_fit_full_rank.loglik == pytest.approx(SAS_M2LL, abs=1e-4)
    assert sas_fit.aic == pytest.approx(3514.2, abs=0.05)  # SAS prints one decimal
    assert sas_fit.bic == pytest.approx(3545.7, abs=0.05)
    # exactly one aliased column, the last THERAPY x VISIT cell (SAS's zero in its solution)
    assert [t for t, a in zip(sas_fit.terms, sas_fit.aliased) if a] == ["THERAPY[PLACEBO]:VISIT[7]"]
    assert not sas_fit_full_rank.aliased.any()


@pytest.mark.shared
def test_sas_unstructured_covariance(sas_fit):
    V = sas_fit.covariance.to_numpy()
    assert list(sas_fit.covariance.index) == ["4", "5", "6", "7"]
    for (i, j), value in SAS_UN.items():
        assert V[i - 1, j - 1] == pytest.approx(value, abs=1e-4)


@pytest.mark.shared
@pytest.mark.parametrize("which", ["aliased", "full_rank"])
def test_sas_lsmeans_and_differences(which, sas_fit, sas_fit_full_rank):
    fit = sas_fit if which == "aliased" else sas_fit_full_rank
    em = fit.emmeans("THERAPY", by="VISIT")
    for _, row in em.iterrows():
        est, se, _df = SAS_LSMEANS[(row["THERAPY"], row["VISIT"])]
        assert row["estimate"] == pytest.approx(est, abs=1e-4)
        assert row["se"] == pytest.approx(se, abs=1e-4)  # KR-adjusted SE
    pairs = fit.pairs("THERAPY", by="VISIT")
    assert set(pairs["contrast"]) == {"DRUG - PLACEBO"}
    for _, row in pairs.iterrows():
        est, se, _df, _p = SAS_DIFFS[row["VISIT"]]
        assert row["estimate"] == pytest.approx(est, abs=1e-4)
        assert row["se"] == pytest.approx(se, abs=1e-4)


@pytest.mark.shared
def test_sas_type3_numerator_df(sas_fit):
    t3 = sas_fit.type3().set_index("term")
    assert t3.loc["VISIT:basval", "num_df"] == SAS_TYPE3["basval:VISIT"][0]
    assert t3.loc["THERAPY:VISIT", "num_df"] == SAS_TYPE3["THERAPY:VISIT"][0]


@pytest.mark.shared
def test_sas_kenward_roger_df_and_f(sas_fit):
    """SAS prints integer df and 2-decimal F: within 1 and 0.01."""
    for _, row in sas_fit.emmeans("THERAPY", by="VISIT").iterrows():
        assert row["df"] == pytest.approx(SAS_LSMEANS[(row["THERAPY"], row["VISIT"])][2], abs=1)
    for _, row in sas_fit.pairs("THERAPY", by="VISIT").iterrows():
        assert row["df"] == pytest.approx(SAS_DIFFS[row["VISIT"]][2], abs=1)
        assert row["p"] == pytest.approx(SAS_DIFFS[row["VISIT"]][3], abs=1e-4)
    t3 = sas_fit.type3().set_index("term")
    for ours, sas in (("VISIT:basval", "basval:VISIT"), ("THERAPY:VISIT", "THERAPY:VISIT")):
        _, den, F = SAS_TYPE3[sas]
        assert t3.loc[ours, "den_df"] == pytest.approx(den, abs=1)
        assert t3.loc[ours, "F"] == pytest.approx(F, abs=0.01)


# ---------------------------------------------------------------------- B. lmerTest / emmeans
RTOL, DF_RTOL = 1e-6, 1e-4
LMER_FORMULA = "y ~ arm * visit + site + age * visit + (1 | participant_id)"


@pytest.fixture(scope="module")
def lmer_ref():
    return pd.read_csv(FORMULA_REF / "hA_lmer_reference.csv")


@pytest.fixture(scope="module")
def ri_fit():
    return po.mmrm(LMER_FORMULA, pd.read_csv(SIM2), reference={"arm": "usual_care"})


def _ref(ref, quantity):
    out = ref[ref["quantity"] == quantity]
    assert len(out), quantity
    return out.reset_index(drop=True)


def _close(ours, theirs, rtol):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=rtol)


def test_lmer_coefficients(ri_fit, lmer_ref):
    ref = _ref(lmer_ref, "coef").set_index("name")
    ours = ri_fit.coefficients.assign(name=ri_fit.coefficients["term"].str.replace(r"[\[\]]", "", regex=True))
    ours = ours.set_index("name").loc[ref.index]
    _close(ours["estimate"], ref["estimate"], RTOL)
    _close(ours["se"], ref["se"], RTOL)
    _close(ours["df"], ref["df"], DF_RTOL)
    assert ri_fit.loglik == pytest.approx(_ref(lmer_ref, "loglik")["estimate"].iloc[0], abs=1e-6)


@pytest.mark.parametrize("weights", ["equal", "proportional"])
@pytest.mark.parametrize(
    "quantity, specs, by",
    [("emm_arm_by_visit", "arm", "visit"), ("emm_arm", "arm", None), ("emm_site_arm", ["site", "arm"], None)],
)
def test_emmeans(ri_fit, lmer_ref, quantity, specs, by, weights):
    ref = _ref(lmer_ref, f"{quantity}_{weights}")
    em = ri_fit.emmeans(specs, by=by, weights=weights)
    cols = [c for c in em.columns if c not in ("estimate", "se", "df", "ci_low", "ci_high")]
    assert list(em[cols].astype(str).agg(" ".join, axis=1)) == list(ref["name"])  # same rows, same order
    _close(em["estimate"], ref["estimate"], RTOL)
    _close(em["se"], ref["se"], RTOL)
    _close(em["df"], ref["df"], DF_RTOL)
    if ref["extra1"].notna().all():
        _close(em["ci_low"], ref["extra1"], 1e-5)  # t quantile at the df: error ~ df error / df^2
        _close(em["ci_high"], ref["extra2"], 1e-5)


@pytest.mark.parametrize(
    "quantity, specs, by", [("pairs_arm_by_visit", "arm", "visit"), ("pairs_site", "site", None)]
)
def test_pairs(ri_fit, lmer_ref, quantity, specs, by):
    ref = _ref(lmer_ref, quantity)
    pr = ri_fit.pairs(specs, by=by)
    names = pr["contrast"] if by is None else pr["contrast"] + " " + pr[by].astype(str)
    assert list(names) == list(ref["name"])
    _close(pr["estimate"], ref["estimate"], RTOL)
    _close(pr["se"], ref["se"], RTOL)
    _close(pr["df"], ref["df"], DF_RTOL)
    _close(pr["t"], ref["extra1"], RTOL)
    _close(pr["p"], ref["extra2"], 1e-4)


def test_type3_hypotheses(ri_fit, lmer_ref):
    """lmerTest's Type III contrasts (get_contrasts_type3): same numerator df and F."""
    ref = _ref(lmer_ref, "type3").set_index("name")
    t3 = ri_fit.type3().set_index("term").loc[ref.index]
    assert list(t3["num_df"]) == list(ref["extra1"].astype(int))
    _close(t3["F"], ref["estimate"], RTOL)


def test_type3_satterthwaite_df(ri_fit, lmer_ref):
    ref = _ref(lmer_ref, "type3").set_index("name")
    t3 = ri_fit.type3().set_index("term").loc[ref.index]
    _close(t3["den_df"], ref["df"], DF_RTOL)
    _close(t3["p"], ref["extra2"], 1e-4)


# Model 2: no margins (arm:visit with an intercept: full cell indicators, one aliased column that
# lme4 drops too), a numeric slope per visit, a factor covariate.
M2_FORMULA = "y ~ arm:visit + age:visit + site + (1 | participant_id)"


@pytest.fixture(scope="module")
def ri_fit2():
    return po.mmrm(M2_FORMULA, pd.read_csv(SIM2), reference={"arm": "usual_care"})


def test_lmer_aliased_model(ri_fit2, lmer_ref):
    ref = _ref(lmer_ref, "m2_coef").set_index("name")
    coef = ri_fit2.coefficients.assign(
        name=ri_fit2.coefficients["term"].str.replace(r"[\[\]]", "", regex=True)
    )
    coef = coef.set_index("name")
    assert [t for t in coef.index if t not in ref.index] == ["armprt:visitv4"]  # the one lme4 drops
    assert np.isnan(coef.loc["armprt:visitv4", "estimate"])
    ours = coef.loc[ref.index]
    _close(ours["estimate"], ref["estimate"], RTOL)
    _close(ours["se"], ref["se"], RTOL)
    _close(ours["df"], ref["df"], DF_RTOL)
    assert ri_fit2.loglik == pytest.approx(_ref(lmer_ref, "m2_loglik")["estimate"].iloc[0], abs=1e-6)
    for weights in ("equal", "proportional"):
        em = ri_fit2.emmeans("arm", by="visit", weights=weights)
        ref_em = _ref(lmer_ref, f"m2_emm_arm_by_visit_{weights}")
        assert list(em["arm"] + " " + em["visit"]) == list(ref_em["name"])
        _close(em["estimate"], ref_em["estimate"], RTOL)
        _close(em["se"], ref_em["se"], RTOL)
        _close(em["df"], ref_em["df"], DF_RTOL)
    ref_t3 = _ref(lmer_ref, "m2_type3").set_index("name")
    t3 = ri_fit2.type3().set_index("term").loc[ref_t3.index]
    assert list(t3["num_df"]) == list(ref_t3["extra1"].astype(int))  # arm:visit: 7, as SAS's 8 cells - 1
    _close(t3["F"], ref_t3["estimate"], RTOL)


@pytest.mark.r
def test_reference_regenerates(tmp_path, rscript):
    """The stored fixture is what the stored script computes (R live)."""
    subprocess.run(
        [rscript, str(FORMULA_REF / "hA_make_reference.R"), "--outdir", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    fresh = pd.read_csv(tmp_path / "hA_lmer_reference.csv")
    stored = pd.read_csv(FORMULA_REF / "hA_lmer_reference.csv")
    pd.testing.assert_frame_equal(fresh, stored, check_exact=False, rtol=1e-7)
    fresh_mm = pd.read_csv(tmp_path / "hA_model_matrix.csv")
    pd.testing.assert_frame_equal(fresh_mm, pd.read_csv(FORMULA_REF / "hA_model_matrix.csv"))
