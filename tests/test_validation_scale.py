"""Validation at scale (issue #15): the vectorised cross-row checks against plain pandas
group-bys, and the 1M-row benchmark's report against the files of the code before the
speed-up (tests/references/validation)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.config import ARM, SUBJECT, VISIT
from prt_outcomes.ingest import _map_codes
from prt_outcomes.validate import schemas

HERE = Path(__file__).parent
REF = HERE / "references" / "validation"


def _random_frame(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.array(["p1", "p2", "P2", "p3", "p4", "p5", "p6", None], dtype=object), n)
    visits = rng.choice(np.array(["baseline", "post", "m1", None], dtype=object), n)
    arms = rng.choice(np.array(["prt", "placebo", None], dtype=object), n, p=[0.9, 0.05, 0.05])
    return pd.DataFrame(
        {
            SUBJECT: pd.Series(ids, dtype="str"),
            VISIT: pd.Series(visits, dtype="str"),
            ARM: pd.Series(arms, dtype="str"),
        }
    )


def _expected_single_value(df: pd.DataFrame, column: str) -> np.ndarray:
    # independent reference: distinct non-missing values per participant by a group-by
    n_values = df.dropna(subset=[SUBJECT]).groupby(SUBJECT)[column].nunique(dropna=True)
    bad = set(n_values.index[n_values > 1])
    return ~df[SUBJECT].isin(bad).to_numpy()


def _expected_duplicate_visit(df: pd.DataFrame) -> np.ndarray:
    sub = df.dropna(subset=[SUBJECT, VISIT])
    counts = sub.groupby([SUBJECT, VISIT]).size()
    bad = set(counts[counts > 1].index.get_level_values(0))
    return ~df[SUBJECT].isin(bad).to_numpy()


@pytest.mark.parametrize("seed", range(6))
def test_cross_row_checks_match_group_by(seed):
    # few rows per participant in small frames so that both failing and passing ones occur
    df = _random_frame(seed, n=12 + 4 * seed)
    schemas.forget_cached_codes()
    try:
        np.testing.assert_array_equal(schemas._single_value(ARM)(df), _expected_single_value(df, ARM))
        np.testing.assert_array_equal(schemas._duplicate_visit(df), _expected_duplicate_visit(df))
        lowered = df[SUBJECT].str.lower()
        spellings = df.dropna(subset=[SUBJECT]).groupby(lowered)[SUBJECT].nunique()
        bad = set(spellings.index[spellings > 1])
        np.testing.assert_array_equal(schemas._ids_differ_only_in_case(df), ~lowered.isin(bad).to_numpy())
    finally:
        schemas.forget_cached_codes()


def test_single_value_failing_and_passing_participants():
    df = pd.DataFrame(
        {
            SUBJECT: pd.Series(["a", "a", "b", "b", "c", None, None], dtype="str"),
            ARM: pd.Series(["prt", "placebo", "prt", None, None, "prt", "placebo"], dtype="str"),
        }
    )
    schemas.forget_cached_codes()
    assert schemas._single_value(ARM)(df).tolist() == [False, False, True, True, True, True, True]
    schemas.forget_cached_codes()


def test_map_codes_keeps_values_and_missing():
    values = pd.Series([" PRT", "2", None, "prt", "2.0", "odd", np.nan], dtype="object")
    out = _map_codes(values, {"prt": "prt", "2": "placebo"})
    assert out.dtype == pd.StringDtype()
    assert out.tolist()[:6] == ["prt", "placebo", pd.NA, "prt", "placebo", "odd"]
    assert out.isna().tolist() == [False, False, True, False, False, False, True]
    assert _map_codes(pd.Series([None, None], dtype="object"), {}).isna().all()


@pytest.mark.slow
def test_bench_1m_report_identical_to_before(tmp_path):
    """The 1M-row benchmark's report and quarantine file, byte for byte as before the
    speed-up (counts per rule and column, summary, every failure line)."""
    sys.path.insert(0, str(HERE.parent / "benchmarks"))
    try:
        import bench_validation as bv
    finally:
        sys.path.pop(0)
    from prt_outcomes.config import StudyConfig
    from prt_outcomes.validate.checks import validate_study_data

    result = validate_study_data(bv.make_frame(1_000_000), StudyConfig.from_dict(bv.CONFIG))
    result.write(tmp_path / "report")
    result.write_quarantine(tmp_path / "quarantined.csv")
    for name in ("rule_counts", "summary"):
        got = (tmp_path / "report" / f"{name}.csv").read_bytes()
        assert got == (REF / f"bench_1m_{name}.csv").read_bytes(), name
    digests = dict(line.split() for line in (REF / "bench_1m_sha256.txt").read_text().splitlines())
    files = {
        "failures.csv": tmp_path / "report" / "failures.csv",
        "report.md": tmp_path / "report" / "report.md",
        "quarantined.csv": tmp_path / "quarantined.csv",
    }
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digests[name], name
    total = result.summary.iloc[-1]
    assert total.rows_in == total.rows_analysed + total.rows_quarantined == 1_000_000
