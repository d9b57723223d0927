"""The clinic audit wired through a run: config, audit tables with disclosure control, report.

The statistics themselves are checked in tests/test_audit.py (against an independent
recomputation and base R); here a small seeded multi-site clinic, generated below, is run
in-process (prt_outcomes.pipeline.run) and its files are read back: no count from 1 to
``min_cell - 1`` may appear in any audit output, the counts must reconcile, and the report must
read as an audit (no randomization, no arms).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from prt_outcomes.analyse.audit import audit_completion, audit_responders
from prt_outcomes.analyse.audit_tables import AUDIT_TABLE_COLUMNS, AUDIT_TABLES, audit_tables
from prt_outcomes.config import AuditGroup, ConfigError, StudyConfig, load_config
from prt_outcomes.outputs import RESULT_TABLE_REGISTRY, TABLE_FORMATS, results_dir
from prt_outcomes.pipeline import run

MIN_CELL = 5


def clinic_config(**changes) -> dict:
    """A two-visit clinic audit of one outcome by site and clinician; ``changes`` replace keys."""
    raw = {
        "study": {"name": "multisite", "title": "A multi-site pain clinic", "design": "audit"},
        "data": {"files": [{"path": "clinic.csv"}]},
        "arms": {"levels": [{"name": "clinic", "label": "Pain clinic"}]},
        "visits": [
            {"name": "first_visit", "label": "First visit", "baseline": True, "day": 0},
            {"name": "month3", "label": "3 months", "day": 90},
        ],
        "covariates": [
            {"name": "site", "type": "categorical", "levels": list("ABCDE")},
            {"name": "clinician", "type": "categorical", "levels": [f"c{j}" for j in range(1, 9)]},
            {"name": "age", "type": "numeric", "min": 0, "max": 120},
            {"name": "sex", "type": "categorical", "levels": ["female", "male"]},
        ],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10", "primary": True}],
        "thresholds": [
            {"rule": "percent_reduction >= 30"},
            {"rule": "reduction >= 2"},
            {"rule": "value <= 1", "label": "pain-free or nearly"},
        ],
        "audit": {
            "benchmarks": True,
            "groups": ["site", "clinician"],
            "funnel": {"measures": ["completion", "mean_change", "percent_reduction >= 30"]},
        },
        "privacy": {"min_cell": MIN_CELL},
    }
    raw.update(changes)
    return raw


def clinic_data(n: int = 160, seed: int = 13) -> pd.DataFrame:
    """Seeded patients, about half followed up at 3 months: site D small (about 8 patients),
    site E three patients, two of them seen by clinician c8, who sees no one else."""
    rng = np.random.default_rng(seed)
    sites = rng.choice(list("ABCD"), size=n, p=[0.45, 0.3, 0.2, 0.05])
    clinicians = rng.choice([f"c{j}" for j in range(1, 8)], size=n)
    sites[:3], clinicians[:2] = "E", "c8"
    rows = []
    for i in range(n):
        base = float(np.clip(np.round(rng.normal(6, 2)), 0, 10))
        common = dict(
            participant_id=f"p{i:03d}",
            site=sites[i],
            clinician=clinicians[i],
            age=float(np.round(rng.normal(50, 12))),
            sex=rng.choice(["female", "male"]),
        )
        rows.append(dict(common, visit="first_visit", pain=base))
        if rng.random() < 0.55:
            follow = float(np.clip(np.round(base - rng.normal(1, 2)), 0, 10))
            rows.append(dict(common, visit="month3", pain=follow))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clinic")
    data = clinic_data()
    data.to_csv(tmp / "clinic.csv", index=False)
    (tmp / "audit.yaml").write_text(yaml.safe_dump(clinic_config(), sort_keys=False))
    config = load_config(tmp / "audit.yaml")
    report = run(config, results_root=tmp / "results")
    return config, data, results_dir(config, tmp / "results"), report


def _config(**changes) -> StudyConfig:
    return StudyConfig.from_dict(clinic_config(**changes))


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------
def test_the_audit_config_is_typed():
    config = _config()
    assert config.is_audit and config.design == "audit"
    assert config.audit.groups == (AuditGroup("site"), AuditGroup("clinician"))
    assert config.audit.funnel_measures == ("completion", "mean_change", "percent_reduction >= 30")
    assert config.audit.funnel_adjustment is None and config.audit.effect_size_sd == "baseline_sd"
    assert (config.privacy.min_cell, config.privacy.round_to) == (5, None)


def test_single_arm_is_an_alias_of_audit():
    config = _config(study={"name": "x", "design": "single_arm"})
    assert config.is_audit and config.design == "audit"
    trial = clinic_config(study={"name": "x"})
    trial.pop("audit")
    assert not StudyConfig.from_dict(trial).is_audit


def test_a_period_of_the_date_column_is_a_group():
    config = _config(audit={"groups": [{"column": "date", "period": "quarter"}]})
    assert config.audit.groups[0].name == "date_quarter"


def test_visit_windows_are_read_with_the_day_as_target():
    visits = [
        {"name": "first_visit", "baseline": True, "day": 0, "window": {"start": 0, "end": 0}},
        {"name": "month3", "day": 90, "window": {"start": 60, "end": 120}},
    ]
    config = _config(visits=visits)
    assert [v.window for v in config.visits] == [(0.0, 0.0, 0.0), (60.0, 120.0, 90.0)]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"study": {"name": "x", "design": "randomized"}}, "study.design is 'randomized'"),
        (
            {"arms": {"levels": [{"name": "a"}, {"name": "b"}]}},
            "describes one group of patients",
        ),
        ({"visits": [{"name": "v1"}, {"name": "v2"}]}, "no visit has 'baseline: true'"),
        ({"audit": {"groups": ["ward"]}}, "'ward', which is not a declared covariate"),
        ({"audit": {"groups": [{"column": "site", "period": "month"}]}}, "must be 'date'"),
        ({"audit": {"groups": ["site"], "funnel": {"case_mix": ["bmi"]}}}, "case_mix lists ['bmi']"),
        ({"audit": {"funnel": {"measures": ["completion"]}}}, "audit.groups is empty"),
        (
            {"audit": {"groups": ["site"], "funnel": {"measures": ["percent_cure > 1"]}}},
            "audit.funnel.measures",
        ),
        ({"audit": {"attrition": ["bmi"]}}, "audit.attrition lists ['bmi']"),
        (
            {"visits": [{"name": "b", "baseline": True, "window": {"start": 0, "end": 5, "target": 9}}]},
            "target day 9 is not between",
        ),
    ],
)
def test_the_config_refuses_what_an_audit_cannot_mean(changes, words):
    with pytest.raises(ConfigError) as err:
        _config(**changes)
    assert words in str(err.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"privacy": {"min_cell": 0}},
        {"privacy": {"round_to": 0}},
        {"audit": {"effect_size_sd": "residual_sd"}},
        {"audit": {"funnel": {"adjustment": "random"}}},
        {"study": {"name": "x", "design": "observational"}},
    ],
)
def test_the_schema_refuses_unknown_values(changes):
    with pytest.raises(ConfigError, match="does not match the schema"):
        _config(**changes)


# --------------------------------------------------------------------------------------------
# the run: every audit file, privacy, reconciliation
# --------------------------------------------------------------------------------------------
def test_every_audit_table_is_written_in_every_format(clinic):
    _, _, base, _ = clinic
    for name in AUDIT_TABLES:
        assert name in RESULT_TABLE_REGISTRY
        assert RESULT_TABLE_REGISTRY[name].columns() == AUDIT_TABLE_COLUMNS[name]
        frame = pd.read_csv(base / "tables" / f"{name}.csv")
        assert list(frame.columns) == list(AUDIT_TABLE_COLUMNS[name])
        assert len(frame), name
        for ext in TABLE_FORMATS:
            assert (base / "tables" / f"{name}.{ext}").is_file()


def test_the_example_has_small_cells_to_suppress(clinic):
    """Without disclosure control the example has counts 1..4 (so the privacy test can fail)."""
    config, data, _, _ = clinic
    per_site = audit_completion(data, "pain", baseline_visit="first_visit", group="site", overall=False)
    resp = audit_responders(
        data, {"pain": ["percent_reduction >= 30"]}, baseline_visit="first_visit", group="clinician"
    )
    counts = pd.concat(
        [per_site["assessed"], per_site["eligible"] - per_site["assessed"], resp["responders"]]
    )
    assert ((counts >= 1) & (counts < MIN_CELL)).any()


def _published_counts(name: str, frame: pd.DataFrame) -> list[pd.Series]:
    """Every count a reader can read or work out from one row of a published audit table."""
    num = lambda c: pd.to_numeric(frame[c], errors="coerce")  # noqa: E731
    if name == "audit_completion":
        k, n = num("assessed"), num("eligible")
        return [k, n, n - k, (num("percent") * n / 100).round()]
    if name == "audit_change":
        return [num("n")]
    if name == "audit_responders":
        k, n = num("responders"), num("denominator")
        return [k, n, n - k, (num("percent") * n / 100).round()]
    if name == "audit_attrition":
        out = [num(c) for c in ("n_followed", "n_lost", "missing_followed", "missing_lost")]
        pct = frame["statistic"] == "percent"
        for side, n in (("followed", num("n_followed")), ("lost", num("n_lost"))):
            k = (num(side) * n / 100).round().where(pct)
            out += [k, (n - k).where(pct)]
        return out
    if name == "audit_funnel":
        proportion = frame["measure"] != "mean_change"
        k = (num("value") * num("volume")).round().where(proportion)
        return [num("volume"), k, (num("volume") - k).where(proportion)]
    raise AssertionError(name)


def test_no_audit_file_publishes_a_count_below_min_cell(clinic):
    _, _, base, _ = clinic
    for name in AUDIT_TABLES:
        frame = pd.read_csv(base / "tables" / f"{name}.csv")
        for counts in _published_counts(name, frame):
            small = counts[(counts >= 1) & (counts < MIN_CELL)]
            assert small.empty, (name, frame.loc[small.index].to_dict("records"))
    # something was hidden, and the rendered tables show the hidden cells empty, never a small count
    completion = pd.read_csv(base / "tables" / "audit_responders.csv")
    assert completion["responders"].isna().any()
    for name in AUDIT_TABLES:
        md = (base / "tables" / f"{name}.md").read_text()
        for cell in re.findall(r"\|\s*([0-9]+)\s*(?=\|)", md):
            assert not 1 <= int(cell) < MIN_CELL, (name, cell)


#: Columns of the result tables that hold counts of patients (or of assessments).
COUNT_COLUMNS = {
    "n", "count", "randomized", "assessed", "analysed", "expected", "observed", "missing",
    "change_n", "eligible", "responders", "denominator", "n_followed", "n_lost", "followed",
    "lost", "n_responders", "n_total", "n_missing", "n_obs", "n_subjects",
}  # fmt: skip


#: Tables of the analyse stage an audit still writes uncontrolled: none.
NOT_YET_CONTROLLED: set[str] = set()


def test_the_trial_responder_table_of_an_audit_is_controlled(clinic):
    _, _, base, _ = clinic
    counts = pd.to_numeric(pd.read_csv(base / "tables" / "responders.csv")["responders"], errors="coerce")
    assert not ((counts >= 1) & (counts < MIN_CELL)).any()


def test_no_file_of_the_run_publishes_a_count_below_min_cell(clinic):
    """Every table the run writes (the describe tables too, in every format) and the report."""
    _, _, base, report = clinic
    checked = 0
    for path in sorted((base / "tables").glob("*.csv")):
        if path.stem in NOT_YET_CONTROLLED:
            continue
        frame = pd.read_csv(path)
        for column in COUNT_COLUMNS & set(frame.columns):
            counts = pd.to_numeric(frame[column], errors="coerce")
            small = counts[(counts >= 1) & (counts < MIN_CELL)]
            assert small.empty, (path.name, column, frame.loc[small.index].to_dict("records"))
            checked += 1
        if "display" in frame:  # "12 (7.5)": the count before the percent
            lead = frame["display"].astype(str).str.extract(r"^(\d+)\b")[0].dropna().astype(int)
            assert not ((lead >= 1) & (lead < MIN_CELL)).any(), path.name
    assert checked >= 10
    # the describe tables were controlled: the small site and clinician are hidden
    baseline = pd.read_csv(base / "tables" / "baseline.csv")
    assert (baseline.loc[baseline["level"].isin(["E", "c8"]), "display"] == "suppressed").all()
    for path in sorted((base / "tables").glob("*.md")):
        if path.stem in NOT_YET_CONTROLLED:
            continue
        rows = [line.strip("|").split("|") for line in path.read_text(encoding="utf-8").splitlines()]
        rows = [[c.strip() for c in r] for r in rows if len(r) > 1]
        header, body = rows[0], rows[2:]
        for j, column in enumerate(header):
            if column in COUNT_COLUMNS:
                cells = [r[j] for r in body if r[j].isdigit()]
                assert not any(1 <= int(c) < MIN_CELL for c in cells), (path.name, column)
    for cell in re.findall(
        r"<td[^>]*>\s*([0-9]+)(?:\s*\([^)]*\))?\s*</td>", report.read_text(encoding="utf-8")
    ):
        assert not 1 <= int(cell) < MIN_CELL, ("report", cell)


def test_a_trial_s_describe_tables_are_not_suppressed():
    from prt_outcomes.describe import disclose_describe_tables

    raw = clinic_config(study={"name": "trial"}, arms={"levels": [{"name": "a"}, {"name": "b"}]})
    raw.pop("audit")
    config = StudyConfig.from_dict(raw)
    flow = pd.DataFrame(
        {"arm": ["a"], "visit": ["first_visit"], "randomized": [3], "assessed": [2], "analysed": [2]}
    )
    assert disclose_describe_tables({"flow": flow}, config)["flow"] is flow


def test_a_hidden_count_cannot_be_worked_out_from_the_totals(clinic):
    """Within one grouping a column never has exactly one hidden cell beside a shown total."""
    _, _, base, _ = clinic
    for name, count, by in (
        ("audit_completion", "assessed", ["outcome", "visit"]),
        ("audit_change", "n", ["outcome", "visit"]),
        ("audit_responders", "responders", ["outcome", "visit", "threshold", "denominator_basis"]),
    ):
        frame = pd.read_csv(base / "tables" / f"{name}.csv")
        total = frame[frame["group"] == "all"].set_index(by)[count]
        units = frame[frame["group"] != "all"].assign(grouping=lambda f: f["group"].str.split("=").str[0])
        for key, part in units.groupby([*by, "grouping"]):
            shown_total = total.loc[tuple(key[:-1]) if len(by) > 1 else key[0]]
            if not pd.isna(shown_total):
                assert part[count].isna().sum() != 1, (name, key)
    # nor a level of a characteristic beside the other levels' percentages (they add up to 100)
    attrition = pd.read_csv(base / "tables" / "audit_attrition.csv")
    levels = attrition[(attrition["kind"] == "categorical") & (attrition["level"] != "(overall)")]
    assert levels["followed"].isna().any()
    for variable, part in levels.groupby("variable"):
        assert part["followed"].isna().sum() != 1 and part["lost"].isna().sum() != 1, variable


def test_the_counts_reconcile(clinic):
    config, data, base, _ = clinic
    patients = data.loc[data["visit"] == "first_visit", "participant_id"].nunique()
    followed = data.loc[data["visit"] == "month3", "participant_id"].nunique()
    completion = pd.read_csv(base / "tables" / "audit_completion.csv")
    overall = completion[completion["group"] == "all"].iloc[0]
    assert (overall["eligible"], overall["assessed"]) == (patients, followed)
    for grouping in ("site", "clinician"):
        units = completion[completion["group"].str.startswith(f"{grouping}=")]
        # the tiny site E and clinician c8 are hidden, with at least one other unit
        hidden = units["eligible"].isna()
        assert hidden.sum() >= 2 and units["assessed"].isna().sum() >= 2
        assert units.loc[~hidden, "eligible"].sum() < patients
        raw = audit_completion(data, "pain", baseline_visit="first_visit", group=grouping, overall=False)
        # every unit shown is shown exactly as computed
        shown = units.loc[~hidden].assign(group=lambda f: f["group"].str.split("=").str[1])
        assert shown.set_index("group")["eligible"].to_dict() == {
            g: raw.set_index("group")["eligible"][g] for g in shown["group"]
        }
    change = pd.read_csv(base / "tables" / "audit_change.csv")
    assert change.loc[change["group"] == "all", "n"].iloc[0] == followed
    attrition = pd.read_csv(base / "tables" / "audit_attrition.csv")
    pain = attrition[attrition["variable"] == "pain"].iloc[0]
    assert (pain["n_followed"], pain["n_lost"]) == (followed, patients - followed)
    summary = pd.read_csv(base / "validation" / "summary.csv").set_index("file").loc["total"]
    assert summary["rows_in"] == summary["rows_analysed"] + summary["rows_quarantined"] == len(data)


def test_rounding_rounds_every_published_count():
    data = clinic_data()
    config = _config(privacy={"min_cell": 5, "round_to": 5})
    data = data.assign(arm="clinic")
    tables = audit_tables(data, config)
    for name, frame in tables.items():
        for column in ("eligible", "assessed", "n", "responders", "denominator", "n_followed", "n_lost"):
            if column in frame:
                values = frame[column].dropna().astype(int)
                assert (values % 5 == 0).all(), (name, column)


def test_a_trial_gets_the_audit_tables_empty_with_their_columns():
    raw = clinic_config(study={"name": "trial"}, arms={"levels": [{"name": "a"}, {"name": "b"}]})
    raw.pop("audit")
    tables = audit_tables(clinic_data().assign(arm="a"), StudyConfig.from_dict(raw))
    assert {n: list(t.columns) for n, t in tables.items()} == {
        n: list(c) for n, c in AUDIT_TABLE_COLUMNS.items()
    }
    assert all(t.empty for t in tables.values())


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------
def _text(report) -> str:
    page = report.read_text(encoding="utf-8")
    page = re.sub(r"<style>.*?</style>|<img[^>]*>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_report_asks_the_clinic_s_questions_in_order(clinic):
    _, _, _, report = clinic
    text = _text(report)
    questions = [
        "How many did we follow up?",
        "Who did we lose?",
        "How much did they change?",
        "How many recovered?",
        "How do we compare?",
        "How do we compare with each other?",
    ]
    at = [text.rfind(q) for q in questions]  # the sections' headings, after the navigation
    assert -1 not in at and at == sorted(at)
    assert "clinic audit of routine care" in text


def test_the_report_says_nothing_of_randomization_or_arms(clinic):
    _, _, _, report = clinic
    text = _text(report)
    # the benchmark section cites trials by their titles ("a randomized clinical trial"); the
    # rest of the report is the clinic's and never speaks of randomization
    # (rfind: each heading is also an entry of the navigation at the top)
    start, end = text.rfind("How do we compare?"), text.rfind("How do we compare with each other?")
    assert "randomized clinical trial" in text[start:end]
    text = (text[:start] + text[end:]).lower()
    for word in ("randomi", "arm minus", " arms", "by arm", "reference arm", "trial model"):
        assert word not in text, word


def test_the_report_shows_suppressed_counts_with_the_reason(clinic):
    _, _, _, report = clinic
    text = _text(report)
    assert "suppressed" in text
    assert f"a count from 1 to {MIN_CELL - 1} (privacy.min_cell = {MIN_CELL})" in text
    # no small number stands in a count column of the report's audit tables
    for cell in re.findall(r"<td[^>]*>\s*([0-9]+)\s*</td>", report.read_text(encoding="utf-8")):
        assert not 1 <= int(cell) < MIN_CELL, cell


# --------------------------------------------------------------------------------------------
# visit windows: every dated row is assigned to a visit or listed with its reason
# --------------------------------------------------------------------------------------------
def test_visit_windows_assign_every_row_or_list_it_with_its_reason(tmp_path):
    from prt_outcomes.layout import RunLayout
    from prt_outcomes.pipeline import write_validation
    from prt_outcomes.validate.checks import load_and_validate

    rows = pd.DataFrame(
        {
            "participant_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
            # a: first visit, 85 and 100 days (100 not nearest 90); b: day 200 is in no window;
            # c: a row without a day; d: only a first visit
            "day": ["0", "85", "100", "0", "200", "0", "", "0"],
            "pain": [7, 5, 4, 6, 3, 8, 2, 5],
        }
    )
    rows.to_csv(tmp_path / "dated.csv", index=False)
    visits = [
        {"name": "first_visit", "baseline": True, "day": 0, "window": {"start": 0, "end": 14}},
        {"name": "month3", "day": 90, "window": {"start": 60, "end": 120}},
    ]
    raw = clinic_config(visits=visits, data={"files": [{"path": str(tmp_path / "dated.csv")}]})
    raw["covariates"], raw["audit"] = [], {}
    config = StudyConfig.from_dict(raw, base_dir=tmp_path)
    checked = load_and_validate(config)
    clean = checked.clean.sort_values(["participant_id", "visit"])
    assert clean[["participant_id", "visit"]].values.tolist() == [
        ["a", "first_visit"],
        ["a", "month3"],
        ["b", "first_visit"],
        ["c", "first_visit"],
        ["d", "first_visit"],
    ]
    assert clean.loc[clean["participant_id"] == "a", "pain"].tolist() == [7, 5]
    layout = RunLayout.for_study(config, tmp_path / "results")
    layout.validation.summary.parent.mkdir(parents=True, exist_ok=True)
    write_validation(checked, layout.validation)
    summary = pd.read_csv(layout.validation.summary).set_index("file").loc["total"]
    assert summary["rows_read"] == 8 and summary["rows_filtered"] == 3
    assert summary["rows_read"] == summary["rows_filtered"] + summary["rows_in"]
    assert summary["rows_in"] == summary["rows_analysed"] + summary["rows_quarantined"] == 5
    listed = pd.read_csv(layout.validation.filtered)
    # the file's lines (header is line 1) and why each was left out
    reasons = dict(zip(listed["row"], listed["message"]))
    assert sorted(reasons) == [4, 6, 8]
    assert "nearer the target" in reasons[4] and "(month3)" in reasons[4]
    assert "outside every visit window" in reasons[6]
    assert "no day recorded" in reasons[8]
    # the validation report says the visit windows left them out, not the config filter
    headline = checked.headline()
    assert "3 rows left out by the visit windows" in headline and "config filter" not in headline


def test_visit_windows_need_a_day_or_date_column(tmp_path):
    from prt_outcomes.ingest import InputError, read_study_data

    pd.DataFrame({"participant_id": ["a"], "pain": [3]}).to_csv(tmp_path / "x.csv", index=False)
    visits = [{"name": "first_visit", "baseline": True, "day": 0, "window": {"start": 0, "end": 14}}]
    raw = clinic_config(visits=visits, data={"files": [{"path": str(tmp_path / "x.csv")}]})
    raw["covariates"], raw["audit"] = [], {}
    with pytest.raises(InputError, match="'day' column"):
        read_study_data(StudyConfig.from_dict(raw, base_dir=tmp_path))


def test_the_funnel_plots_are_drawn_and_embedded(clinic):
    config, _, base, report = clinic
    from prt_outcomes.outputs import audit_funnel_stems, figure_stems

    stems = list(audit_funnel_stems(config))
    assert stems == [
        "funnel_site_completion",
        "funnel_site_mean_change",
        "funnel_site_percent_reduction_30",
        "funnel_clinician_completion",
        "funnel_clinician_mean_change",
        "funnel_clinician_percent_reduction_30",
    ]
    assert set(stems) <= set(figure_stems(config))
    for stem in stems:
        assert (base / "figures" / f"{stem}.png").stat().st_size > 1000
    page = report.read_text(encoding="utf-8")
    assert page.count('alt="Funnel plot of') == len(stems)


def test_the_funnel_plot_draws_limits_at_every_plotted_volume(clinic):
    """The exact binomial limits exist at whole numbers only: the drawn lines have no gaps, and
    they are the limits the units were flagged with (tables/audit_funnel.csv)."""
    from prt_outcomes.render.figures import _funnel_lines

    _, _, base, _ = clinic
    funnel = pd.read_csv(base / "tables" / "audit_funnel.csv").dropna(subset=["value"])
    for measure, kind in (("completion", "proportion"), ("mean_change", "mean")):
        rows = funnel[(funnel["measure"] == measure) & funnel["group"].str.startswith("site=")]
        lines = _funnel_lines(rows, kind).set_index("volume")
        assert np.isfinite(lines.to_numpy()).all(), measure
        if kind == "proportion":
            # the CSV holds 10 significant digits (outputs.write_csv): rel 1e-9 is that rounding
            for _, unit in rows.iterrows():
                assert lines.loc[unit["volume"], "ll95"] == pytest.approx(unit["ll95"], rel=1e-9)
                assert lines.loc[unit["volume"], "ul998"] == pytest.approx(unit["ul998"], rel=1e-9)


def test_the_benchmarks_stand_beside_the_clinic_s_rate_with_their_source(clinic):
    config, data, base, report = clinic
    text = _text(report)
    section = text[text.rfind("How do we compare?") : text.rfind("How do we compare with each other?")]
    # the published counts (../shared/reference/prt_trials.md, PMC8482298 key points)
    for counts in ("33 of 50", "10 of 51", "5 of 50"):
        assert counts in section
    assert "doi:10.1001/jamapsychiatry.2021.2669" in section
    # the clinic's own rate on the same denominator: every patient with a first-visit score
    resp = pd.read_csv(base / "tables" / "audit_responders.csv")
    mine = resp.query("threshold == 'value <= 1' and group == 'all' and denominator_basis == 'eligible'")
    x, n = mine[["responders", "denominator"]].iloc[0]
    assert n == data.loc[data["visit"] == "first_visit", "participant_id"].nunique()
    assert "This clinic: Pain clinic" in section and f"{int(x)} of {int(n)}" in section


def test_the_benchmark_figure_draws_the_section_s_numbers(clinic):
    import matplotlib

    matplotlib.use("Agg")
    from prt_outcomes.benchmarks import benchmark_comparison
    from prt_outcomes.render.figures import audit_benchmark_figure

    config, data, base, report = clinic
    assert (base / "figures" / "audit_benchmarks.png").is_file()
    resp = pd.read_csv(base / "tables" / "audit_responders.csv")
    compared = benchmark_comparison(
        resp, outcome="pain", visit="month3", visit_label="3 months", clinic_label="Pain clinic"
    )
    # the clinic's own >=50% row is absent (the config has no such threshold); its recovery row is
    # the audit table's eligible-denominator rate
    clinic_rows = compared[compared["who"] == "clinic"]
    assert clinic_rows["rule"].tolist() == ["value <= 1"]
    mine = resp.query("threshold == 'value <= 1' and group == 'all' and denominator_basis == 'eligible'")
    assert clinic_rows["percent"].iloc[0] == pytest.approx(mine["percent"].iloc[0])
    fig = audit_benchmark_figure(compared, config)
    drawn = sorted(
        round(float(line.get_xdata()[0]), 6)
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() in ("o", "D")
    )
    assert drawn == sorted(round(float(v), 6) for v in compared["percent"])
    text = _text(report)
    assert "Figure not rendered (audit_benchmarks" not in text
    section = text[text.rfind("How do we compare?") : text.rfind("How do we compare with each other?")]
    for counts in ("35 of 50", "15 of 51", "8 of 50", "no threshold"):
        assert counts in section


def test_a_run_chart_draws_the_funnel_table_s_periods_in_time_order():
    import matplotlib

    matplotlib.use("Agg")
    from prt_outcomes.outputs import audit_run_chart_stems
    from prt_outcomes.render.figures import audit_run_chart_figure
    from prt_outcomes.stats.funnel import funnel_table

    config = _config(audit={"groups": ["site", {"column": "date", "period": "quarter"}]})
    assert list(audit_run_chart_stems(config)) == [
        "run_chart_date_quarter_completion",
        "run_chart_date_quarter_mean_change",
    ]
    periods = ["2024Q3", "2023Q4", "2024Q1", "2024Q2"]  # out of order on purpose
    table = funnel_table(
        [0.5, 0.7, 0.2, 0.55], [40, 30, 25, 60], [f"date_quarter={q}" for q in periods], kind="proportion"
    )
    table.insert(0, "outcome", "pain")
    table.insert(1, "measure", "completion")
    table.insert(2, "visit", "month3")
    table.loc[3, "value"] = np.nan  # a suppressed period is a gap
    fig = audit_run_chart_figure(table, group="date_quarter", measure="completion", config=config)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == sorted(periods)
    ordered = table.assign(q=periods).sort_values("q")
    drawn = ax.collections[0].get_offsets()
    shown = ordered[ordered["value"].notna()]
    np.testing.assert_allclose(drawn[:, 1], 100 * shown["value"].to_numpy())
    # the limits at each period are that period's own (its number of patients)
    steps = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(steps["95% limits"], 100 * ordered["ll95"].to_numpy())
    assert "1 period(s) suppressed" in ax.get_title(loc="left")
