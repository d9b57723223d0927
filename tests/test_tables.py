"""Journal number formatting, journal tables and the md/html/tex writers (prt_outcomes.render.tables)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prt_outcomes.render.tables import (
    MINUS,
    REFERENCE_CELL,
    TableFormatError,
    baseline_journal_table,
    flow_journal_table,
    format_ci,
    format_count_percent,
    format_estimate_ci,
    format_mean_sd,
    format_number,
    format_p,
    lsmeans_journal_table,
    outcome_journal_table,
    responder_journal_table,
    to_html,
    to_latex,
    to_markdown,
    write_table,
)
from report_fakes import read


# ---------------------------------------------------------------- P values (JAMA style)
@pytest.mark.parametrize(
    "p, expected",
    [
        (0.0, "<.001"),
        (0.000999, "<.001"),
        (0.001, ".001"),
        (0.0042, ".004"),
        (0.00999, ".010"),
        (0.01, ".01"),
        (0.0312, ".03"),
        (0.0449, ".04"),
        (0.0496, ".050"),  # below .05: never printed as ".05"
        (0.05, ".05"),
        (0.4, ".40"),
        (0.99, ".99"),
        (0.996, ">.99"),
        (1.0, ">.99"),
        (float("nan"), "NA"),
        (None, "NA"),
    ],
)
def test_format_p_follows_jama(p, expected):
    assert format_p(p) == expected


def test_format_p_leading_zero_variant_and_bad_values():
    assert format_p(0.4, leading_zero=True) == "0.40"
    assert format_p(0.0001, leading_zero=True) == "<0.001"
    with pytest.raises(TableFormatError, match="must lie in"):
        format_p(1.2)
    with pytest.raises(TableFormatError, match="must lie in"):
        format_p(-0.1)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_format_p_never_claims_significance_it_does_not_have(p):
    text = format_p(p)
    assert re.fullmatch(r"<\.001|>\.99|\.\d{2,3}", text)
    if text.startswith("."):
        shown = float("0" + text)
        decimals = len(text) - 1
        assert abs(shown - p) <= 0.5 * 10**-decimals + 1e-12
        # A P value below .05 is never displayed as .05 or above.
        if p < 0.05:
            assert shown < 0.05 or text == ".050"


# ---------------------------------------------------------------- numbers and intervals
def test_number_ci_and_summary_strings():
    assert format_number(-0.0004, 2) == "0.00"  # no negative zero
    assert format_number(2.0, 0) == "2"
    assert format_number(np.nan) == "NA"
    assert format_ci(-1.234, 0.5, 2) == "-1.23 to 0.50"
    assert format_ci(1, None) == "NA"
    assert format_estimate_ci(1.7695, 1.2, 2.339, 2) == "1.77 (1.20 to 2.34)"
    assert format_estimate_ci(12.345, 10.0, 14.5, 1) == "12.3 (10.0 to 14.5)"
    assert format_mean_sd(41.08, 15.61, 1) == "41.1 (15.6)"
    assert format_count_percent(29, 58.0) == "29 (58.0)"
    assert format_count_percent(33, denominator=50) == "33/50 (66.0)"
    assert format_count_percent(0, denominator=0) == "0/0"


def test_writers_use_a_true_minus_only_for_negative_numbers():
    df = pd.DataFrame(
        {"Label": ["Pain-free (0-10)", "12-month"], "Value": ["-1.20 (-2.00 to -0.40)", "1e-05"]}
    )
    md, page, tex = to_markdown(df), to_html(df), to_latex(df)
    assert f"{MINUS}1.20 ({MINUS}2.00 to {MINUS}0.40)" in md
    assert "Pain-free (0-10)" in md and "12-month" in md and "1e-05" in md
    # the interval is kept on one line (span.nobr), the estimate may break before it
    assert '&minus;1.20 <span class="nobr">(&minus;2.00 to &minus;0.40)</span>' in page
    assert "Pain-free (0-10)" in page
    assert "$-$1.20 ($-$2.00 to $-$0.40)" in tex
    assert "Pain-free (0-10)" in tex


def test_latex_is_booktabs_and_escaped():
    df = pd.DataFrame({"a_b": ["50%"], "c & d": ["<.001"], "e": ["\u22651 #1"]})
    tex = to_latex(df, caption="Risk & 95% CI", notes="P < .05")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lll}"):
        assert token in tex
    assert r"a\_b & c \& d & e \\" in tex
    assert r"50\%" in tex and r"\textless{}.001" in tex and r"$\geq$1 \#1" in tex
    assert r"\caption{Risk \& 95\% CI}" in tex


def test_html_fragment_is_pure_ascii():
    page = to_html(pd.DataFrame({"Threshold": ["\u226530% reduction"], "x": ["Ren\u00e9"]}))
    assert page.isascii() and "&#8805;30% reduction" in page and "Ren&#233;" in page


def test_html_is_escaped_and_markdown_pipes_escaped():
    df = pd.DataFrame({"x": ["<script>"], "y": ["a|b"]})
    assert "<script>" not in to_html(df)
    assert "&lt;script&gt;" in to_html(df)
    assert r"a\|b" in to_markdown(df)


def test_write_table_writes_each_format_deterministically(tmp_path):
    df = pd.DataFrame({"Arm": ["PRT"], "Estimate": ["-1.77 (-2.3 to -1.2)"], "n": [50]})
    first = write_table(df, tmp_path / "t", ("md", "html", "tex", "csv"), caption="T")
    assert [p.name for p in first] == ["t.md", "t.html", "t.tex", "t.csv"]
    blobs = [p.read_bytes() for p in first]
    second = write_table(df, tmp_path / "t", ("md", "html", "tex", "csv"), caption="T")
    assert [p.read_bytes() for p in second] == blobs
    assert b"\r\n" not in b"".join(blobs)
    assert r"\label{tab:t}" in first[2].read_text()
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(df, tmp_path / "t", ("rtf",))


# ---------------------------------------------------------------- journal tables
def test_baseline_table_is_wide_with_counts_in_headers(results, cfg):
    table = baseline_journal_table(read(results, "baseline"), cfg, flow=read(results, "flow"))
    assert list(table.columns) == [
        "Characteristic",
        "PRT (n = 50)",
        "Placebo (n = 51)",
        "Usual care (n = 52)",
        "Total (n = 153)",
    ]
    chars = table["Characteristic"].tolist()
    assert "Age, y, mean (SD)" in chars
    assert "Pain duration, y, median (IQR)" in chars
    assert "Sex, No. (%)" in chars and "    Female" in chars
    assert not any("Participants" in c for c in chars)  # carried by the header
    row = table[table["Characteristic"] == "    Female"].iloc[0]
    assert row["PRT (n = 50)"] == "26 (52.0)"
    assert not any("P" == c or "P value" in c for c in table.columns)  # CONSORT: no P values


def test_baseline_table_without_flow_uses_participant_rows(results, cfg):
    table = baseline_journal_table(read(results, "baseline"), cfg)
    assert table.columns[1] == "PRT (n = 50)" and table.columns[-1] == "Total (n = 153)"


def test_flow_table_counts_and_percentages(results, cfg):
    table = flow_journal_table(read(results, "flow"), cfg)
    assert list(table.columns) == ["Stage", "PRT", "Placebo", "Usual care"]
    assert table.iloc[0].tolist() == ["Randomized, No.", "50", "51", "52"]
    post = table[table["Stage"].str.startswith("Post-treatment")].iloc[0]
    assert post["PRT"] == "49 (98.0); 48 analysed"
    assert len(table) == 1 + len(cfg.visit_names)


def test_outcome_table_leads_with_the_difference_in_change_and_tests_no_baseline(results, cfg):
    obs, mm = read(results, "observed_summary"), read(results, "marginal_means")
    con, chg = read(results, "contrasts"), read(results, "change_contrasts")
    pain = outcome_journal_table("pain_avg", obs, mm, con, cfg, change_contrasts=chg)
    assert list(pain.columns) == [
        "Visit",
        "Arm",
        "No.",
        "Observed mean (SD)",
        "Model mean (95% CI)",
        "Difference in change vs Usual care (95% CI)",
        "P",
        "Hedges g (95% CI)",
        "Difference in levels vs Usual care (95% CI)",
    ]
    assert len(pain) == len(cfg.visit_names) * len(cfg.arm_names)
    assert pain["Visit"].iloc[0] == "Baseline" and pain["Arm"].iloc[0] == "PRT"
    follow = pain[pain["Visit"] != "Baseline"]
    ref = follow[follow["Arm"] == "Usual care"]
    assert (ref["Difference in change vs Usual care (95% CI)"] == REFERENCE_CELL).all()
    assert (ref["P"] == "").all()
    # BPI: 2 decimals; ODI: 1 decimal (Instrument.decimals)
    post_prt = pain[(pain["Visit"] == "Post-treatment") & (pain["Arm"] == "PRT")].iloc[0]
    assert re.fullmatch(r"\d+\.\d{2} \(\d+\.\d{2}\)", post_prt["Observed mean (SD)"])
    # the P and g are the change contrast's, not the levels'
    expected = chg[(chg.outcome == "pain_avg") & (chg.visit == "post") & (chg.arm == "prt")].iloc[0]
    lead = post_prt["Difference in change vs Usual care (95% CI)"]
    assert lead.startswith(f"{expected['estimate']:.2f} (")
    assert post_prt["Hedges g (95% CI)"].startswith(f"{expected['hedges_g']:.2f} (")
    levels = con[(con.outcome == "pain_avg") & (con.visit == "post") & (con.arm == "prt")].iloc[0]
    assert post_prt["Difference in levels vs Usual care (95% CI)"].startswith(f"{levels['estimate']:.2f} (")
    odi = outcome_journal_table("odi", obs, mm, con, cfg)
    first = odi[(odi["Visit"] == "Post-treatment") & (odi["Arm"] == "PRT")].iloc[0]
    assert re.fullmatch(r"\d+\.\d \(\d+\.\d\)", first["Observed mean (SD)"])
    assert "Difference vs Usual care (95% CI)" in odi.columns  # no change contrasts given
    # CONSORT 2010 item 15: the baseline rows are descriptive only
    base = pain[pain["Visit"] == "Baseline"]
    assert (base[pain.columns[5:]] == "").all().all()
    base_odi = odi[odi["Visit"] == "Baseline"]
    assert (base_odi[odi.columns[5:]] == "").all().all()


def test_lsmeans_table_is_the_mmrmt01_layout(results, cfg):
    lsm = read(results, "lsmeans_change")
    table = lsmeans_journal_table("pain_avg", lsm, cfg)
    assert list(table.columns) == [
        "Visit",
        "Arm",
        "n",
        "Adjusted mean change (SE)",
        "95% CI",
        "Difference vs Usual care (SE)",
        "95% CI of the difference",
        "P",
    ]
    assert "Baseline" not in set(table["Visit"])
    src = lsm[(lsm.outcome == "pain_avg") & (lsm.visit == "post") & (lsm.arm == "prt")].iloc[0]
    row = table[(table["Visit"] == "Post-treatment") & (table["Arm"] == "PRT")].iloc[0]
    assert row["Adjusted mean change (SE)"] == f"{src['estimate']:.2f} ({src['se']:.3f})"
    assert (
        row["95% CI of the difference"]
        == f"{src['difference_ci_low']:.2f} to {src['difference_ci_high']:.2f}"
    )
    assert (table.loc[table["Arm"] == "Usual care", "Difference vs Usual care (SE)"] == REFERENCE_CELL).all()


def test_outcome_table_errors_name_the_problem(results, cfg):
    obs, mm, con = (read(results, n) for n in ("observed_summary", "marginal_means", "contrasts"))
    with pytest.raises(TableFormatError, match="no rows for outcome 'nope'"):
        outcome_journal_table("nope", obs, mm, con, cfg)
    with pytest.raises(TableFormatError, match=r"lacks the column\(s\) \['hedges_g'"):
        outcome_journal_table("pain_avg", obs, mm, con.drop(columns="hedges_g"), cfg)


def test_responder_table_is_grouped_by_threshold_with_visits_as_columns(results, cfg):
    resp = read(results, "responders")
    table = responder_journal_table(resp, cfg)
    shown = [v for v in cfg.visit_names if v in set(resp["visit"])]
    assert list(table.columns) == ["Measure", *(cfg.visit_labels[v] for v in shown)]
    assert table["Measure"].iloc[0] == "BPI average pain: Pain-free or nearly pain-free (0-1)"
    src = resp[(resp.visit == "post") & (resp.arm == "prt")].iloc[0]
    prt = table[table["Measure"] == "    PRT, No./total (%)"].iloc[0]
    assert prt["Post-treatment"] == f"{src['responders']}/{src['denominator']} ({src['percent']:.1f})"
    rd = table[table["Measure"].str.contains("PRT vs Usual care: risk difference")].iloc[0]
    assert rd["Post-treatment"].startswith(f"{100 * src['risk_difference']:.1f} (")
    # no comparison of the baseline (CONSORT 2010 item 15), no reference row of comparisons
    compared = table[table["Measure"].str.contains(" vs ")]
    assert len(compared)
    with_base = pd.concat([resp[resp.visit == "post"].assign(visit="baseline"), resp], ignore_index=True)
    base = responder_journal_table(with_base, cfg)
    assert (base.loc[base["Measure"].str.contains(" vs "), "Baseline"] == "").all()
    assert (base.loc[base["Measure"].str.contains("No./total"), "Baseline"] != "").all()
    assert not table["Measure"].str.contains("Usual care vs").any()
    assert not table.isin(["NA", "[Reference]"]).any().any()
    assert len(table) < len(resp)


def test_responder_table_prefers_labels_and_nnt_label_from_the_responders_module(results, cfg):
    resp = read(results, "responders").assign(
        threshold_label="Custom label", nnt_label="NNTB 1.8 (1.5 to 2.6)"
    )
    table = responder_journal_table(resp, None)
    assert table["Measure"].str.endswith(": Custom label").any()
    nnt = table[table["Measure"].str.endswith(": NNT")]
    assert (nnt == "NNTB 1.8 (1.5 to 2.6)").any().any()


def test_outcome_table_of_a_single_arm_study_has_no_comparison_columns(results, cfg):
    obs, mm, con = (read(results, n) for n in ("observed_summary", "marginal_means", "contrasts"))
    keep = lambda df: df[df["arm"] == "prt"]  # noqa: E731
    table = outcome_journal_table("pain_avg", keep(obs), keep(mm), con.iloc[0:0], cfg)
    assert list(table.columns) == ["Visit", "Arm", "No.", "Observed mean (SD)", "Model mean (95% CI)"]
    assert len(table) == len(cfg.visit_names)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
    st.integers(min_value=0, max_value=3),
)
def test_every_negative_number_and_only_those_gets_a_minus_sign(low, high, decimals):
    text = format_ci(low, high, decimals)
    negatives = sum(part.startswith("-") for part in text.split(" to "))
    cell = pd.DataFrame({"CI": [text], "Label": ["Pain-free 0-10, 12-month"]})
    assert to_html(cell).count("&minus;") == negatives
    assert to_latex(cell).count("$-$") == negatives
    assert to_markdown(cell).count(MINUS) == negatives
    assert "Pain-free 0-10, 12-month" in to_markdown(cell)
