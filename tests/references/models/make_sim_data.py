"""Seeded generator of the simulated trials used as model-engine reference fixtures.

Run from the repository root::

    .venv/bin/python tests/references/models/make_sim_data.py

It writes ``sim_*.csv`` and ``datasets.csv`` (the manifest read by ``make_r_reference.R`` and by
the tests) next to this file.  The generator is deterministic (numpy ``default_rng`` with fixed
seeds) and uses numpy only, so it does not depend on any code in ``prt_outcomes``.

Every value is rounded to 3 decimals before writing, so the CSV holds the data exactly: R and
Python read the same doubles.

Columns: ``participant_id, arm, visit, visit_index, y, age, sex, site``.  Rows after monotone
dropout are absent; intermittent missing values are present as rows with an empty ``y``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


@dataclass
class SimSpec:
    name: str
    seed: int
    arms: dict[str, int]  # arm -> n participants (first arm = reference)
    visits: list[str]  # in time order (first = baseline)
    cov: np.ndarray  # visits x visits residual covariance of the outcome
    arm_slopes: dict[str, list[float]]  # arm -> mean change from baseline at each visit
    drop_hazard: list[float]  # probability of dropping out *before* visit k (k >= 1)
    intermittent: float = 0.04  # probability a non-baseline value is missing (row kept, y empty)
    baseline_missing: int = 0  # number of participants whose baseline y is missing
    description: str = ""
    covariates: list[str] = field(default_factory=lambda: ["age", "sex", "site"])
    ml: bool = False  # also produce ML references for this dataset


def _cs(sd_subject: float, sd_resid: float, k: int) -> np.ndarray:
    return sd_subject**2 * np.ones((k, k)) + sd_resid**2 * np.eye(k)


def _unstructured(sds: list[float], rho: float, decay: float) -> np.ndarray:
    k = len(sds)
    idx = np.arange(k)
    corr = rho ** (np.abs(idx[:, None] - idx[None, :]) ** decay)
    s = np.asarray(sds)
    return corr * s[:, None] * s[None, :]


def _neg_cs(sd: float, rho: float, k: int) -> np.ndarray:
    return sd**2 * ((1 - rho) * np.eye(k) + rho * np.ones((k, k)))


SPECS = [
    SimSpec(
        name="sim1_three_arm_un",
        seed=20260101,
        arms={"control": 40, "placebo": 55, "prt": 70},
        # names chosen so that alphabetical order (baseline, week12, week2, ...) is NOT time order
        visits=["baseline", "week2", "week4", "week8", "week12"],
        cov=_unstructured([1.8, 1.6, 1.5, 1.7, 2.0], rho=0.7, decay=0.6),
        arm_slopes={
            "control": [0, -0.2, -0.3, -0.3, -0.4],
            "placebo": [0, -0.6, -0.8, -0.9, -0.9],
            "prt": [0, -1.2, -1.9, -2.2, -2.4],
        },
        drop_hazard=[0.03, 0.05, 0.08, 0.12],
        description=(
            "3 arms 40/55/70, 5 visits, heterogeneous AR-like unstructured covariance, growing dropout"
        ),
    ),
    SimSpec(
        name="sim2_two_arm_cs",
        seed=20260202,
        arms={"usual_care": 60, "prt": 80},
        visits=["v1", "v2", "v3", "v4"],
        cov=_cs(1.2, 0.9, 4),
        arm_slopes={"usual_care": [0, -0.1, -0.2, -0.2], "prt": [0, -1.0, -1.5, -1.6]},
        drop_hazard=[0.04, 0.07, 0.10],
        intermittent=0.06,
        baseline_missing=4,
        description="2 arms 60/80, 4 visits, compound symmetry, 4 participants missing baseline y",
        ml=True,
    ),
    SimSpec(
        name="sim3_near_zero_re",
        seed=20260303,
        arms={"control": 40, "placebo": 55, "prt": 70},
        visits=["baseline", "post", "month3", "month6"],
        cov=_cs(0.35, 1.5, 4),
        arm_slopes={
            "control": [0, -0.2, -0.2, -0.3],
            "placebo": [0, -0.5, -0.6, -0.6],
            "prt": [0, -1.5, -1.6, -1.7],
        },
        drop_hazard=[0.05, 0.08, 0.12],
        description=(
            "3 arms, 4 visits, random-intercept SD 0.35 vs residual SD 1.5 (small but positive lme4 estimate)"
        ),
    ),
    SimSpec(
        name="sim4_singular",
        seed=20260404,
        arms={"control": 40, "placebo": 55, "prt": 70},
        visits=["baseline", "week2", "week4", "week8", "week12"],
        cov=_neg_cs(1.5, -0.12, 5),
        arm_slopes={
            "control": [0, -0.1, -0.2, -0.2, -0.3],
            "placebo": [0, -0.4, -0.6, -0.6, -0.7],
            "prt": [0, -1.0, -1.5, -1.8, -1.9],
        },
        drop_hazard=[0.03, 0.05, 0.08, 0.12],
        description=(
            "3 arms, 5 visits, negative within-participant correlation: lme4 random-intercept "
            "variance at the boundary (exactly 0, singular fit)"
        ),
    ),
    SimSpec(
        name="sim5_small_hetero",
        seed=20260505,
        arms={"placebo": 28, "prt": 34, "prt_plus": 31},
        visits=["t0", "t1", "t2", "t3", "t4"],
        cov=_unstructured([1.0, 1.4, 1.9, 2.3, 2.6], rho=0.85, decay=0.4),
        arm_slopes={
            "placebo": [0, -0.3, -0.4, -0.4, -0.5],
            "prt": [0, -0.9, -1.3, -1.4, -1.5],
            "prt_plus": [0, -1.1, -1.6, -1.9, -2.0],
        },
        drop_hazard=[0.06, 0.09, 0.12, 0.15],
        description="small 3-arm trial 28/34/31, 5 visits, variance growing over time, strong correlation",
    ),
]

SITE_EFFECT = {"site_a": 0.0, "site_b": 0.4, "site_c": -0.3}


def simulate(spec: SimSpec) -> list[dict]:
    rng = np.random.default_rng(spec.seed)
    k = len(spec.visits)
    chol = np.linalg.cholesky(spec.cov)
    rows: list[dict] = []
    pid = 0
    participants = []
    for arm, n in spec.arms.items():
        participants += [arm] * n
    # interleave arms so ids are not blocked by arm
    order = rng.permutation(len(participants))
    participants = [participants[i] for i in order]
    baseline_missing = set(rng.choice(len(participants), size=spec.baseline_missing, replace=False).tolist())
    for i, arm in enumerate(participants):
        pid += 1
        age = round(float(np.clip(rng.normal(45, 13), 18, 80)), 1)
        sex = "female" if rng.random() < 0.56 else "male"
        site = str(rng.choice(["site_a", "site_b", "site_c"], p=[0.45, 0.35, 0.20]))
        mu = (
            5.0
            + 0.025 * (age - 45)
            + (0.35 if sex == "male" else 0.0)
            + SITE_EFFECT[site]
            + np.asarray(spec.arm_slopes[arm])
        )
        y = mu + chol @ rng.standard_normal(k)
        # monotone dropout before visit j (j >= 1)
        last = k - 1
        for j in range(1, k):
            if rng.random() < spec.drop_hazard[j - 1]:
                last = j - 1
                break
        for j in range(last + 1):
            value: float | None = round(float(y[j]), 3)
            if j == 0 and i in baseline_missing:
                value = None
            elif j > 0 and rng.random() < spec.intermittent:
                value = None
            rows.append(
                {
                    "participant_id": f"P{pid:04d}",
                    "arm": arm,
                    "visit": spec.visits[j],
                    "visit_index": j + 1,
                    "y": value,
                    "age": age,
                    "sex": sex,
                    "site": site,
                }
            )
    return rows


def main() -> None:
    manifest = []
    for spec in SPECS:
        rows = simulate(spec)
        path = HERE / f"{spec.name}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for r in rows:
                writer.writerow({key: ("" if v is None else v) for key, v in r.items()})
        manifest.append(
            {
                "dataset": spec.name,
                "file": path.name,
                "outcome": "y",
                "arm_levels": ";".join(spec.arms),
                "visit_levels": ";".join(spec.visits),
                "covariates": ";".join(spec.covariates),
                "reference_arm": next(iter(spec.arms)),
                "baseline_visit": spec.visits[0],
                "ml": "TRUE" if spec.ml else "FALSE",
                "description": spec.description,
            }
        )
        n_obs = sum(r["y"] is not None for r in rows)
        print(f"{path.name}: {len(rows)} rows, {n_obs} observed, {path.stat().st_size / 1024:.1f} KB")
    with (HERE / "datasets.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(manifest[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest)


if __name__ == "__main__":
    main()
