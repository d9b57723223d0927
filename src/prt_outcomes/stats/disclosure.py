"""Disclosure control for published counts: small-cell suppression, secondary suppression, rounding.

An audit's tables leave the clinic, so a count small enough to identify a patient must not be
readable from them, neither directly nor by subtraction from a total.

Method
------
* **Primary suppression**: every count ``1 <= x < min_cell`` (default 5) is hidden. A zero is
  shown unless ``suppress_zeros`` (a zero says "nobody", which some governance rules also treat
  as disclosive).
* **Secondary (complementary) suppression**: the table is seen with its margins (row totals,
  column totals, grand total). Every row and every column, total included, is a linear equation
  ``cells = total``; an attacker knows all shown values and the equations. A hidden cell is
  *recoverable* when its value is fixed by those equations, i.e. when no vector in the null space
  of the equations restricted to the hidden cells moves it (a cell on no "cycle" of hidden cells
  is fixed). Until no hidden cell is recoverable, the smallest shown non-zero cell in the
  recoverable cell's row (or, failing that, its column) is hidden too, inner cells before the
  totals. Hiding more only adds freedom, so the loop ends; at worst everything is hidden.
* **Rounding** (optional): shown counts are rounded to the nearest multiple of ``round_to``
  (e.g. 5) after suppression, halves upwards.

What this protects against is exact recovery by linear combination of the published values. It
does not hide bounds from non-negativity (two hidden cells that sum to 6 each lie in 0..6).

References
----------
Hundepool A, Domingo-Ferrer J, Franconi L, et al. (2012). *Statistical Disclosure Control*.
Wiley (the chapters on tabular data: primary and secondary cell suppression).

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"assessed": [40, 3], "missed": [12, 20]}, index=["site A", "site B"])
>>> suppress_table(table).result
        assessed  missed  Total
site A      <NA>    <NA>     52
site B      <NA>    <NA>     23
Total         43      32     75
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import null_space

__all__ = [
    "SuppressedTable",
    "suppress_table",
    "recoverable_cells",
    "round_counts",
    "suppress_counts",
    "TOTAL",
]

#: Label of the margin row and column :func:`suppress_table` adds.
TOTAL = "Total"


@dataclass(frozen=True)
class SuppressedTable:
    """Result of :func:`suppress_table`.

    Attributes
    ----------
    result : DataFrame
        The table with margins, hidden cells as ``<NA>`` (``Int64``), optionally rounded.
    hidden : DataFrame of bool
        Same shape; True where a cell is hidden.
    primary : DataFrame of bool
        True where a cell is hidden because it is itself small.
    """

    result: pd.DataFrame
    hidden: pd.DataFrame
    primary: pd.DataFrame


def _equations(n_rows: int, n_cols: int) -> np.ndarray:
    """Rows of ``A`` with ``A @ vec(full table) = 0``: each row and column sums to its total."""
    full_r, full_c = n_rows + 1, n_cols + 1
    index = np.arange(full_r * full_c).reshape(full_r, full_c)
    equations = []
    for i in range(full_r):
        eq = np.zeros(full_r * full_c)
        eq[index[i, :n_cols]] = 1.0
        eq[index[i, n_cols]] = -1.0
        equations.append(eq)
    for j in range(full_c):
        eq = np.zeros(full_r * full_c)
        eq[index[:n_rows, j]] = 1.0
        eq[index[n_rows, j]] = -1.0
        equations.append(eq)
    return np.array(equations)


def recoverable_cells(hidden: np.ndarray) -> np.ndarray:
    """Which hidden cells of a table *with margins* the shown cells and the sums determine.

    ``hidden`` is a boolean array of the full table (last row and column are the totals). A
    hidden cell is determined when every solution of the margin equations gives it the same
    value: its coordinate is zero in every null-space vector of the equations restricted to the
    hidden cells.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.zeros((3, 3), bool); h[0, 0] = True
    >>> bool(recoverable_cells(h)[0, 0])
    True
    >>> h[0, 1] = h[1, 0] = h[1, 1] = True
    >>> bool(recoverable_cells(h).any())
    False
    """
    hidden = np.asarray(hidden, dtype=bool)
    out = np.zeros_like(hidden)
    if not hidden.any():
        return out
    a = _equations(hidden.shape[0] - 1, hidden.shape[1] - 1)
    cols = np.flatnonzero(hidden.ravel())
    basis = null_space(a[:, cols])
    free = np.abs(basis).max(axis=1) > 1e-9 if basis.size else np.zeros(len(cols), bool)
    flat = out.ravel()
    flat[cols[~free]] = True
    return flat.reshape(hidden.shape)


def suppress_table(
    table: pd.DataFrame,
    *,
    min_cell: int = 5,
    suppress_zeros: bool = False,
    round_to: int | None = None,
    margins: bool = True,
) -> SuppressedTable:
    """Suppress small counts of a two-way table and every cell that would reveal one.

    Parameters
    ----------
    table : DataFrame
        Non-negative whole counts, rows x columns, *without* margins.
    min_cell : int
        Smallest count that may be shown (counts ``1 .. min_cell - 1`` are hidden).
    suppress_zeros : bool
        Hide zeros too.
    round_to : int, optional
        Round the shown counts to a multiple of this (after suppression).
    margins : bool
        Add (and protect) the row, column and grand totals. Without margins only primary
        suppression applies, and the caller must not publish totals.

    Returns
    -------
    SuppressedTable

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"x": [2, 10, 11], "y": [9, 12, 30]})
    >>> s = suppress_table(t, round_to=5)
    >>> s.result.loc[TOTAL].tolist(), int(s.hidden.to_numpy().sum())
    ([25, 50, 75], 4)
    """
    values = table.to_numpy()
    if values.size and (
        not np.all(np.isfinite(values.astype(float)))
        or (values < 0).any()
        or not np.all(np.mod(values.astype(float), 1) == 0)
    ):
        raise ValueError("suppress_table: counts must be non-negative whole numbers.")
    values = values.astype(np.int64)
    if min_cell < 1:
        raise ValueError(f"suppress_table: min_cell must be at least 1, got {min_cell}.")
    n_rows, n_cols = values.shape
    if margins:
        full = np.zeros((n_rows + 1, n_cols + 1), dtype=np.int64)
        full[:n_rows, :n_cols] = values
        full[:n_rows, n_cols] = values.sum(axis=1)
        full[n_rows, :n_cols] = values.sum(axis=0)
        full[n_rows, n_cols] = values.sum()
        index = [*table.index, TOTAL]
        columns = [*table.columns, TOTAL]
    else:
        full, index, columns = values.copy(), list(table.index), list(table.columns)
    small = (full >= 1) & (full < min_cell)
    if suppress_zeros:
        small |= full == 0
    hidden = small.copy()
    if margins:
        hidden = _secondary(full, hidden)
    shown = full.astype(float)
    if round_to:
        shown = np.floor(shown / round_to + 0.5) * round_to
    result = pd.DataFrame(shown, index=index, columns=columns).astype("Int64").mask(hidden)
    result.columns.name = table.columns.name
    result.index.name = table.index.name
    frame = lambda m: pd.DataFrame(m, index=index, columns=columns)  # noqa: E731
    return SuppressedTable(result=result, hidden=frame(hidden), primary=frame(small))


def _secondary(full: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    hidden = hidden.copy()
    last_r, last_c = full.shape[0] - 1, full.shape[1] - 1
    while True:
        exposed = recoverable_cells(hidden)
        if not exposed.any():
            return hidden
        pick = _complement(full, hidden, exposed, last_r, last_c)
        if pick is None:  # nothing left to hide beside it: hide the whole table
            hidden[:] = True
            return hidden
        hidden[pick] = True


def _complement(full, hidden, exposed, last_r, last_c):
    """The shown cell to hide next: in a row or column where an exposed cell is the only hidden
    one (else in the first exposed cell's row or column), the smallest non-zero shown cell, inner
    cells before totals; zeros only when nothing else is left."""
    row_alone = hidden.sum(axis=1) == 1
    col_alone = hidden.sum(axis=0) == 1
    lines = []
    for i, j in map(tuple, np.argwhere(exposed)):
        if row_alone[i]:
            lines.append(("row", i, j))
        if col_alone[j]:
            lines.append(("col", i, j))
    if not lines:
        i, j = map(int, np.argwhere(exposed)[0])
        lines = [("row", i, j), ("col", i, j)]
    candidates = []
    for kind, i, j in lines:
        if kind == "row":
            cells = [(i, k) for k in range(full.shape[1]) if k != j and not hidden[i, k]]
        else:
            cells = [(k, j) for k in range(full.shape[0]) if k != i and not hidden[k, j]]
        for r, c in cells:
            candidates.append((full[r, c] == 0, r == last_r or c == last_c, full[r, c], (r, c)))
    if not candidates:
        return None
    return min(candidates)[-1]


def round_counts(values, base: int = 5):
    """Round counts to the nearest multiple of ``base`` (halves upwards); NA stays NA.

    Examples
    --------
    >>> import pandas as pd
    >>> round_counts(pd.Series([0, 2, 3, 7, 12, None], dtype="Int64")).tolist()
    [0, 0, 5, 5, 10, <NA>]
    """
    s = pd.Series(values).astype("Float64")
    return (np.floor(s / base + 0.5) * base).astype("Int64")


def suppress_counts(
    frame: pd.DataFrame,
    counts,
    *,
    dependent=(),
    min_cell: int = 5,
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Primary suppression for a tidy table: hide small counts and the columns derived from them.

    Each count column in ``counts`` is set to ``<NA>`` where ``1 <= count < min_cell``; every
    column in ``dependent`` (a percent, a CI, a mean) is set to NA in any row where one of the
    counts is hidden. Use :func:`suppress_table` when the table publishes totals that a
    hidden count could be recovered from.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"visit": ["3 months"], "n": [3], "mean_change": [-1.5]})
    >>> suppress_counts(t, ["n"], dependent=["mean_change"])
          visit     n  mean_change
    0  3 months  <NA>          NaN
    """
    out = frame.copy()
    counts = [counts] if isinstance(counts, str) else list(counts)
    any_hidden = pd.Series(False, index=out.index)
    for col in counts:
        x = pd.to_numeric(out[col]).astype("Int64")
        small = (x >= 1) & (x < min_cell)
        if suppress_zeros:
            small |= x == 0
        small = small.fillna(False).astype(bool)
        out[col] = x.mask(small)
        any_hidden |= small
    for col in dependent:
        if col in out.columns:
            out[col] = out[col].where(~any_hidden)
    return out
