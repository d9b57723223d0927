"""Write the malformed-input corpus and its expectations (tests/malformed/expected.csv).

Each file holds one defect (a few combine two); ``expected.csv`` says which config reads it,
the exit code of ``prt-outcomes validate``, and for exit 1 the rule, column and line (header =
line 1) that must appear in failures.csv; for exit 2 a word the message must contain. Run from
the repo root:  .venv/bin/python tests/malformed/make_corpus.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
HEADER = "id,group,visit,pain_avg,odi,age,sex"
# lines 2-7
BASE = [
    "P01,1,baseline,5,30,45,female",
    "P01,1,post,2.5,20,45,female",
    "P02,2,baseline,4,24,52,male",
    "P02,2,post,4.5,22,52,male",
    "P03,3,baseline,6,40,38,female",
    "P03,3,post,5.5,38,38,female",
]


def lines_with(
    changes: dict[int, str] | None = None, extra: list[str] | None = None, header: str = HEADER
) -> str:
    """BASE with line ``n`` (file line number) replaced, plus extra lines at the end."""
    rows = list(BASE)
    for line_no, text in (changes or {}).items():
        rows[line_no - 2] = text
    rows += extra or []
    return "\n".join([header, *rows]) + "\n"


def semicolon_decimal_comma(text: str) -> str:
    """The same table as a European export: ';' separators and decimal commas."""
    return "\n".join(";".join(f.replace(".", ",") for f in line.split(",")) for line in text.split("\n"))


# name -> (content, config, exit, [(rule, column, row)] or message keyword)
CASES: dict[str, tuple] = {}


def case(name, content, exit_code, expect, config="config.yaml"):
    CASES[name] = (content, config, exit_code, expect)


case("ok.csv", lines_with(), 0, [])
case("ok_semicolon_decimal_comma.csv", semicolon_decimal_comma(lines_with()), 0, [])
case("ok_bom_crlf.csv", "\ufeff" + lines_with().replace("\n", "\r\n"), 0, [])
case("ok_utf16_tab_excel_unicode_text.csv", "\ufeff" + lines_with().replace(",", "\t"), 0, [])
case(
    "ok_labels_and_codes.csv",
    lines_with(
        {2: "P01,PRT,1,5,30,45,2", 4: "P02,Placebo,t1,4,24,52,1", 6: "P03,usual care,Baseline,6,40,38,FEMALE"}
    ),
    0,
    [],
)
case("minus99_code.csv", lines_with({3: "P01,1,post,-99,20,45,female"}), 0, [])
case("undefined_code.csv", lines_with({5: "P02,2,post,<undefined>,22,52,male"}), 0, [])
case(
    "duplicate_visit.csv",
    lines_with(extra=["P02,2,post,4,22,52,male"]),
    1,
    [("duplicate_visit", "visit", 8), ("duplicate_visit", "visit", 5)],
)
case(
    "arm_typo.csv",
    lines_with({6: "P03,usual_cre,baseline,6,40,38,female", 7: "P03,usual_cre,post,5.5,38,38,female"}),
    1,
    [("unknown_arm", "arm", 6), ("unknown_arm", "arm", 7)],
)
case("out_of_range.csv", lines_with({3: "P01,1,post,12,20,45,female"}), 1, [("out_of_range", "pain_avg", 3)])
case("off_step.csv", lines_with({5: "P02,2,post,4.5,33,52,male"}), 1, [("off_step", "odi", 5)])
case(
    "text_in_score.csv", lines_with({7: "P03,3,post,five,38,38,female"}), 1, [("not_numeric", "pain_avg", 7)]
)
case(
    "two_arms.csv",
    lines_with({3: "P01,2,post,2.5,20,45,female"}),
    1,
    [("multiple_arms", "arm", 2), ("multiple_arms", "arm", 3)],
)
case(
    "missing_baseline.csv",
    lines_with({4: "P02,2,m3,4,24,52,male"}),
    1,
    [("missing_baseline", "visit", 4), ("missing_baseline", "visit", 5)],
)
# 152 on the follow-up row only: out of range there, and the participant's age is inconsistent
case(
    "covariate_out_of_range.csv",
    lines_with({5: "P02,2,post,4.5,22,152,male"}),
    1,
    [("out_of_range", "age", 5), ("covariate_changes", "age", 4), ("covariate_changes", "age", 5)],
)
# a baseline covariate that differs between a participant's rows
case(
    "covariate_changes.csv",
    lines_with({3: "P01,1,post,2.5,20,46,female"}),
    1,
    [("covariate_changes", "age", 2), ("covariate_changes", "age", 3)],
)
case(
    "missing_covariate.csv",
    lines_with({6: "P03,3,baseline,6,40,,female", 7: "P03,3,post,5.5,38,NA,female"}),
    1,
    [("missing_covariate", "age", 6), ("missing_covariate", "age", 7)],
)
case("unknown_visit.csv", lines_with({5: "P02,2,week6,4.5,22,52,male"}), 1, [("unknown_visit", "visit", 5)])
case(
    "unknown_sex_level.csv",
    lines_with({2: "P01,1,baseline,5,30,45,f", 3: "P01,1,post,2.5,20,45,f"}),
    1,
    [("unknown_level", "sex", 2), ("unknown_level", "sex", 3)],
)
case(
    "missing_participant_id.csv",
    lines_with(extra=[",1,baseline,3,10,40,male"]),
    1,
    [("missing_value", "participant_id", 8)],
)
case(
    "missing_arm.csv",
    lines_with({6: "P03,,baseline,6,40,38,female", 7: "P03,,post,5.5,38,38,female"}),
    1,
    [("missing_value", "arm", 6), ("missing_value", "arm", 7)],
)
case(
    "baseline_row_quarantined.csv",
    lines_with({2: "P01,1,baseline,5,31,45,female"}),
    1,
    [("off_step", "odi", 2), ("baseline_quarantined", "visit", 3)],
)
case(
    "dates_out_of_order.csv",
    lines_with(
        {
            2: "P01,1,baseline,5,30,45,female,2020-03-01",
            3: "P01,1,post,2.5,20,45,female,2020-02-01",
            4: "P02,2,baseline,4,24,52,male,2020-03-02",
            5: "P02,2,post,4.5,22,52,male,2020-04-02",
            6: "P03,3,baseline,6,40,38,female,2020-03-03",
            7: "P03,3,post,5.5,38,38,female,2020-04-03",
        },
        header=HEADER + ",date",
    ),
    1,
    [("dates_out_of_order", "date", 2), ("dates_out_of_order", "date", 3)],
)
case(
    "bad_date.csv",
    lines_with(
        {
            2: "P01,1,baseline,5,30,45,female,2020-03-01",
            3: "P01,1,post,2.5,20,45,female,not a date",
            4: "P02,2,baseline,4,24,52,male,2020-03-02",
            5: "P02,2,post,4.5,22,52,male,2020-04-02",
            6: "P03,3,baseline,6,40,38,female,2020-03-03",
            7: "P03,3,post,5.5,38,38,female,2020-04-03",
        },
        header=HEADER + ",date",
    ),
    1,
    [("not_a_date", "date", 3)],
)
case(
    "blank_lines_keep_numbering.csv",
    HEADER
    + "\n"
    + "\n".join(BASE[:2])
    + "\n\n"
    + "\n".join(BASE[2:4])
    + "\nP03,3,baseline,6,40,38,female\nP03,3,post,10.5,38,38,female\n",
    1,
    [("out_of_range", "pain_avg", 8)],
)
case(
    "semicolon_decimal_comma_out_of_range.csv",
    semicolon_decimal_comma(lines_with({3: "P01,1,post,10.5,20,45,female"})),
    1,
    [("out_of_range", "pain_avg", 3)],
)
case(
    "bom_crlf_arm_typo.csv",
    "\ufeff"
    + lines_with({4: "P02,plac,baseline,4,24,52,male", 5: "P02,plac,post,4.5,22,52,male"}).replace(
        "\n", "\r\n"
    ),
    1,
    [("unknown_arm", "arm", 4), ("unknown_arm", "arm", 5)],
)
# structure problems: exit 2, the message must name the file and contain the keyword
case(
    "missing_column.csv",
    "\n".join(
        ["id,group,pain_avg,odi,age,sex", *[",".join(r.split(",")[:2] + r.split(",")[3:]) for r in BASE]]
    )
    + "\n",
    2,
    "visit",
)
case("empty.csv", "", 2, "empty")
case("header_only.csv", HEADER + "\n", 2, "no data rows")
case("wrong_type.txt", lines_with(), 2, "extension")
case("unreadable.xlsx", "this is not a workbook\n", 2, "Excel")
case("ragged_line.csv", lines_with({4: "P02,2,baseline,4,24,52,male,extra,fields"}), 2, "well-formed")
case(
    "email_column.csv",
    lines_with(header=HEADER + ",contact")
    .replace("female\n", "female,a.person@example.org\n")
    .replace("male\n", "male,someone@example.com\n"),
    2,
    "e-mail",
)
case(
    "name_column.csv",
    lines_with(header=HEADER + ",first_name")
    .replace("female\n", "female,Ann\n")
    .replace("male\n", "male,Bob\n"),
    2,
    "identifier",
)
case(
    "phone_column.csv",
    lines_with(header=HEADER + ",contact")
    .replace("female\n", "female,+44 20 7946 0958\n")
    .replace("male\n", "male,(303) 555-0142\n"),
    2,
    "phone",
)
# an unmatched quote joins lines 2 and 3 into one record whose id cell holds a line break
case(
    "unmatched_quote_joins_lines.csv",
    lines_with({2: '",1,baseline,5,30,45,female', 3: '",1,post,2.5,20,45,female'}),
    1,
    [("line_break_in_cell", "participant_id", 2), ("missing_baseline", "visit", 2)],
)
# wide layout (config_wide.yaml): pain_avg_t1, pain_avg_t2, odi_t1, odi_t2
WIDE_HEADER = "id,group,age,sex,pain_avg_t1,pain_avg_t2,odi_t1,odi_t2"
WIDE = ["P01,1,45,female,5,2.5,30,20", "P02,2,52,male,4,4.5,24,22", "P03,3,38,female,6,5.5,40,38"]
case("wide_ok.csv", "\n".join([WIDE_HEADER, *WIDE]) + "\n", 0, [], config="config_wide.yaml")
case(
    "wide_bad_cell.csv",
    "\n".join([WIDE_HEADER, WIDE[0], "P02,2,52,male,4,4..5,24,22", WIDE[2]]) + "\n",
    1,
    [("not_numeric", "pain_avg", 3)],
    config="config_wide.yaml",
)
case(
    "wide_out_of_range.csv",
    "\n".join([WIDE_HEADER, WIDE[0], WIDE[1], "P03,3,38,female,6,5.5,40,104"]) + "\n",
    1,
    [("out_of_range", "odi", 4)],
    config="config_wide.yaml",
)

# --- issue 9: input read wrongly without a word -----------------------------------------------
# a truncated export: line 5 stops after pain_avg, its odi, age and sex are absent, not empty
case("short_record.csv", lines_with({5: "P02,2,post,4.5"}), 1, [("short_record", "odi", 5)])
# two columns for one outcome x visit: refused, naming both
case(
    "wide_same_visit_twice.csv",
    "\n".join([WIDE_HEADER + ",pain_avg_baseline", *(w + ",7" for w in WIDE)]) + "\n",
    2,
    "two columns",
    config="config_wide_visit_names.yaml",
)
case(
    "wide_same_visit_two_cases.csv",
    "\n".join([WIDE_HEADER + ",pain_avg_T2", *(w + ",7" for w in WIDE)]) + "\n",
    2,
    "two columns",
    config="config_wide.yaml",
)
# visit suffixes are matched case-blind, like visit codes in long files
case(
    "wide_visit_suffix_mixed_case.csv",
    "\n".join([WIDE_HEADER.replace("pain_avg_t2", "pain_avg_T2").replace("odi_t2", "odi_T2"), *WIDE]) + "\n",
    0,
    [],
    config="config_wide.yaml",
)
# "2,000": 2000 with a thousands separator or 2.0 with a decimal comma? (odi has no decimal comma)
case(
    "semicolon_thousands_separator.csv",
    semicolon_decimal_comma(lines_with({5: "P02,2,post,4.5,2.000,52,male"})),
    1,
    [("ambiguous_number", "odi", 5)],
)
case(
    "quoted_thousands_separator.csv",
    lines_with({5: 'P02,2,post,4.5,"2,000",52,male'}),
    1,
    [("ambiguous_number", "odi", 5)],
)
# non-finite numbers are refused even where no range would catch them (age is unbounded here)
case(
    "inf_in_unbounded_covariate.csv",
    lines_with({4: "P02,2,baseline,4,24,inf,male", 5: "P02,2,post,4.5,22,-inf,male"}),
    1,
    [
        ("not_finite", "age", 4),
        ("not_finite", "age", 5),
        ("missing_covariate", "age", 4),
        ("missing_covariate", "age", 5),
    ],
    config="config_extra.yaml",
)
case(
    "nan_text_in_score.csv",
    lines_with({3: "P01,1,post,NaN,20,45,female"}),
    1,
    [("not_finite", "pain_avg", 3)],
)
# a UTF-8 file with one latin-1 line: only that line is quarantined, the labels stay readable
UTF8_ACCENTS = (
    lines_with(header=HEADER + ",note").replace("female\n", "féminin,ok\n").replace("male\n", "masculin,ok\n")
)
case(
    "utf8_with_one_latin1_line.csv",
    UTF8_ACCENTS.encode("utf-8").replace(
        "P02,2,post,4.5,22,52,masculin,ok".encode(),
        "P02,2,post,4.5,22,52,masculin,r\xe9sum\xe9".encode("latin-1"),
    ),
    1,
    [("encoding", "", 5)],
    config="config_extra.yaml",
)
# a genuinely Windows-1252 file (no UTF-8 character at all) is read, with a warning
case("ok_cp1252.csv", UTF8_ACCENTS.encode("cp1252"), 0, [], config="config_extra.yaml")
# concatenated exports: a byte-order mark before P01's second line must not make a new person;
# a repeated header line is reported as such (and checked by no other rule: it is not data)
case("bom_inside_file.csv", "\n".join([HEADER, BASE[0], "\ufeff" + BASE[1], *BASE[2:]]) + "\n", 0, [])
case(
    "concatenated_with_repeated_header.csv",
    "\ufeff" + "\n".join([HEADER, *BASE[:2], "\ufeff" + HEADER, *BASE[2:]]) + "\n",
    1,
    [("repeated_header", "", 4)],
)
# P02 and p02: one person typed two ways, or two people? Quarantined, not counted twice
case(
    "ids_differ_only_in_case.csv",
    lines_with(extra=["p02,2,baseline,4,24,52,male", "p02,2,post,4.5,22,52,male"]),
    1,
    [("ids_differ_only_in_case", "participant_id", r) for r in (4, 5, 8, 9)],
)
# a stray quote in the sex cell of line 3 swallows lines 4-6 (P02's ids among them) into one
# record: reported as spanning lines 3-6, never printed; P03 loses its baseline line
case(
    "stray_quote_in_non_id_cell.csv",
    lines_with({3: 'P01,1,post,2.5,20,45,"female', 6: 'P03,3,baseline,6,40,38,female"'}),
    1,
    [
        ("line_break_in_cell", "sex", 3),
        ("unknown_level", "sex", 3),
        ("covariate_changes", "sex", 2),
        ("covariate_changes", "sex", 3),
        ("missing_baseline", "visit", 7),
    ],
)


def main() -> None:
    rows = []
    for name, (content, config, exit_code, expect) in CASES.items():
        encoding = "utf-16-le" if "utf16" in name else "utf-8"
        (HERE / name).write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        if isinstance(expect, str):
            rows.append((name, config, exit_code, "", "", "", expect))
        elif not expect:
            rows.append((name, config, exit_code, "", "", "", ""))
        for rule, column, row in expect if isinstance(expect, list) else []:
            rows.append((name, config, exit_code, rule, column, row, ""))
    # binary formats of the OK data
    ok = pd.read_csv(HERE / "ok.csv", dtype=str)
    ok.to_excel(HERE / "ok.xlsx", index=False)
    ok.to_parquet(HERE / "ok.parquet", index=False)
    bad = ok.copy()
    bad.loc[3, "odi"] = "2x"  # line 5
    bad.to_excel(HERE / "xlsx_bad_cell.xlsx", index=False)
    (HERE / "xlsx_named_csv.csv").write_bytes((HERE / "ok.xlsx").read_bytes())
    # a workbook with a second sheet: the config must say which one holds the data
    with pd.ExcelWriter(HERE / "xlsx_two_sheets.xlsx") as writer:
        ok.to_excel(writer, sheet_name="visits", index=False)
        ok.head(2).to_excel(writer, sheet_name="more visits", index=False)
    # formula cells saved by a library that does not calculate them have no value in the file
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(ok.columns))
    for row in ok.itertuples(index=False):
        sheet.append(list(row))
    sheet["E5"] = "=20+2"  # odi of line 5
    book.save(HERE / "xlsx_formula_without_value.xlsx")
    rows += [
        ("xlsx_two_sheets.xlsx", "config.yaml", 2, "", "", "", "sheet"),
        ("xlsx_formula_without_value.xlsx", "config.yaml", 1, "formula_without_value", "odi", 5, ""),
        ("xlsx_named_csv.csv", "config.yaml", 2, "", "", "", "binary"),
        ("ok.xlsx", "config.yaml", 0, "", "", "", ""),
        ("ok.parquet", "config.yaml", 0, "", "", "", ""),
        ("xlsx_bad_cell.xlsx", "config.yaml", 1, "not_numeric", "odi", 5, ""),
    ]
    with open(HERE / "expected.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "config", "exit_code", "rule", "column", "row", "message_contains"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
