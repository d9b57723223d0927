"""validate_study_data: quarantine, cross-row rules, cascade, privacy, strict mode, reports,
and a property test that corrupts random cells and rows without ever breaking the counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prt_outcomes.config import StudyConfig, load_config
from prt_outcomes.ingest import InputError
from prt_outcomes.validate.checks import (
    FAILURE_COLUMNS,
    ValidationFailed,
    validate_command,
    validate_study_data,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "data" / "example" / "outcomes_long.csv"
EXAMPLE_COLUMNS = [
    "participant_id",
    "arm",
    "visit",
    "pain_avg",
    "bpi_interference",
    "odi",
    "promis_dep",
    "age",
    "sex",
    "pain_duration_years",
]


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "config" / "config.yaml")


def _example_frame(n_participants: int = 8) -> pd.DataFrame:
    """A slice of the lead's example data, or a small built-in frame when it is absent."""
    if EXAMPLE.exists():
        data = pd.read_csv(EXAMPLE, dtype={"participant_id": "str"})
        keep = data["participant_id"].drop_duplicates().iloc[:n_participants]
        return data[data["participant_id"].isin(keep)].reset_index(drop=True)[EXAMPLE_COLUMNS]
    rows = []
    for i in range(n_participants):
        arm = ["prt", "placebo", "usual_care"][i % 3]
        for j, visit in enumerate(["baseline", "post", "m1"]):
            rows.append(
                (
                    f"X{i:03d}",
                    arm,
                    visit,
                    5.0 - j,
                    3.0,
                    20.0,
                    50.0,
                    40.0 + i,
                    "female" if i % 2 else "male",
                    5.0,
                )
            )
    return pd.DataFrame(rows, columns=EXAMPLE_COLUMNS)


def _reconciles(result, n_rows):
    s = result.summary
    assert (s["rows_in"] == s["rows_analysed"] + s["rows_quarantined"]).all()
    assert s["rows_in"].iloc[-1] == n_rows
    assert len(result.clean) + len(result.quarantined) == n_rows
    assert list(result.failures.columns) == FAILURE_COLUMNS


def test_clean_frame_passes_with_canonical_dtypes(cfg):
    frame = _example_frame()
    result = validate_study_data(frame, cfg)
    assert result.ok, result.failures
    _reconciles(result, len(frame))
    clean = result.clean
    for col in ["pain_avg", "bpi_interference", "odi", "promis_dep", "age", "pain_duration_years"]:
        assert clean[col].dtype == "float64"
    for col in ["participant_id", "arm", "visit", "sex"]:
        assert clean[col].dtype == "str"
    assert clean["source_row"].tolist() == list(range(2, len(frame) + 2))
    assert result.to_markdown().splitlines()[2].startswith(f"All {len(frame)} rows passed")


def test_row_rule_quarantines_only_that_row(cfg):
    frame = _example_frame()
    frame.loc[1, "odi"] = 102.0  # not the baseline row of the first participant
    result = validate_study_data(frame, cfg)
    assert result.failures[["row", "column", "rule", "value"]].values.tolist() == [
        [3, "odi", "out_of_range", "102"]
    ]
    assert result.quarantined["source_row"].tolist() == [3]
    assert result.quarantined["rules"].tolist() == ["out_of_range"]
    _reconciles(result, len(frame))


def test_two_arms_quarantine_the_whole_participant(cfg):
    frame = _example_frame()
    pid = frame.loc[0, "participant_id"]
    rows = frame.index[frame["participant_id"] == pid]
    other = next(a for a in cfg.arm_names if a != frame.loc[0, "arm"])
    frame.loc[rows[-1], "arm"] = other
    result = validate_study_data(frame, cfg)
    assert set(result.failures["rule"]) == {"multiple_arms"}
    assert sorted(result.failures["row"]) == [r + 2 for r in rows]
    assert (result.quarantined["participant_id"] == pid).all() and len(result.quarantined) == len(rows)
    assert f"{len(rows)} of {len(frame)} rows quarantined (1 participant)" in result.headline()


