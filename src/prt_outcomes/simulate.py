"""Seeded synthetic trial shaped like the Boulder Back Pain Study (the bundled example).

The generator draws a three-arm trial (PRT 50, placebo 51, usual care 50) with seven visits
(baseline, post-treatment, 1, 2, 3, 6 and 12 months), four outcomes and three baseline
covariates. Arm means are calibrated to the published figures of Ashar et al. (2022) so that
the example behaves like the real trial; the data are synthetic and say nothing new about PRT.

Calibration targets (sources in ``../shared/reference/prt_trials.md``):

* BPI average pain, mean by arm (PRT / placebo / usual care): baseline 4.22 / 4.16 / 3.91
  (SD about 1.2-1.3; the paper's baseline averages two ratings, hence 0.5 steps), post-treatment
  1.18 / 2.84 / 3.13 (SD 1.24 / 1.64 / 1.45), 12 months 1.51 / 2.79 / 3.00. Months 1-6 are
  interpolated between post-treatment and 12 months.
* Oswestry: baseline about 23.5 (SD 10); post-treatment 10.14 / 19.00 / 20.68 (SD about 11).
* PROMIS depression raw sum (8 items, 8-40): baseline 14.66 / 13.17 / 12.85 (SD about 4.6),
  post-treatment 12.23 / 11.75 / 11.81.
* BPI interference: baseline 3.62 / 3.46 / 3.42 (SD about 1.7); PRT improving about 1.5 points
  more than the control arms (secondary-outcome direction reported by the authors).
* Age 41.1 (15.6), range 21-70; 54% female; pain duration about 10 years.
* Retention: post-treatment assessed 44 / 44 / 47 (registry "completed"), falling to about
  three quarters by 12 months, with more dropout among participants in more pain.

Means are matched *after* clipping to the instrument range and rounding to its step: the
latent mean of each arm x visit is solved by bisection so that the expected observed mean hits
the target.

Examples
--------
>>> from prt_outcomes.simulate import simulate_trial
>>> data = simulate_trial(seed=20221)
>>> sorted(data["arm"].unique())
['placebo', 'prt', 'usual_care']
>>> int(data.loc[data.visit == "baseline", "participant_id"].nunique())
151
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "simulate_trial",
    "simulate_audit",
    "write_example",
    "write_clinic_example",
    "EXAMPLE_SEED",
    "AUDIT_SEED",
    "VISITS",
    "ARMS",
]

EXAMPLE_SEED = 20221
ARMS = ("prt", "placebo", "usual_care")
ARM_SIZES = {"prt": 50, "placebo": 51, "usual_care": 50}
VISITS = ("baseline", "post", "m1", "m2", "m3", "m6", "m12")
OUTCOME_COLUMNS = ("pain_avg", "bpi_interference", "odi", "promis_dep")
COLUMNS = ("participant_id", "arm", "visit", *OUTCOME_COLUMNS, "age", "sex", "pain_duration_years")


@dataclass(frozen=True)
class _OutcomeSpec:
    low: float
    high: float
    step: float
    # observed-scale mean targets per arm: (baseline, post, m12); m1..m6 interpolated
    targets: dict[str, tuple[float, float, float]]
    subject_sd: float  # between-participant SD of the latent level
    residual_sd: float  # within-participant, visit-to-visit SD
    change_sd: float  # between-participant SD of the treatment response (post-baseline)
    item_missing: float  # probability that this outcome alone is missing on an assessed visit


_OUTCOMES: dict[str, _OutcomeSpec] = {
    "pain_avg": _OutcomeSpec(
        low=0,
        high=10,
        step=0.5,
        targets={
            "prt": (4.22, 1.18, 1.51),
            "placebo": (4.16, 2.84, 2.79),
            "usual_care": (3.91, 3.13, 3.00),
        },
        subject_sd=0.95,
        residual_sd=0.80,
        change_sd=0.75,
        item_missing=0.0,
    ),
    "bpi_interference": _OutcomeSpec(
        low=0,
        high=10,
        step=1 / 7,
        targets={
            "prt": (3.62, 1.30, 1.55),
            "placebo": (3.46, 2.70, 2.75),
            "usual_care": (3.42, 2.95, 2.90),
        },
        subject_sd=1.35,
        residual_sd=0.95,
        change_sd=0.80,
        item_missing=0.01,
    ),
    "odi": _OutcomeSpec(
        low=0,
        high=100,
        step=2,
        targets={
            "prt": (23.70, 10.14, 11.50),
            "placebo": (23.06, 19.00, 18.50),
            "usual_care": (23.26, 20.68, 20.00),
        },
        subject_sd=8.0,
        residual_sd=5.5,
        change_sd=5.0,
        item_missing=0.02,
    ),
    "promis_dep": _OutcomeSpec(
        low=8,
        high=40,
        step=1,
        targets={
            "prt": (14.66, 12.23, 12.40),
            "placebo": (13.17, 11.75, 12.10),
            "usual_care": (12.85, 11.81, 12.00),
        },
        subject_sd=3.9,
        residual_sd=2.3,
        change_sd=1.5,
        item_missing=0.01,
    ),
}

# Probability of being assessed at each post-baseline visit, given still in follow-up, by arm.
# Post-treatment retention follows the registry's completers (44/50, 44/51, 47/50).
_RETENTION = {
    "prt": (0.88, 0.98, 0.98, 0.97, 0.97, 0.96),
    "placebo": (0.87, 0.97, 0.97, 0.97, 0.96, 0.95),
    "usual_care": (0.94, 0.97, 0.97, 0.96, 0.96, 0.95),
}
_INTERMITTENT_MISS = 0.04  # an assessed participant skips one survey without dropping out

_VISIT_FRACTION = {"post": 0.0, "m1": 0.15, "m2": 0.3, "m3": 0.45, "m6": 0.7, "m12": 1.0}


def _visit_targets(spec: _OutcomeSpec, arm: str) -> np.ndarray:
    base, post, m12 = spec.targets[arm]
    rest = [post + (m12 - post) * _VISIT_FRACTION[v] for v in VISITS[1:]]
    return np.array([base, *rest])


def _observe(latent: np.ndarray, spec: _OutcomeSpec) -> np.ndarray:
    """Clip to the instrument's range and round to its step, as a questionnaire would."""
    clipped = np.clip(latent, spec.low, spec.high)
    return np.round(np.round((clipped - spec.low) / spec.step) * spec.step + spec.low, 4)


