"""The MMRMT01 table (``lsmeans_change``) against the engine's emmeans, pairs and contrasts.

The LS mean change of arm ``a`` at visit ``v`` is checked against the fit's own public
emmeans route, ``MMRMFit.pairs("visit", by="arm")`` (baseline minus visit, so its negative),
which builds its reference grid independently of ``analyse.outcomes._grid_mean_row``; the
differences against the engine's ``change_contrasts`` (all visits responses) or ``contrasts``
(the baseline a covariate), which fit_trial_model computes from its own design rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from prt_outcomes.analyse.outcomes import LSMEANS_CHANGE_COLUMNS, analyse_outcome, lsmeans_change
from prt_outcomes.models import fit_trial_model
from prt_outcomes.simulate import simulate_trial

OUTCOME = "promis_dep"  # the example's outcome whose levels and change disagree (baseline imbalance)


@pytest.fixture(scope="module")
def data():
    return simulate_trial()


def _fit(data, **kw):
    return fit_trial_model(
        data,
        outcome=OUTCOME,
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=("age", "sex"),
        reference_arm="usual_care",
        arm_levels=["prt", "placebo", "usual_care"],
        baseline_visit="baseline",
        **kw,
    )


def test_lsmeans_change_equals_the_engines_emmeans_of_change_and_its_contrasts(data):
    fit = _fit(data)
    table = lsmeans_change(fit, outcome=OUTCOME)
    assert fit.model is not None and len(table) == 3 * 6
    pairs = fit.model.pairs("visit", by="arm")
    for _, r in table.iterrows():
        pair = pairs[(pairs["arm"] == r["arm"]) & (pairs["contrast"] == f"baseline - {r['visit']}")].iloc[0]
        assert r["estimate"] == pytest.approx(-pair["estimate"], abs=1e-10)
        assert r["se"] == pytest.approx(pair["se"], rel=1e-10)
        assert r["df"] == pytest.approx(pair["df"], rel=1e-8)
        assert r["ci_low"] == pytest.approx(-pair["ci_high"], abs=1e-10)
        n = fit.marginal_means.set_index(["arm", "visit"]).loc[(r["arm"], r["visit"]), "n_observed"]
        assert r["n"] == n
    # the emmeans differences: change of arm - change of the reference = change_contrasts
    cc = fit.change_contrasts.set_index(["visit", "arm"])
    compared = table[table["arm"] != "usual_care"]
    for _, r in compared.iterrows():
        c = cc.loc[(r["visit"], r["arm"])]
        for mine, theirs in (
            ("difference", "estimate"),
            ("difference_se", "se"),
            ("difference_df", "df"),
            ("difference_ci_low", "ci_low"),
            ("difference_ci_high", "ci_high"),
            ("p", "p"),
        ):
            assert r[mine] == pytest.approx(c[theirs], rel=1e-9, abs=1e-12), mine
    assert table.loc[table["arm"] == "usual_care", ["difference", "p"]].isna().all().all()
    # and the example's point: PRT improved more in change though its levels are higher
    m3 = table[(table["arm"] == "prt") & (table["visit"] == "m3")].iloc[0]
    assert m3["difference"] < 0 < fit.contrasts.set_index(["visit", "arm"]).loc[("m3", "prt"), "estimate"]


def test_baseline_adjusted_lsmeans_change_is_the_mean_minus_the_baseline_mean(data):
    fit = _fit(data, baseline_adjusted=True)
    table = lsmeans_change(fit, outcome=OUTCOME)
    means = fit.model.emmeans(["arm", "visit"]).set_index(["arm", "visit"])
    base_mean = float(fit.model.frame[f"baseline_{OUTCOME}"].mean())
    con = fit.contrasts.set_index(["visit", "arm"])
    for _, r in table.iterrows():
        assert r["estimate"] == pytest.approx(
            means.loc[(r["arm"], r["visit"]), "estimate"] - base_mean, abs=1e-10
        )
        assert r["se"] == pytest.approx(means.loc[(r["arm"], r["visit"]), "se"], rel=1e-10)
        if r["arm"] != "usual_care":
            assert r["difference"] == pytest.approx(con.loc[(r["visit"], r["arm"]), "estimate"], abs=1e-10)
            assert r["p"] == pytest.approx(con.loc[(r["visit"], r["arm"]), "p"], rel=1e-9)


def test_analyse_outcome_writes_the_lsmeans_change_table(data, example_config):
    result = analyse_outcome(data, example_config, OUTCOME)
    assert list(result.lsmeans_change.columns) == LSMEANS_CHANGE_COLUMNS
    assert set(result.lsmeans_change["visit"]) == set(example_config.visit_names) - {"baseline"}
    assert np.isfinite(result.lsmeans_change["estimate"]).all()