def test_baseline_quarantine_cascades_in_error_mode_and_warns_in_warning_mode(cfg):
    frame = _example_frame()
    first = frame.index[frame["participant_id"] == frame.loc[0, "participant_id"]]
    assert frame.loc[first[0], "visit"] == "baseline"
    frame.loc[first[0], "pain_avg"] = 3.3  # off the 0.5 step
    result = validate_study_data(frame, cfg)
    assert set(result.quarantined["source_row"]) == {r + 2 for r in first}
    assert set(result.failures["rule"]) == {"off_step", "baseline_quarantined"}
    lenient = StudyConfig.from_dict({**cfg.raw, "validation": {"baseline_required": "warning"}})
    warned = validate_study_data(frame, lenient)
    assert warned.quarantined["source_row"].tolist() == [2]
    assert any("no usable 'baseline' row" in w for w in warned.warnings)


def test_missing_baseline_is_a_warning_when_configured(cfg):
    frame = _example_frame()
    frame = frame.drop(index=0).reset_index(drop=True)
    assert not validate_study_data(frame, cfg).ok
    lenient = StudyConfig.from_dict({**cfg.raw, "validation": {"baseline_required": "warning"}})
    result = validate_study_data(frame, lenient)
    assert result.ok and result.warnings


def test_text_numbers_in_a_frame_are_parsed_or_reported(cfg):
    frame = _example_frame().astype({"odi": "str"})
    frame.loc[2, "odi"] = "ten"
    frame.loc[3, "odi"] = "12,0"
    result = validate_study_data(frame, cfg)
    assert result.failures[["row", "rule", "value"]].values.tolist() == [[4, "not_numeric", "ten"]]
    assert 12.0 in result.clean["odi"].tolist()


def test_participant_ids_never_appear_in_failures_or_aggregates(cfg):
    frame = _example_frame()
    frame["participant_id"] = "SECRET-" + frame["participant_id"].astype(str)
    frame.loc[0, "arm"] = "prtt"
    frame.loc[1, "odi"] = 999.0
    frame.loc[2, "visit"] = "m99"
    frame.loc[4, "participant_id"] = np.nan
    dup = frame.iloc[[5]]
    frame = pd.concat([frame, dup], ignore_index=True)
    result = validate_study_data(frame, cfg)
    assert not result.ok
    texts = [
        result.failures.to_csv(),
        result.summary.to_csv(),
        result.rule_counts.to_csv(),
        result.to_markdown(),
        result.headline(),
    ]
    assert not any("SECRET" in t for t in texts)
    assert (result.failures.loc[result.failures["column"] == "participant_id", "value"] == "").all()


def test_strict_mode_raises_with_the_headline(cfg):
    frame = _example_frame()
    frame.loc[1, "pain_avg"] = 11.0
    strict = StudyConfig.from_dict({**cfg.raw, "validation": {"mode": "strict"}})
    result = validate_study_data(frame, strict)
    with pytest.raises(ValidationFailed) as info:
        result.raise_if_failed()
    assert str(info.value) == result.headline()
    assert str(info.value).startswith(f"1 of {len(frame)} rows quarantined")
    assert "out_of_range on pain_avg (1)" in str(info.value)
    validate_study_data(_example_frame(), strict).raise_if_failed()  # clean data: no error


def test_markdown_report_starts_with_what_and_why(cfg):
    frame = _example_frame()
    frame.loc[1, "pain_avg"] = 11.0
    frame.loc[2, "arm"] = "PRT arm"
    md = validate_study_data(frame, cfg).to_markdown()
    head = md.splitlines()[2]
    assert "rows quarantined" in head and "out_of_range on pain_avg" in head
    assert "unknown_arm on arm" in head or "multiple_arms on arm" in head


def test_frame_without_required_column_is_an_input_error(cfg):
    with pytest.raises(InputError, match="visit"):
        validate_study_data(_example_frame().drop(columns="visit"), cfg)