def _standardise(x: np.ndarray) -> np.ndarray:
    """Centre and scale along the first axis (participants)."""
    return (x - x.mean(axis=0)) / x.std(axis=0)


def _latent_mean_for(target: float, sd: float, spec: _OutcomeSpec, z: np.ndarray) -> float:
    """Latent mean whose clipped, rounded observations have expected mean ``target``."""
    lo, hi = spec.low - 3 * sd, spec.high + 3 * sd
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _observe(mid + sd * z, spec).mean() < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def simulate_trial(seed: int = EXAMPLE_SEED) -> pd.DataFrame:
    """Simulate the bundled example trial.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same data.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per participant x assessed visit, columns
        ``participant_id, arm, visit, pain_avg, bpi_interference, odi, promis_dep, age, sex,
        pain_duration_years``. Visits a participant missed have no row; an outcome skipped on
        an assessed visit is missing (NaN).

    Examples
    --------
    >>> df = simulate_trial(seed=1)
    >>> df.groupby("arm")["participant_id"].nunique().to_dict()
    {'placebo': 51, 'prt': 50, 'usual_care': 50}
    """
    rng = np.random.default_rng(seed)
    # A fixed quadrature sample for calibration: independent of the seed, so calibration is exact.
    z_grid = stats.norm.ppf((np.arange(20000) + 0.5) / 20000)

    n_total = sum(ARM_SIZES.values())
    arms = np.repeat(list(ARM_SIZES), list(ARM_SIZES.values()))
    arms = rng.permutation(arms)  # randomization order
    ids = np.array([f"BBP-{1001 + i}" for i in range(n_total)])

    age = np.clip(np.round(rng.normal(41.1, 15.6, n_total)), 21, 70)
    sex = np.where(rng.random(n_total) < 0.54, "female", "male")
    duration = np.clip(np.round(rng.lognormal(np.log(7.0), 0.85, n_total) * 2) / 2, 0.5, 60)

    n_visits = len(VISITS)
    values: dict[str, np.ndarray] = {}
    for name, spec in _OUTCOMES.items():
        subject = rng.normal(0.0, spec.subject_sd, n_total)
        response = rng.normal(0.0, spec.change_sd, n_total)
        resid = rng.normal(0.0, spec.residual_sd, (n_total, n_visits))
        out = np.empty((n_total, n_visits))
        for arm in ARMS:
            rows = arms == arm
            # Standardise the draws within each arm so that arm means sit on their targets
            # instead of wandering by sampling error (n = 50 per arm gives SE ~0.2 on pain).
            subject[rows] = _standardise(subject[rows]) * spec.subject_sd
            response[rows] = _standardise(response[rows]) * spec.change_sd
            resid[rows] = _standardise(resid[rows]) * spec.residual_sd
            targets = _visit_targets(spec, arm)
            for j, target in enumerate(targets):
                sd_j = np.sqrt(spec.subject_sd**2 + spec.residual_sd**2 + (j > 0) * spec.change_sd**2)
                mu = _latent_mean_for(target, sd_j, spec, z_grid)
                latent = mu + subject[rows] + (j > 0) * response[rows] + resid[rows, j]
                out[rows, j] = _observe(latent, spec)
        values[name] = out

    # Dropout: monotone, arm-dependent, a little more likely for those in more pain.
    assessed = np.ones((n_total, n_visits), dtype=bool)
    in_follow_up = np.ones(n_total, dtype=bool)
    pain_z = (values["pain_avg"][:, 0] - values["pain_avg"][:, 0].mean()) / values["pain_avg"][:, 0].std()
    for j in range(1, n_visits):
        keep_p = np.array([_RETENTION[a][j - 1] for a in arms])
        logit = np.log(keep_p / (1 - keep_p)) - 0.35 * pain_z
        stays = rng.random(n_total) < 1 / (1 + np.exp(-logit))
        in_follow_up &= stays
        skips = rng.random(n_total) < _INTERMITTENT_MISS
        assessed[:, j] = in_follow_up & ~(skips & (1 < j < n_visits - 1))

    records = []
    item_missing = {
        name: rng.random((n_total, n_visits)) < spec.item_missing for name, spec in _OUTCOMES.items()
    }
    for i in range(n_total):
        for j, visit in enumerate(VISITS):
            if not assessed[i, j]:
                continue
            row = {"participant_id": ids[i], "arm": arms[i], "visit": visit}
            for name in OUTCOME_COLUMNS:
                row[name] = np.nan if (j > 0 and item_missing[name][i, j]) else values[name][i, j]
            row.update(age=age[i], sex=sex[i], pain_duration_years=duration[i])
            records.append(row)
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    frame["age"] = frame["age"].astype("int64")
    return frame


