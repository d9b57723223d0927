"""The study configs in config/studies/ read and validate the public datasets in ../shared/data.

Expected counts come from each dataset's PROVENANCE.md and, for Ashar 2022, the paper's
post-treatment means (Table 2: 1.18 (1.24) / 2.84 (1.64) / 3.13 (1.45)): getting them from the
validated clean rows shows that codes, the filter and missing codes were applied correctly.
Skipped when ../shared/data is absent.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.config import load_config
from prt_outcomes.validate.checks import load_and_validate, validate_command

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
STUDIES = REPO / "config" / "studies"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not available"),
]


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    # study configs give data paths relative to the repo root, as the CLI is run from there
    monkeypatch.chdir(REPO)


def _validate(name):
    return load_and_validate(load_config(STUDIES / f"{name}.yaml"))


def _check_reconciles(result):
    s = result.summary
    assert (s["rows_in"] == s["rows_analysed"] + s["rows_quarantined"]).all()


def test_ashar2022_filters_controls_and_the_patient_without_group_and_reports_them():
    result = _validate("ashar2022")
    _check_reconciles(result)
    assert result.ok, result.failures
    total = result.summary.iloc[-1]
    assert (total.rows_read, total.rows_filtered, total.rows_in) == (341, 55, 286)
    assert (total.rows_analysed, total.rows_quarantined) == (286, 0)
    filtered = result.filtered
    assert set(filtered["rule"]) == {"filtered_by_config"}
    # 54 healthy controls fail is_patient == 1; the patient without group is reported at its line
    assert filtered["column"].value_counts().to_dict() == {"is_patient": 54, "group": 1}
    assert filtered.loc[filtered["column"] == "group", "row"].tolist() == [212]
    clean = result.clean
    assert clean.groupby("arm")["participant_id"].nunique().to_dict() == {
        "prt": 50,
        "placebo": 51,
        "usual_care": 50,
    }
    post = clean[clean["visit"] == "post"].groupby("arm")["pain_avg"]
    np.testing.assert_allclose(post.mean()[["prt", "placebo", "usual_care"]], [1.18, 2.84, 3.13], atol=0.005)
    np.testing.assert_allclose(post.std()[["prt", "placebo", "usual_care"]], [1.24, 1.64, 1.45], atol=0.005)
    assert post.count().to_dict() == {"prt": 44, "placebo": 44, "usual_care": 47}
    assert clean["sex"].value_counts().to_dict().keys() == {"male", "female"}


def test_ashar2022_command_exits_0_and_reports_filtered_rows(tmp_path):
    out = io.StringIO()
    code = validate_command(STUDIES / "ashar2022.yaml", report_dir=tmp_path, stream=out)
    assert code == 0
    assert out.getvalue().startswith("All 286 rows passed validation")
    assert "55 rows left out by the config filter" in out.getvalue()
    assert len((tmp_path / "filtered.csv").read_text().splitlines()) == 56


def test_fev_data_counts_match_provenance():
    result = _validate("fev_data")
    _check_reconciles(result)
    assert result.ok
    clean = result.clean
    assert len(clean) == 800 and clean["participant_id"].nunique() == 200
    observed = clean.dropna(subset=["fev1"])
    assert len(observed) == 537 and observed["participant_id"].nunique() == 197
    assert clean.groupby("arm")["participant_id"].nunique().to_dict() == {"pbo": 105, "trt": 95}


def test_claus2020_counts_match_provenance():
    result = _validate("claus2020")
    assert result.ok
    clean = result.clean
    assert len(clean) == 172 and clean["participant_id"].nunique() == 43
    assert clean.groupby("arm")["participant_id"].nunique().to_dict() == {"pa": 23, "tau": 20}
    assert set(clean["visit"]) == {"t1", "t2", "t3", "t4"}


def test_neck_pain_counts_match_provenance():
    result = _validate("neck_pain")
    assert result.ok
    clean = result.clean
    assert len(clean) == 264 and clean["participant_id"].nunique() == 90
    assert clean.groupby("arm")["participant_id"].nunique().to_dict() == {"laser": 45, "sham": 45}
    assert clean["vas"].between(0, 1).all()


def test_vickers_wide_file_reshapes_with_visit_codes():
    result = _validate("vickers2004")
    _check_reconciles(result)
    assert result.ok
    total = result.summary.iloc[-1]
    assert (total.rows_read, total.rows_in) == (401, 3 * 401)
    clean = result.clean
    assert clean.groupby("arm")["participant_id"].nunique().to_dict() == {
        "acupuncture": 205,
        "usual_care": 196,
    }
    # PROVENANCE: pk2 missing for 75, pk5 for 100 participants
    assert clean.groupby("visit")["headache_score"].count().to_dict() == {
        "baseline": 401,
        "m3": 326,
        "m12": 301,
    }
    # every long row points at its participant's line in the wide file (header = line 1)
    assert clean["source_row"].between(2, 402).all()
    assert (clean.groupby("participant_id")["source_row"].nunique() == 1).all()


def test_ashar_teaching_wide_file_matches_the_long_file():
    """Same trial, two layouts: the wide reader must give the long file's values row by row."""
    wide = _validate("ashar2022_simple_wide")
    assert wide.ok
    assert wide.summary.iloc[-1][["rows_read", "rows_in"]].tolist() == [151, 302]
    long = _validate("ashar2022").clean
    cols = ["participant_id", "arm", "visit", "bpi_intensity", "sex"]
    w = wide.clean.dropna(subset=["bpi_intensity"])[cols].sort_values(cols[:3]).reset_index(drop=True)
    long_rows = long.dropna(subset=["bpi_intensity"])[cols].sort_values(cols[:3]).reset_index(drop=True)
    assert len(w) == 286  # 151 baseline + 135 post
    pd.testing.assert_frame_equal(w, long_rows)
