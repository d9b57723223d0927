"""Trial-model engine on the public Ashar et al. 2022 (JAMA Psychiatry) back-pain data.

Data: ../shared/data/ashar2022_prt_backpain/Ashar2022_outcomes_demographics.csv (skipped when
absent; never copied).  Analysis rows, built identically here (refcompare.ashar_frame) and in
tests/references/models/make_r_reference.R: is_patient == 1 with a group (151 participants,
286 rows), time 1 -> "pre", 2 -> "post"; group 1 -> prt (reference arm), 2 -> placebo,
3 -> usual_care.

Gender coding: gender 1 -> "male", 2 -> "female", passed as a string column, i.e. a factor
(reference "female").  Marginal means then average the two sexes with equal weight (emmeans
default); with gender numeric 1/2 they would be evaluated at the mean code instead.  Contrasts
and change contrasts do not depend on the choice (no gender interaction) -- checked below.

References:
1. bpi_intensity, unstructured (2 visits: saturated covariance): course notebook's MATLAB fitlme
   output (PROVENANCE.md section B): time:group_2 1.7695 (SE 0.2628), time:group_3 2.0878
   (0.25945), logLik -466.19 -- these are the differences in change from pre to post vs PRT.
2. pain_avg ~ group*time + age + gender + (1|id): stored lme4/lmerTest/emmeans fixture
   (ref_ashar_pain_avg.csv), compared tightly, and the paper's text: PRT reduced pain by 1.79
   relative to placebo (t(137.63) = 6.06) and by 2.40 relative to usual care (t(135.69) = 8.13).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from conftest import load_refcompare

REPO_ROOT = Path(__file__).resolve().parents[1]
REF_DIR = REPO_ROOT / "tests" / "references" / "models"
ASHAR = (
    REPO_ROOT.parent / "shared" / "data" / "ashar2022_prt_backpain" / "Ashar2022_outcomes_demographics.csv"
)

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not ASHAR.exists(), reason="../shared/data/ashar2022_prt_backpain not available"),
]

rc = load_refcompare()

ARMS = ["prt", "placebo", "usual_care"]
VISITS = ["pre", "post"]
RTOL = 1e-5
DF_RTOL = 1e-2


@functools.lru_cache(maxsize=None)
def _fit(outcome: str, covariance: str, covariates: tuple = (), gender_numeric: bool = False):
    from prt_outcomes.models import fit_trial_model

    d = rc.ashar_frame(outcome)
    if gender_numeric:
        d = d.assign(gender=d["gender"].map({"male": 1.0, "female": 2.0}))
    return fit_trial_model(
        d,
        outcome=outcome,
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=covariates,
        covariance=covariance,
        reference_arm="prt",
        arm_levels=ARMS,
        visit_levels=VISITS,
        baseline_visit="pre",
    )


def _pain(covariance="random_intercept", gender_numeric=False):
    return _fit("pain_avg", covariance, ("age", "gender"), gender_numeric)


def test_analysis_rows():
    d = rc.ashar_frame("pain_avg")
    assert len(d) == 286 and d["participant_id"].nunique() == 151
    assert d.groupby("arm")["participant_id"].nunique().to_dict() == {
        "placebo": 51,
        "prt": 50,
        "usual_care": 50,
    }
    post = d[d["visit"] == "post"].groupby("arm")["pain_avg"].mean().round(2).to_dict()
    assert post == {"prt": 1.18, "placebo": 2.84, "usual_care": 3.13}  # paper Table 2


# ------------------------------------------------------------------ bpi_intensity vs MATLAB


MATLAB_CHANGE = {"placebo": (1.7695, 0.2628), "usual_care": (2.0878, 0.25945)}


def test_bpi_intensity_change_vs_matlab():
    """MATLAB prints 4-5 significant digits: 1e-3 absolute on estimates and SEs."""
    fit = _fit("bpi_intensity", "unstructured")
    cc = fit.change_contrasts.assign(arm=lambda t: t["arm"].astype(str)).set_index("arm")
    assert set(cc["visit"].astype(str)) == {"post"}
    for arm, (est, se) in MATLAB_CHANGE.items():
        assert abs(cc.loc[arm, "estimate"] - est) <= 1e-3, (arm, cc.loc[arm, "estimate"])
        assert abs(cc.loc[arm, "se"] - se) <= 1e-3, (arm, cc.loc[arm, "se"])
    assert abs(fit.loglik - (-466.19)) <= 0.005 + 1e-6, fit.loglik
    assert fit.n_obs == 286 and fit.n_subjects == 151


def test_bpi_intensity_vs_r_fixture():
    fit = _fit("bpi_intensity", "unstructured")
    ref = rc.reference("ashar_bpi_intensity")
    for quantity, table, keys in [
        ("marginal_mean", fit.marginal_means, ["arm", "visit"]),
        ("contrast", fit.contrasts, ["arm", "reference", "visit"]),
        ("change_contrast", fit.change_contrasts, ["arm", "reference", "visit"]),
    ]:
        m = rc.align(table, rc.ref_table(ref, "gls_un_reml", quantity), keys)
        rc.check_close(m, "estimate", RTOL, scale=1.0, label=quantity)
        rc.check_close(m, "se", RTOL, label=quantity)
        rc.check_close(m, "df", DF_RTOL, label=quantity)


# ------------------------------------------------------------------ pain_avg vs lme4 (tight)


@pytest.mark.parametrize(
    "model,covariance", [("lmer_ri_reml", "random_intercept"), ("gls_un_reml", "unstructured")]
)
def test_pain_avg_vs_r_fixture(model, covariance):
    fit = _pain(covariance)
    ref = rc.reference("ashar_pain_avg")
    for quantity, table, keys in [
        ("marginal_mean", fit.marginal_means, ["arm", "visit"]),
        ("contrast", fit.contrasts, ["arm", "reference", "visit"]),
        ("change_contrast", fit.change_contrasts, ["arm", "reference", "visit"]),
    ]:
        m = rc.align(table, rc.ref_table(ref, model, quantity), keys)
        rc.check_close(m, "estimate", RTOL, scale=1.0, label=f"{model} {quantity}")
        rc.check_close(m, "se", RTOL, label=f"{model} {quantity}")
        rc.check_close(m, "df", DF_RTOL, label=f"{model} {quantity}")
    coefs = rc.ref_table(ref, model, "coefficient")
    factors = {"arm": ARMS, "visit": VISITS, "gender": ["female", "male"]}
    coefs["term"] = [rc.r_term_to_engine(t, factors) for t in coefs["term"]]
    m = rc.align(fit.coefficients, coefs, ["term"])
    rc.check_close(m, "estimate", RTOL, scale=1.0, label=f"{model} coefficients")
    rc.check_close(m, "se", RTOL, label=f"{model} coefficients")
    rc.check_close(m, "df", DF_RTOL, label=f"{model} coefficients")
    ll = rc.ref_scalar(ref, model, "loglik")
    assert ll - 1e-6 <= fit.loglik <= ll + 1e-3


def test_gender_coding_changes_means_not_contrasts():
    as_factor = _pain()
    as_numeric = _pain(gender_numeric=True)
    for attr in ("contrasts", "change_contrasts"):
        a, b = getattr(as_factor, attr), getattr(as_numeric, attr)
        np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(a["se"], b["se"], rtol=1e-6)
    diff = np.abs(
        as_factor.marginal_means["estimate"].to_numpy() - as_numeric.marginal_means["estimate"].to_numpy()
    )
    # the means do move: factor = equal weights, numeric = mean code (53.1 % female rows)
    assert diff.max() > 1e-4


# ------------------------------------------------------------------ pain_avg vs the paper

# The paper reports the group x time effects of its fitlme model (random intercept, age and sex).
# They are the difference in change from baseline, i.e. `change_contrasts`, not the post-treatment
# contrasts: our change contrasts reproduce the paper's t and df to every printed digit
# (placebo 1.7894, SE 0.29530, df 137.630, t 6.060; usual care 2.3736, SE 0.29181, df 135.686,
# t 8.134), whereas the post-treatment contrasts are 1.672 and 2.043.
#
# Tolerances: rounding of the printed value (half a unit in the last digit) plus 1e-3 for the
# engine-vs-lme4 df agreement.  One exception, documented: the paper's text gives 2.40 for usual
# care, but its own t(135.69) = 8.13, together with the SE implied by that df and our model
# (0.2918), means 2.372-2.375; 2.40 / 8.13 = 0.2952 is the placebo comparison's SE.  We reproduce
# the published t and df exactly, so the 0.026 gap on that one estimate is an inconsistency in the
# paper's text, not a data difference; it is checked at 0.03.  (The baseline explanation does not
# apply to this model: the public file's `time == 1` pain_avg is one session, whole numbers 1-7
# with arm means 3.94 / 3.80 / 3.60, while the paper's descriptive baseline, 4.22 / 4.16 / 3.91,
# averages two prerandomization sessions.  Since t and df match to 5 significant digits, the
# paper's mixed model used the same single pre-treatment session as the file; the two-session
# average affects only the descriptive baseline and baseline-relative responder rates.)

PAPER = {  # arm: (estimate, estimate tolerance, t, df)
    "placebo": (1.79, 0.005, 6.06, 137.63),
    "usual_care": (2.40, 0.03, 8.13, 135.69),
}


def test_pain_avg_vs_paper(capsys):
    fit = _pain()
    cc = fit.change_contrasts.assign(arm=lambda t: t["arm"].astype(str)).set_index("arm")
    post = fit.contrasts.assign(arm=lambda t: t["arm"].astype(str), visit=lambda t: t["visit"].astype(str))
    post = post[post["visit"] == "post"].set_index("arm")
    lines = [
        "arm          paper(est, t, df)          change contrast (est, t, df)      post contrast (est, t)"
    ]
    for arm, (est, tol, t, df) in PAPER.items():
        row = cc.loc[arm]
        t_ours = row["estimate"] / row["se"]
        lines.append(
            f"{arm:11s}  {est:5.2f} {t:5.2f} {df:7.2f}        "
            f"{row['estimate']:7.4f} {t_ours:6.3f} {row['df']:8.3f}"
            f"        {post.loc[arm, 'estimate']:7.4f} {post.loc[arm, 'estimate'] / post.loc[arm, 'se']:6.3f}"
        )
        assert abs(row["estimate"] - est) <= tol, (arm, row["estimate"], est)
        assert abs(t_ours - t) <= 0.005 + 1e-3, (arm, t_ours, t)
        assert abs(row["df"] - df) <= 0.005 + 1e-3, (arm, row["df"], df)
        assert abs(row["t"] - t_ours) <= 1e-9 * abs(t_ours)
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# ------------------------------------------------------------------ Hedges g: which SD
# The paper's g (PRT vs placebo -1.14, vs usual care -1.75; prt_trials.md, addendum) is reproduced
# by the change contrast divided by the pooled SD of the observed change from baseline (the
# `change_sd` standardizer), not by the pooled baseline SD (which gives 1.15 and 1.60) nor by the
# post-treatment SD. Signs: the reference arm here is PRT, so placebo - PRT is +. Tolerance 0.04:
# the paper's change scores start from the average of two prerandomization sessions, the public
# file holds one, so its SD of change differs a little (the estimate itself is the paper's: t and
# df match above); the alternatives miss by 0.15 (baseline SD, usual care).
PAPER_G = {"placebo": 1.14, "usual_care": 1.75}


def test_hedges_g_convention_that_reproduces_the_paper():
    from prt_outcomes.models import fit_trial_model

    d = rc.ashar_frame("pain_avg")
    common = dict(
        outcome="pain_avg",
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=("age", "gender"),
        covariance="random_intercept",
        reference_arm="prt",
        arm_levels=ARMS,
        visit_levels=VISITS,
        baseline_visit="pre",
    )
    by_change = fit_trial_model(d, **common, standardizer="change_sd").change_contrasts.set_index("arm")
    by_baseline = fit_trial_model(d, **common, standardizer="baseline_sd").change_contrasts.set_index("arm")
    assert set(by_change["hedges_g_sd"]) == {"change_sd"}
    for arm, g in PAPER_G.items():
        assert by_change.loc[arm, "hedges_g"] == pytest.approx(g, abs=0.04)
    assert abs(by_baseline.loc["usual_care", "hedges_g"] - PAPER_G["usual_care"]) > 0.1
