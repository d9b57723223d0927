"""Make ``scale_fixture.json``: the engine's answers on a seeded 20,000 x 5 trial, from the code
before the registry-scale rewrite of the model frame and the pattern moments (issue #15).

Run against the code to be recorded (the fixture was made from main at c31f061)::

    PYTHONPATH=/work/main/src /work/main/.venv/bin/python \
        tests/references/models/scale/make_scale_fixture.py

``tests/test_models_scale.py`` refits the same data with the current code and requires the same
log-likelihoods, estimates, SEs and df (1e-10 relative; the rewrite only reorders sums).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
VISITS = ["baseline", "week2", "week4", "week8", "week12"]
ARMS = ["control", "placebo", "prt"]


def simulate(n: int = 20000, seed: int = 20000) -> pd.DataFrame:
    """3 arms, 5 visits, monotone dropout plus some intermittent gaps (small patterns), age
    (numeric), sex (category dtype), site (object dtype), integer participant ids, rows
    shuffled."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(ARMS, size=n, p=[0.25, 0.35, 0.40])
    age = np.round(np.clip(rng.normal(45, 13, n), 18, 80), 1)
    sex = np.where(rng.random(n) < 0.56, "female", "male")
    site = rng.choice(["site_a", "site_b", "site_c"], size=n, p=[0.45, 0.35, 0.20])
    k = len(VISITS)
    idx = np.arange(k)
    sd = np.array([1.8, 1.6, 1.5, 1.7, 2.0])
    cov = 0.7 ** (np.abs(idx[:, None] - idx[None, :]) ** 0.6) * sd[:, None] * sd[None, :]
    err = rng.standard_normal((n, k)) @ np.linalg.cholesky(cov).T
    slope = {
        "control": [0, -0.2, -0.3, -0.3, -0.4],
        "placebo": [0, -0.6, -0.8, -0.9, -0.9],
        "prt": [0, -1.2, -1.9, -2.2, -2.4],
    }
    mu = 5 + 0.025 * (age - 45)[:, None] + 0.35 * (sex == "male")[:, None] + np.array([slope[a] for a in arm])
    y = np.round(mu + err, 3)
    hazard = np.array([0.0, 0.03, 0.05, 0.08, 0.12])
    dropped = np.cumsum(rng.random((n, k)) < hazard, axis=1) > 0
    y[dropped] = np.nan
    gap = rng.random((n, k)) < 0.01  # intermittent missing values: non-monotone patterns
    gap[:, 0] = False
    y[gap] = np.nan
    frame = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(n) * 7 + 3, k),
            "arm": np.repeat(arm, k),
            "visit": np.tile(VISITS, n),
            "y": y.ravel(),
            "age": np.repeat(age, k),
            "sex": pd.Categorical(np.repeat(sex, k), categories=["female", "male"]),
            "site": pd.Series(np.repeat(site, k), dtype=object),
        }
    )
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    return frame


TRIAL_CASES = {
    "trial_ri": dict(covariance="random_intercept"),
    "trial_un": dict(covariance="unstructured"),
    "trial_un_adjusted": dict(
        covariance="unstructured",
        baseline_adjusted=True,
        standardizer="change_sd",
        covariates=("age", "site"),
    ),
}
FORMULA_CASES = {
    "formula_ri": "y ~ arm * visit + age + sex + site + (1 | participant_id)",
    "formula_un": "y ~ arm * visit + age + sex + site + us(visit | participant_id)",
}


def fit_trial(data, case):
    from prt_outcomes.models import fit_trial_model

    kwargs = dict(covariates=("age", "sex", "site"))
    kwargs.update(TRIAL_CASES[case])
    return fit_trial_model(
        data,
        outcome="y",
        arm="arm",
        visit="visit",
        subject="participant_id",
        reference_arm="control",
        arm_levels=ARMS,
        visit_levels=VISITS,
        baseline_visit="baseline",
        **kwargs,
    )


def fit_formula(data, case):
    from prt_outcomes import mmrm

    return mmrm(FORMULA_CASES[case], data, levels={"arm": ARMS, "visit": VISITS})


def answers_for(data, case) -> dict:
    """The recorded answers of one case (``answers`` runs them all)."""
    if case in TRIAL_CASES:
        fit = fit_trial(data, case)
        return {
            "loglik": fit.loglik,
            "terms": list(fit.coefficients["term"]),
            "coefficients": _table(fit.coefficients, ["estimate", "se", "df"]),
            "marginal_means": _table(fit.marginal_means, ["estimate", "se", "df", "n_observed"]),
            "contrasts": _table(fit.contrasts, ["estimate", "se", "df", "hedges_g"]),
            "change_contrasts": _table(fit.change_contrasts, ["estimate", "se", "df", "hedges_g"]),
            "covariance": fit.covariance.to_numpy().ravel().tolist(),
        }
    fit = fit_formula(data, case)
    return {
        "loglik": fit.loglik,
        "terms": list(fit.coefficients["term"]),
        "coefficients": _table(fit.coefficients, ["estimate", "se", "df"]),
        "covariance": fit.covariance.to_numpy().ravel().tolist(),
    }


def _table(frame, columns):
    return {c: [float(x) for x in frame[c]] for c in columns}


def answers(data) -> dict:
    return {case: answers_for(data, case) for case in [*TRIAL_CASES, *FORMULA_CASES]}


if __name__ == "__main__":
    import subprocess

    data = simulate()
    result = {
        "source": "tests/references/models/scale/make_scale_fixture.py on main "
        + subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "n_rows": len(data),
        **answers(data),
    }
    (HERE / "scale_fixture.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        "wrote",
        HERE / "scale_fixture.json",
        {k: v["loglik"] for k, v in result.items() if isinstance(v, dict)},
    )
