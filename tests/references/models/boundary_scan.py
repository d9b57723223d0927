"""Seeded small trials near the random-intercept boundary, for the optimum scans.

``tests/test_models_boundary_scan.py`` writes these trials to a temporary folder, fits every one
with the engine and with R (``lmer_scan.R``: lme4; ``gls_scan.R``: nlme) in one R process, and
requires the engine's REML log-likelihood never to be below R's.  numpy only, no code from
``prt_outcomes``: the generator is an independent fixture.

Each trial: 2 arms of 4-12 participants, 2-4 visits, subject-intercept SD drawn from
{0, 0.05, 0.1, 0.2, 0.35} against residual SD 1 (so lme4's estimate is often at or near 0),
a little dropout and intermittent missing values, and for one trial in three a numeric
covariate ``x``; every arm x visit cell is observed.

Columns: ``dataset, participant_id, arm, visit, visit_index, y, x`` (values rounded to 4
decimals, so the CSV is the exact data both programs read).

Examples
--------
>>> frame = simulate_trials(3, seed=1)
>>> sorted(frame["dataset"].unique())
['t000', 't001', 't002']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUBJECT_SDS = (0.0, 0.05, 0.1, 0.2, 0.35)


def simulate_trials(n_trials: int, seed: int = 20261202, *, near_limits: bool = False) -> pd.DataFrame:
    """``n_trials`` small two-arm trials stacked in one long frame (column ``dataset``).

    With ``near_limits`` the outcome has a compound-symmetry correlation drawn near the lower
    limit ``-1/(k - 1)`` (within 0.02-0.27 of it, 60 % of trials) or in [0.9, 0.995] instead of a
    random intercept, so compound-symmetry and AR(1) correlations land near their limits.
    """
    rng = np.random.default_rng(seed)
    rows: list[tuple] = []
    t = 0
    while t < n_trials:
        trial = _one_trial(rng, f"t{t:03d}", with_x=t % 3 == 0, near_limits=near_limits)
        cells = {(r[2], r[3]) for r in trial}
        k = 1 + max(r[4] for r in trial)
        # every arm x visit cell observed (else the arm x visit model is not estimable)
        if len(cells) == 2 * k:
            rows += trial
            t += 1
    return pd.DataFrame(rows, columns=["dataset", "participant_id", "arm", "visit", "visit_index", "y", "x"])


def _one_trial(rng, name, *, with_x, near_limits):
    rows = []
    k = int(rng.integers(2, 5))
    n_arm = rng.integers(4, 13, size=2)
    sd_b = float(rng.choice(SUBJECT_SDS))
    # near the lower limit of compound symmetry's correlation, -1/(k - 1), or near 1
    lower = -1.0 / (k - 1) + 0.02
    rho = float(rng.uniform(lower, lower + 0.25) if rng.random() < 0.6 else rng.uniform(0.9, 0.995))
    effect = float(rng.normal(0, 0.5))
    pid = 0
    for a, arm in enumerate(("control", "active")):
        for _ in range(int(n_arm[a])):
            pid += 1
            x = float(rng.normal(0, 1))
            if near_limits:
                cov = (1 - rho) * np.eye(k) + rho * np.ones((k, k))
                e = np.linalg.cholesky(cov) @ rng.standard_normal(k)
            else:
                e = sd_b * rng.standard_normal() + rng.standard_normal(k)
            last = k if rng.random() > 0.15 else int(rng.integers(1, k))  # dropout
            for j in range(last):
                if j > 0 and rng.random() < 0.08:
                    continue  # intermittent missing value (row absent)
                mu = 0.3 * j + (effect * j / max(k - 1, 1) if a == 1 else 0.0)
                y = mu + (0.4 * x if with_x else 0.0) + e[j]
                rows.append(
                    (name, f"p{pid:03d}", arm, f"v{j}", j, round(y, 4), round(x, 4) if with_x else np.nan)
                )
    return rows
