"""Jacobson-Truax reliable change: formulas, claus_2020 against R and the clinicalsignificance README."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from prt_outcomes.stats.clinical import (
    CATEGORIES,
    ClinicalSignificanceError,
    clinical_significance,
    clinical_significance_summary,
    jacobson_truax_cutoff,
    reliable_change,
)

REF_DIR = Path(__file__).resolve().parent / "references" / "responders"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CLAUS = SHARED / "claus2020_clinicalsignificance" / "claus_2020.csv"

# clinicalsignificance README example (github.com/benediktclaus/clinicalsignificance, README.md at
# commit 0b070e83ed7ee1da900520e7aefeab9155a4187c): cs_combined(claus_2020, id, time, bdi, pre = 1,
# post = 4, reliability = 0.801, m_functional = 7.69, sd_functional = 7.52, cutoff_type = "c").
README_PARAMS = dict(reliability=0.801, normative_mean=7.69, normative_sd=7.52)
README_COUNTS = {"recovered": 10, "improved": 8, "unchanged": 22, "deteriorated": 0}


# ----------------------------------------------------------------------------------------------
# Formulas on hand-sized data
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def toy():
    # complete pairs: pre scores 30, 36, 40, 16 -> mean 30.5, SD 10.5198...
    return pd.DataFrame(
        {
            "id": np.repeat([1, 2, 3, 4, 5], 2),
            "arm": np.repeat(["a", "a", "b", "b", "b"], 2),
            "visit": ["pre", "post"] * 5,
            "score": [30, 10, 36, 22, 40, 38, 16, 40, 25, np.nan],
        }
    )


def test_rci_formula(toy):
    out = reliable_change(
        toy, outcome="score", subject="id", pre="pre", post="post", reliability=0.8, cutoff="a"
    )
    sd = np.std([30, 36, 40, 16], ddof=1)
    s_diff = math.sqrt(2 * (sd * math.sqrt(0.2)) ** 2)
    assert_allclose(out["s_diff"].iloc[0], s_diff, rtol=1e-14)
    assert_allclose(out["rci"].iloc[:4], np.array([-20, -14, -2, 24]) / s_diff, rtol=1e-14)
    assert out["clinical_mean"].iloc[0] == 30.5
    assert out["cutoff"].iloc[0] == pytest.approx(30.5 - 2 * sd)
    assert pd.isna(out["rci"].iloc[4]) and pd.isna(out["category"].iloc[4])


def test_categories(toy):
    out = reliable_change(
        toy,
        outcome="score",
        subject="id",
        pre="pre",
        post="post",
        reliability=0.8,
        normative_mean=8,
        normative_sd=8,
        cutoff="c",
    )
    # s_diff = 6.653; cut-off c = (10.52*8 + 8*30.5)/18.52 = 17.72
    # 1: 30->10 (RCI -3.0) crosses -> recovered; 2: 36->22 (RCI -2.1) stays above -> improved;
    # 3: 40->38 unchanged; 4: 16->40 (RCI 3.6) from the functional side into the dysfunctional
    # -> deteriorated and harmed
    assert out["category"].tolist()[:4] == ["recovered", "improved", "unchanged", "deteriorated"]
    assert out["harmed"].tolist()[:4] == [False, False, False, True]
    assert str(out["category"].dtype).startswith("string")


def test_recovery_requires_dysfunctional_start():
    data = pd.DataFrame({"id": [1, 2, 3], "pre": [12.0, 40.0, 50.0], "post": [0.0, 30.0, 48.0]})
    out = reliable_change(
        data,
        outcome="bdi",
        subject="id",
        pre="pre",
        post="post",
        reliability=0.97,
        normative_mean=7.69,
        normative_sd=7.52,
    )
    # participant 1 starts below the cut-off (14.96): reliable improvement (RCI -2.5) but not "recovered"
    assert out.loc[0, "rci"] < -1.96 and out.loc[0, "cutoff"] > 12
    assert bool(out.loc[0, "clinical_pre"]) is False
    assert out.loc[0, "category"] == "improved"


def test_higher_is_better_mirrors_lower_is_better(toy):
    flipped = toy.assign(score=100 - toy["score"])
    kw = dict(outcome="score", subject="id", pre="pre", post="post", reliability=0.8, cutoff="c")
    low = reliable_change(toy, normative_mean=8, normative_sd=8, **kw)
    high = reliable_change(flipped, normative_mean=92, normative_sd=8, higher_is_better=True, **kw)
    assert high["category"].tolist() == low["category"].tolist()
    assert_allclose(high["rci"], -low["rci"])
    assert_allclose(high["cutoff"], 100 - low["cutoff"])


def test_cutoffs():
    kw = dict(clinical_mean=30.0, clinical_sd=6.0, normative_mean=8.0, normative_sd=4.0)
    assert jacobson_truax_cutoff("a", **kw) == 18.0
    assert jacobson_truax_cutoff("b", **kw) == 16.0  # functional mean + 2 functional SD (JT 1991)
    assert jacobson_truax_cutoff("c", **kw) == pytest.approx((6 * 8 + 4 * 30) / 10)
    assert jacobson_truax_cutoff("a", higher_is_better=True, **kw) == 42.0
    assert jacobson_truax_cutoff("b", higher_is_better=True, **kw) == 0.0
    with pytest.raises(ClinicalSignificanceError, match="'a', 'b' or 'c'"):
        jacobson_truax_cutoff("d", **kw)
    with pytest.raises(ClinicalSignificanceError, match="normative_mean"):
        jacobson_truax_cutoff("c", clinical_mean=30.0, clinical_sd=6.0)


def test_wide_input_equals_long_input(toy):
    wide = toy.pivot(index="id", columns="visit", values="score").reset_index()
    wide["arm"] = ["a", "a", "b", "b", "b"]
    kw = dict(outcome="score", subject="id", reliability=0.8, normative_mean=8, normative_sd=8, arm="arm")
    from_long = reliable_change(toy, pre="pre", post="post", **kw)
    from_wide = reliable_change(wide, pre="pre", post="post", **kw)
    pd.testing.assert_frame_equal(from_long, from_wide, check_dtype=False)


def test_summary_per_arm(toy):
    per, summary = clinical_significance(
        toy,
        outcome="score",
        subject="id",
        pre="pre",
        post="post",
        reliability=0.8,
        normative_mean=8,
        normative_sd=8,
        arm="arm",
    )
    assert summary.columns.tolist() == ["arm", "category", "n", "percent", "n_used", "n_missing"]
    b = summary[summary["arm"] == "b"].set_index("category")
    assert b.loc["unchanged", "n"] == 1 and b.loc["deteriorated", "n"] == 1
    assert b["n_used"].iloc[0] == 2 and b["n_missing"].iloc[0] == 1
    assert b["percent"].sum() == pytest.approx(100.0)
    overall = clinical_significance_summary(per)
    assert overall["category"].tolist() == list(CATEGORIES) and overall["n"].sum() == 4


def test_instrument_supplies_parameters(toy):
    out = reliable_change(
        toy,
        outcome="score",
        subject="id",
        pre="pre",
        post="post",
        instrument="promis_tscore",
        reliability=0.9,
    )
    # PROMIS T-score norms 50 (10) come from the catalogue; the caller's reliability wins
    sd = np.std([30, 36, 40, 16], ddof=1)
    assert out["cutoff"].iloc[0] == pytest.approx((sd * 50 + 10 * 30.5) / (sd + 10))
    assert out["reliability"].iloc[0] == 0.9


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"reliability": None}, "reliability"),
        ({"reliability": 1.0}, "strictly between 0 and 1"),
        ({"pre": "screen"}, "visits \\['screen'\\]"),
        ({"subject": "pid"}, "participant column 'pid'"),
        ({"normative_mean": None}, "needs functional norms"),
        ({"instrument": "nope"}, "unknown instrument"),
    ],
)
def test_bad_inputs(toy, kwargs, fragment):
    args = dict(
        outcome="score",
        subject="id",
        pre="pre",
        post="post",
        reliability=0.8,
        normative_mean=8,
        normative_sd=8,
    )
    args.update(kwargs)
    with pytest.raises(ClinicalSignificanceError, match=fragment):
        reliable_change(toy, **args)


def test_non_numeric_scores_are_explained(toy):
    bad = toy.astype({"score": object})
    bad.loc[0, "score"] = "n/a"
    with pytest.raises(ClinicalSignificanceError, match="non-numeric"):
        reliable_change(
            bad, outcome="score", subject="id", pre="pre", post="post", reliability=0.8, cutoff="a"
        )


# ----------------------------------------------------------------------------------------------
# claus_2020 (BDI-II) against the independent R script and the package README
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def claus():
    if not CLAUS.exists():
        pytest.skip(f"shared data not present at {CLAUS}")
    return pd.read_csv(CLAUS)


def claus_result(data, cutoff):
    return reliable_change(
        data,
        outcome="bdi",
        subject="id",
        visit="time",
        pre=1,
        post=4,
        cutoff=cutoff,
        arm="treatment",
        **README_PARAMS,
    )


@pytest.mark.shared
def test_claus_matches_published_readme(claus):
    out = claus_result(claus, "c")
    summary = clinical_significance_summary(out).set_index("category")
    assert summary["n"].to_dict() == README_COUNTS
    assert summary["n_used"].iloc[0] == 40 and summary["n_missing"].iloc[0] == 3
    assert round(out["cutoff"].iloc[0], 2) == 21.02
    assert round(out["clinical_mean"].iloc[0], 2) == 35.48
    assert round(out["clinical_sd"].iloc[0], 2) == 8.16
    assert summary.loc["recovered", "percent"] == 25.0


@pytest.mark.shared
@pytest.mark.parametrize("cutoff", ["a", "b", "c"])
def test_claus_matches_r_reference(claus, cutoff):
    ref = pd.read_csv(REF_DIR / "clinical_reference_claus2020.csv")
    ref_summary = pd.read_csv(REF_DIR / "clinical_reference_claus2020_summary.csv", comment="#")
    out = claus_result(claus, cutoff).set_index("id").loc[ref["id"]]
    # Same closed-form formulas; R wrote 17 significant digits.
    assert_allclose(out["rci"].to_numpy(), ref["rci"].to_numpy(), rtol=1e-12, equal_nan=True)
    ours = out["category"].astype(object).where(out["category"].notna(), None).tolist()
    theirs = ref[f"category_{cutoff}"].astype(object).where(ref[f"category_{cutoff}"].notna(), None).tolist()
    assert ours == theirs
    constants = ref_summary[ref_summary["cutoff_type"] == cutoff].iloc[0]
    assert_allclose(out["cutoff"].iloc[0], constants["cutoff"], rtol=1e-12)
    assert_allclose(out["s_diff"].iloc[0], constants["s_diff"], rtol=1e-12)
    assert_allclose(out["clinical_sd"].iloc[0], constants["clinical_sd"], rtol=1e-12)
    counts = ref_summary[ref_summary["cutoff_type"] == cutoff].set_index("category")["n"]
    mine = clinical_significance_summary(out.reset_index()).set_index("category")["n"]
    assert mine.to_dict() == counts.to_dict()


@pytest.mark.shared
def test_claus_per_arm_summary(claus):
    ref = pd.read_csv(REF_DIR / "clinical_reference_claus2020.csv")
    out = claus_result(claus, "c")
    summary = clinical_significance_summary(out, arm="treatment")
    expected = ref.dropna(subset=["category_c"]).groupby(["treatment", "category_c"]).size().to_dict()
    got = {(r.treatment, r.category): r.n for r in summary.itertuples() if r.n}
    assert got == expected


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R")
@pytest.mark.shared
def test_r_script_reproduces_fixture(claus, tmp_path):
    """Re-run the R script into a scratch copy of the reference folder and compare."""
    repo = Path(__file__).resolve().parents[1]
    work = tmp_path / "tests" / "references" / "responders"
    work.mkdir(parents=True)
    script = REF_DIR / "make_clinical_reference.R"
    subprocess.run(["Rscript", str(script), str(CLAUS)], cwd=tmp_path, check=True, capture_output=True)
    for name in ["clinical_reference_claus2020.csv", "clinical_reference_claus2020_summary.csv"]:
        assert (work / name).read_text() == (REF_DIR / name).read_text(), name
    assert repo.exists()
