"""Readers: formats, separators, line numbers, codes, wide layout, filters, privacy, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.config import StudyConfig, load_config
from prt_outcomes.ingest import InputError, find_identifier_columns, read_raw_table, read_study_data

MALFORMED = Path(__file__).resolve().parent / "malformed"


@pytest.fixture(scope="module")
def cfg():
    return load_config(MALFORMED / "config.yaml")


def _config(**data_overrides):
    raw = {
        "study": {"name": "t"},
        "data": {"files": [{"path": "x.csv"}], "missing_codes": ["", "-99"], **data_overrides},
        "arms": {"levels": [{"name": "a", "codes": [1]}, {"name": "b", "codes": [2]}]},
        "visits": [{"name": "v1", "baseline": True, "codes": [1]}, {"name": "v2", "codes": [2]}],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}],
    }
    return StudyConfig.from_dict(raw)


def test_long_csv_canonical_columns_lines_and_codes(cfg):
    ingest = read_study_data(cfg, [MALFORMED / "ok_labels_and_codes.csv"])
    data = ingest.data
    assert list(data.columns[:3]) == ["participant_id", "arm", "visit"]
    assert data["source_row"].tolist() == [2, 3, 4, 5, 6, 7]
    assert set(data["source_file"]) == {"ok_labels_and_codes.csv"}
    # labels ("PRT", "usual care"), codes (1, t1) and case ("Baseline", "FEMALE") all map
    assert data["arm"].tolist() == ["prt", "prt", "placebo", "placebo", "usual_care", "usual_care"]
    assert data["visit"].tolist() == ["baseline", "post"] * 3
    assert data["sex"].tolist() == ["female", "female", "male", "male", "female", "female"]
    assert data["pain_avg"].dtype == "float64" and data["age"].dtype == "float64"
    assert ingest.rows_in == {"ok_labels_and_codes.csv": 6}
    assert ingest.issues.empty


@pytest.mark.parametrize(
    "name", ["ok.xlsx", "ok.parquet", "ok_bom_crlf.csv", "ok_semicolon_decimal_comma.csv"]
)
def test_other_formats_read_the_same_data(cfg, name):
    ref = read_study_data(cfg, [MALFORMED / "ok.csv"]).data.drop(columns="source_file")
    got = read_study_data(cfg, [MALFORMED / name]).data.drop(columns="source_file")
    pd.testing.assert_frame_equal(got, ref)


def test_several_files_are_concatenated_and_keep_their_lines(cfg):
    ingest = read_study_data(cfg, [MALFORMED / "ok.csv", MALFORMED / "blank_lines_keep_numbering.csv"])
    data = ingest.data
    assert len(data) == 12
    second = data[data["source_file"] == "blank_lines_keep_numbering.csv"]
    # line 4 of that file is blank, so its rows sit on lines 2, 3, 5, 6, 7, 8
    assert second["source_row"].tolist() == [2, 3, 5, 6, 7, 8]
    assert ingest.rows_in == {"ok.csv": 6, "blank_lines_keep_numbering.csv": 6}


def test_wide_file_becomes_long_with_participant_lines():
    wide = load_config(MALFORMED / "config_wide.yaml")
    ingest = read_study_data(wide, [MALFORMED / "wide_ok.csv"])
    data = ingest.data
    assert len(data) == 6 and ingest.rows_in == {"wide_ok.csv": 3}
    assert data["visit"].tolist() == ["baseline", "post"] * 3
    assert data["source_row"].tolist() == [2, 2, 3, 3, 4, 4]
    assert data["pain_avg"].tolist() == [5, 2.5, 4, 4.5, 6, 5.5]
    assert data["odi"].tolist() == [30, 20, 24, 22, 40, 38]


def test_unparseable_number_is_an_issue_with_its_raw_text(cfg):
    ingest = read_study_data(cfg, [MALFORMED / "text_in_score.csv"])
    issue = ingest.issues.iloc[0]
    assert (issue["rule"], issue["column"], issue["row"], issue["value"]) == (
        "not_numeric",
        "pain_avg",
        7,
        "five",
    )
    assert np.isnan(ingest.data.loc[ingest.issue_index[0], "pain_avg"])


def test_decimal_point_config_refuses_decimal_commas(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('participant_id,arm,visit,pain\n1,1,1,"1,5"\n1,1,2,2.5\n')
    strict = _config()
    strict = StudyConfig.from_dict(
        {**strict.raw, "data": {**strict.raw["data"], "files": [{"path": "x.csv", "decimal": "."}]}}
    )
    got = read_study_data(strict, [path])
    assert got.issues["value"].tolist() == ["1,5"]
    auto = read_study_data(_config(), [path])
    assert auto.data["pain"].tolist() == [1.5, 2.5] and auto.issues.empty


def test_cp1252_file_is_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("participant_id,arm,visit,pain,note\n1,1,1,3,caf\xe9\n".encode("latin-1"))
    assert read_study_data(_config(), [path]).data["pain"].tolist() == [3.0]


def test_numeric_ids_lose_a_trailing_point_zero(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain\n12.0,1,1,3\n12,1,2,2\n")
    assert read_study_data(_config(), [path]).data["participant_id"].tolist() == ["12", "12"]


def test_filter_counts_and_reports_left_out_rows(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain,is_patient\n1,1,1,3,1\n2,,1,4,0\n3,2,1,5,1.0\n")
    cfg = StudyConfig.from_dict(
        {**_config().raw, "data": {"files": [{"path": "x.csv", "filter": {"is_patient": 1}}]}}
    )
    ingest = read_study_data(cfg, [path])
    assert ingest.data["participant_id"].tolist() == ["1", "3"]
    assert ingest.rows_in == {"x.csv": 3} and ingest.rows_filtered == {"x.csv": 1}
    issue = ingest.issues.iloc[0]
    assert (issue["rule"], issue["row"], issue["column"], issue["value"]) == (
        "filtered_by_config",
        3,
        "is_patient",
        "0",
    )
    bad = StudyConfig.from_dict({**cfg.raw, "data": {"files": [{"path": "x.csv", "filter": {"site": 1}}]}})
    with pytest.raises(InputError, match="no column 'site'"):
        read_study_data(bad, [path])


@pytest.mark.parametrize(
    "column, values, flagged",
    [
        ("first_name", ["Ann", "Bob"], True),
        ("Email Address", ["x", "y"], True),
        ("DOB", ["1980-01-01", "1990-02-02"], True),
        ("contact", ["ann@example.org", ""], True),
        ("contact", ["+1 303 555 0142", ""], True),
        ("notes", ["(303) 555-0142", ""], True),
        ("pain", ["3.14159265358", "2"], False),
        ("date_randomized", ["24/03/2000", "2000-03-24"], False),
        ("participant_id", ["123456789012", "1"], False),
        ("practice_id", ["35", "36"], False),
        ("Name", ["Ann", "Bob"], True),
        ("patient_name", ["Ann", "Bob"], True),
        ("Last Name", ["A", "B"], True),
        ("redcap_event_name", ["baseline_arm_1", "t2_arm_1"], False),
        ("site_name", ["Boulder", "Denver"], False),
        ("drug_name", ["saline", "none"], False),
    ],
)
def test_identifier_detection(column, values, flagged):
    table = pd.DataFrame({column: pd.Series(values, dtype="str")})
    assert bool(find_identifier_columns(table, allowed=["participant_id"])) is flagged


def test_identifier_columns_refused_unless_allowed(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain,email\n1,1,1,3,a@b.org\n")
    with pytest.raises(InputError, match=r"x\.csv.*'email'.*allow_identifiers"):
        read_study_data(_config(), [path])
    allowed = StudyConfig.from_dict(
        {**_config().raw, "data": {**_config().raw["data"], "allow_identifiers": ["email"]}}
    )
    assert len(read_study_data(allowed, [path]).data) == 1


@pytest.mark.parametrize(
    "name, match",
    [
        ("empty.csv", "empty"),
        ("header_only.csv", "no data rows"),
        ("wrong_type.txt", "extension"),
        ("unreadable.xlsx", "Excel"),
        ("missing_column.csv", "lacks the required column"),
        ("does_not_exist.csv", "does not exist"),
        ("ragged_line.csv", "well-formed"),
    ],
)
def test_unusable_files_raise_input_error_naming_the_file(cfg, name, match):
    with pytest.raises(InputError, match=match) as info:
        read_study_data(cfg, [MALFORMED / name])
    assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_raw_table_returns_text_and_lines():
    table, lines = read_raw_table(MALFORMED / "blank_lines_keep_numbering.csv")
    assert lines.tolist() == [2, 3, 5, 6, 7, 8]
    assert table["pain_avg"].tolist()[-1] == "10.5"


def test_typed_parquet_maps_integer_codes_and_numeric_missing_codes(cfg, tmp_path):
    data = pd.read_csv(MALFORMED / "ok.csv")  # group, odi, age as integers
    data.loc[1, "pain_avg"] = -99.0
    data.to_parquet(tmp_path / "typed.parquet")
    got = read_study_data(cfg, [tmp_path / "typed.parquet"]).data
    assert got["arm"].tolist()[:3] == ["prt", "prt", "placebo"]
    assert np.isnan(got.loc[1, "pain_avg"]) and got.loc[0, "pain_avg"] == 5.0


def test_filter_that_leaves_nothing_is_an_input_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain,is_patient\n1,1,1,3,0\n")
    cfg = StudyConfig.from_dict(
        {**_config().raw, "data": {"files": [{"path": "x.csv", "filter": {"is_patient": 1}}]}}
    )
    with pytest.raises(InputError, match="no rows left after the config filter"):
        read_study_data(cfg, [path])


def test_wide_pattern_without_outcome_placeholder(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("participant_id,arm,BPI_Time1,BPI_Time2,BPI_change\nA,1,4,2,-2\nB,2,5,,\n")
    raw = _config().raw
    cfg = StudyConfig.from_dict(
        {**raw, "data": {"files": [{"path": "w.csv", "layout": "wide", "wide_pattern": "BPI_Time{visit}"}]}}
    )
    data = read_study_data(cfg, [path]).data
    assert data[["participant_id", "visit"]].values.tolist() == [
        ["A", "v1"],
        ["A", "v2"],
        ["B", "v1"],
        ["B", "v2"],
    ]
    assert data["pain"].tolist()[:3] == [4.0, 2.0, 5.0] and np.isnan(data["pain"].iloc[3])
    assert data["source_row"].tolist() == [2, 2, 3, 3]


def test_config_with_several_files_and_a_sheet(tmp_path):
    site_a = pd.DataFrame({"participant_id": ["A1", "A1"], "arm": [1, 1], "visit": [1, 2], "pain": [5, 3]})
    site_b = pd.DataFrame({"participant_id": ["B1", "B1"], "arm": [2, 2], "visit": [1, 2], "pain": [6, 6]})
    site_a.to_csv(tmp_path / "site_a.csv", index=False)
    with pd.ExcelWriter(tmp_path / "site_b.xlsx") as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="README", index=False)
        site_b.to_excel(writer, sheet_name="data", index=False)
    raw = _config().raw
    raw = {**raw, "data": {"files": [{"path": "site_a.csv"}, {"path": "site_b.xlsx", "sheet": "data"}]}}
    cfg = StudyConfig.from_dict(raw, base_dir=tmp_path)
    ingest = read_study_data(cfg)
    data = ingest.data
    assert data["source_file"].tolist() == ["site_a.csv"] * 2 + ["site_b.xlsx"] * 2
    assert data["source_row"].tolist() == [2, 3, 2, 3]
    assert data["arm"].tolist() == ["a", "a", "b", "b"]
    assert ingest.rows_in == {"site_a.csv": 2, "site_b.xlsx": 2}
    wrong_sheet = StudyConfig.from_dict(
        {**raw, "data": {"files": [{"path": "site_b.xlsx", "sheet": "Sheet9"}]}}, base_dir=tmp_path
    )
    with pytest.raises(InputError, match="site_b.xlsx.*sheet"):
        read_study_data(wrong_sheet)


def test_filter_present_token_keeps_rows_with_a_value(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain\n1,1,1,3\n2,-99,1,4\n3,,1,5\n4,2,1,5\n")
    raw = _config().raw
    files = [{"path": "x.csv", "filter": {"arm": "<present>"}}]
    cfg = StudyConfig.from_dict({**raw, "data": {**raw["data"], "files": files}})
    ingest = read_study_data(cfg, [path])
    assert ingest.data["participant_id"].tolist() == ["1", "4"]
    assert ingest.issues["row"].tolist() == [3, 4]
    assert set(ingest.issues["message"]) == {"row left out by the config filter (arm is present)"}


def test_mapping_onto_an_existing_column_is_an_input_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain,nrs\n1,1,1,3,3\n")
    cfg = StudyConfig.from_dict({**_config().raw, "columns": {"nrs": "pain"}})
    with pytest.raises(InputError, match=r"\['pain'\] occur twice"):
        read_study_data(cfg, [path])


def test_participant_ids_that_are_e_mail_addresses_are_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("record_id,arm,visit,pain\nann@example.org,1,1,3\n")
    cfg = StudyConfig.from_dict({**_config().raw, "columns": {"record_id": "participant_id"}})
    with pytest.raises(InputError, match="'record_id' \\(participant ids: its values look like e-mail"):
        read_study_data(cfg, [path])


def test_trailing_separators_do_not_shift_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain\n1,1,1,3,\n1,1,2,2,\n")
    data = read_study_data(_config(), [path]).data
    assert data["participant_id"].tolist() == ["1", "1"]
    assert data["pain"].tolist() == [3.0, 2.0]


def test_one_extra_value_on_a_line_is_refused_not_dropped(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain\n1,1,1,3\n1,1,2,2,7\n")
    with pytest.raises(InputError, match="line 3"):
        read_study_data(_config(), [path])


def test_extra_value_on_every_line_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,arm,visit,pain\n1,1,1,3,9\n1,1,2,2,\n")
    with pytest.raises(InputError, match="line 2 has 5"):
        read_study_data(_config(), [path])


def test_quoted_multiline_cells_keep_true_line_numbers(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('participant_id,arm,visit,pain,note\n1,1,1,3,"two\nlines"\n\n1,1,2,12,ok\n')
    ingest = read_study_data(_config(), [path])
    assert ingest.data["source_row"].tolist() == [2, 5]


def test_xlsx_blank_rows_keep_sheet_row_numbers_and_header_must_be_row_1(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["participant_id", "arm", "visit", "pain"], [1, 1, 1, 3], [1, 1, 2, 2], [], [2, 2, 1, 4]):
        ws.append(row)
    wb.save(tmp_path / "ok.xlsx")
    assert read_study_data(_config(), [tmp_path / "ok.xlsx"]).data["source_row"].tolist() == [2, 3, 5]
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in ([], ["participant_id", "arm", "visit", "pain"], [1, 1, 1, 3]):
        ws.append(row)
    wb.save(tmp_path / "late_header.xlsx")
    with pytest.raises(InputError, match="no header"):
        read_study_data(_config(), [tmp_path / "late_header.xlsx"])


def test_csv_with_empty_first_line_is_an_input_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("\nparticipant_id,arm,visit,pain\n1,1,1,3\n")
    with pytest.raises(InputError, match="line 1 is empty"):
        read_study_data(_config(), [path])


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_duplicated_column_names_are_refused(tmp_path, suffix):
    table = pd.DataFrame([[1, 1, 1, 3, 4]], columns=["participant_id", "arm", "visit", "pain", "pain"])
    path = tmp_path / f"x.{suffix}"
    if suffix == "csv":
        table.to_csv(path, index=False)
    else:
        table.to_excel(path, index=False)
    with pytest.raises(InputError, match=r"duplicated column names \['pain'\]"):
        read_study_data(_config(), [path])


def test_redcap_style_export_with_events_and_repeat_rows(tmp_path):
    path = tmp_path / "redcap.csv"
    path.write_text(
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,group,pain\n"
        "1001,baseline_arm_1,,,1,6\n"
        "1001,t2_arm_1,,,1,2\n"
        "1001,t2_arm_1,weekly_survey,1,,5\n"
        "1002,baseline_arm_1,,,2,4\n"
    )
    raw = _config().raw
    cfg = StudyConfig.from_dict(
        {
            **raw,
            "data": {"files": [{"path": "redcap.csv", "filter": {"redcap_repeat_instrument": "<missing>"}}]},
            "columns": {"record_id": "participant_id", "redcap_event_name": "visit", "group": "arm"},
            "visits": [
                {"name": "v1", "baseline": True, "codes": ["baseline_arm_1"]},
                {"name": "v2", "codes": ["t2_arm_1"]},
            ],
        }
    )
    ingest = read_study_data(cfg, [path])
    assert ingest.data[["participant_id", "visit", "arm", "pain"]].values.tolist() == [
        ["1001", "v1", "a", 6.0],
        ["1001", "v2", "a", 2.0],
        ["1002", "v1", "b", 4.0],
    ]
    assert ingest.issues[["row", "rule"]].values.tolist() == [[4, "filtered_by_config"]]
