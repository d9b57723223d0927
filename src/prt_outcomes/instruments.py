"""Catalogue of outcome instruments: range, step, direction of improvement, thresholds.

Each entry records the scale's range and resolution, which direction is better, the minimal
important change (MIC) and a recovery cut-off where the literature gives one, with its source.

Examples
--------
>>> from prt_outcomes.instruments import get_instrument
>>> bpi = get_instrument("bpi_average_pain")
>>> bpi.min, bpi.max, bpi.higher_is_better
(0.0, 10.0, False)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

__all__ = [
    "Instrument",
    "INSTRUMENTS",
    "ALIASES",
    "get_instrument",
    "instrument_from_dict",
    "catalogue_table",
]


@dataclass(frozen=True)
class Instrument:
    """One outcome instrument.

    Attributes
    ----------
    name : str
        Catalogue key.
    label : str
        Human-readable name with its range, used in axis labels.
    min, max : float
        Range of possible scores.
    step : float or None
        Resolution of the score (e.g. 1 for an 0-10 item, 0.25 for a four-item mean).
        ``None`` where the score is continuous.
    higher_is_better : bool
        Direction of improvement.
    mic : float or None
        Minimal important change in score points.
    recovery : str or None
        Recovery cut-off as a threshold rule (e.g. ``"value <= 1"``).
    reliability : float or None
        Test-retest or internal-consistency reliability for the reliable change index.
    normative_mean, normative_sd : float or None
        Functional population norms for the Jacobson-Truax cut-off.
    decimals : int
        Decimals used when formatting means of this instrument in tables.
    source : str
        Where the values come from.
    """

    name: str
    label: str
    min: float
    max: float
    step: float | None = None
    higher_is_better: bool = False
    mic: float | None = None
    recovery: str | None = None
    reliability: float | None = None
    normative_mean: float | None = None
    normative_sd: float | None = None
    decimals: int = 2
    source: str = ""


def _entry(**kw) -> Instrument:
    return Instrument(**kw)


# Sources used below (full citations in /work/shared/reference/prt_trials.md, section 6):
#   Farrar 2001 (Pain 94:149) - about 2 points / 30% on a 0-10 pain NRS is clinically important;
#   Ostelo 2008 (Spine) - MIC: NRS 2, VAS 0-100 15, Roland-Morris 5, ODI 10;
#   Kamper 2010 (Eur Spine J 19:1495) - recovery: NRS = 0, RMDQ <= 2;
#   Dworkin 2008 IMMPACT (J Pain 9:105) - BPI interference 1 point, BDI >= 5 points,
#   PGIC much / very much improved;
#   Ashar 2022 (JAMA Psychiatry) - "pain-free or nearly pain-free" = average pain 0 or 1.
# Where none of these gives a value, the field is None on purpose: no value is invented.
_FARRAR_OSTELO = "MIC 2 points on a 0-10 pain NRS: Farrar 2001, Ostelo 2008"
_NONE_SOURCED = "no sourced MIC / recovery / reliability at hand (left None)"


def _pain_item(name: str, label: str, step: float, recovery: str | None, extra: str = "") -> Instrument:
    return _entry(
        name=name,
        label=label,
        min=0.0,
        max=10.0,
        step=step,
        higher_is_better=False,
        mic=2.0,
        recovery=recovery,
        decimals=2,
        source=f"Cleeland 1994 (BPI short form, 0-10 items); {_FARRAR_OSTELO}{extra}",
    )


INSTRUMENTS: dict[str, Instrument] = {
    inst.name: inst
    for inst in [
        _entry(
            name="bpi_average_pain",
            label="BPI average pain (0-10)",
            min=0.0,
            max=10.0,
            step=0.5,  # single 0-10 item; 0.5 allows the average of two ratings (Ashar 2022 baseline)
            higher_is_better=False,
            mic=2.0,
            recovery="value <= 1",
            decimals=2,
            source="Cleeland 1994 (BPI); MIC 2 points: Farrar 2001, Ostelo 2008; "
            "pain-free or nearly (0-1): Ashar 2022 Fig 2C",
        ),
        _pain_item("bpi_worst_pain", "BPI worst pain (0-10)", 1.0, None),
        _pain_item("bpi_least_pain", "BPI least pain (0-10)", 1.0, None),
        _pain_item("bpi_pain_now", "BPI pain right now (0-10)", 1.0, None),
        _entry(
            name="bpi_intensity",
            label="BPI pain intensity (0-10)",
            min=0.0,
            max=10.0,
            step=0.25,  # mean of the 4 severity items (worst, least, average, now)
            higher_is_better=False,
            mic=None,
            decimals=2,
            source="Cleeland 1994; composite = mean of 4 severity items (Ashar 2022 scoring code, "
            "compute_scale_scores.m). No MIC for the composite at hand (left None).",
        ),
        _entry(
            name="bpi_interference",
            label="BPI interference (0-10)",
            min=0.0,
            max=10.0,
            step=None,  # mean of 7 items, prorated means over fewer items have other steps
            higher_is_better=False,
            mic=1.0,
            decimals=2,
            source="Cleeland 1994; mean of 7 interference items; MIC 1 point: IMMPACT, Dworkin 2008",
        ),
        _entry(
            name="nrs_0_10",
            label="Pain NRS (0-10)",
            min=0.0,
            max=10.0,
            step=1.0,
            higher_is_better=False,
            mic=2.0,
            recovery="value <= 0",
            decimals=2,
            source=f"{_FARRAR_OSTELO}; recovery NRS = 0: Kamper 2010",
        ),
        _entry(
            name="vas_0_100",
            label="Pain VAS (0-100)",
            min=0.0,
            max=100.0,
            step=None,
            higher_is_better=False,
            mic=15.0,
            decimals=1,
            source="MIC 15 points on a 0-100 VAS: Ostelo 2008 (low back pain consensus)",
        ),
        _entry(
            name="vas_0_1",
            label="Pain VAS (0-1)",
            min=0.0,
            max=1.0,
            step=None,
            higher_is_better=False,
            mic=0.15,
            decimals=3,
            source="VAS normalised to 0-1 (e.g. ordinalCont neck_pain); MIC 0.15 = Ostelo 2008's "
            "15/100 rescaled (a rescaling, not a separately published value)",
        ),
        _entry(
            name="oswestry",
            label="Oswestry Disability Index (0-100)",
            min=0.0,
            max=100.0,
            step=2.0,
            higher_is_better=False,
            mic=10.0,
            decimals=1,
            source="Fairbank 2000; (sum of 10 items - 10) / 50 x 100 in Ashar 2022 scoring; "
            "MIC 10 points: Ostelo 2008",
        ),
        _entry(
            name="roland_morris",
            label="Roland-Morris Disability Questionnaire (0-24)",
            min=0.0,
            max=24.0,
            step=1.0,
            higher_is_better=False,
            mic=5.0,
            recovery="value <= 2",
            decimals=1,
            source="Roland & Morris 1983; MIC 5 points: Ostelo 2008; recovery RMDQ <= 2: Kamper 2010",
        ),
        _entry(
            name="promis_tscore",
            label="PROMIS T-score (20-80)",
            min=20.0,
            max=80.0,
            step=0.1,
            higher_is_better=False,
            mic=3.0,
            normative_mean=50.0,
            normative_sd=10.0,
            decimals=1,
            source="PROMIS T-scores: mean 50, SD 10 in the US reference population (by "
            "definition of the T metric); MIC about 3 T points is the PROMIS pain interference "
            "MID (Chen et al.; NIH Task Force), used for symptom T-scores where higher is worse",
        ),
        _entry(
            name="promis_depression_raw8",
            label="PROMIS depression 8-item raw sum (8-40)",
            min=8.0,
            max=40.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source="PROMIS depression short form 8 items scored 1-5, raw sum (Ashar 2022 data: "
            f"raw sums, not T-scores); {_NONE_SOURCED}",
        ),
        _entry(
            name="promis_anxiety_raw8",
            label="PROMIS anxiety 8-item raw sum (8-40)",
            min=8.0,
            max=40.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source=f"PROMIS anxiety short form 8 items scored 1-5, raw sum; {_NONE_SOURCED}",
        ),
        _entry(
            name="promis_anger_raw5",
            label="PROMIS anger 5-item raw sum (5-25)",
            min=5.0,
            max=25.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source="PROMIS anger items EDANG03/09/15/30/35 scored 1-5, raw sum (Ashar 2022 "
            f"scoring code); {_NONE_SOURCED}",
        ),
        _entry(
            name="promis_sleep_raw8",
            label="PROMIS sleep disturbance 8-item raw sum (8-40)",
            min=8.0,
            max=40.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source="PROMIS sleep disturbance 8 items scored 1-5 (3 reverse-scored), raw sum; "
            f"{_NONE_SOURCED}",
        ),
        _entry(
            name="panas10_positive",
            label="PANAS-10 positive affect (5-25)",
            min=5.0,
            max=25.0,
            step=1.0,
            higher_is_better=True,
            decimals=1,
            source="PANAS short form, 5 positive-affect items scored 1-5, sum (Ashar 2022 "
            f"scoring code: panas_pa); {_NONE_SOURCED}",
        ),
        _entry(
            name="panas10_negative",
            label="PANAS-10 negative affect (5-25)",
            min=5.0,
            max=25.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source="PANAS short form, 5 negative-affect items scored 1-5, sum (Ashar 2022 "
            f"scoring code: panas_na); {_NONE_SOURCED}",
        ),
        _entry(
            name="pcs",
            label="Pain Catastrophizing Scale (0-52)",
            min=0.0,
            max=52.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source=f"Sullivan 1995; 13 items scored 0-4, sum; {_NONE_SOURCED}",
        ),
        _entry(
            name="tsk11",
            label="Tampa Scale of Kinesiophobia-11 (11-44)",
            min=11.0,
            max=44.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source=f"Woby 2005 (TSK-11); 11 items scored 1-4, sum; {_NONE_SOURCED}",
        ),
        _entry(
            name="pgic",
            label="Patient Global Impression of Change (1-7)",
            min=1.0,
            max=7.0,
            step=1.0,
            higher_is_better=False,
            recovery="value <= 2",
            decimals=2,
            source="PGIC coded 1 = very much improved ... 7 = very much worse (check the coding "
            "of your export: some versions run the other way); responder = much or very much "
            "improved (<= 2): IMMPACT, Dworkin 2008; Farrar 2001 anchor",
        ),
        _entry(
            name="headache_score",
            label="Headache score (0-140)",
            min=0.0,
            max=140.0,
            step=None,  # mean over the completed diary weeks: quarters, thirds, ... occur
            higher_is_better=False,
            decimals=1,
            source="Vickers 2004 BMJ headache diary: severity rated 4 times a day on 0-5 and "
            "summed; range chosen here as a weekly total of 28 ratings, 0-140 (observed maximum "
            "98.5 in the public file). No step: the public values are means over the completed "
            f"weeks (e.g. 15.33333). {_NONE_SOURCED}",
        ),
        _entry(
            name="bdi_ii",
            label="Beck Depression Inventory-II (0-63)",
            min=0.0,
            max=63.0,
            step=1.0,
            higher_is_better=False,
            mic=5.0,
            decimals=1,
            source="Beck 1996 (21 items scored 0-3); MIC >= 5 points: IMMPACT, Dworkin 2008 "
            "(stated there for the Beck Depression Inventory)",
        ),
        _entry(
            name="hamd",
            label="Hamilton Depression Rating Scale, 17 items (0-52)",
            min=0.0,
            max=52.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source=f"Hamilton 1960, 17-item version; {_NONE_SOURCED}",
        ),
        _entry(
            name="who5",
            label="WHO-5 Well-Being Index, raw (0-25)",
            min=0.0,
            max=25.0,
            step=1.0,
            higher_is_better=True,
            decimals=1,
            source=f"WHO 1998; 5 items scored 0-5, raw sum (x4 gives the 0-100 percentage); {_NONE_SOURCED}",
        ),
        _entry(
            name="shaps",
            label="Snaith-Hamilton Pleasure Scale (0-14)",
            min=0.0,
            max=14.0,
            step=1.0,
            higher_is_better=False,
            decimals=1,
            source="Snaith 1995; 14 items scored 0/1 (original dichotomous scoring; higher = more "
            f"anhedonia); {_NONE_SOURCED}",
        ),
    ]
}

#: Alternative names accepted by :func:`get_instrument`.
ALIASES: dict[str, str] = {
    "nrs": "nrs_0_10",
    "vas": "vas_0_100",
    "odi": "oswestry",
    "rmdq": "roland_morris",
    "bdi": "bdi_ii",
    "ham_d": "hamd",
    "who_5": "who5",
    "tsk_11": "tsk11",
    "bpi_pain_average": "bpi_average_pain",
    "bpi_interference_mean": "bpi_interference",
    "promis_dep_raw": "promis_depression_raw8",
    "promis_anxiety_raw": "promis_anxiety_raw8",
    "promis_anger_raw": "promis_anger_raw5",
    "promis_sleep_raw": "promis_sleep_raw8",
    "vickers_headache_score": "headache_score",
}


def get_instrument(name: str, custom: Mapping[str, Instrument] | None = None) -> Instrument:
    """Return the catalogue entry ``name`` (custom instruments first).

    Raises
    ------
    KeyError
        With the list of known instruments when ``name`` is unknown.
    """
    if custom and name in custom:
        return custom[name]
    try:
        return INSTRUMENTS[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(sorted({*INSTRUMENTS, *(custom or {})}))
        raise KeyError(
            f"unknown instrument {name!r}; known instruments: {known}. "
            "Declare a custom one under 'instruments:' in the config."
        ) from None


def instrument_from_dict(name: str, spec: Mapping) -> Instrument:
    """Build a custom :class:`Instrument` from a config mapping."""
    fields = {k: v for k, v in spec.items() if k in Instrument.__dataclass_fields__}
    fields.setdefault("label", f"{name} ({spec['min']:g}-{spec['max']:g})")
    return replace(Instrument(name=name, label=fields.pop("label"), min=0, max=1), **fields)


def catalogue_table():
    """The catalogue as a DataFrame, one row per instrument (for docs and reports).

    >>> table = catalogue_table()
    >>> table.loc[table["name"] == "roland_morris", ["min", "max", "mic", "recovery"]].values.tolist()
    [[0.0, 24.0, 5.0, 'value <= 2']]
    """
    from dataclasses import asdict

    import pandas as pd

    return pd.DataFrame([asdict(inst) for inst in INSTRUMENTS.values()])
