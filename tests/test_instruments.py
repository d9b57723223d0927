"""Instrument catalogue: ranges, steps, directions and the sourced thresholds."""

import math

import pytest

from prt_outcomes.instruments import ALIASES, INSTRUMENTS, Instrument, get_instrument

# (name, min, max, step, higher_is_better) as documented for each scale.
RANGES = [
    ("bpi_average_pain", 0, 10, 0.5, False),
    ("bpi_worst_pain", 0, 10, 1, False),
    ("bpi_intensity", 0, 10, 0.25, False),
    ("bpi_interference", 0, 10, None, False),
    ("nrs_0_10", 0, 10, 1, False),
    ("vas_0_100", 0, 100, None, False),
    ("vas_0_1", 0, 1, None, False),
    ("oswestry", 0, 100, 2, False),
    ("roland_morris", 0, 24, 1, False),
    ("promis_tscore", 20, 80, 0.1, False),
    ("promis_depression_raw8", 8, 40, 1, False),
    ("promis_anxiety_raw8", 8, 40, 1, False),
    ("promis_anger_raw5", 5, 25, 1, False),
    ("promis_sleep_raw8", 8, 40, 1, False),
    ("pcs", 0, 52, 1, False),
    ("panas10_positive", 5, 25, 1, True),
    ("panas10_negative", 5, 25, 1, False),
    ("tsk11", 11, 44, 1, False),
    ("pgic", 1, 7, 1, False),
    ("headache_score", 0, 140, None, False),
    ("bdi_ii", 0, 63, 1, False),
    ("hamd", 0, 52, 1, False),
    ("who5", 0, 25, 1, True),
    ("shaps", 0, 14, 1, False),
]


@pytest.mark.parametrize("name, lo, hi, step, better_up", RANGES)
def test_catalogue_ranges(name, lo, hi, step, better_up):
    inst = get_instrument(name)
    assert (inst.min, inst.max, inst.step, inst.higher_is_better) == (lo, hi, step, better_up)


# MIC and recovery values and the source each must name (prt_trials.md section 6).
SOURCED = [
    ("bpi_average_pain", 2.0, "value <= 1", "Ashar 2022"),
    ("nrs_0_10", 2.0, "value <= 0", "Kamper 2010"),
    ("vas_0_100", 15.0, None, "Ostelo 2008"),
    ("oswestry", 10.0, None, "Ostelo 2008"),
    ("roland_morris", 5.0, "value <= 2", "Kamper 2010"),
    ("bpi_interference", 1.0, None, "Dworkin 2008"),
    ("bdi_ii", 5.0, None, "Dworkin 2008"),
]


@pytest.mark.parametrize("name, mic, recovery, cited", SOURCED)
def test_sourced_thresholds(name, mic, recovery, cited):
    inst = get_instrument(name)
    assert inst.mic == mic
    assert inst.recovery == recovery
    assert cited in inst.source


def test_every_entry_is_consistent_and_sourced():
    for name, inst in INSTRUMENTS.items():
        assert isinstance(inst, Instrument) and inst.name == name
        assert inst.min < inst.max, name
        assert inst.source, f"{name} has no source"
        if inst.step is not None:
            span = (inst.max - inst.min) / inst.step
            assert math.isclose(span, round(span)), f"{name}: range is not a whole number of steps"
        # no unsourced numbers: where a threshold is absent the source says so
        if inst.mic is None and inst.recovery is None:
            assert "None" in inst.source or "no " in inst.source.lower(), name


def test_aliases_resolve_and_unknown_names_list_known_ones():
    for alias, target in ALIASES.items():
        assert get_instrument(alias).name == target
    with pytest.raises(KeyError, match="known instruments: .*oswestry"):
        get_instrument("oswestri")


def test_custom_instruments_take_precedence():
    custom = {"oswestry": Instrument(name="oswestry", label="x", min=0, max=50)}
    assert get_instrument("oswestry", custom).max == 50


def test_catalogue_table_lists_every_instrument():
    from prt_outcomes.instruments import catalogue_table

    table = catalogue_table()
    assert sorted(table["name"]) == sorted(INSTRUMENTS)
    assert {"min", "max", "step", "mic", "recovery", "source"} <= set(table.columns)
