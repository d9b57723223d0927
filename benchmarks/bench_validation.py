"""Benchmark: validate 1,000,000 long rows x 10 columns and write the failure report.

Target: under 10 s on the project machine (2 cores). Prints a table of rows, seconds and peak
memory for validating an in-memory frame plus writing the report (the target), and for reading
the same data from CSV and validating it (information). Peak memory is the process's peak
resident set size after the step (``ru_maxrss``; it only grows, so later steps include earlier
peaks); tracemalloc is not used because it slows pandas several-fold.

Run:  .venv/bin/python benchmarks/bench_validation.py [--rows N] [--no-csv]
"""

from __future__ import annotations

import argparse
import resource
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


def measure(fn):
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return out, seconds, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-csv", action="store_true")
    args = parser.parse_args()
    config = StudyConfig.from_dict(CONFIG)
    frame = make_frame(args.rows)
    results = []
    with tempfile.TemporaryDirectory() as tmp:

        def validate_and_write():
            result = validate_study_data(frame, config)
            result.write(Path(tmp) / "report")
            return result

        result, sec, peak = measure(validate_and_write)
        results.append(("validate + write report", len(frame), sec, peak, len(result.failures)))
        if not args.no_csv:
            path = Path(tmp) / "bench.csv"
            frame.drop(columns=["source_file", "source_row"]).to_csv(path, index=False)

            def ingest_validate():
                ingest = read_study_data(config, files=[path])
                return validate_study_data(ingest.data, config, ingest=ingest)

            result2, sec2, peak2 = measure(ingest_validate)
            results.append(("read CSV + validate", len(frame), sec2, peak2, len(result2.failures)))
    print(f"{'step':<26}{'rows':>10}{'seconds':>10}{'peak MiB':>10}{'failures':>10}")
    for name, rows, sec, peak, nf in results:
        print(f"{name:<26}{rows:>10}{sec:>10.2f}{peak:>10.0f}{nf:>10}")
    total = result.summary.iloc[-1]
    assert total.rows_in == total.rows_analysed + total.rows_quarantined


if __name__ == "__main__":
    main()