#: Seed of the bundled clinic audit example (data/clinic_example/clinic_long.csv).
AUDIT_SEED = 20240
#: Sites and their clinicians: clinician c10 sees only a handful of patients (its cells are
#: suppressed by privacy.min_cell 5), c09 a few more.
AUDIT_SITES = {
    "north": ("c01", "c02", "c03"),
    "south": ("c04", "c05", "c06"),
    "east": ("c07", "c08"),
    "west": ("c09", "c10"),
}
_AUDIT_CLINICIAN_WEIGHT = {
    "c01": 1.0, "c02": 1.0, "c03": 0.8, "c04": 1.0, "c05": 0.9, "c06": 0.7,
    "c07": 0.9, "c08": 0.8, "c09": 0.35, "c10": 0.12,
}  # fmt: skip
AUDIT_COLUMNS = ("participant_id", "date", "site", "clinician", "age", "sex", "pain", "promis_pi")


def simulate_audit(seed: int = AUDIT_SEED, n: int = 320) -> pd.DataFrame:
    """Simulate routine care at a multi-site pain clinic (the bundled clinic audit example).

    Patients have a first visit on a date spread over two years (2023-2024) and are asked back
    at about 3 and 6 months; the day of a return visit scatters around 90 and 180 days, and
    some fall outside every visit window (days 125-145 or 225-260). Loss to follow-up is
    monotone and more likely for patients in more pain at the first visit (logit -0.45 per
    point of baseline pain above 6). Outcomes: average pain NRS 0-10 (whole points) and the
    PROMIS pain interference T-score (20-80, one decimal), both improving by about a point
    (NRS) and 3-4 T points on average, with site and clinician effects.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same data.
    n : int
        Number of patients.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per assessment, columns ``participant_id, date, site, clinician,
        age, sex, pain, promis_pi`` (no visit column: the study config places each row on a
        visit by its days since the patient's first date, ``visits[].window``).

    Examples
    --------
    >>> df = simulate_audit(seed=1, n=50)
    >>> int(df["participant_id"].nunique()), sorted(df["site"].unique())
    (50, ['east', 'north', 'south', 'west'])
    """
    rng = np.random.default_rng(seed)
    clinicians = [c for cs in AUDIT_SITES.values() for c in cs]
    site_of = {c: s for s, cs in AUDIT_SITES.items() for c in cs}
    weight = np.array([_AUDIT_CLINICIAN_WEIGHT[c] for c in clinicians])
    chosen = rng.choice(clinicians, size=n, p=weight / weight.sum())
    site_effect = dict(zip(AUDIT_SITES, rng.normal(0.0, 0.4, len(AUDIT_SITES))))
    clinician_effect = dict(zip(clinicians, rng.normal(0.0, 0.35, len(clinicians))))
    start = np.datetime64("2023-01-02")
    first = start + rng.integers(0, 730, n).astype("timedelta64[D]")
    age = np.clip(np.round(rng.normal(52, 14, n)), 18, 90).astype(int)
    sex = np.where(rng.random(n) < 0.6, "female", "male")
    base_pain = np.clip(np.round(rng.normal(6.3, 1.8, n)), 0, 10)
    base_t = np.clip(np.round(60 + 2.2 * (base_pain - 6.3) + rng.normal(0, 5, n), 1), 20, 80)
    gain = rng.normal(1.0, 1.6, n)  # the patient's improvement on the NRS by 6 months
    records = []
    in_care = np.ones(n, dtype=bool)
    for j, (centre, sd) in enumerate(((0, 0), (90, 12), (180, 15))):
        if j:
            logit = 1.2 - 0.45 * (base_pain - 6.0)
            in_care &= rng.random(n) < 1 / (1 + np.exp(-logit))
        late = rng.random(n) < 0.06  # returned outside the window (between or after them)
        days = np.round(rng.normal(centre, sd, n)) if j else np.zeros(n)
        days = np.where(late & (j > 0), [135, 240][j - 1] + rng.integers(-10, 11, n), days)
        noise_p, noise_t = rng.normal(0, 0.9, n), rng.normal(0, 3.0, n)
        for i in np.flatnonzero(in_care):
            c = chosen[i]
            shift = site_effect[site_of[c]] + clinician_effect[c] if j else 0.0
            change = gain[i] * (0.75 if j == 1 else 1.0) + shift if j else 0.0
            pain = (
                base_pain[i] if not j else float(np.clip(np.round(base_pain[i] - change + noise_p[i]), 0, 10))
            )
            tscore = (
                base_t[i]
                if not j
                else float(np.clip(np.round(base_t[i] - 3.2 * change + noise_t[i], 1), 20, 80))
            )
            records.append(
                {
                    "participant_id": f"CL-{1001 + i}",
                    "date": str(first[i] + np.timedelta64(int(days[i]), "D")),
                    "site": site_of[c],
                    "clinician": c,
                    "age": int(age[i]),
                    "sex": sex[i],
                    "pain": pain,
                    "promis_pi": tscore,
                }
            )
    frame = pd.DataFrame.from_records(records, columns=list(AUDIT_COLUMNS))
    return frame.sort_values(["participant_id", "date"], kind="stable").reset_index(drop=True)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, float_format="%.4f", lineterminator="\n")
    # Trailing zeros carry no information; strip them so the file reads like an export.
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(\.\d*?)0+(?=[,\n])", r"\1", text)
    text = re.sub(r"\.(?=[,\n])", "", text)
    path.write_text(text, encoding="utf-8")
    return path


def write_clinic_example(out_dir: str | Path, seed: int = AUDIT_SEED) -> Path:
    """Write the clinic audit example to ``out_dir/clinic_long.csv`` and return its path.

    Byte-identical for the same seed and package version:
    ``prt-outcomes simulate --design audit --out data/clinic_example``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _write_csv(simulate_audit(seed), out_dir / "clinic_long.csv")


def write_example(out_dir: str | Path, seed: int = EXAMPLE_SEED) -> Path:
    """Write the example data set to ``out_dir/outcomes_long.csv`` and return its path.

    The output is byte-identical for the same seed and package version:
    ``prt-outcomes simulate --seed 20221 --out data/example``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _write_csv(simulate_trial(seed), out_dir / "outcomes_long.csv")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the bundled example trial.")
    parser.add_argument("--seed", type=int, default=EXAMPLE_SEED)
    parser.add_argument("--out", default="data/example")
    args = parser.parse_args(argv)
    print(write_example(args.out, args.seed))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
