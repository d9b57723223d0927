"""Data the model cannot support: one-paragraph ModelError naming the outcome, never a traceback.

The workflow fits each outcome separately and reports an outcome whose ModelError it catches
while the others complete, so every message must name the outcome (the ``outcome`` argument of
``fit_trial_model``) and say what to do. Before these checks the same data gave a LinAlgError
from deep inside the likelihood (zero-variance outcome), a non-converged fit (unstructured
covariance with too few participants), a silent baseline-only fit (no follow-up values), a
covariate dropped with a warning (single-level factor) or a plain ValueError.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.errors import ModelError
from prt_outcomes.models import fit_trial_model

OUTCOME = "pain_interference"
ARGS = dict(outcome=OUTCOME, arm="arm", visit="visit", subject="id")


def simulate(n_per_arm=(10, 12), k=3, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    pid = 0
    for a, n in zip(("control", "prt"), n_per_arm):
        for _ in range(n):
            pid += 1
            age, sex, u = rng.normal(45, 10), rng.choice(["female", "male"]), rng.normal(0, 1)
            for j in range(k):
                y = 5 - (0.8 if a == "prt" else 0.2) * j + 0.02 * age + u + rng.normal(0, 1)
                rows.append((f"P{pid:03d}", a, f"v{j}", y, age, sex))
    return pd.DataFrame(rows, columns=["id", "arm", "visit", OUTCOME, "age", "sex"])


def _refused(data, match, **kwargs):
    with pytest.raises(ModelError, match=match) as caught:
        fit_trial_model(data, **ARGS, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"outcome {OUTCOME!r}")
    assert "\n" not in message
    return message


def test_constant_numeric_covariate():
    _refused(simulate().assign(dose=2.5), r"covariate 'dose' has the same value \(2.5\)", covariates=["dose"])


def test_constant_factor_covariate_is_refused_not_dropped():
    _refused(simulate().assign(site="a"), r"covariate 'site' has the same value \('a'\)", covariates=["site"])


def test_collinear_covariates_are_named():
    data = simulate()
    data["age_months"] = 12 * data["age"] + 6
    message = _refused(data, "linear combinations", covariates=["sex", "age", "age_months"])
    assert "['age', 'age_months']" in message  # the culprits, not sex
    assert "remove one of ['age', 'age_months']" in message


def test_single_participant():
    data = simulate()
    _refused(data[data["id"] == "P001"], "only 1 participant")


def test_empty_arm_by_visit_cell_names_arm_and_visit():
    data = simulate()
    data.loc[(data["arm"] == "prt") & (data["visit"] == "v2"), OUTCOME] = np.nan
    _refused(data, "no observed values for arm 'prt' at visit 'v2'")


def test_zero_variance_outcome():
    _refused(simulate().assign(**{OUTCOME: 3.0}), r"same value \(3\) in every analysed row")


def test_outcome_reproduced_exactly_by_the_design():
    data = simulate()
    data[OUTCOME] = 2.0 + (data["arm"] == "prt") + 0.5 * data["visit"].str[1:].astype(int)
    _refused(data, "zero residual variance")


def test_unstructured_with_too_few_participants():
    data = simulate()
    few = data[data["id"].isin(["P001", "P002", "P011", "P012"])]
    _refused(few, "needs at least 5 participants", covariance="unstructured")


def test_unstructured_pair_of_visits_never_observed_together():
    data = simulate()
    visit = data["visit"]
    # odd participants miss v2, even ones v1: no one has both v1 and v2
    odd = data["id"].str[1:].astype(int) % 2 == 1
    data = data[~((odd & (visit == "v2")) | (~odd & (visit == "v1")))]
    pair = r"no participant has values at both visits of \[\('v1', 'v2'\)\]"
    _refused(data, pair, covariance="unstructured")


def test_visit_variance_with_one_observation_per_arm():
    data = simulate()
    late = data["visit"] == "v2"
    keep = ~late | data["id"].isin(["P001", "P011"])
    _refused(data[keep], "visit 'v2'.*one per arm", covariance="heterogeneous_compound_symmetry")


def test_more_covariance_parameters_than_residual_degrees_of_freedom():
    # 2 participants x 3 visits, 6 fixed effects: no residual left for any covariance parameter
    data = simulate(n_per_arm=(1, 1))
    _refused(data, "residual degree", covariance="compound_symmetry")


def test_kenward_roger_with_ml():
    _refused(simulate(), "kenward_roger.*REML", method="ml", df_method="kenward_roger")


def test_no_follow_up_values_is_refused_not_fitted_baseline_only():
    data = simulate()
    data.loc[data["visit"] != "v0", OUTCOME] = np.nan
    # as the workflow calls the engine: the visits where this outcome was observed
    _refused(data, r"no follow-up values.*\['v1', 'v2'\]", visit_levels=["v0"])
    _refused(data, "no follow-up values")
    _refused(data, "no follow-up values", visit_levels=["v0"], baseline_adjusted=True)


def test_single_visit_design_is_still_fitted():
    """Data holding one visit only (no other rows) are a single-visit design, not an outcome
    without follow-up: fitted as before (REML = OLS, tests/test_models_engine.py)."""
    data = simulate()
    fit = fit_trial_model(data[data["visit"] == "v0"], **ARGS)
    assert fit.converged and fit.n_obs == 22
