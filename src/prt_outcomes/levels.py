"""Order of factor levels (arms, visits) shared by the model engine and the responder analyses.

Examples
--------
>>> import pandas as pd
>>> ordered_levels(pd.Series(["post", "baseline", "post"]), None, parameter="visit_levels")
['baseline', 'post']
>>> ordered_levels(pd.Series(["post", "baseline"]), ["baseline", "post", "m1"],
...                parameter="visit_levels")
['baseline', 'post', 'm1']
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

__all__ = ["ordered_levels"]


def ordered_levels(
    values: pd.Series, explicit: Sequence | None, *, parameter: str, column: str | None = None
) -> list:
    """The levels of ``values`` in analysis order.

    ``explicit`` (e.g. the config's visit order) wins and may list levels that are absent; every
    present value must be in it. Otherwise a categorical's category order, else sorted order.

    Raises
    ------
    ValueError
        When ``explicit`` repeats a level or misses a value present in the data; the message
        names ``parameter`` and says what to do.
    """
    present = pd.unique(values.dropna())
    if explicit is not None:
        levels = list(explicit)
        if len(set(map(str, levels))) != len(levels):
            raise ValueError(f"{parameter} has repeated entries: {levels}.")
        unknown = [v for v in present if v not in levels]
        if unknown:
            where = f"column {column!r}" if column else "the data"
            raise ValueError(
                f"{where} has values {sorted(map(str, unknown))} that are not in "
                f"{parameter}={levels}; add them to {parameter} or remove those rows first."
            )
        return levels
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in set(present)]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)
