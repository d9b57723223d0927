"""The engine at registry scale (issue #15) answers exactly as before.

The model frame, design and pattern moments were rewritten for millions of rows (codes instead
of strings, no copies of the long frame or of the design, moments over distinct design
columns); the likelihood is unchanged. ``scale_fixture.json`` holds the answers of the code
before that rewrite (main at c31f061) on a seeded 20,000 x 5 trial, made by
``tests/references/models/scale/make_scale_fixture.py``; the refit must match to 1e-10
relative (estimates, SEs, log-likelihoods, covariances) and 1e-8 for the Satterthwaite df,
which are finite differences at the optimum and move with its last digits (measured 1.8e-10).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from conftest import REPO_ROOT

HERE = REPO_ROOT / "tests" / "references" / "models" / "scale"


def _maker():
    spec = importlib.util.spec_from_file_location("make_scale_fixture", HERE / "make_scale_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scale():
    maker = _maker()
    data = maker.simulate()
    return maker, data, json.loads((HERE / "scale_fixture.json").read_text())


def _close(new, old, what, rtol):
    new, old = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    assert new.shape == old.shape, what
    np.testing.assert_allclose(new, old, rtol=rtol, atol=0, err_msg=what)


@pytest.mark.parametrize("case", ["trial_ri", "trial_un", "trial_un_adjusted", "formula_ri", "formula_un"])
def test_same_answers_as_before_the_rewrite(scale, case):
    maker, data, before = scale
    assert len(data) == before["n_rows"]
    now = maker.answers_for(data, case)
    ref = before[case]
    assert now["loglik"] == pytest.approx(ref["loglik"], rel=1e-12)
    assert now["terms"] == ref["terms"]
    _close(now["covariance"], ref["covariance"], f"{case} covariance", 1e-10)
    for table in ("coefficients", "marginal_means", "contrasts", "change_contrasts"):
        if table not in ref:
            continue
        for column, values in ref[table].items():
            rtol = 1e-8 if column == "df" else 1e-10
            _close(now[table][column], values, f"{case} {table}.{column}", rtol)


def test_moments_over_distinct_columns_equal_the_direct_sums(monkeypatch):
    """The moments taken over distinct design columns equal the full products, also when a
    column equal to another in the first blocks differs later (a site indicator that is 0 for
    the first participants, as with ids that start with the site)."""
    from prt_outcomes.models import likelihood

    rng = np.random.default_rng(5)
    n, k = 500, 3
    subject, visit = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)
    x = np.repeat(rng.normal(size=n), k)
    late = np.repeat((np.arange(n) > 250).astype(float), k)
    later = np.repeat((np.arange(n) > 400).astype(float), k)
    X = np.column_stack(
        [np.ones(n * k), x, late, later, visit == 1, late * (visit == 2), later * (visit == 2)]
    )
    y = rng.normal(size=n * k)
    monkeypatch.setattr(likelihood, "_MOMENT_CHUNK", 64)
    monkeypatch.setattr(likelihood, "_DIRECT_MOMENTS", 0)  # the distinct-column path at any size
    data = likelihood.PatternData.from_arrays(y, X.astype(float), subject=subject, visit=visit, n_visits=k)
    (pattern,) = data.patterns
    XX, Xy, yy = likelihood._pattern_moments(pattern, X.shape[1])
    rows = X[pattern.rows]
    np.testing.assert_allclose(XX, np.einsum("anp,bnq->abpq", rows, rows), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(Xy, np.einsum("anp,bn->abp", rows, pattern.y), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(yy, pattern.y @ pattern.y.T, rtol=1e-13)


def test_a_large_pattern_keeps_no_copy_of_the_design():
    from prt_outcomes.models.likelihood import PatternData

    rng = np.random.default_rng(1)
    n, k = 200, 2
    X = np.column_stack([np.ones(n * k), rng.normal(size=n * k)])
    data = PatternData.from_arrays(
        rng.normal(size=n * k), X, subject=np.repeat(np.arange(n), k), visit=np.tile([0, 1], n), n_visits=k
    )
    (pattern,) = data.patterns
    assert pattern._X is None and pattern._source is X  # the rows are gathered when asked for
    np.testing.assert_array_equal(pattern.X, X[pattern.rows])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_and_aliasing_from_the_qr_triangle_equal_those_of_the_matrix(seed):
    """design_rank and aliased_columns work on the p x p triangle of X; they decide as
    np.linalg.matrix_rank and Gram-Schmidt on X itself."""
    from prt_outcomes.models.design import design_rank
    from prt_outcomes.models.formula import aliased_columns

    rng = np.random.default_rng(seed)
    n = 3000
    a = rng.normal(size=n)
    b = (rng.random(n) < 0.3).astype(float)
    X = np.column_stack([np.ones(n), a, b, 1 - b, 2 * a + b, rng.normal(size=n)])  # 3 = 0 - 2, 4 = 2*1 + 2
    assert design_rank(X, chunk=512) == np.linalg.matrix_rank(X) == 4
    assert aliased_columns(X).tolist() == [False, False, False, True, True, False]
    full = X[:, [0, 1, 2, 5]]
    assert design_rank(full, chunk=512) == 4 and not aliased_columns(full).any()
