"""Seeded generator of ``sim_spatial_unequal.csv``: a two-arm trial with PRT-like unequal visit
spacing (0, 0.5, 1, 2, 3, 6, 12 months) and a spatial exponential within-participant
covariance, for the ``spatial_exponential`` reference (``gls_spatial.R``).

Run from the repository root::

    .venv/bin/python tests/references/models/structures/make_spatial_sim.py

numpy only (no ``prt_outcomes`` code). Values are rounded to 3 decimals so that R and Python read
the same doubles. True model: ``y = 5 - arm_effect(t) + e``, ``Cov(e_s, e_t) = 4 exp(-|s - t| / 3)``
(``rho = exp(-1/3) = 0.72`` per month); dropout after 6 months in some participants and
intermittent missing values (rows absent).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TIMES = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0])


def main() -> None:
    rng = np.random.default_rng(20261202)
    cov = 4.0 * np.exp(-np.abs(TIMES[:, None] - TIMES[None, :]) / 3.0)
    chol = np.linalg.cholesky(cov)
    lines = ["participant_id,arm,time,y"]
    for i in range(70):
        arm = "usual_care" if i < 35 else "prt"
        effect = np.where(TIMES > 0, 1.5 * (1 - np.exp(-TIMES / 2)), 0.0) if arm == "prt" else 0.0
        y = 5.0 - effect + chol @ rng.standard_normal(TIMES.size)
        keep = rng.uniform(size=TIMES.size) > 0.08
        keep[0] = True
        if rng.uniform() < 0.2:
            keep[5:] = False  # dropout after 3 months
        for t, v, k in zip(TIMES, y, keep):
            if k:
                lines.append(f"p{i:03d},{arm},{t:g},{v:.3f}")
    (HERE / "sim_spatial_unequal.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
