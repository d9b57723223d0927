"""The malformed-input corpus: every file gives the expected exit code, rule, column and line.

``tests/malformed/expected.csv`` (written by ``tests/malformed/make_corpus.py``) lists, per
file, the config, the exit code of ``prt-outcomes validate`` and, for exit 1, each
(rule, column, line) that must be in failures.csv; the set of rules found must equal the set
expected, so an extra or missing rule fails the test. For exit 2 the printed message must name
the file and contain a keyword saying what is wrong.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from prt_outcomes.validate.checks import validate_command

HERE = Path(__file__).resolve().parent / "malformed"
EXPECTED = pd.read_csv(HERE / "expected.csv", dtype=str, keep_default_na=False)
CASES = sorted(EXPECTED["file"].unique())


def test_corpus_is_large_enough_and_complete():
    assert len(CASES) >= 20
    assert set(EXPECTED["exit_code"]) == {"0", "1", "2"}
    for name in CASES:
        assert (HERE / name).exists(), f"{name} missing; run tests/malformed/make_corpus.py"


@pytest.mark.parametrize("name", CASES)
def test_malformed_file(name, tmp_path):
    rows = EXPECTED[EXPECTED["file"] == name]
    config = HERE / rows["config"].iloc[0]
    exit_code = int(rows["exit_code"].iloc[0])
    out = io.StringIO()
    code = validate_command(config, [HERE / name], report_dir=tmp_path, stream=out)
    text = out.getvalue()
    assert code == exit_code, text
    assert "Traceback" not in text

    if exit_code == 2:
        assert name in text, "the message must name the file"
        assert rows["message_contains"].iloc[0].lower() in text.lower(), text
        assert "bug in prt-outcomes" not in text
        return

    failures = pd.read_csv(tmp_path / "failures.csv", dtype=str, keep_default_na=False)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert (summary["rows_in"] == summary["rows_analysed"] + summary["rows_quarantined"]).all()
    assert (tmp_path / "report.md").read_text().startswith("# Validation report")
    if exit_code == 0:
        assert failures.empty
        assert summary["rows_quarantined"].iloc[-1] == 0
        return
    found = set(zip(failures["rule"], failures["column"], failures["row"].astype(int)))
    for rule, column, row in zip(rows["rule"], rows["column"], rows["row"].astype(int)):
        assert (rule, column, row) in found, f"expected {(rule, column, row)} in {sorted(found)}"
    assert set(failures["rule"]) == set(rows["rule"])
    assert set(failures["file"]) == {name}
    assert summary["rows_quarantined"].iloc[-1] > 0


def test_missing_codes_become_missing_values():
    from prt_outcomes.config import load_config
    from prt_outcomes.validate.checks import load_and_validate

    cfg = load_config(HERE / "config.yaml")
    for name, line in (("minus99_code.csv", 3), ("undefined_code.csv", 5)):
        result = load_and_validate(cfg, [HERE / name])
        row = result.clean[result.clean["source_row"] == line]
        assert len(row) == 1 and pd.isna(row["pain_avg"].iloc[0])


def test_european_csv_reads_decimal_commas():
    from prt_outcomes.config import load_config
    from prt_outcomes.validate.checks import load_and_validate

    cfg = load_config(HERE / "config.yaml")
    eu = load_and_validate(cfg, [HERE / "ok_semicolon_decimal_comma.csv"]).clean
    us = load_and_validate(cfg, [HERE / "ok.csv"]).clean
    cols = ["participant_id", "arm", "visit", "pain_avg", "odi", "age", "sex", "source_row"]
    pd.testing.assert_frame_equal(eu[cols], us[cols])
    assert eu["pain_avg"].tolist() == [5.0, 2.5, 4.0, 4.5, 6.0, 5.5]
