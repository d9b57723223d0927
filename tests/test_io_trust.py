"""Issue 9 (items 4 and 8): input read wrongly without a word, ids reaching id-free outputs.

Each test here failed on the code before the fix (the corpus cases in tests/malformed cover the
exit codes and rules; these check what the corpus test cannot: the data read, the decisions
documented in ingest.py / validate/checks.py, and that no id reaches the report folder).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.config import StudyConfig, load_config
from prt_outcomes.ingest import InputError, read_study_data
from prt_outcomes.validate.checks import load_and_validate, validate_command, validate_study_data

MALFORMED = Path(__file__).resolve().parent / "malformed"
IDS = ("P01", "P02", "P03", "p02")


@pytest.fixture(scope="module")
def cfg():
    return load_config(MALFORMED / "config.yaml")


@pytest.fixture(scope="module")
def extra():
    return load_config(MALFORMED / "config_extra.yaml")


def _with_files(config: StudyConfig, files: list[dict], base_dir: Path) -> StudyConfig:
    return StudyConfig.from_dict(
        {**config.raw, "data": {**config.raw["data"], "files": files}}, base_dir=base_dir
    )


def test_short_record_is_quarantined_not_read_as_missing(cfg):
    result = load_and_validate(cfg, [MALFORMED / "short_record.csv"])
    assert result.quarantined["source_row"].tolist() == [5]
    failure = result.failures.iloc[0]
    assert (failure["rule"], failure["row"]) == ("short_record", 5)
    assert "4 of the header's 7 fields" in failure["message"]


def test_quoted_short_record_is_found_too(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        'id,group,visit,pain_avg,odi,age,sex\nP01,1,baseline,5,30,45,"female"\nP01,1,post,"2.5"\n'
    )
    ingest = read_study_data(load_config(MALFORMED / "config.yaml"), [path])
    assert ingest.issues[["row", "column", "rule"]].values.tolist() == [[3, "odi", "short_record"]]


def test_wide_visit_suffixes_match_case_blind_like_long_visit_codes():
    wide = load_config(MALFORMED / "config_wide.yaml")
    ref = read_study_data(wide, [MALFORMED / "wide_ok.csv"]).data.drop(columns="source_file")
    got = read_study_data(wide, [MALFORMED / "wide_visit_suffix_mixed_case.csv"]).data
    pd.testing.assert_frame_equal(got.drop(columns="source_file"), ref)


def test_two_wide_columns_for_one_outcome_and_visit_name_both():
    wide = load_config(MALFORMED / "config_wide_visit_names.yaml")
    with pytest.raises(InputError, match="'pain_avg_t1' and 'pain_avg_baseline'"):
        read_study_data(wide, [MALFORMED / "wide_same_visit_twice.csv"])


def test_workbook_with_several_sheets_needs_a_sheet_key(cfg, tmp_path):
    with pytest.raises(InputError, match=r"2 sheets \('visits', 'more visits'\).*sheet: <name>"):
        read_study_data(cfg, [MALFORMED / "xlsx_two_sheets.xlsx"])
    (tmp_path / "book.xlsx").write_bytes((MALFORMED / "xlsx_two_sheets.xlsx").read_bytes())
    by_name = _with_files(cfg, [{"path": "book.xlsx", "sheet": "more visits"}], tmp_path)
    assert len(read_study_data(by_name).data) == 2
    by_number = _with_files(cfg, [{"path": "book.xlsx", "sheet": 0}], tmp_path)
    assert len(read_study_data(by_number).data) == 6


def test_formula_without_saved_value_names_the_cell_and_what_to_do(cfg):
    ingest = read_study_data(cfg, [MALFORMED / "xlsx_formula_without_value.xlsx"])
    issue = ingest.issues.iloc[0]
    assert (issue["rule"], issue["column"], issue["row"], issue["value"]) == (
        "formula_without_value",
        "odi",
        5,
        "E5",
    )
    assert "save it" in issue["message"] and "cell E5" in issue["message"]


def test_thousands_separator_decision(cfg, tmp_path):
    """Auto: '2,000' is ambiguous unless the column uses decimal commas; a declared decimal
    mark decides: ',' reads 2.0, '.' reports the cell as not a number."""
    path = tmp_path / "x.csv"
    path.write_text(
        'participant_id,arm,visit,pain\n1,1,1,"2,000"\n1,1,2,"1,5"\n2,1,1,"2,000"\n2,1,2,"1,000"\n'
    )
    raw = {
        "study": {"name": "t"},
        "data": {"files": [{"path": "x.csv"}]},
        "arms": {"levels": [{"name": "a", "codes": [1]}]},
        "visits": [{"name": "v1", "baseline": True, "codes": [1]}, {"name": "v2", "codes": [2]}],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}],
    }
    # the column holds "1,5": its commas are decimal commas, so 2,000 is 2.0
    auto = read_study_data(StudyConfig.from_dict(raw), [path])
    assert auto.data["pain"].tolist() == [2.0, 1.5, 2.0, 1.0] and auto.issues.empty
    path.write_text('participant_id,arm,visit,pain\n1,1,1,"2,000"\n1,1,2,3\n')
    auto = read_study_data(StudyConfig.from_dict(raw), [path])
    assert auto.issues["rule"].tolist() == ["ambiguous_number"] and np.isnan(auto.data["pain"].iloc[0])
    comma = {**raw, "data": {"files": [{"path": "x.csv", "decimal": ","}]}}
    assert read_study_data(StudyConfig.from_dict(comma), [path]).data["pain"].tolist() == [2.0, 3.0]
    point = {**raw, "data": {"files": [{"path": "x.csv", "decimal": "."}]}}
    assert read_study_data(StudyConfig.from_dict(point), [path]).issues["rule"].tolist() == ["not_numeric"]


def test_non_finite_numbers_are_refused_in_frames_and_parquet(extra, tmp_path):
    frame = read_study_data(extra, [MALFORMED / "ok.csv"]).data
    frame.loc[2, "age"] = np.inf
    result = validate_study_data(frame, extra)
    assert ("not_finite", "age", 4) in set(
        zip(result.failures["rule"], result.failures["column"], result.failures["row"])
    )
    assert np.isfinite(result.clean["age"]).all()
    typed = pd.read_csv(MALFORMED / "ok.csv")
    typed["age"] = typed["age"].astype(float)
    typed.loc[[2, 3], "age"] = -np.inf
    typed.to_parquet(tmp_path / "typed.parquet")
    got = load_and_validate(extra, [tmp_path / "typed.parquet"])
    assert set(got.failures.loc[got.failures["rule"] == "not_finite", "row"]) == {4, 5}


def test_one_latin1_line_leaves_the_utf8_labels_readable(extra):
    ingest = read_study_data(extra, [MALFORMED / "utf8_with_one_latin1_line.csv"])
    # féminin / masculin map to the levels on every line, the bad line included
    assert ingest.data["sex"].tolist() == ["female", "female", "male", "male", "female", "female"]
    assert ingest.encodings == {"utf8_with_one_latin1_line.csv": "utf-8"}
    assert ingest.issues[["row", "rule"]].values.tolist() == [[5, "encoding"]]


def test_windows_1252_file_is_read_and_said_so(extra):
    result = load_and_validate(extra, [MALFORMED / "ok_cp1252.csv"])
    assert result.ok and set(result.clean["sex"]) == {"female", "male"}
    assert any("Windows-1252" in w for w in result.warnings)
    assert "Windows-1252" in result.to_markdown()


def test_byte_order_mark_inside_a_file_does_not_split_a_participant(cfg):
    result = load_and_validate(cfg, [MALFORMED / "bom_inside_file.csv"])
    assert result.ok and sorted(result.clean["participant_id"].unique()) == ["P01", "P02", "P03"]
    assert any("byte-order mark" in w for w in result.warnings)


def test_same_file_name_in_two_folders_keeps_two_summary_rows(cfg, tmp_path):
    for site in ("site_a", "site_b"):
        (tmp_path / site).mkdir()
    text = (MALFORMED / "ok.csv").read_text()
    (tmp_path / "site_a" / "ok.csv").write_text(text)
    (tmp_path / "site_b" / "ok.csv").write_text(text.replace("P0", "Q0"))
    two = _with_files(cfg, [{"path": "site_a/ok.csv"}, {"path": "site_b/ok.csv"}], tmp_path)
    result = load_and_validate(two)
    assert result.summary["file"].tolist() == ["site_a/ok.csv", "site_b/ok.csv", "total"]
    assert result.summary["rows_in"].tolist() == [6, 6, 12]
    assert set(result.clean["source_file"]) == {"site_a/ok.csv", "site_b/ok.csv"}
    twice = _with_files(cfg, [{"path": "site_a/ok.csv"}, {"path": "site_a/../site_a/ok.csv"}], tmp_path)
    with pytest.raises(InputError, match="listed twice"):
        read_study_data(twice)


def test_swallowed_lines_never_reach_failures_or_the_report(cfg, tmp_path):
    out = io.StringIO()
    code = validate_command(
        MALFORMED / "config.yaml",
        [MALFORMED / "stray_quote_in_non_id_cell.csv"],
        report_dir=tmp_path,
        stream=out,
    )
    assert code == 1
    failures = pd.read_csv(tmp_path / "failures.csv", dtype=str, keep_default_na=False)
    assert set(failures.loc[failures["row"] == "3", "value"]) == {"<record spanning lines 3-6>"}
    written = [(tmp_path / name).read_text() for name in ("failures.csv", "report.md")]
    for text in (out.getvalue(), *written):
        assert "P02" not in text, text


def test_report_folder_is_id_free_and_the_quarantine_goes_elsewhere_on_request(tmp_path):
    report = tmp_path / "report"
    case = MALFORMED / "arm_typo.csv"  # P03 quarantined
    assert validate_command(MALFORMED / "config.yaml", [case], report_dir=report, stream=io.StringIO()) == 1
    assert sorted(p.name for p in report.iterdir()) == [
        "failures.csv",
        "filtered.csv",
        "report.md",
        "rule_counts.csv",
        "summary.csv",
    ]
    for path in report.iterdir():
        text = path.read_text()
        assert not any(i in text for i in IDS), path.name
    private = tmp_path / "private" / "quarantined.csv"
    assert (
        validate_command(
            MALFORMED / "config.yaml",
            [case],
            report_dir=report,
            stream=io.StringIO(),
            quarantine_file=private,
        )
        == 1
    )
    assert set(pd.read_csv(private)["participant_id"]) == {"P03"}
    out = io.StringIO()
    assert (
        validate_command(
            MALFORMED / "config.yaml", [case], report_dir=report, stream=out, quarantine_file=report / "q.csv"
        )
        == 2
    )
    assert "id-free" in out.getvalue() or "free of participant ids" in out.getvalue()
    assert not (report / "q.csv").exists()


def test_identifier_scan_reads_every_row(tmp_path):
    n = 6000
    notes = ["ok"] * n
    notes[5500] = "call ann@example.org"
    frame = pd.DataFrame(
        {
            "participant_id": [f"P{i // 2}" for i in range(n)],
            "arm": 1,
            "visit": [1, 2] * (n // 2),
            "pain": 3,
            "notes": notes,
        }
    )
    frame.to_csv(tmp_path / "x.csv", index=False)
    raw = {
        "study": {"name": "t"},
        "data": {"files": [{"path": "x.csv"}]},
        "arms": {"levels": [{"name": "a", "codes": [1]}]},
        "visits": [{"name": "v1", "baseline": True, "codes": [1]}, {"name": "v2", "codes": [2]}],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}],
    }
    with pytest.raises(InputError, match="'notes' \\(its values look like e-mail"):
        read_study_data(StudyConfig.from_dict(raw), [tmp_path / "x.csv"])


def test_a_participant_id_in_a_failing_cell_is_not_shown(cfg, tmp_path):
    # an id pasted into the arm cell of line 7
    path = tmp_path / "x.csv"
    path.write_text((MALFORMED / "ok.csv").read_text().replace("P03,3,post", "P03,P02,post"))
    result = load_and_validate(cfg, [path])
    row = result.failures[result.failures["rule"] == "unknown_arm"].iloc[0]
    assert row["value"] == "<a participant id>" and "P02" not in row["message"]
    assert "P02" not in result.to_markdown()


def test_command_line_writes_the_quarantine_only_where_asked(tmp_path, capsys):
    from prt_outcomes.cli import main

    report, private = tmp_path / "report", tmp_path / "private" / "quarantined.csv"
    args = [
        "validate",
        "--config",
        str(MALFORMED / "config.yaml"),
        "--data",
        str(MALFORMED / "arm_typo.csv"),
        "--report",
        str(report),
    ]
    assert main([*args, "--quarantine", str(private)]) == 1
    assert set(pd.read_csv(private)["participant_id"]) == {"P03"}
    assert not any("P03" in path.read_text() for path in report.iterdir())


def test_validation_report_markdown_shows_data_values_as_text(tmp_path):
    """A data value holding HTML or a link reaches validation/report.md as inert text."""
    payload = "<img src=x onerror=alert(1)>[x](javascript:alert(1))"
    text = (MALFORMED / "arm_typo.csv").read_text()
    lines = text.splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("group")] = f'"{payload}"'
    (tmp_path / "hostile.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    report = tmp_path / "report"
    validate_command(
        MALFORMED / "config.yaml", [tmp_path / "hostile.csv"], report_dir=report, stream=io.StringIO()
    )
    markdown = (report / "report.md").read_text()
    assert "<img" not in markdown and "[x](javascript:" not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown


def test_ingest_issues_survive_the_trip_between_jobs_unchanged(tmp_path):
    """A reported value that starts like a formula is read back as it was read (no CSV guard quote)."""
    from prt_outcomes.config import load_config
    from prt_outcomes.ingest import read_study_data
    from prt_outcomes.pipeline import load_ingest, save_ingest

    lines = (MALFORMED / "ok.csv").read_text().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    row[header.index("pain_avg")] = "-x"
    (tmp_path / "ok.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    result = read_study_data(load_config(MALFORMED / "config.yaml"), [tmp_path / "ok.csv"])
    assert "-x" in set(result.issues["value"])
    save_ingest(result, tmp_path / "between")
    pd.testing.assert_frame_equal(load_ingest(tmp_path / "between").issues, result.issues)


def test_a_categorical_covariate_without_levels_keeps_its_text_values():
    # no levels: no code maps, and the values stay as written (a crash in pyarrow before)
    import yaml

    from conftest import EXAMPLE_CONFIG
    from prt_outcomes.config import StudyConfig
    from prt_outcomes.ingest import read_study_data

    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for covariate in raw["covariates"]:
        if covariate["name"] == "sex":
            covariate.pop("levels", None)
    config = StudyConfig.from_dict(raw, base_dir=EXAMPLE_CONFIG.parent)
    data = read_study_data(config).data
    assert set(data["sex"].dropna()) == {"female", "male"}
