"""Benchmark: validate 1,000,000 and 5,000,000 long rows x 10 columns and write the report.

Targets (issue #15): 5,000,000 rows x 10 columns validated and the report written in under
15 s with peak memory under 4 GB, on the project machine (2 cores); 1,000,000 rows in under
10 s. Reading the same rows from CSV and validating them is timed too (information, no target).

Each (rows, step) runs in its own subprocess, so that its peak resident set size
(``ru_maxrss`` of the child, KiB on Linux) is its own and not the parent's; the peak includes
building the synthetic frame. tracemalloc is not used because it slows pandas several-fold.
The data have ~1% planted errors (out-of-range pain, off-step ODI, an arm typo); every row is
either analysed or quarantined (``rows_in == rows_analysed + rows_quarantined`` is asserted) and
the failure counts per rule and column are printed.

Run:  .venv/bin/python benchmarks/bench_validation.py [--rows N [N ...]] [--no-csv]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prt_outcomes.config import StudyConfig
from prt_outcomes.ingest import read_study_data
from prt_outcomes.validate.checks import validate_study_data

CONFIG = {
    "study": {"name": "bench"},
    "data": {"files": [{"path": "bench.csv"}], "missing_codes": ["", "NA", "-99"]},
    "arms": {
        "levels": [
            {"name": "prt", "codes": [1]},
            {"name": "placebo", "codes": [2]},
            {"name": "usual_care", "codes": [3]},
        ]
    },
    "visits": [{"name": "baseline", "baseline": True}, {"name": "post"}, {"name": "m1"}, {"name": "m3"}],
    "covariates": [
        {"name": "age", "type": "numeric", "min": 18, "max": 100},
        {"name": "sex", "type": "categorical", "levels": ["female", "male"]},
        {"name": "pain_duration_years", "type": "numeric", "min": 0, "max": 80},
    ],
    "outcomes": [
        {"name": "pain_avg", "instrument": "bpi_average_pain"},
        {"name": "bpi_interference", "instrument": "bpi_interference"},
        {"name": "odi", "instrument": "oswestry"},
        {"name": "promis_dep", "instrument": "promis_tscore"},
    ],
}


def make_frame(n_rows: int, seed: int = 1, defect_rate: float = 0.01) -> pd.DataFrame:
    """Long frame, 4 visits per participant, ~1% of cells damaged in various ways."""
    rng = np.random.default_rng(seed)
    n_part = n_rows // 4
    pid = np.repeat(np.arange(n_part), 4)
    visits = np.tile(np.array(["baseline", "post", "m1", "m3"]), n_part)
    arm = np.repeat(rng.choice(np.array(["prt", "placebo", "usual_care"]), n_part), 4)
    frame = pd.DataFrame(
        {
            "participant_id": pd.Series(pid.astype(str), dtype="str"),
            "arm": pd.Series(arm, dtype="str"),
            "visit": pd.Series(visits, dtype="str"),
            "pain_avg": rng.integers(0, 21, n_rows) / 2.0,
            "bpi_interference": np.round(rng.uniform(0, 10, n_rows), 3),
            "odi": rng.integers(0, 51, n_rows) * 2.0,
            "promis_dep": np.round(rng.uniform(30, 70, n_rows), 1),
            "age": np.repeat(rng.integers(18, 80, n_part), 4).astype(float),
            "sex": pd.Series(np.repeat(rng.choice(np.array(["female", "male"]), n_part), 4), dtype="str"),
            "pain_duration_years": np.repeat(np.round(rng.uniform(0.5, 30, n_part), 1), 4),
        }
    )
    k = int(n_rows * defect_rate)
    rows = rng.choice(n_rows, k, replace=False)
    frame.loc[rows[: k // 3], "pain_avg"] = 11.0
    frame.loc[rows[k // 3 : 2 * k // 3], "odi"] = 33.0
    arms = frame["arm"].to_numpy(dtype=object)
    arms[rows[2 * k // 3 :]] = "PRTT"
    frame["arm"] = pd.Series(arms, dtype="str")
    frame["source_file"] = pd.Series(["bench.csv"] * n_rows, dtype="str")
    frame["source_row"] = np.arange(2, n_rows + 2, dtype=np.int64)
    return frame


#: (rows, step) -> (seconds, MiB) targets; ``None``: information only
TARGETS = {
    (1_000_000, "validate"): (10.0, 4096.0),
    (5_000_000, "validate"): (15.0, 4096.0),
}
STEPS = {"validate": "validate + write report", "read": "read CSV + validate"}


def run_step(n_rows: int, step: str) -> dict:
    """Run one step in this process; return seconds, peak MiB and the reconciled counts."""
    config = StudyConfig.from_dict(CONFIG)
    frame = make_frame(n_rows)
    with tempfile.TemporaryDirectory() as tmp:
        if step == "read":
            path = Path(tmp) / "bench.csv"
            frame.drop(columns=["source_file", "source_row"]).to_csv(path, index=False)
            del frame
            t0 = time.perf_counter()
            ingest = read_study_data(config, files=[path])
            result = validate_study_data(ingest.data, config, ingest=ingest)
        else:
            t0 = time.perf_counter()
            result = validate_study_data(frame, config)
            result.write(Path(tmp) / "report")
        seconds = time.perf_counter() - t0
    total = result.summary.iloc[-1]
    assert total.rows_in == total.rows_analysed + total.rows_quarantined == n_rows
    return {
        "rows": n_rows,
        "step": step,
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "failures": len(result.failures),
        "quarantined": int(total.rows_quarantined),
        "rule_counts": result.rule_counts.to_dict(orient="records"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--no-csv", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("ROWS", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_step(int(args.child[0]), args.child[1])))
        return
    steps = ["validate"] + ([] if args.no_csv else ["read"])
    results = []
    for n_rows in args.rows:
        for step in steps:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n_rows), step],
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'step':<26}{'rows':>10}{'seconds':>9}{'target':>8}{'peak MiB':>10}{'target':>8}"
        f"{'failures':>10}{'quarant.':>10}  result"
    )
    for r in results:
        target = TARGETS.get((r["rows"], r["step"]))
        t_s, t_m = ("", "") if target is None else (f"{target[0]:.0f}", f"{target[1]:.0f}")
        verdict = "info"
        if target is not None:
            verdict = "PASS" if r["seconds"] < target[0] and r["peak_mib"] < target[1] else "FAIL"
        print(
            f"{STEPS[r['step']]:<26}{r['rows']:>10}{r['seconds']:>9.2f}{t_s:>8}{r['peak_mib']:>10.0f}"
            f"{t_m:>8}{r['failures']:>10}{r['quarantined']:>10}  {verdict}"
        )
    print("\nfailures per rule and column")
    for r in results:
        counts = ", ".join(f"{c['rule']}/{c['column']} {c['n']}" for c in r["rule_counts"])
        print(f"  {STEPS[r['step']]}, {r['rows']} rows: {counts}")


if __name__ == "__main__":
    main()
