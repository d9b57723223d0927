"""Published responder rates a clinic audit can set its own beside (``audit.benchmarks: true``).

A small catalogue, each entry with its source: only numbers printed in a source that
../shared/reference/prt_trials.md cites are listed. A benchmark is a trial's rate under the
trial's conditions (selected, randomized patients, a fixed course of treatment, every
randomized patient in the denominator); the report says so beside it.

Examples
--------
>>> [(b.arm, b.responders, b.denominator) for b in BENCHMARKS if b.rule == "value <= 1"]
[('Pain reprocessing therapy', 33, 50), ('Open-label placebo', 10, 51), ('Usual care', 5, 50)]
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Benchmark", "BENCHMARKS", "benchmark_table"]

_ASHAR_2022 = (
    "Ashar YK, Gordon A, Schubiner H, et al. Effect of pain reprocessing therapy vs placebo and usual care "
    "for patients with chronic back pain: a randomized clinical trial. JAMA Psychiatry 2022;79(1):13-23, "
    "doi:10.1001/jamapsychiatry.2021.2669 (key points, PMC8482298)"
)


@dataclass(frozen=True)
class Benchmark:
    """One published rate: ``responders`` of ``denominator`` patients met ``rule`` at ``timepoint``."""

    study: str
    arm: str
    timepoint: str
    rule: str
    label: str
    responders: int
    denominator: int
    denominator_basis: str  # "randomized" (missing counted as not responding) or "observed"
    source: str


BENCHMARKS: tuple[Benchmark, ...] = tuple(
    Benchmark(
        "Ashar et al. 2022 (chronic back pain)",
        arm,
        "post-treatment (about 1 month)",
        "value <= 1",
        "pain-free or nearly pain-free (0 or 1 of 10)",
        x,
        n,
        "randomized",
        _ASHAR_2022,
    )
    for arm, x, n in (
        ("Pain reprocessing therapy", 33, 50),
        ("Open-label placebo", 10, 51),
        ("Usual care", 5, 50),
    )
)


def benchmark_table():
    """The catalogue as a table, with Wilson 95% CIs of the published counts.

    >>> benchmark_table()[["arm", "percent"]].round(1).values.tolist()[0]
    ['Pain reprocessing therapy', 66.0]
    """
    import pandas as pd

    from .stats.proportions import wilson_interval

    rows = []
    for b in BENCHMARKS:
        low, high = wilson_interval(b.responders, b.denominator)
        rows.append(
            dict(
                study=b.study,
                arm=b.arm,
                timepoint=b.timepoint,
                rule=b.rule,
                label=b.label,
                responders=b.responders,
                denominator=b.denominator,
                denominator_basis=b.denominator_basis,
                percent=100 * b.responders / b.denominator,
                ci_low=100 * low,
                ci_high=100 * high,
                source=b.source,
            )
        )
    return pd.DataFrame(rows)
