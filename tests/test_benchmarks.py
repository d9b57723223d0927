"""The audit's benchmark catalogue (prt_outcomes.benchmarks) against its sources.

The counts of the >=50% reduction entries are recomputed here from the trial's public file
(../shared/data/ashar2022_prt_backpain), independently of the package: pain_avg at
post-treatment (time 2) against the pre-treatment session (time 1), every randomized patient
in the denominator, those not assessed counted as not improved. They must also give the
percentages the paper's eTable 2 prints (70 / 29 / 16%).
"""

import pandas as pd
import pytest

from prt_outcomes.benchmarks import BENCHMARKS, benchmark_table

ARMS = {1: "Pain reprocessing therapy", 2: "Open-label placebo", 3: "Usual care"}
ETABLE2_HALF = {"Pain reprocessing therapy": 70, "Open-label placebo": 29, "Usual care": 16}


def _catalogue(rule: str) -> dict[str, tuple[int, int]]:
    return {b.arm: (b.responders, b.denominator) for b in BENCHMARKS if b.rule == rule}


def test_fifty_percent_counts_are_those_of_the_public_file(shared_data):
    raw = pd.read_csv(
        shared_data / "ashar2022_prt_backpain" / "Ashar2022_outcomes_demographics.csv",
        na_values=["<undefined>"],
    )
    raw = raw[raw["group"].isin(ARMS)]
    pain = raw.pivot_table(index=["id", "group"], columns="time", values="pain_avg").reset_index()
    pain["reduction"] = 100 * (pain[1] - pain[2]) / pain[1]
    counts = {ARMS[g]: (int((part["reduction"] >= 50).sum()), len(part)) for g, part in pain.groupby("group")}
    assert counts == _catalogue("percent_reduction >= 50")
    # ... and the recovery counts of the key points (33/50, 10/51, 5/50) from the same file
    recovered = {ARMS[g]: (int((part[2] <= 1).sum()), len(part)) for g, part in pain.groupby("group")}
    assert recovered == _catalogue("value <= 1")


def test_fifty_percent_counts_give_etable2_percentages():
    for arm, (x, n) in _catalogue("percent_reduction >= 50").items():
        assert round(100 * x / n) == ETABLE2_HALF[arm]


def test_every_entry_names_its_source_and_denominator():
    table = benchmark_table()
    assert set(table["rule"]) == {"value <= 1", "percent_reduction >= 50"}
    assert (table["denominator_basis"] == "randomized").all()
    assert table["source"].str.contains("doi:10.1001/jamapsychiatry.2021.2669").all()
    assert table.loc[table["rule"] == "percent_reduction >= 50", "source"].str.contains("eTable 2").all()
    assert (table["ci_low"] < table["percent"]).all() and (table["percent"] < table["ci_high"]).all()
    assert table.loc[0, "percent"] == pytest.approx(66.0)
