"""The bundled example: reproducible to the byte and calibrated to Ashar et al. (2022)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import REPO_ROOT
from prt_outcomes.simulate import EXAMPLE_SEED, simulate_trial, write_example


def test_committed_example_regenerates_byte_identically(tmp_path):
    path = write_example(tmp_path, EXAMPLE_SEED)
    committed = REPO_ROOT / "data" / "example" / "outcomes_long.csv"
    assert path.read_bytes() == committed.read_bytes()


def test_shape_and_design():
    df = simulate_trial(EXAMPLE_SEED)
    n = df.groupby("arm")["participant_id"].nunique()
    assert n.to_dict() == {"placebo": 51, "prt": 50, "usual_care": 50}
    assert set(df["visit"]) == {"baseline", "post", "m1", "m2", "m3", "m6", "m12"}
    assert not df.duplicated(["participant_id", "visit"]).any()
    # every participant has a baseline; each has one arm and constant covariates
    assert df.loc[df.visit == "baseline", "participant_id"].nunique() == 151
    assert (df.groupby("participant_id")[["arm", "age", "sex"]].nunique() == 1).all().all()


def test_values_on_instrument_steps_and_ranges():
    df = simulate_trial(EXAMPLE_SEED)
    pain = df["pain_avg"].dropna()
    assert pain.between(0, 10).all() and np.allclose(pain * 2, np.round(pain * 2))
    odi = df["odi"].dropna()
    assert odi.between(0, 100).all() and np.allclose(odi % 2, 0)
    dep = df["promis_dep"].dropna()
    assert dep.between(8, 40).all() and np.allclose(dep, np.round(dep))
    interference = df["bpi_interference"].dropna()
    assert np.allclose(interference * 7, np.round(interference * 7), atol=1e-3)
    assert df["age"].between(21, 70).all()


def test_arm_means_match_published_figures():
    """Within sampling/rounding error of the published means (Ashar 2022 abstract, Table 2)."""
    df = simulate_trial(EXAMPLE_SEED)
    means = df.pivot_table(index="arm", columns="visit", values="pain_avg", aggfunc="mean")
    published = {
        "baseline": {"prt": 4.22, "placebo": 4.16, "usual_care": 3.91},
        "post": {"prt": 1.18, "placebo": 2.84, "usual_care": 3.13},
        "m12": {"prt": 1.51, "placebo": 2.79, "usual_care": 3.00},
    }
    for visit, by_arm in published.items():
        for arm, value in by_arm.items():
            # baseline draws are standardised within arm: only rounding moves the mean;
            # follow-ups also move with dropout (SE of a mean of ~40 values with SD 1.5 is ~0.25)
            tol = 0.05 if visit == "baseline" else 0.5
            assert abs(means.loc[arm, visit] - value) < tol, (arm, visit, means.loc[arm, visit])
    # the ordering the trial found holds at every follow-up
    for visit in ["post", "m1", "m3", "m6", "m12"]:
        assert means.loc["prt", visit] < means.loc["placebo", visit]
        assert means.loc["prt", visit] < means.loc["usual_care", visit]


def test_dropout_grows_and_depends_on_arm():
    df = simulate_trial(EXAMPLE_SEED)
    counts = df.pivot_table(index="arm", columns="visit", values="participant_id", aggfunc="count")
    for arm in counts.index:
        assert counts.loc[arm, "baseline"] > counts.loc[arm, "post"] >= counts.loc[arm, "m12"]
    assert counts.loc["usual_care", "post"] > counts.loc["placebo", "post"]


def test_seed_changes_data():
    a, b = simulate_trial(1), simulate_trial(2)
    assert not a.equals(b)
    pd.testing.assert_frame_equal(simulate_trial(1), a)


# ---------------------------------------------------------------------------------------------
# the clinic audit example (data/clinic_example, config/studies/clinic_example.yaml)
# ---------------------------------------------------------------------------------------------
def test_committed_clinic_example_regenerates_byte_identically(tmp_path):
    from prt_outcomes.simulate import AUDIT_SEED, write_clinic_example

    path = write_clinic_example(tmp_path, AUDIT_SEED)
    committed = REPO_ROOT / "data" / "clinic_example" / "clinic_long.csv"
    assert path.read_bytes() == committed.read_bytes()


def test_the_cli_writes_either_design(tmp_path):
    from prt_outcomes.cli import main

    assert main(["simulate", "--out", str(tmp_path / "t")]) == 0
    trial = (REPO_ROOT / "data" / "example" / "outcomes_long.csv").read_bytes()
    assert (tmp_path / "t" / "outcomes_long.csv").read_bytes() == trial
    assert main(["simulate", "--design", "audit", "--out", str(tmp_path / "a")]) == 0
    clinic = (REPO_ROOT / "data" / "clinic_example" / "clinic_long.csv").read_bytes()
    assert (tmp_path / "a" / "clinic_long.csv").read_bytes() == clinic


def test_the_clinic_loses_more_patients_in_more_pain():
    from prt_outcomes.simulate import simulate_audit

    df = simulate_audit()
    assert df["participant_id"].nunique() == 320
    assert df["site"].nunique() == 4 and df["clinician"].nunique() == 10
    first = pd.to_datetime(df.groupby("participant_id")["date"].transform("min"))
    days = (pd.to_datetime(df["date"]) - first).dt.days
    later = df.loc[days >= 150].groupby("participant_id").size()
    base = df.loc[days == 0].set_index("participant_id")["pain"]
    followed = base.index.isin(later.index)
    # baseline pain of those still seen after 5 months is lower than of those lost
    assert base[followed].mean() < base[~followed].mean() - 0.5
    assert df["pain"].between(0, 10).all() and df["promis_pi"].between(20, 80).all()
    assert ((days > 120) & (days < 150)).any()  # some returns fall outside every window
