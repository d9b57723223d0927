"""Small realistic result tables for the figure, table and report tests (a helper module, not a test
module: the ``cfg`` and ``results`` fixtures built from it live in ``conftest.py``).

``write_fake_results`` writes every CSV the render stage reads (the output contract of
``docs/architecture.md`` and ``prt_outcomes.outputs``) for the example config: three arms,
seven visits, four outcomes. The numbers are shaped like the Boulder Back Pain Study (PRT
large improvement, placebo moderate, usual care small) but are not estimates of anything.
``test_report_fakes.py`` checks the fakes against the contract, so the other tests test real
shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from prt_outcomes.analyse.outcomes import encode_warnings
from prt_outcomes.config import load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "config" / "config.yaml"
FAKE_IDS = [f"P{i:03d}" for i in range(1, 151)]
QUARANTINED_ID = "Q-999"  # a participant quarantined by validation: in the ingested data only

CONTRACT = {
    "validation/summary.csv": ["file", "rows_in", "rows_analysed", "rows_quarantined"],
    "validation/failures.csv": ["file", "row", "column", "rule", "value", "message"],
    "validation/rule_counts.csv": ["rule", "column", "n"],
    "tables/flow.csv": ["arm", "visit", "randomized", "assessed", "analysed"],
    "tables/baseline.csv": [
        "variable",
        "label",
        "level",
        "arm",
        "n",
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
        "count",
        "percent",
        "display",
    ],
    "tables/observed_summary.csv": [
        "outcome",
        "arm",
        "visit",
        "n",
        "mean",
        "sd",
        "se",
        "median",
        "q1",
        "q3",
        "change_n",
        "change_mean",
        "change_sd",
        "change_se",
    ],
    "tables/missingness.csv": [
        "outcome",
        "arm",
        "visit",
        "expected",
        "observed",
        "missing",
        "percent_missing",
    ],
    "tables/marginal_means.csv": [
        "outcome",
        "analysis",
        "arm",
        "visit",
        "estimate",
        "se",
        "df",
        "ci_low",
        "ci_high",
        "n_observed",
    ],
    "tables/contrasts.csv": [
        "outcome",
        "analysis",
        "visit",
        "arm",
        "reference",
        "estimate",
        "se",
        "df",
        "t",
        "p",
        "ci_low",
        "ci_high",
        "hedges_g",
        "hedges_g_ci_low",
        "hedges_g_ci_high",
    ],
    "tables/change_contrasts.csv": [
        "outcome",
        "analysis",
        "visit",
        "arm",
        "reference",
        "estimate",
        "se",
        "df",
        "t",
        "p",
        "ci_low",
        "ci_high",
        "hedges_g",
        "hedges_g_ci_low",
        "hedges_g_ci_high",
    ],
    "tables/lsmeans_change.csv": [
        "outcome",
        "analysis",
        "visit",
        "arm",
        "reference",
        "n",
        "estimate",
        "se",
        "df",
        "ci_low",
        "ci_high",
        "difference",
        "difference_se",
        "difference_df",
        "difference_ci_low",
        "difference_ci_high",
        "p",
    ],
    "tables/model_info.csv": [
        "outcome",
        "analysis",
        "kind",
        "formula",
        "covariance",
        "method",
        "df_method",
        "n_obs",
        "n_subjects",
        "loglik",
        "aic",
        "converged",
        "warnings",
    ],
    "tables/responders.csv": [
        "outcome",
        "threshold",
        "visit",
        "arm",
        "responders",
        "denominator",
        "percent",
        "reference",
        "risk_difference",
        "rd_ci_low",
        "rd_ci_high",
        "odds_ratio",
        "or_ci_low",
        "or_ci_high",
        "p",
    ],
}

# Fraction of the baseline mean left at follow-up, per arm (PRT large, placebo moderate).
_RESPONSE = {"prt": 0.42, "placebo": 0.72, "usual_care": 0.9}


def load_example_config():
    """The example config, freshly loaded."""
    return load_config(EXAMPLE_CONFIG)


def read(results, name):
    """One result table of a results directory."""
    return pd.read_csv(results / "tables" / f"{name}.csv")


def _outcome_scale(outcome):
    lo, hi = outcome.min, outcome.max
    if lo >= 20:  # T-score: centred near 55, improvement toward 50
        return 56.0, 7.0, lo
    return lo + 0.42 * (hi - lo), 0.16 * (hi - lo), lo


def write_fake_results(results_dir: Path, config=None, *, warnings: bool = True) -> Path:
    """Write every render-stage input under ``results_dir``; return ``results_dir``."""
    cfg = config or load_example_config()
    rng = np.random.default_rng(7)
    results_dir = Path(results_dir)
    (results_dir / "tables").mkdir(parents=True, exist_ok=True)
    (results_dir / "validation").mkdir(parents=True, exist_ok=True)
    arms, visits = list(cfg.arm_names), list(cfg.visit_names)
    ref = cfg.reference_arm
    n_rand = {a: 50 + i for i, a in enumerate(arms)}
    retention = {v: 1.0 - 0.025 * i for i, v in enumerate(visits)}

    flow = [
        dict(
            arm=a,
            visit=v,
            randomized=n_rand[a],
            assessed=int(round(n_rand[a] * retention[v])),
            analysed=int(round(n_rand[a] * retention[v])) - (1 if v == "post" else 0),
        )
        for a in arms
        for v in visits
    ]
    pd.DataFrame(flow).to_csv(results_dir / "tables/flow.csv", index=False)

    obs, mm, con, chg, miss, info, lsm = [], [], [], [], [], [], []
    for k, outcome in enumerate(cfg.outcomes):
        base_mean, sd, floor = _outcome_scale(outcome)
        means = {}
        for a in arms:
            for j, v in enumerate(visits):
                factor = 1.0 if j == 0 else _RESPONSE[a] + 0.01 * j
                m = floor + (base_mean - floor) * factor + rng.normal(0, 0.02 * sd)
                means[a, v] = m
                n = int(round(n_rand[a] * retention[v]))
                s = sd * (1.0 if j == 0 else 1.1)
                cn = 0 if j == 0 else n
                cm = m - means[a, visits[0]]
                obs.append(
                    dict(
                        outcome=outcome.name,
                        arm=a,
                        visit=v,
                        n=n,
                        mean=m,
                        sd=s,
                        se=s / np.sqrt(n),
                        median=m,
                        q1=m - 0.67 * s,
                        q3=m + 0.67 * s,
                        change_n=cn,
                        change_mean=cm if j else np.nan,
                        change_sd=0.9 * sd if j else np.nan,
                        change_se=0.9 * sd / np.sqrt(n) if j else np.nan,
                    )
                )
                se, df = s / np.sqrt(n) * 0.95, 140.0 + j
                q = stats.t.ppf(0.975, df)
                mm.append(
                    dict(
                        outcome=outcome.name,
                        analysis="primary",
                        arm=a,
                        visit=v,
                        estimate=m + 0.01 * sd,
                        se=se,
                        df=df,
                        ci_low=m - q * se,
                        ci_high=m + q * se,
                        n_observed=n,
                    )
                )
                miss.append(
                    dict(
                        outcome=outcome.name,
                        arm=a,
                        visit=v,
                        expected=n_rand[a],
                        observed=n,
                        missing=n_rand[a] - n,
                        percent_missing=100.0 * (n_rand[a] - n) / n_rand[a],
                    )
                )
        for j, v in enumerate(visits):
            for a in arms:
                if a == ref:
                    continue
                for table, delta in (
                    (con, means[a, v] - means[ref, v]),
                    (chg, (means[a, v] - means[a, visits[0]]) - (means[ref, v] - means[ref, visits[0]])),
                ):
                    if table is chg and j == 0:
                        continue
                    se, df = 0.2 * sd, 145.0
                    t = delta / se
                    q = stats.t.ppf(0.975, df)
                    g = delta / sd
                    table.append(
                        dict(
                            outcome=outcome.name,
                            analysis="primary",
                            visit=v,
                            arm=a,
                            reference=ref,
                            estimate=delta,
                            se=se,
                            df=df,
                            t=t,
                            p=float(2 * stats.t.sf(abs(t), df)),
                            ci_low=delta - q * se,
                            ci_high=delta + q * se,
                            hedges_g=g,
                            hedges_g_ci_low=g - 0.4,
                            hedges_g_ci_high=g + 0.4,
                        )
                    )
        for v in visits[1:]:
            for a in arms:
                change = means[a, v] - means[a, visits[0]]
                diff = change - (means[ref, v] - means[ref, visits[0]])
                q = stats.t.ppf(0.975, 140.0)
                se, dse = 0.15 * sd, 0.2 * sd
                lsm.append(
                    dict(
                        outcome=outcome.name,
                        analysis="primary",
                        visit=v,
                        arm=a,
                        reference=ref,
                        n=int(round(n_rand[a] * retention[v])),
                        estimate=change,
                        se=se,
                        df=140.0,
                        ci_low=change - q * se,
                        ci_high=change + q * se,
                        **(
                            {}
                            if a == ref
                            else dict(
                                difference=diff,
                                difference_se=dse,
                                difference_df=140.0,
                                difference_ci_low=diff - q * dse,
                                difference_ci_high=diff + q * dse,
                                p=float(2 * stats.t.sf(abs(diff / dse), 140.0)),
                            )
                        ),
                    )
                )
        info.append(
            dict(
                outcome=outcome.name,
                analysis="primary",
                kind="mmrm",
                formula=f"{outcome.name} ~ arm * visit + age + sex",
                covariance=cfg.model.covariance,
                method=cfg.model.method,
                df_method=cfg.model.df_method,
                n_obs=900 + k,
                n_subjects=153,
                loglik=-1500.5 - k,
                aic=3100.2 + k,
                converged=not (warnings and k == 2),
                warnings=encode_warnings(
                    ["Hessian not positive definite", "fell back to compound symmetry"]
                    if warnings and k == 2
                    else []
                ),
            )
        )
    frames = {
        "observed_summary": obs,
        "marginal_means": mm,
        "contrasts": con,
        "change_contrasts": chg,
        "lsmeans_change": lsm,
        "missingness": miss,
        "model_info": info,
    }
    for name, rows in frames.items():
        pd.DataFrame(rows, columns=CONTRACT[f"tables/{name}.csv"]).to_csv(
            results_dir / f"tables/{name}.csv", index=False
        )

    base = []
    for arm in [*arms, "Total"]:
        n = sum(n_rand.values()) if arm == "Total" else n_rand[arm]
        base.append(
            dict(variable="n", label="Participants, No.", level="", arm=arm, n=n, count=n, display=str(n))
        )
        base.append(
            dict(
                variable="age",
                label="Age, y, mean (SD)",
                level="",
                arm=arm,
                n=n,
                mean=41.1,
                sd=15.6,
                median=39.0,
                q1=29.0,
                q3=52.0,
                display="41.1 (15.6)",
            )
        )
        base.append(
            dict(
                variable="pain_duration_years",
                label="Pain duration, y, median (IQR)",
                level="",
                arm=arm,
                n=n,
                mean=10.2,
                sd=9.0,
                median=8.0,
                q1=4.0,
                q3=15.0,
                display="8.0 (4.0-15.0)",
            )
        )
        for level, share in (("female", 0.52), ("male", 0.48)):
            count = int(round(share * n))
            base.append(
                dict(
                    variable="sex",
                    label="Sex, No. (%)",
                    level=level,
                    arm=arm,
                    n=n,
                    count=count,
                    percent=100.0 * count / n,
                    display=f"{count} ({100.0 * count / n:.1f})",
                )
            )
        for outcome in cfg.outcomes:
            m, sd, _ = _outcome_scale(outcome)
            d = outcome.instrument.decimals
            base.append(
                dict(
                    variable=outcome.name,
                    label=f"{outcome.axis_label}, mean (SD)",
                    level="",
                    arm=arm,
                    n=n,
                    mean=m,
                    sd=sd,
                    display=f"{m:.{d}f} ({sd:.{d}f})",
                )
            )
    pd.DataFrame(base, columns=CONTRACT["tables/baseline.csv"]).to_csv(
        results_dir / "tables/baseline.csv", index=False
    )

    resp = []
    for t in cfg.thresholds:
        for o in t.outcomes:
            for j, v in enumerate(visits[1:], start=1):
                rates = {a: min(0.95, (1.0 - _RESPONSE[a]) * 1.2 + 0.02 * j) for a in arms}
                for a in arms:
                    den = n_rand[a]
                    r = int(round(rates[a] * den))
                    rd = r / den - rates[ref]
                    resp.append(
                        dict(
                            outcome=o,
                            threshold=t.rule,
                            visit=v,
                            arm=a,
                            responders=r,
                            denominator=den,
                            percent=100.0 * r / den,
                            reference=ref,
                            risk_difference=np.nan if a == ref else rd,
                            rd_ci_low=np.nan if a == ref else rd - 0.17,
                            rd_ci_high=np.nan if a == ref else rd + 0.17,
                            odds_ratio=np.nan if a == ref else 1.0 + 8 * rd,
                            or_ci_low=np.nan if a == ref else 0.8 + 3 * rd,
                            or_ci_high=np.nan if a == ref else 2.0 + 20 * rd,
                            p=np.nan if a == ref else 0.0004 if rd > 0.3 else 0.03,
                            denominator_type="randomized",
                            percent_ci_low=100 * r / den - 12,
                            percent_ci_high=100 * r / den + 12,
                            nnt=np.nan if a == ref else 1 / rd,
                            nnt_ci_low=np.nan,
                            nnt_ci_high=np.nan,
                            test="fisher",
                            n_missing=den - r // 2,
                        )
                    )
    pd.DataFrame(resp).to_csv(results_dir / "tables/responders.csv", index=False)
    # the example config asks for no reliable change: the table has its columns and no rows
    from prt_outcomes.analyse.reliable_change import RELIABLE_CHANGE_COLUMNS

    pd.DataFrame(columns=list(RELIABLE_CHANGE_COLUMNS)).to_csv(
        results_dir / "tables/reliable_change.csv", index=False
    )
    # a trial: the clinic-audit tables have their columns and no rows
    from prt_outcomes.analyse.audit_tables import empty_audit_tables

    for name, table in empty_audit_tables().items():
        table.to_csv(results_dir / f"tables/{name}.csv", index=False)
    # ---- sensitivity (issue 12): the example config has no sensitivity: section, so both tables
    # have their columns and no rows
    from prt_outcomes.analyse.sensitivity import SENSITIVITY_COLUMNS, TIPPING_POINT_COLUMNS

    for name, columns in (("sensitivity", SENSITIVITY_COLUMNS), ("tipping_point", TIPPING_POINT_COLUMNS)):
        pd.DataFrame(columns=list(columns)).to_csv(results_dir / f"tables/{name}.csv", index=False)

    pd.DataFrame(
        [
            dict(file="outcomes_long.csv", rows_in=1060, rows_analysed=1050, rows_quarantined=10),
            dict(file="total", rows_in=1060, rows_analysed=1050, rows_quarantined=10),
        ]
    ).to_csv(results_dir / "validation/summary.csv", index=False)
    failures = [
        dict(
            file="outcomes_long.csv",
            row=12 + i,
            column="pain_avg",
            rule="in_range(0, 10)",
            value="11",
            message="pain_avg 11 out of range 0-10",
        )
        for i in range(8)
    ]
    failures.append(
        dict(
            file="outcomes_long.csv",
            row=400,
            column="participant_id",
            rule="unique(participant_id, visit)",
            value=FAKE_IDS[41],
            message=f"participant {FAKE_IDS[41]} has visit 'post' twice",
        )
    )
    failures.append(
        dict(
            file="outcomes_long.csv",
            row=402,
            column="arm",
            rule="missing_value",
            value="",
            message=f"arm of {QUARANTINED_ID} is empty",
        )
    )
    failures.append(
        dict(
            file="outcomes_long.csv",
            row=401,
            column="visit",
            rule="isin(visits)",
            value="week 9",
            message=f"visit 'week 9' of {FAKE_IDS[7]} unknown",
        )
    )
    pd.DataFrame(failures).to_csv(results_dir / "validation/failures.csv", index=False)
    pd.DataFrame(
        [
            dict(rule="in_range(0, 10)", column="pain_avg", n=8),
            dict(rule="unique(participant_id, visit)", column="participant_id", n=1),
            dict(rule="isin(visits)", column="visit", n=1),
        ]
    ).to_csv(results_dir / "validation/rule_counts.csv", index=False)

    manifest = {
        "study": cfg.name,
        "created_by": "prt-outcomes 0.1.0",
        "config": {"study": {"name": cfg.name}},
        "inputs": [{"path": "data/example/outcomes_long.csv", "sha256": "ab" * 32, "bytes": 51234}],
        "packages": {"numpy": "2.4.0", "pandas": "3.1.1", "matplotlib": "3.11.2"},
        "python": "3.11.9",
        "platform": "Linux-x86_64",
        "seed": 20221,
    }
    (results_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    # Participant-level data for the optional individual-trajectory figure.
    (results_dir / "intermediate").mkdir(exist_ok=True)
    ids = iter(FAKE_IDS)
    rows = []
    for a in arms:
        for _ in range(n_rand[a]):
            pid = next(ids, f"X{len(rows)}")
            rng.normal(4.2, 1.2)  # an unused draw, kept so the fake values stay as they were
            for j, v in enumerate(visits):
                if rng.random() < 0.03 * j:
                    continue
                factor = 1.0 if j == 0 else _RESPONSE[a]
                row = dict(participant_id=pid, arm=a, visit=v)
                for outcome in cfg.outcomes:
                    m, sd, floor = _outcome_scale(outcome)
                    val = floor + (m - floor + rng.normal(0, sd * 0.8)) * factor
                    row[outcome.name] = float(np.clip(val, outcome.min, outcome.max))
                rows.append(row)
    pd.DataFrame(rows).to_csv(results_dir / "intermediate/analysis_data.csv", index=False)
    ingested = pd.DataFrame(rows)[["participant_id", "arm", "visit"]]
    ingested.loc[len(ingested)] = [QUARANTINED_ID, None, "baseline"]
    ingested.to_parquet(results_dir / "intermediate/ingested.parquet")
    return results_dir
