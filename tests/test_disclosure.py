"""Disclosure control: no small count is shown, and no hidden cell follows from the totals.

The recovery check here is written independently of prt_outcomes.stats.disclosure: the margin
equations are rebuilt from the published table, and a hidden cell counts as recoverable when
removing it lowers the rank of the hidden cells' coefficient matrix by one (its column is then
independent of the others, so the equations fix it; numpy.linalg.matrix_rank, not a null space).
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from prt_outcomes.stats.disclosure import (
    TOTAL,
    recoverable_cells,
    round_counts,
    suppress_counts,
    suppress_table,
)


def _line_equations(full_shape):
    """Each row and column of the table with margins: inner cells minus their total = 0."""
    r, c = full_shape
    eqs = []
    for i in range(r):
        m = np.zeros((r, c))
        m[i, : c - 1] = 1
        m[i, c - 1] = -1
        eqs.append(m.ravel())
    for j in range(c):
        m = np.zeros((r, c))
        m[: r - 1, j] = 1
        m[r - 1, j] = -1
        eqs.append(m.ravel())
    return np.array(eqs)


def _recoverable_by_rank(hidden):
    a = _line_equations(hidden.shape)
    cols = np.flatnonzero(hidden.ravel())
    out = []
    if len(cols) == 0:
        return out
    sub = a[:, cols]
    full_rank = np.linalg.matrix_rank(sub)
    for k, cell in enumerate(cols):
        rest = np.delete(sub, k, axis=1)
        rank_rest = np.linalg.matrix_rank(rest) if rest.shape[1] else 0
        if rank_rest == full_rank - 1:
            out.append(np.unravel_index(cell, hidden.shape))
    return out


def test_single_small_cell_gets_partners():
    table = pd.DataFrame({"assessed": [40, 3], "missed": [12, 20]}, index=["A", "B"])
    s = suppress_table(table)
    # B's 3 is hidden; its row partner (20) and the column partner of each follow
    assert s.primary.loc["B", "assessed"] and s.primary.to_numpy().sum() == 1
    assert s.hidden.loc["B"].tolist() == [True, True, False]
    assert s.result.loc[TOTAL].tolist() == [43, 32, 75]
    assert _recoverable_by_rank(s.hidden.to_numpy()) == []


def test_no_small_cell_nothing_hidden():
    table = pd.DataFrame({"x": [5, 6], "y": [0, 9]})
    s = suppress_table(table)
    assert not s.hidden.to_numpy().any()
    assert s.result.loc[TOTAL, TOTAL] == 20
    assert suppress_table(table, suppress_zeros=True).hidden.loc[0, "y"]


def test_recoverable_cells_known_patterns():
    h = np.zeros((3, 4), bool)
    h[0, 0] = h[0, 1] = True  # same row, different columns: each alone in its column
    assert recoverable_cells(h)[0, 0] and recoverable_cells(h)[0, 1]
    h[1, 0] = h[1, 1] = True  # a 2x2 rectangle: a cycle, nothing fixed
    assert not recoverable_cells(h).any()


def test_rounding_and_tidy_suppression():
    assert round_counts([0, 2, 3, 7, 8, 12, 13]).tolist() == [0, 0, 5, 5, 10, 10, 15]
    t = pd.DataFrame({"eligible": [10, 30], "assessed": [4, 20], "percent": [40.0, 66.7]})
    out = suppress_counts(t, ["assessed"], dependent=["percent"])
    assert out["assessed"].isna().tolist() == [True, False]
    assert np.isnan(out["percent"].iloc[0]) and out["percent"].iloc[1] == 66.7
    with pytest.raises(ValueError):
        suppress_table(pd.DataFrame({"x": [-1, 2]}))


small_counts = st.one_of(st.integers(0, 6), st.integers(0, 60))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda r: st.integers(1, 5).flatmap(lambda c: arrays(np.int64, (r, c), elements=small_counts))
    ),
    st.sampled_from([3, 5, 10]),
    st.booleans(),
)
def test_property_nothing_small_shown_nothing_recoverable(values, min_cell, rounding):
    table = pd.DataFrame(values)
    s = suppress_table(table, min_cell=min_cell, round_to=5 if rounding else None)
    shown = s.result.to_numpy(dtype="float64", na_value=np.nan)
    visible = shown[~np.isnan(shown)]
    # no count 1 .. min_cell - 1 is shown (before rounding, too)
    full = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = values
    full[:-1, -1] = values.sum(1)
    full[-1, :-1] = values.sum(0)
    full[-1, -1] = values.sum()
    raw_visible = full[~s.hidden.to_numpy()]
    assert not ((raw_visible >= 1) & (raw_visible < min_cell)).any()
    if not rounding:
        assert not ((visible >= 1) & (visible < min_cell)).any()
        np.testing.assert_array_equal(visible, raw_visible)
    else:
        assert (np.mod(visible, 5) == 0).all()
    # every primary cell is hidden
    assert (s.hidden.to_numpy() | ~s.primary.to_numpy()).all()
    # no hidden cell is fixed by the shown cells and the row / column sums
    hidden = s.hidden.to_numpy()
    assert _recoverable_by_rank(hidden) == []
    # in particular, no row or column (total included) has exactly one hidden cell
    assert not (hidden.sum(axis=1) == 1).any() and not (hidden.sum(axis=0) == 1).any()
