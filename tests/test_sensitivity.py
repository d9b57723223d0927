"""prt_outcomes.analyse.sensitivity against published results and hand computations.

References (tests/references/sensitivity/README.md, published.csv), all on the antidepressant
trial (../shared/data/rbmi_antidepressant, PROVENANCE.md):

* rbmi's vignette CondMean_Inference (section 3.4): conditional mean imputation, jackknife, JR,
  printed to 3 decimals. Deterministic, so the tight reference: ``|ours - rbmi| <= 0.0005``
  (half a unit of the last printed digit) plus 1e-5 for the two REML optimisations (each
  converged to ~1e-7 relative in the covariance parameters; estimates move by far less).
* SAS five macros (PROVENANCE.md section B): Bayesian MI, a Monte-Carlo result with its MCSE.
  Conditional mean imputation is the expectation of the imputations at the REML estimates, MI
  averages over the posterior of the parameters: the two differ by Monte-Carlo error and a
  method difference (the estimate is linear in the mean parameters, so the difference comes from
  the covariance's posterior spread and the posterior mean vs. REML point: O(1/n) of a
  regression coefficient of order 0.5, i.e. a few thousandths at n = 172). Tolerance:
  ``3 x MCSE + 0.005``, MCSE = the visit-7 one SAS prints (visit 7 has the most missing data,
  so it bounds the other visits'). The standard errors are compared only for MAR: under JR / CR /
  CIR the jackknife estimates the frequentist variance, Rubin's rules the (larger)
  information-anchored one (rbmi vignette CondMean_Inference, section 1).
* Approximate Bayesian MI (M = 100, fixed seed) against SAS: estimate within 3 combined MC SEs
  (ours ``sd/sqrt(M)`` and SAS's) plus the same 0.005; standard error within 3 of its MC SE; df
  within 3 of its MC SE (both from the between-imputation variance, see the test).
* Identity (exact in exact arithmetic): under MAR the ANCOVA on conditional-mean-imputed data
  reproduces the MMRM's treatment difference at every visit when the ANCOVA regressors are the
  imputation model's per-visit regressors. Proof: at the GLS estimate for any covariance,
  ``sum_i X_i' S^-1 (yhat_i - X_i b) = sum_i X_io' S_oo^-1 (y_io - X_io b) = 0`` (the completed
  residual's missing part is ``S_mo S_oo^-1`` times the observed part), so ``b`` is also the GLS
  estimate on the completed data, and GLS with the same regressors at every visit is OLS visit
  by visit. The jackknife leave-one-out estimates are then MMRM fits too: a hand jackknife.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import prt_outcomes as po
from prt_outcomes.analyse.sensitivity import (
    SENSITIVITY_COLUMNS,
    TIPPING_POINT_COLUMNS,
    sensitivity_analysis,
    tipping_point,
)
from prt_outcomes.errors import ModelError
from prt_outcomes.stats.imputation import first_crossing, pool_bootstrap

REF = Path(__file__).parent / "references" / "sensitivity" / "published.csv"
AD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rbmi_antidepressant"
AD_CSV = AD / "antidepressant_chapter15.csv"
AD_KW = dict(
    outcome="change",
    arm="THERAPY",
    visit="VISIT",
    subject="PATIENT",
    baseline="basval",
    reference_arm="PLACEBO",
    visits=[4, 5, 6, 7],
)
#: Printed to 3 decimals (half a unit) plus the two REML optimisations' agreement.
RBMI_PRINTED = 0.0005 + 1e-5
#: Conditional mean vs. Bayesian MI beyond Monte-Carlo error (module docstring).
METHOD_DIFFERENCE = 0.005


@pytest.fixture(scope="module")
def ad():
    if not AD_CSV.exists():
        pytest.skip("../shared/data/rbmi_antidepressant not available")
    return pd.read_csv(AD_CSV)


@pytest.fixture(scope="module")
def published():
    return pd.read_csv(REF)


_CACHE: dict = {}


def _condmean(ad, strategy):
    if strategy not in _CACHE:
        _CACHE[strategy] = sensitivity_analysis(ad, strategy=strategy, method="conditional_mean", **AD_KW)
    return _CACHE[strategy]


def _difference(result, visit):
    """PLACEBO - DRUG (the published sign) at a visit: minus ours (DRUG - PLACEBO)."""
    row = result.table.query("reference == 'PLACEBO' and visit == @visit").iloc[0]
    return -row["estimate"], row


# --------------------------------------------------------------------------------------------
# Conditional mean imputation, jackknife: rbmi's vignette (tight) and the MAR identity
# --------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_condmean_jackknife_jr_matches_rbmi_vignette(ad, published):
    res = _condmean(ad, "JR")
    ref = published[published["source"] == "rbmi_condmean_jackknife"]
    worst = 0.0
    for _, r in ref.iterrows():
        if r["parameter"] == "PLACEBO - DRUG":
            est, row = _difference(res, r["visit"])
        else:
            row = res.table.query("arm == @r.parameter and reference == '' and visit == @r.visit").iloc[0]
            est = row["estimate"]
        worst = max(worst, abs(est - r["estimate"]), abs(row["se"] - r["se"]))
        assert est == pytest.approx(r["estimate"], abs=RBMI_PRINTED), r.to_dict()
        assert row["se"] == pytest.approx(r["se"], abs=RBMI_PRINTED), r.to_dict()
        # stricter, and true of all 24 numbers: ours print as rbmi's (none lies within 1e-5 of a
        # rounding boundary, so the REML optimisations cannot flip a digit)
        assert (f"{est:.3f}", f"{row['se']:.3f}") == (f"{r['estimate']:.3f}", f"{r['se']:.3f}")
    assert len(ref) == 12 and worst <= RBMI_PRINTED
    assert res.n_imputations == 172 and len(res.events) == 43
    assert set(res.table["df"]) == {math.inf}
    assert list(res.table.columns) == list(SENSITIVITY_COLUMNS)


@pytest.mark.shared
def test_condmean_mar_reproduces_the_mmrm_difference(ad):
    res = _condmean(ad, "MAR")
    d = ad.assign(VISIT=ad["VISIT"].astype(str))
    fit = po.mmrm(
        "change ~ basval*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)",
        d,
        levels={"VISIT": ["4", "5", "6", "7"]},
        reference={"THERAPY": "PLACEBO"},
    )
    pairs = fit.pairs("THERAPY", by="VISIT")  # PLACEBO - DRUG
    # The marginal means: the MMRM's prediction at the participants' mean baseline (the ANCOVA's
    # counterfactual mean), not emmeans' mean over the analysed rows.
    bbar = ad.groupby("PATIENT")["basval"].first().mean()
    for v in ["4", "5", "6", "7"]:
        est, _ = _difference(res, int(v))
        assert est == pytest.approx(pairs.query("VISIT == @v")["estimate"].iloc[0], abs=1e-6)
        for a in ("DRUG", "PLACEBO"):
            grid = pd.DataFrame({"basval": [bbar], "VISIT": [v], "THERAPY": [a]})
            lsm = fit.contrast(fit.design.matrix(grid))["estimate"].iloc[0]
            t = res.table
            ours = t.loc[(t["arm"] == a) & (t["reference"] == "") & (t["visit"] == int(v)), "estimate"].item()
            assert ours == pytest.approx(lsm, abs=1e-6)
    # and SAS PROC MIXED's DRUG - PLACEBO (PROVENANCE.md section A, 4 decimals)
    sas = {4: 0.09181, 5: -1.4032, 6: -2.2247, 7: -2.8018}
    for v, x in sas.items():
        assert -_difference(res, v)[0] == pytest.approx(x, abs=0.5e-4 + 1e-6)


def _check_condmean_vs_sas(result, published, strategy):
    ref = published[(published["source"] == "sas_five_macros") & (published["strategy"] == strategy)]
    mcse = ref["mcse"].dropna().iloc[0]
    tol = 3 * mcse + METHOD_DIFFERENCE
    diffs = []
    for _, r in ref.iterrows():
        est, row = _difference(result, r["visit"])
        diffs.append(abs(est - r["estimate"]))
        if strategy == "MAR" and not np.isnan(r["se"]):
            # MAR: jackknife and Rubin both estimate the sampling SE; they agree to a few %
            # (visit 4, complete: the jackknife vs. the OLS model SE, 0.695 vs 0.683).
            assert row["se"] == pytest.approx(r["se"], rel=0.03)
    assert max(diffs) <= tol, (strategy, diffs, tol)
    return max(diffs)


@pytest.mark.shared
@pytest.mark.parametrize("strategy", ["MAR", "JR"])
def test_condmean_within_monte_carlo_error_of_sas(ad, published, strategy):
    _check_condmean_vs_sas(_condmean(ad, strategy), published, strategy)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["CIR", "CR"])
def test_condmean_cir_cr_within_monte_carlo_error_of_sas(ad, published, strategy):
    res = _condmean(ad, strategy)
    _check_condmean_vs_sas(res, published, strategy)
    # Reference-based jackknife SEs are frequentist: below the MAR one and below SAS's Rubin SE.
    assert _difference(res, 7)[1]["se"] < _difference(_condmean(ad, "MAR"), 7)[1]["se"]


# --------------------------------------------------------------------------------------------
# Approximate Bayesian MI against SAS (Monte Carlo on both sides)
# --------------------------------------------------------------------------------------------


def _check_approxbayes_vs_sas(ad, published, strategy, m=100, seed=2024):
    res = sensitivity_analysis(
        ad, strategy=strategy, method="approximate_bayesian", n_imputations=m, seed=seed, **AD_KW
    )
    ref = published[(published["source"] == "sas_five_macros") & (published["strategy"] == strategy)]
    r7 = ref[ref["visit"] == 7].iloc[0]
    est, row = _difference(res, 7)
    draws = res.estimates.query("analysis == 'ancova' and visit == 7 and reference == 'PLACEBO'")
    assert len(draws) == m and res.n_imputations == m
    b = draws["estimate"].var(ddof=1)
    mcse = math.sqrt(b / m)
    assert abs(est - r7["estimate"]) <= 3 * math.hypot(mcse, r7["mcse"]) + METHOD_DIFFERENCE
    # SE: its Monte-Carlo error comes from B (W hardly varies): B (M-1)/sigma_B^2 ~ chi2(M-1), so
    # sd(B) = B sqrt(2/(M-1)) and sd(se) = (1 + 1/M) sd(B) / (2 se).
    sd_se = (1 + 1 / m) * b * math.sqrt(2 / (m - 1)) / (2 * row["se"])
    assert abs(row["se"] - r7["se"]) <= 3 * sd_se
    # df: Barnard-Rubin, dominated by v_obs ~ v_com (1 - lambda), lambda = (1 + 1/M) B / T: its sd
    # is df lambda sqrt(2/(M-1)) / (1 - lambda); SAS's own run adds as much again (sqrt 2).
    lam = (1 + 1 / m) * b / row["se"] ** 2
    sd_df = row["df"] * lam * math.sqrt(2 / (m - 1)) / (1 - lam)
    assert abs(row["df"] - r7["df"]) <= 3 * math.sqrt(2) * sd_df
    # visit 4 has no missing data: every imputation is the complete-data ANCOVA
    est4, row4 = _difference(res, 4)
    assert est4 == pytest.approx(-0.09181, abs=0.5e-5)
    assert row4["se"] == pytest.approx(0.68263, abs=0.5e-5)
    return res


@pytest.mark.shared
def test_approximate_bayesian_mar_within_monte_carlo_error_of_sas(ad, published):
    # speed is measured in benchmarks/bench_sensitivity.py, not asserted here
    _check_approxbayes_vs_sas(ad, published, "MAR")


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["JR", "CR", "CIR"])
def test_approximate_bayesian_reference_based_within_monte_carlo_error_of_sas(ad, published, strategy):
    _check_approxbayes_vs_sas(ad, published, strategy)


# --------------------------------------------------------------------------------------------
# Plumbing on small simulated trials: jackknife, Rubin, bootstrap, delta, responders
# --------------------------------------------------------------------------------------------

VISITS = ["w1", "w2", "w3"]
KW = dict(
    outcome="y", arm="arm", visit="visit", subject="id", baseline="base", reference_arm="ctl", visits=VISITS
)


def _trial(n=24, seed=5, drop_every=4, effect=1.0):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), 3)
    df = pd.DataFrame(
        {
            "id": ids,
            "visit": np.tile(VISITS, n),
            "arm": np.where(ids % 2, "trt", "ctl"),
            "base": np.repeat(rng.normal(10, 2, n), 3),
        }
    )
    df["y"] = (
        -0.5 * df["base"]
        - effect * (df["arm"] == "trt") * np.tile([0, 1, 2], n)
        + np.repeat(rng.normal(0, 1, n), 3)
        + rng.normal(0, 1, 3 * n)
    )
    drop = df["id"] % drop_every == 0
    df.loc[drop & (df["visit"] == "w3"), "y"] = np.nan
    df.loc[(df["id"] % (2 * drop_every) == 1) & (df["visit"] != "w1"), "y"] = np.nan
    return df


def _mmrm_difference(df):
    fit = po.mmrm("y ~ base*visit + arm*visit + us(visit | id)", df, reference={"arm": "ctl"})
    return -fit.pairs("arm", by="visit").set_index("visit")["estimate"]  # trt - ctl


def test_jackknife_by_hand_from_leave_one_out_mmrm_fits():
    df = _trial(n=16, seed=3)
    res = sensitivity_analysis(df, method="conditional_mean", **KW)
    ids = df["id"].unique()
    loo = np.array([_mmrm_difference(df[df["id"] != i]).to_numpy() for i in ids])  # (n, visits)
    full = _mmrm_difference(df).to_numpy()
    n = len(ids)
    se = np.sqrt((n - 1) / n * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    tab = res.table.query("reference == 'ctl'").set_index("visit")
    np.testing.assert_allclose(tab.loc[VISITS, "estimate"], full, atol=1e-6)
    np.testing.assert_allclose(tab.loc[VISITS, "se"], se, rtol=1e-5)
    z = tab.loc[VISITS, "estimate"] / se
    np.testing.assert_allclose(tab.loc[VISITS, "p"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-4)
    q = stats.norm.ppf(0.975)
    np.testing.assert_allclose(tab.loc[VISITS, "ci_low"], full - q * se, atol=1e-5)
    # the kept leave-one-out estimates are those fits
    kept = res.estimates.query("reference == 'ctl' and sample > 0")
    assert len(kept) == n * 3
    np.testing.assert_allclose(
        kept.pivot(index="sample", columns="visit", values="estimate")[VISITS].to_numpy(), loo, atol=1e-5
    )


def test_rubin_pooling_by_hand_and_the_ancova_of_an_imputed_data_set():
    df = _trial(n=30, seed=8)
    m = 12
    res = sensitivity_analysis(df, method="approximate_bayesian", n_imputations=m, seed=11, **KW)
    # Rubin by hand: T = W + (1 + 1/M) B; Barnard-Rubin df with v_com = n - 3 (intercept, arm, base)
    v_com = 30 - 3
    for v in VISITS:
        e = res.estimates.query("visit == @v and reference == 'ctl'")
        w, b = (e["se"] ** 2).mean(), e["estimate"].var(ddof=1)
        t = w + (1 + 1 / m) * b
        lam = (1 + 1 / m) * b / t
        v_old = (m - 1) / lam**2 if lam > 0 else math.inf
        v_obs = (v_com + 1) / (v_com + 3) * v_com * (1 - lam)
        row = res.table.query("visit == @v and reference == 'ctl'").iloc[0]
        assert row["estimate"] == pytest.approx(e["estimate"].mean(), rel=1e-12)
        assert row["se"] == pytest.approx(math.sqrt(t), rel=1e-12)
        df_br = v_obs if math.isinf(v_old) else v_old * v_obs / (v_old + v_obs)  # B = 0: no missing data
        assert row["df"] == pytest.approx(df_br, rel=1e-10)
        assert row["n_imputations"] == m
    # one imputed data set: observed values kept, the ANCOVA refitted with numpy's lstsq
    ids, values = res.imputed[3]
    wide = df.pivot(index="id", columns="visit", values="y").loc[ids, VISITS].to_numpy()
    observed = ~np.isnan(wide)
    assert (values[observed] == wide[observed]).all() and not np.isnan(values).any()
    base = df.groupby("id")["base"].first().loc[ids].to_numpy()
    trt = (df.groupby("id")["arm"].first().loc[ids] == "trt").to_numpy(dtype=float)
    z = np.column_stack([np.ones(len(ids)), trt, base])
    coef, rss, *_ = np.linalg.lstsq(z, values, rcond=None)
    se = np.sqrt(rss / v_com * np.linalg.inv(z.T @ z)[1, 1])
    e4 = res.estimates.query("sample == 4 and reference == 'ctl'").set_index("visit").loc[VISITS]
    np.testing.assert_allclose(e4["estimate"], coef[1], rtol=1e-10)
    np.testing.assert_allclose(e4["se"], se, rtol=1e-10)
    # seeded: the same seed, the same answer; another seed, another
    again = sensitivity_analysis(df, method="approximate_bayesian", n_imputations=m, seed=11, **KW)
    pd.testing.assert_frame_equal(res.table, again.table)
    other = sensitivity_analysis(df, method="approximate_bayesian", n_imputations=m, seed=12, **KW)
    assert not np.allclose(res.table["estimate"], other.table["estimate"])


@pytest.mark.parametrize(
    "method, m", [("approximate_bayesian", 9), ("conditional_mean_bootstrap", 7), ("conditional_mean", None)]
)
def test_results_are_byte_identical_whatever_the_number_of_workers(method, m):
    """Each sample draws from its own seed spawned in advance, so 1, 2 or 3 forked workers give
    the same bytes (tables, per-sample estimates and the imputed values), in the same order."""
    df = _trial(n=24, seed=5)
    runs = [
        sensitivity_analysis(df, method=method, n_imputations=m, seed=21, strategy="JR", workers=w, **KW)
        for w in (1, 2, 3)
    ]
    first = runs[0]
    for other in runs[1:]:
        assert first.table.to_csv() == other.table.to_csv()
        pd.testing.assert_frame_equal(first.estimates, other.estimates, check_exact=True)
        for col in ("estimate", "se"):
            assert first.estimates[col].to_numpy().tobytes() == other.estimates[col].to_numpy().tobytes()
        assert first.n_failed == other.n_failed
        for (ids_a, va), (ids_b, vb) in zip(first.imputed, other.imputed):
            assert (ids_a == ids_b).all() and va.tobytes() == vb.tobytes()


def test_condmean_bootstrap_pools_its_samples_by_percentile():
    df = _trial(n=20, seed=2)
    res = sensitivity_analysis(df, method="conditional_mean_bootstrap", n_imputations=25, seed=1, **KW)
    full = _mmrm_difference(df)
    for v in VISITS:
        e = res.estimates.query("visit == @v and reference == 'ctl'").sort_values("sample")
        assert e["sample"].tolist() == list(range(26))
        r = pool_bootstrap(e["estimate"].iloc[0], e["estimate"].iloc[1:])
        row = res.table.query("visit == @v and reference == 'ctl'").iloc[0]
        assert row["estimate"] == pytest.approx(full[v], abs=1e-6)  # MAR identity on the full data
        assert (row["ci_low"], row["ci_high"], row["p"]) == pytest.approx((r.ci_lower, r.ci_upper, r.p_value))
        assert np.isnan(row["se"])


def test_delta_shifts_the_difference_by_the_ols_coefficient_of_the_shifted_indicator():
    df = _trial(n=24, seed=4)
    base = sensitivity_analysis(df, method="conditional_mean", **KW)
    d = 1.7
    shifted = sensitivity_analysis(df, method="conditional_mean", delta=d, **KW)
    # Only imputed values after the ICE in the trt arm move (by d): the ANCOVA difference moves by
    # d times the arm coefficient of the OLS regression of that indicator on (1, arm, base).
    wide = df.pivot(index="id", columns="visit", values="y")[VISITS]
    first = df.groupby("id").first()
    last_obs = wide.notna().to_numpy()[:, ::-1].argmax(axis=1)
    ice = 3 - last_obs  # visit index after the last observed one
    post_missing = (np.arange(3)[None, :] >= ice[:, None]) & wide.isna().to_numpy()
    trt = (first["arm"] == "trt").to_numpy()
    z = np.column_stack([np.ones(len(trt)), trt, first["base"]])
    hit = (post_missing & trt[:, None]).astype(float)
    coef = np.linalg.lstsq(z, hit, rcond=None)[0][1]
    a = base.table.query("reference == 'ctl'").set_index("visit").loc[VISITS, "estimate"]
    b = shifted.table.query("reference == 'ctl'").set_index("visit").loc[VISITS, "estimate"]
    np.testing.assert_allclose(b - a, d * coef, atol=1e-10)
    assert (b - a).iloc[-1] > 0 and (b - a).iloc[0] == 0
    assert "delta 1.7" in shifted.table["strategy"].iloc[0]
    # cumulative: at w3 participants whose ICE is w2 get 2 d
    cum = sensitivity_analysis(df, method="conditional_mean", delta=d, delta_cumulative=True, **KW)
    c = cum.table.query("reference == 'ctl'").set_index("visit").loc[VISITS, "estimate"]
    steps = np.where(post_missing & trt[:, None], np.cumsum(post_missing, axis=1), 0).astype(float)
    np.testing.assert_allclose(c - a, d * np.linalg.lstsq(z, steps, rcond=None)[0][1], atol=1e-10)


def test_tipping_point_table_and_crossing():
    df = _trial(n=40, seed=9, drop_every=3, effect=2.0)
    deltas = np.arange(0.0, 6.5, 1.0)
    tp = tipping_point(df, deltas=deltas, method="conditional_mean", **KW)
    assert list(tp.table.columns) == list(TIPPING_POINT_COLUMNS)
    assert len(tp.table) == len(deltas) * 3
    at0 = sensitivity_analysis(df, method="conditional_mean", **KW).table.query("reference == 'ctl'")
    t0 = tp.table[tp.table["delta"] == 0]
    np.testing.assert_allclose(t0["estimate"], at0["estimate"], rtol=1e-12)
    np.testing.assert_allclose(t0["p"], at0["p"], rtol=1e-12)
    w3 = tp.table[tp.table["visit"] == "w3"]
    assert (np.diff(w3["estimate"]) > 0).all()  # the delta moves trt towards ctl (a worse outcome)
    tip = tp.tipping_points.set_index("visit").loc["w3"]
    assert tip["tipping_delta"] == pytest.approx(first_crossing(w3["delta"], w3["p"]))
    assert w3["p"].iloc[0] < 0.05 and 0 < tip["tipping_delta"] <= deltas[-1]
    assert (w3.loc[w3["delta"] >= tip["first_delta_changed"], "p"] >= 0.05).any()
    # approximate Bayesian MI: one set of imputations for the whole grid (common random numbers),
    # so the pooled estimate is exactly linear in delta
    mi = tipping_point(
        df, deltas=[0.0, 1.0, 2.0], method="approximate_bayesian", n_imputations=5, seed=4, **KW
    )
    e3 = mi.table[mi.table["visit"] == "w3"]["estimate"].to_numpy()
    assert e3[2] - e3[1] == pytest.approx(e3[1] - e3[0], rel=1e-9) and e3[1] > e3[0]
    assert all(
        np.array_equal(mi.results[0.0].imputed[k][1], r.imputed[k][1])
        for r in mi.results.values()
        for k in range(5)
    )
    # visit w1 has no missing data: nothing moves, no tipping point
    w1 = tp.table[tp.table["visit"] == "w1"]
    assert np.ptp(w1["estimate"]) == 0 and np.isnan(
        tp.tipping_points.set_index("visit").loc["w1", "tipping_delta"]
    )


def test_responder_risk_difference_pooled_by_rubin():
    df = _trial(n=30, seed=6)
    m = 10
    res = sensitivity_analysis(
        df, method="approximate_bayesian", n_imputations=m, seed=3, responder=("<=", -5.0), **KW
    )
    resp = res.table[res.table["analysis"] == "responder"]
    assert len(resp) == 3 * 3
    ids = res.imputed[0][0]
    trt = (df.groupby("id")["arm"].first().loc[ids] == "trt").to_numpy()
    rd, var = [], []
    for _, values in res.imputed:
        p1, p0 = (values[trt] <= -5).mean(axis=0), (values[~trt] <= -5).mean(axis=0)
        rd.append(p1 - p0)
        var.append(p1 * (1 - p1) / trt.sum() + p0 * (1 - p0) / (~trt).sum())
    rd, var = np.array(rd), np.array(var)
    t = var.mean(axis=0) + (1 + 1 / m) * rd.var(axis=0, ddof=1)
    row = resp[resp["reference"] == "ctl"].set_index("visit").loc[VISITS]
    np.testing.assert_allclose(row["estimate"], rd.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(row["se"], np.sqrt(t), rtol=1e-12)
    with pytest.raises(ValueError, match="conditional means"):
        sensitivity_analysis(df, method="conditional_mean", responder=-5.0, **KW)


def test_reference_based_on_small_trial_and_events():
    df = _trial(n=24, seed=4)
    mar = sensitivity_analysis(df, method="conditional_mean", strategy="MAR", **KW)
    jr = sensitivity_analysis(df, method="conditional_mean", strategy="J2R", **KW)
    # JR imputes trt dropouts from ctl's means: the trt - ctl difference shrinks towards 0 at w3
    d_mar = mar.table.query("reference == 'ctl' and visit == 'w3'")["estimate"].iloc[0]
    d_jr = jr.table.query("reference == 'ctl' and visit == 'w3'")["estimate"].iloc[0]
    assert d_mar < d_jr < 0
    # control-arm imputations do not depend on the strategy
    ids, v_mar = mar.imputed[0]
    ctl = (df.groupby("id")["arm"].first().loc[ids] == "ctl").to_numpy()
    np.testing.assert_allclose(jr.imputed[0][1][ctl], v_mar[ctl], atol=1e-10)
    # explicit events: an ICE at w2 for participant 2 under CR, with w2 and w3 observed: kept in the
    # analysis (observed), left out of the fit (so the estimates move)
    ev = pd.DataFrame({"id": [3], "visit": ["w2"], "strategy": ["CR"]})
    res = sensitivity_analysis(df, method="conditional_mean", events=ev, **KW)
    assert res.events.to_dict("records") == [{"subject": 3, "visit": "w2", "strategy": "CR"}]
    ids, values = res.imputed[0]
    wide = df.pivot(index="id", columns="visit", values="y").loc[ids, VISITS].to_numpy()
    obs = ~np.isnan(wide)
    assert (values[obs] == wide[obs]).all()
    assert not np.allclose(res.table["estimate"], mar.table["estimate"])
    assert res.table["strategy"].iloc[0] == "CR"
    # per-participant dict
    per = sensitivity_analysis(df, method="conditional_mean", strategy={0: "JR", 4: "CIR"}, **KW)
    assert set(per.events["strategy"]) <= {"JR", "CIR", "MAR"}
    # grouped covariance runs and differs from the shared one
    grouped = sensitivity_analysis(df, method="conditional_mean", strategy="JR", same_cov=False, **KW)
    assert not np.allclose(grouped.table["se"], jr.table["se"])


def test_user_errors():
    df = _trial()
    with pytest.raises(ValueError, match="MCMC"):
        sensitivity_analysis(df, method="bayes", n_imputations=10, **KW)
    with pytest.raises(ValueError, match="unknown strategy"):
        sensitivity_analysis(df, strategy="LOCF", **KW)
    with pytest.raises(ValueError, match="n_imputations"):
        sensitivity_analysis(df, method="approximate_bayesian", **KW)
    with pytest.raises(ModelError, match="not in the data"):
        sensitivity_analysis(df, **(KW | {"baseline": "basval"}))
    bad = df.copy()
    bad.loc[bad.index[:2], "base"] = [1.0, 2.0]
    with pytest.raises(ModelError, match="one value per participant"):
        sensitivity_analysis(bad, **KW)
    with pytest.raises(ValueError, match="reference_arm"):
        sensitivity_analysis(df, **(KW | {"reference_arm": "placebo"}))
    with pytest.raises(ValueError, match="not in visits"):
        sensitivity_analysis(df, events=pd.DataFrame({"id": [1], "visit": ["w9"]}), **KW)


def test_factor_covariate_ancova_matches_statsmodels():
    smf = pytest.importorskip("statsmodels.formula.api")
    df = _trial(n=30, seed=1)
    df["site"] = np.where(df["id"] % 3 == 0, "A", np.where(df["id"] % 3 == 1, "B", "C"))
    res = sensitivity_analysis(
        df, covariates=["site"], method="approximate_bayesian", n_imputations=4, seed=1, strategy="CIR", **KW
    )
    ids, values = res.imputed[0]
    first = df.groupby("id")[["arm", "base", "site"]].first()
    for k, v in enumerate(VISITS):
        w = first.loc[ids].assign(y=values[:, k])
        ols = smf.ols("y ~ C(arm, Treatment('ctl')) + base + C(site)", w).fit()
        ours = res.estimates.query("sample == 1 and visit == @v and reference == 'ctl'").iloc[0]
        assert ours["estimate"] == pytest.approx(ols.params.iloc[1], rel=1e-10)
        assert ours["se"] == pytest.approx(ols.bse.iloc[1], rel=1e-10)
        assert ours["df"] == ols.df_resid == 30 - 5


# --------------------------------------------------------------------------------------------
# The one-call API; no missing data; seeds; a simulation with a known truth
# --------------------------------------------------------------------------------------------
@pytest.mark.shared
def test_one_call_api_is_the_sensitivity_table(ad):
    table = po.missing_data_sensitivity(
        ad,
        outcome="change",
        arm="THERAPY",
        visit="VISIT",
        subject="PATIENT",
        covariates_by_visit=["basval"],
        reference_arm="PLACEBO",
        strategy="J2R",
    )
    assert list(table.columns) == list(SENSITIVITY_COLUMNS)
    pd.testing.assert_frame_equal(table, _condmean(ad, "JR").table)
    with pytest.raises(ValueError, match="covariates_by_visit"):
        po.missing_data_sensitivity(
            ad, outcome="change", arm="THERAPY", visit="VISIT", subject="PATIENT",
            covariates=["basval"], reference_arm="PLACEBO",
        )  # fmt: skip


@pytest.mark.shared
@pytest.mark.parametrize("strategy", ["MAR", "JR", "CR", "CIR"])
def test_a_visit_without_missing_data_is_the_complete_data_analysis(ad, published, strategy):
    # visit 4 is observed for all 172: every strategy gives the ANCOVA of the observed data,
    # which the five macros print as -0.09181 (SE 0.68263) for all four strategies
    estimate, row = _difference(_condmean(ad, strategy), 4)
    observed = ad[ad["VISIT"] == 4]
    ols = np.linalg.lstsq(
        np.column_stack([np.ones(len(observed)), observed["THERAPY"] == "DRUG", observed["basval"]]).astype(
            float
        ),
        observed["change"].to_numpy(float),
        rcond=None,
    )[0]
    assert -estimate == pytest.approx(ols[1], abs=1e-10)
    assert estimate == pytest.approx(-0.09181, abs=5e-6)  # printed to 5 decimals


def test_same_seed_same_numbers_and_another_seed_only_monte_carlo_error():
    df = _trial(n=40, seed=11)
    kw = dict(
        outcome="y", arm="arm", visit="visit", subject="id", baseline="base", reference_arm="ctl",
        visits=VISITS, strategy="JR", method="approximate_bayesian", n_imputations=20,
    )  # fmt: skip
    a = sensitivity_analysis(df, seed=1, **kw).table
    b = sensitivity_analysis(df, seed=1, **kw).table
    c = sensitivity_analysis(df, seed=2, **kw).table
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not a["estimate"].equals(c["estimate"])
    diff = (a["estimate"] - c["estimate"]).abs()
    assert (diff <= 4 * a["se"] / math.sqrt(20) + 1e-12).all()


@pytest.mark.slow
def test_simulated_jump_to_reference_truth_j2r_unbiased_mar_biased():
    # Data generated under J2R: after dropout the treated arm's values follow the control arm's
    # mean (the drug effect is lost) with the same covariance. True mean difference at the last
    # visit = (1 - dropout share) * effect. J2R imputation should recover it; MAR (which carries
    # the effect on) overstates it.
    rng = np.random.default_rng(20261202)
    n, k, effect = 400, 3, 2.0
    cov = 0.5 + 0.5 * np.eye(k)
    truth, j2r, mar = [], [], []
    for rep in range(8):
        arm = np.repeat(["ctl", "trt"], n // 2)
        base = rng.normal(0, 1, n)
        err = rng.multivariate_normal(np.zeros(k), cov, n)
        mu_trt = effect * np.array([0.5, 0.75, 1.0])
        drop_at = np.where((arm == "trt") & (rng.random(n) < 0.4), 1, k)  # treated leave after visit 1
        y = 0.5 * base[:, None] + err
        on = np.arange(k)[None, :] < drop_at[:, None]
        y = y + np.where((arm == "trt")[:, None] & on, mu_trt[None, :], 0.0)
        truth.append(y[arm == "trt", -1].mean() - y[arm == "ctl", -1].mean())
        frame = pd.DataFrame(
            {
                "id": np.repeat(np.arange(n), k),
                "visit": np.tile(["v1", "v2", "v3"], n),
                "arm": np.repeat(arm, k),
                "base": np.repeat(base, k),
                "y": np.where(on, y, np.nan).ravel(),
            }
        )
        kw = dict(
            outcome="y", arm="arm", visit="visit", subject="id", baseline="base",
            reference_arm="ctl", visits=["v1", "v2", "v3"],
            # the point estimate only: conditional mean's is the full-data one whatever its
            # SE method, so two bootstrap samples stand in for the 401 leave-one-out refits
            method="conditional_mean_bootstrap", n_imputations=2, seed=rep,
        )  # fmt: skip
        for store, strategy in ((j2r, "JR"), (mar, "MAR")):
            t = sensitivity_analysis(frame, strategy=strategy, **kw).table
            store.append(t.query("reference == 'ctl' and visit == 'v3'")["estimate"].iloc[0])
    truth, j2r, mar = map(np.mean, (truth, j2r, mar))
    # 8 x 400 participants: the SE of the mean difference is about 0.03
    assert j2r == pytest.approx(truth, abs=0.1)
    assert mar - truth > 0.5  # MAR keeps the 40% who left on the drug's trajectory: +0.8 expected
