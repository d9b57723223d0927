"""Small simulated trials for the model-engine tests (a helper module shared by
test_models_engine.py and test_models_kenward_roger.py, so no test module imports another)."""

from __future__ import annotations

import numpy as np
import pandas as pd

ARGS = dict(outcome="y", arm="arm", visit="visit", subject="id")


def simulate(n_per_arm=(12, 14), k=3, seed=1, rho=0.5, missing=0.15, arms=("control", "prt")):
    """Small trial with an AR-ish correlation, intermittent missing values and covariates."""
    rng = np.random.default_rng(seed)
    rows = []
    pid = 0
    idx = np.arange(k)
    corr = rho ** np.abs(idx[:, None] - idx[None, :])
    sd = np.linspace(1.0, 1.6, k)
    chol = np.linalg.cholesky(corr * np.outer(sd, sd))
    for a, n in zip(arms, n_per_arm):
        for _ in range(n):
            pid += 1
            age = rng.normal(45, 10)
            sex = rng.choice(["female", "male"])
            e = chol @ rng.standard_normal(k)
            for j in range(k):
                effect = -0.8 * j if a == arms[-1] else -0.2 * j
                y = 5 + effect + 0.02 * (age - 45) + (0.3 if sex == "male" else 0) + e[j]
                if j > 0 and rng.random() < missing:
                    y = np.nan
                rows.append((f"P{pid:03d}", a, f"v{j}", y, age, sex))
    return pd.DataFrame(rows, columns=["id", "arm", "visit", "y", "age", "sex"])