def test_command_on_bad_config_exits_2(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("study: {name: x}\n")
    out = io.StringIO()
    assert validate_command(bad, stream=out) == 2
    assert "schema" in out.getvalue() and "Traceback" not in out.getvalue()
    out = io.StringIO()
    assert validate_command(tmp_path / "missing.yaml", stream=out) == 2
    assert "does not exist" in out.getvalue()


# ---------------------------------------------------------------------------------------------
# property test: corrupt random cells and rows; validation never crashes and always reconciles
# ---------------------------------------------------------------------------------------------
_BAD_VALUES = st.sampled_from(
    [None, np.nan, "", "abc", "-99", "<undefined>", -5, 11, 3.3, 1e9, "7,5", "∞", "PRTT", "m99"]
)
_CELL = st.tuples(st.integers(0, 10_000), st.sampled_from(EXAMPLE_COLUMNS), _BAD_VALUES)
_ROW_OP = st.tuples(st.sampled_from(["duplicate", "drop", "swap_arm"]), st.integers(0, 10_000))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(_CELL, max_size=12), row_ops=st.lists(_ROW_OP, max_size=4))
def test_corruption_never_crashes_and_counts_reconcile(cfg, cells, row_ops):
    frame = _example_frame(6).astype(object)
    for op, i in row_ops:
        i %= len(frame)
        if op == "duplicate":
            frame = pd.concat([frame, frame.iloc[[i]]], ignore_index=True)
        elif op == "drop" and len(frame) > 1:
            frame = frame.drop(index=i).reset_index(drop=True)
        elif op == "swap_arm":
            frame.loc[i, "arm"] = "placebo" if frame.loc[i, "arm"] != "placebo" else "prt"
    for i, col, value in cells:
        frame.loc[i % len(frame), col] = value
    result = validate_study_data(frame, cfg)
    _reconciles(result, len(frame))
    failing_rows = set(result.failures["row"])
    assert failing_rows == set(result.quarantined["source_row"])
    assert not failing_rows & set(result.clean["source_row"])
    assert result.ok == (len(result.quarantined) == 0)
    assert result.clean["arm"].isin(cfg.arm_names).all()
    assert result.clean["visit"].isin(cfg.visit_names).all()
    for outcome in cfg.outcomes:
        values = result.clean[outcome.name].dropna()
        assert values.between(outcome.min, outcome.max).all()
    assert (result.clean.groupby(["participant_id", "visit"]).size() == 1).all()
    assert (result.clean.groupby("participant_id")["arm"].nunique() == 1).all()


# ---------------------------------------------------------------------------------------------
# property test on the whole command: random text in random cells of a CSV export
# ---------------------------------------------------------------------------------------------
MALFORMED = Path(__file__).resolve().parent / "malformed"
_CELL_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            "NA",
            "-99",
            "<undefined>",
            "1,5",
            "1.234,5",
            "12",
            "0.25",
            "abc",
            "prt",
            "PRTT",
            "post",
            "t9",
            "female",
            "F",
            "\u00e9",
            '"',
            "a;b",
            "  3 ",
        ]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='\r\n\x00,"'), max_size=6
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6), _CELL_TEXT), max_size=6))
def test_command_never_crashes_on_corrupted_csv(edits):
    import tempfile

    lines = (MALFORMED / "ok.csv").read_text().splitlines()
    header, rows = lines[0], [line.split(",") for line in lines[1:]]
    for r, c, text in edits:
        rows[r][c] = text
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
        out = io.StringIO()
        code = validate_command(MALFORMED / "config.yaml", [path], report_dir=Path(tmp) / "r", stream=out)
        text = out.getvalue()
        assert code in (0, 1, 2), text
        assert "bug in prt-outcomes" not in text, text
        if code != 2:
            summary = pd.read_csv(Path(tmp) / "r" / "summary.csv")
            assert (summary["rows_in"] == summary["rows_analysed"] + summary["rows_quarantined"]).all()
            # rows are CSV records: an unmatched quote joins lines into one record (RFC 4180),
            # and such a record must be quarantined, not analysed
            records = [r for r in csv.reader(io.StringIO(path.read_text(encoding="utf-8")))][1:]
            records = [r for r in records if any(cell.strip() for cell in r)]
            assert summary["rows_in"].iloc[-1] == len(records)
            if len(records) < 6:
                assert summary["rows_quarantined"].iloc[-1] >= 1
            failures = pd.read_csv(Path(tmp) / "r" / "failures.csv", keep_default_na=False)
            assert set(failures["row"]) <= set(range(2, 8))
            assert (code == 0) == failures.empty


def test_benchmark_frame_generator_still_validates(cfg):
    """Keeps benchmarks/bench_validation.py from rotting (no timing here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_validation", REPO / "benchmarks" / "bench_validation.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    frame = bench.make_frame(2_000, defect_rate=0.05)
    result = validate_study_data(frame, StudyConfig.from_dict(bench.CONFIG))
    _reconciles(result, 2_000)
    assert {"out_of_range", "off_step", "unknown_arm", "multiple_arms"} <= set(result.failures["rule"])
