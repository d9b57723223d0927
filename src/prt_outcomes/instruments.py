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

__all__ = ["Instrument", "INSTRUMENTS", "get_instrument", "instrument_from_dict"]


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


INSTRUMENTS: dict[str, Instrument] = {
    inst.name: inst
    for inst in [
        _entry(
            name="bpi_average_pain",
            label="BPI average pain (0-10)",
            min=0.0,
            max=10.0,
            step=0.5,  # single 0-10 item; 0.5 allows the average of two ratings
            higher_is_better=False,
            mic=2.0,
            recovery="value <= 1",
            decimals=2,
            source="Cleeland 1994 (BPI); MIC 2 points: Farrar 2001, Ostelo 2008; "
            "pain-free or nearly (0-1): Ashar 2022 Fig 2C",
        ),
        _entry(
            name="bpi_interference",
            label="BPI interference (0-10)",
            min=0.0,
            max=10.0,
            step=None,  # mean of 7 items
            higher_is_better=False,
            mic=1.0,
            decimals=2,
            source="Cleeland 1994; MIC 1 point: IMMPACT, Dworkin 2008",
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
            source="Fairbank 2000; MIC 10 points: Ostelo 2008",
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
            source="PROMIS T-scores: mean 50, SD 10 in the US reference population",
        ),
    ]
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
        return INSTRUMENTS[name]
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
