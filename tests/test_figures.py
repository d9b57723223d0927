"""Figure functions draw from result tables onto a given Axes; render_figures writes every file,
byte-identical on rerun (prt_outcomes.render.figures)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from prt_outcomes.outputs import figure_stems  # noqa: E402
from prt_outcomes.render import figures as F  # noqa: E402
from report_fakes import FAKE_IDS, read, write_fake_results  # noqa: E402


def new_ax():
    return Figure(figsize=(6.5, 3.5), layout="constrained").subplots()


def line_colors(ax):
    return {to_hex(line.get_color()) for line in ax.lines}


def test_arm_colors_are_okabe_ito_and_stable():
    colors = F.arm_colors(["prt", "placebo", "usual_care"])
    assert colors == {"prt": "#0072B2", "placebo": "#D55E00", "usual_care": "#009E73"}
    assert F.arm_colors(["a", "Total"])["Total"] == "#595959"
    assert len(set(F.arm_colors([str(i) for i in range(8)]).values())) == 8


def test_wilson_interval_matches_statsmodels():
    x, n = np.array([0, 5, 33, 50]), np.array([50, 51, 50, 50])
    lo, hi = F.wilson_interval(x, n)
    ref_lo, ref_hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12)
    assert lo[0] == 0.0 and F.wilson_interval(50, 50)[1] == 1.0  # exact at the edges
    # the old import path applies the one producer, prt_outcomes.stats.proportions, element-wise
    from prt_outcomes.stats.proportions import wilson_interval as one_interval

    assert [(a, b) for a, b in zip(lo, hi)] == [one_interval(int(a), int(b)) for a, b in zip(x, n)]


def test_responders_with_zero_or_all_responders_draw(cfg):
    r = pd.DataFrame(
        {
            "outcome": "pain_avg",
            "threshold": "value <= 1",
            "visit": ["baseline", "post"] * 2,
            "arm": ["prt", "prt", "usual_care", "usual_care"],
            "responders": [0, 50, 3, 50],
            "denominator": 50,
        }
    )
    ax = F.plot_responders(r, threshold="value <= 1", config=cfg, ax=new_ax())
    assert ax.get_ylim() == (0, 100)


def test_trajectory_draws_on_given_axes_at_nominal_days(results, cfg):
    ax = new_ax()
    out = F.plot_trajectory(
        read(results, "marginal_means"),
        read(results, "observed_summary"),
        outcome="pain_avg",
        config=cfg,
        ax=ax,
    )
    assert out is ax
    np.testing.assert_allclose(ax.get_xticks(), [0, 30, 60, 90, 120, 210, 390])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(cfg.visit_labels.values())
    assert ax.get_ylabel() == "BPI average pain (0-10)"
    assert {"#0072b2", "#d55e00", "#009e73"} <= line_colors(ax)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()][:3] == ["PRT", "Placebo", "Usual care"]
    # legend sits outside the axes (anchored right of it), so it cannot cover data
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1
    # the model means are drawn where the table says (first arm, first visit, dodged in x)
    mm = read(results, "marginal_means")
    expected = mm[(mm.outcome == "pain_avg") & (mm.arm == "prt")].estimate.to_numpy()
    drawn = [ln for ln in ax.lines if to_hex(ln.get_color()) == "#0072b2" and ln.get_linestyle() == "-"][0]
    np.testing.assert_allclose(drawn.get_ydata(), expected)
    lo, hi = ax.get_ylim()
    assert lo >= 0 and hi <= 10


def test_trajectory_without_config_uses_ordinal_visits(results):
    ax = F.plot_trajectory(read(results, "marginal_means"), outcome="odi", ax=new_ax())
    np.testing.assert_allclose(ax.get_xticks(), range(7))


def test_change_includes_baseline_zero_and_improvement_direction(results, cfg):
    ax = F.plot_change(read(results, "observed_summary"), outcome="pain_avg", config=cfg, ax=new_ax())
    assert "negative = improvement" in ax.get_ylabel()
    assert "BPI average pain (0-10)" in ax.get_ylabel().replace("\n", " ")
    first = [ln for ln in ax.lines if ln.get_linestyle() == "-"][0]
    assert first.get_ydata()[0] == 0.0


def test_responders_over_visits_and_grouped(results, cfg):
    resp = read(results, "responders")
    ax = F.plot_responders(resp, threshold="value <= 1", outcome="pain_avg", config=cfg, ax=new_ax())
    assert ax.get_ylim() == (0, 100)
    assert "Pain-free" in ax.get_title(loc="left")
    ax2 = F.plot_responders(resp, config=cfg, ax=new_ax())
    assert len(ax2.patches) == len(cfg.arm_names) * 4  # 4 outcome x threshold groups
    assert "Post-treatment" in ax2.get_title(loc="left")
    fig = F.responders_figure(resp, cfg)
    assert sum(a.get_visible() for a in fig.axes) == 4


def test_forest_rows_reference_line_and_baseline_left_out(results, cfg):
    ax = F.plot_forest(read(results, "contrasts"), config=cfg, ax=new_ax())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "BPI average pain" and labels[1] == "Post-treatment"
    assert "Baseline" not in labels
    assert len(labels) == 4 * (1 + 6)
    assert any(np.allclose(ln.get_xdata(), 0) for ln in ax.lines)
    assert "Hedges g" in ax.get_xlabel()
    texts = [t.get_text() for t in ax.texts]
    assert any("Favours Usual care" in t for t in texts)


def test_forest_raw_scale_needs_one_outcome(results, cfg):
    con = read(results, "contrasts")
    with pytest.raises(F.FigureInputError, match="different scales"):
        F.plot_forest(con, standardized=False, config=cfg, ax=new_ax())
    ax = F.plot_forest(con, standardized=False, outcomes=["odi"], config=cfg, ax=new_ax())
    assert "score points" in ax.get_xlabel()


def test_flow_diagram_boxes_equal_the_flow_table(results, cfg):
    flow = read(results, "flow")
    ax = F.plot_flow(flow, config=cfg, ax=new_ax())
    box = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    per_arm = flow.groupby("arm")["randomized"].max()
    assert box["flow:top"] == f"Randomized\n(n = {int(per_arm.sum())})"
    last = cfg.visit_names[-1]
    for arm in cfg.arm_names:
        n = int(per_arm[arm])
        assert box[f"flow:allocation:{arm}"] == f"Allocated to {cfg.arm_labels[arm]}\n(n = {n})"
        rows = flow[flow.arm == arm].set_index("visit")
        lost = box[f"flow:follow_up:{arm}"].split("\n")[2:]
        follow = [v for v in cfg.visit_names if v != cfg.baseline_visit]
        assert len(lost) == len(follow)
        for line, v in zip(lost, follow):
            missed = n - int(rows.loc[v, "assessed"])
            assert line == f"{cfg.visit_labels[v]}: {missed} ({100 * missed / n:.0f}%)"
        assert f"(n = {int(rows.loc[last, 'analysed'])})" in box[f"flow:analysis:{arm}"]
    # the stages are named, CONSORT style, and there is no chain of "assessed" boxes
    texts = [t.get_text() for t in ax.texts]
    assert {"Enrolment", "Allocation", "Follow-up", "Analysis"} <= set(texts)
    assert not any("assessed " in t for t in texts)


def test_flow_of_a_single_arm_says_enrolled(cfg):
    flow = pd.DataFrame(
        {
            "arm": "clinic",
            "visit": ["v0", "v1", "v2"],
            "randomized": 20,
            "assessed": [20, 15, 12],
            "analysed": [20, 15, 11],
        }
    )
    ax = F.plot_flow(flow, ax=new_ax())
    box = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert box["flow:top"] == "Enrolled\n(n = 20)"
    assert box["flow:allocation:clinic"] == "Included clinic\n(n = 20)"
    assert box["flow:follow_up:clinic"].split("\n")[2:] == [
        "v0: 0 (0%)",
        "v1: 5 (25%)",
        "v2: 8 (40%)",
    ]  # no config: no baseline known
    assert box["flow:analysis:clinic"] == "Analysed at v2\n(n = 11)\nexcluded (missing values): 1"


def test_trajectory_number_at_risk_equals_observed_n(results, cfg):
    obs = read(results, "observed_summary")
    ax = F.plot_trajectory(read(results, "marginal_means"), obs, outcome="pain_avg", config=cfg, ax=new_ax())
    drawn = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("n_at_risk:")}
    mine = obs[obs.outcome == "pain_avg"]
    assert len(drawn) == len(mine) == len(cfg.arm_names) * len(cfg.visit_names)
    for arm, visit, n in zip(mine.arm, mine.visit, mine.n):
        assert drawn[f"n_at_risk:{arm}:{visit}"] == str(int(n))
    assert any(t.get_text() == "Number observed" for t in ax.texts)
    assert ax.get_xlabel() == "Visit (nominal day)"


def test_trajectory_open_markers_clear_the_next_arms_error_bar(results, cfg):
    ax = F.plot_trajectory(
        read(results, "marginal_means"),
        read(results, "observed_summary"),
        outcome="pain_avg",
        config=cfg,
        ax=new_ax(),
    )
    fig = ax.get_figure()
    fig.canvas.draw()
    to_px = ax.transData.transform
    # x of each series at the first visit, in pixels: model a, observed a, model b, ...
    xs = sorted(
        to_px((ln.get_xdata()[0], 0))[0]
        for ln in ax.lines
        if len(ln.get_xdata()) > 1 or ln.get_linestyle() == "None"
    )
    gaps = np.diff(xs)
    marker_px = 4.5 * fig.dpi / 72
    assert gaps.min() >= marker_px / 2, gaps


def test_forest_numeric_column_equals_the_contrasts(results, cfg):
    con = read(results, "contrasts")
    ax = F.plot_forest(con, config=cfg, ax=new_ax())
    drawn = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("forest_value:")}
    rows = con[con.visit != cfg.baseline_visit]
    assert len(drawn) == len(rows)
    for r in rows.itertuples():
        sign = -1 if cfg.outcome(r.outcome).higher_is_better else 1
        lo, hi = sorted((sign * r.hedges_g_ci_low, sign * r.hedges_g_ci_high))
        expected = f"{sign * r.hedges_g:.2f} ({lo:.2f} to {hi:.2f})"
        assert drawn[f"forest_value:{r.outcome}:{r.visit}:{r.arm}"] == expected
    texts = [t.get_text() for t in ax.texts]
    assert "\u2190 Favours PRT / Placebo" in texts and "Favours Usual care \u2192" in texts


def test_forest_flips_outcomes_where_higher_is_better(results, cfg):
    con = read(results, "contrasts")
    outcomes = tuple(
        replace(o, instrument=replace(o.instrument, higher_is_better=True)) if o.name == "odi" else o
        for o in cfg.outcomes
    )
    flipped_cfg = replace(cfg, outcomes=outcomes)
    ax = F.plot_forest(con, config=flipped_cfg, ax=new_ax())
    r = con[(con.outcome == "odi") & (con.visit == "m12") & (con.arm == "prt")].iloc[0]
    text = [t.get_text() for t in ax.texts if t.get_gid() == "forest_value:odi:m12:prt"][0]
    assert text == f"{-r.hedges_g:.2f} ({-r.hedges_g_ci_high:.2f} to {-r.hedges_g_ci_low:.2f})"
    assert "sign reversed" in ax.get_xlabel()
    assert any(t.get_text().endswith("\u2020") for t in ax.get_yticklabels())


def test_missingness_heatmap_annotated(results, cfg):
    ax = F.plot_missingness(read(results, "missingness"), outcome="pain_avg", config=cfg, ax=new_ax())
    assert len(ax.images) == 1
    assert len(ax.texts) == 3 * 7
    assert [t.get_text() for t in ax.get_yticklabels()] == ["PRT", "Placebo", "Usual care"]


def test_individual_trajectories_never_show_ids(results, cfg):
    data = pd.read_csv(results / "intermediate/analysis_data.csv")
    ax = F.plot_individual_trajectories(data, outcome="pain_avg", config=cfg, ax=new_ax())
    strings = (
        [t.get_text() for t in ax.texts]
        + [t.get_text() for t in ax.get_yticklabels()]
        + [ln.get_label() for ln in ax.lines]
    )
    assert not any(pid in s for s in strings for pid in FAKE_IDS[:5])
    assert len(ax.lines) == 2 * len(cfg.arm_names)  # one polyline per arm + its mean


def test_clear_errors_for_bad_tables(results, cfg):
    mm = read(results, "marginal_means")
    with pytest.raises(F.FigureInputError, match=r"lacks the column\(s\) \['ci_low'\]"):
        F.plot_trajectory(mm.drop(columns="ci_low"), outcome="pain_avg", ax=new_ax())
    with pytest.raises(F.FigureInputError, match="no rows for outcome 'nope'"):
        F.plot_trajectory(mm, outcome="nope", ax=new_ax())
    with pytest.raises(F.FigureInputError, match="several outcomes"):
        resp = read(results, "responders")
        resp = pd.concat([resp, resp.assign(outcome="odi")])
        F.plot_responders(resp, threshold="value <= 1", ax=new_ax())


def test_axes_none_makes_a_new_figure(results, cfg):
    import matplotlib.pyplot as plt

    ax = F.plot_flow(read(results, "flow"), config=cfg)
    assert ax.get_figure() is not None
    plt.close(ax.get_figure())


def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_render_figures_writes_every_file_and_reruns_identically(tmp_path, cfg):
    # One outcome keeps the test quick (PDF font subsetting dominates); the code path per
    # outcome is the same.
    small = replace(
        cfg,
        figure_formats=("png", "pdf", "svg"),
        dpi=60,
        individual_trajectories=True,
        outcomes=cfg.outcomes[:1],
        thresholds=tuple(t for t in cfg.thresholds if t.outcomes == ("pain_avg",)),
    )
    results = write_fake_results(tmp_path, small)
    # PNG and SVG rendered twice must match byte for byte. PDF is rendered once (its font
    # subsetting is the slow part) and its determinism checked on one figure below.
    raster = replace(small, figure_formats=("png", "svg"))
    first = F.render_figures(raster, results)
    assert _digest(F.render_figures(raster, results)) == _digest(first)
    first += F.render_figures(replace(small, figure_formats=("pdf",)), results)
    expected = {f"{stem}.{fmt}" for stem in figure_stems(small) for fmt in small.figure_formats}
    contract = [p for p in first if p.parent == results / "figures"]
    assert {p.name for p in contract} == expected
    assert all(p.stat().st_size > 1000 for p in first)
    # the PDF-only config also drew the PNGs its report embeds, outside the contract's folder
    report_copies = {p.parent for p in first} - {results / "figures"}
    assert report_copies == {results / "intermediate" / "report_figures"}
    pdf = results / "figures" / "flow.pdf"
    fig = Figure(figsize=(6, 6), layout="constrained")
    F.plot_flow(read(results, "flow"), config=small, ax=fig.subplots())
    F.save_figure(fig, tmp_path / "a", ("pdf",), 60)
    F.save_figure(fig, tmp_path / "b", ("pdf",), 60)
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    svg = (results / "figures" / "flow.svg").read_text()
    assert "<dc:date>" not in svg and b"CreationDate" not in pdf.read_bytes()
    ids_in_svg = [
        pid for pid in FAKE_IDS if pid in (results / "figures" / "individual_pain_avg.svg").read_text()
    ]
    assert ids_in_svg == []


def test_render_figures_over_workers_writes_the_same_files_in_the_same_order(tmp_path, cfg):
    # the workflow draws the figures over its job's threads: forked workers must write exactly
    # the files one process writes (PDF included: its font subsets; the report's PNG copies of a
    # PDF-only config too), listed in the same order
    small = replace(
        cfg,
        figure_formats=("pdf",),
        dpi=40,
        individual_trajectories=True,
        outcomes=cfg.outcomes[:1],
        thresholds=tuple(t for t in cfg.thresholds if t.outcomes == ("pain_avg",)),
    )
    results = write_fake_results(tmp_path, small)
    serial = F.render_figures(small, results, workers=1)
    digests = [(p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in serial]
    for p in serial:
        p.unlink()
    forked = F.render_figures(small, results, workers=2)
    assert [(p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in forked] == digests
    assert len({p.parent for p in forked}) == 2  # the figures and the report's PNGs


def test_render_figures_without_tables_says_what_to_run(tmp_path, cfg):
    with pytest.raises(FileNotFoundError, match="run the analysis stages first"):
        F.render_figures(cfg, tmp_path)


def test_tables_of_a_single_fit_without_outcome_column_draw(results, cfg):
    mm = read(results, "marginal_means")
    one = mm[mm.outcome == "odi"].drop(columns="outcome")
    ax = F.plot_trajectory(one, outcome="odi", config=cfg, ax=new_ax())
    assert ax.get_ylabel() == "Oswestry Disability Index (0-100)"
    con = read(results, "contrasts")
    ax = F.plot_forest(
        con[con.outcome == "odi"].drop(columns="outcome"), outcomes=["odi"], config=cfg, ax=new_ax()
    )
    assert ax.get_yticklabels()[0].get_text() == "Oswestry Disability Index"


def test_missingness_draws_a_shared_pattern_once(results, cfg):
    m = read(results, "missingness")
    ax = F.plot_missingness(m, config=cfg, ax=new_ax())
    assert len(ax.get_yticklabels()) == 3  # the fakes share one pattern over outcomes
    assert "the same for every outcome" in ax.get_title(loc="left")
    m.loc[0, "percent_missing"] = 50.0
    ax = F.plot_missingness(m, config=cfg, ax=new_ax())
    assert len(ax.get_yticklabels()) == 3 * 4
    assert ax.get_yticklabels()[0].get_text() == "BPI average pain: PRT"


def test_forest_with_one_visit_has_one_row_per_outcome(results, cfg):
    con = read(results, "contrasts")
    post = con[con.visit == "post"]
    ax = F.plot_forest(post, config=cfg, ax=new_ax())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [o.label for o in cfg.outcomes]
    assert "Post-treatment" in ax.get_title(loc="left")
    # two comparison arms share each row: 0.16 in a line of the numeric column each
    assert F.forest_height(post, cfg) == pytest.approx(0.32 * 4 + 1.5)


def _overlaps(boxes):
    return [
        (i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])
    ]


@pytest.mark.parametrize("width", [3.3, 4.5, 6.5])
def test_visit_tick_labels_never_overlap(results, cfg, width):
    # JAMA widths: one column (3.3 in) to two columns (6.5-7 in).
    fig = Figure(figsize=(width, 3.2), layout="constrained")
    ax = F.plot_trajectory(
        read(results, "marginal_means"),
        read(results, "observed_summary"),
        outcome="pain_avg",
        config=cfg,
        ax=fig.subplots(),
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    shown = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert len(shown) >= 2
    rotation = shown[0].get_rotation()
    if rotation == 0:
        assert _overlaps([t.get_window_extent(renderer) for t in shown]) == []
    else:
        # Slanted labels are parallel strips: neighbours must be a line height apart,
        # measured perpendicular to the text.
        line_px = shown[0].get_fontsize() * fig.dpi / 72
        anchors = [ax.transData.transform((x, 0))[0] for x in [t.get_position()[0] for t in shown]]
        gaps = np.diff(anchors) * np.sin(np.radians(rotation))
        assert gaps.min() >= 1.2 * line_px, (width, gaps.min(), line_px)
    # the legend stays outside the data area and clear of the title
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    assert not legend.overlaps(ax.title.get_window_extent(renderer)) if ax.title.get_text() else True
    assert not legend.overlaps(ax._left_title.get_window_extent(renderer))


def test_study_figures_reads_once_and_draws_each_figure(results, cfg):
    figs = F.StudyFigures.from_results_dir(cfg, results)
    assert set(figs.tables) == set(F.StudyFigures.TABLES) and figs.data is not None
    fig = Figure(figsize=(13, 9), layout="constrained")
    axes = fig.subplots(3, 3).ravel()
    drawn = [
        figs.trajectory("pain_avg", ax=axes[0]),
        figs.change("odi", ax=axes[1]),
        figs.responders("pain_avg", "value <= 1", ax=axes[2]),
        figs.forest(ax=axes[3]),
        figs.flow(ax=axes[4]),
        figs.missingness("pain_avg", ax=axes[5]),
        figs.individual("pain_avg", arm="prt", ax=axes[6]),
    ]
    assert drawn == list(axes[:7])
    assert len(figs.responders().axes) == 4
    with pytest.raises(F.FigureInputError, match="no 'contrasts' table"):
        F.StudyFigures(cfg, {}).forest()


def test_the_forest_draws_each_outcome_s_primary_estimand(results, cfg):
    # the example's primary analyses are MMRMs with the baseline as a visit: the forest shows the
    # differences in change; an outcome whose primary analysis is an ANCOVA shows its
    # baseline-adjusted differences (issue 14: the levels misled where the baseline differed)
    rows = F.estimand_rows(lambda name: read(results, name), cfg)
    change = read(results, "change_contrasts")
    pd.testing.assert_frame_equal(
        rows.reset_index(drop=True), change[change["outcome"].isin(cfg.outcome_names)].reset_index(drop=True)
    )
    ancova = replace(
        cfg,
        analyses=tuple(replace(a, model=replace(a.model, baseline_adjusted=True)) for a in cfg.all_analyses),
    )
    levels = read(results, "contrasts")
    adjusted = F.estimand_rows(lambda name: read(results, name), ancova)
    assert len(adjusted) == len(levels[levels["outcome"].isin(cfg.outcome_names)])
    assert set(adjusted["visit"]) == set(levels["visit"])
