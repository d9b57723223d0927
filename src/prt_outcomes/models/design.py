"""Model frame and design matrix for ``outcome ~ arm * visit + covariates`` (treatment coding).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"id": [1, 1, 2, 2], "arm": ["a", "a", "b", "b"],
...                    "visit": ["v1", "v2", "v1", "v2"], "y": [1.0, 2.0, 1.5, 3.0]})
>>> frame = build_model_frame(df, outcome="y", arm="arm", visit="visit", subject="id")
>>> frame.term_names
['(Intercept)', 'arm[b]', 'visit[v2]', 'arm[b]:visit[v2]']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..derive import baseline_values, change_from_baseline
from ..errors import ModelError
from ..levels import ordered_levels
from .formula import qr_triangle

__all__ = ["ModelFrame", "build_model_frame"]


@dataclass
class ModelFrame:
    """The analysed rows and everything needed to build contrasts on them."""

    y: np.ndarray
    X: np.ndarray
    subject_code: np.ndarray
    visit_code: np.ndarray  # 0-based position among model visits
    arm_code: np.ndarray
    term_names: list[str]
    arm_levels: list
    visit_levels: list  # visits in the model (post-baseline only when baseline_adjusted)
    all_visit_levels: list
    reference_arm: object
    baseline_visit: object
    numeric_covariates: list[str]
    factor_covariates: dict  # name -> levels
    covariate_means: dict  # numeric covariate -> mean over the model frame
    formula: str
    warnings: list[str] = field(default_factory=list)
    baseline_data: pd.DataFrame | None = None  # subject, arm, outcome at the baseline visit
    change_data: pd.DataFrame | None = None  # subject, arm, visit, change (both values observed)
    n_subjects: int = 0
    factor_codes: dict = field(default_factory=dict)  # factor covariate -> level position per row

    def grid_row(self, arm_level, visit_level) -> np.ndarray:
        """Reference-grid row (emmeans default): factor covariates averaged with equal weights,
        numeric covariates at their model-frame mean."""
        row = np.zeros(len(self.term_names))
        index = {t: i for i, t in enumerate(self.term_names)}
        row[index["(Intercept)"]] = 1.0
        a_name, v_name = self._arm_term(arm_level), self._visit_term(visit_level)
        if a_name in index:
            row[index[a_name]] = 1.0
        if v_name in index:
            row[index[v_name]] = 1.0
        if f"{a_name}:{v_name}" in index:
            row[index[f"{a_name}:{v_name}"]] = 1.0
        for name in self.numeric_covariates:
            row[index[name]] = self.covariate_means[name]
        for name, levels in self.factor_covariates.items():
            for level in levels[1:]:
                row[index[f"{name}[{level}]"]] = 1.0 / len(levels)
        return row

    # term names need the column names; stored at build time
    arm_column: str = "arm"
    visit_column: str = "visit"

    def _arm_term(self, level):
        return f"{self.arm_column}[{level}]"

    def _visit_term(self, level):
        return f"{self.visit_column}[{level}]"


def _levels_for(series: pd.Series, explicit, what: str, column: str) -> list:
    return ordered_levels(series, explicit, parameter=f"{what}_levels", column=column)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _refuse_baseline_only(data, outcome, visit, visits, baseline_visit, counts):
    """An outcome observed at the baseline visit only is refused, not fitted baseline-only.

    A model of one visit is fitted when the data hold that visit only (a single-visit design);
    when the data have rows at other visits but the outcome is missing at all of them, the
    outcome has no follow-up values and a baseline-only model would answer no trial question.
    """
    later = visits[visits.index(baseline_visit) + 1 :]
    if any(counts.get(str(v), 0) for v in later):
        return
    other_visits = [v for v in pd.unique(data[visit]) if v != baseline_visit]
    if not later and not other_visits:
        return
    shown = [str(v) for v in (later or other_visits)]
    raise ModelError(
        f"outcome {outcome!r} has no follow-up values: no value after the baseline visit "
        f"{baseline_visit!r} (none at {shown}); a baseline-only model answers no trial "
        "question, so it is not fitted. Check the outcome's follow-up columns or leave it out."
    )


def _refuse_constant_covariate(outcome, covariate, value):
    raise ModelError(
        f"outcome {outcome!r}: covariate {covariate!r} has the same value ({value}) in every "
        "analysed row, so its effect cannot be separated from the intercept; remove it from the "
        "model covariates (or check the column)."
    )


def _refuse_collinear(outcome, X, names, rank, covariates):
    """Name the columns of a rank-deficient design: those with weight in its null space."""
    scaled = X / np.linalg.norm(X, axis=0)
    null = np.linalg.svd(scaled)[2][rank:]
    involved = [n for n, w in zip(names, np.abs(null).max(axis=0)) if w > 1e-6]
    culprits = [c for c in covariates if any(t == c or t.startswith(f"{c}[") for t in involved)]
    raise ModelError(
        f"outcome {outcome!r}: the design matrix has rank {rank} < {X.shape[1]} columns because "
        f"the columns {involved} are linear combinations of each other (collinear covariate(s) "
        f"{culprits}); remove one of {culprits or involved} from the model covariates and refit."
    )


def build_model_frame(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    visit: str,
    subject: str,
    covariates=(),
    reference_arm=None,
    arm_levels=None,
    visit_levels=None,
    baseline_visit=None,
    baseline_adjusted: bool = False,
) -> ModelFrame:
    """Check the input and build the design matrix; see :func:`fit_trial_model` for the rules.

    Raises
    ------
    ModelError
        For unknown columns, non-numeric outcome, missing arm/visit/subject, duplicated
        participant x visit rows, an outcome without follow-up values, a visit or arm x visit
        cell without observations, a single participant, a constant or collinear covariate
        (the design not of full rank) or an outcome without variation. Every message starts
        with ``outcome '<outcome>':`` and says what to do.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = list(covariates)
    needed = [outcome, arm, visit, subject, *covariates]
    missing_cols = [c for c in needed if c not in data.columns]
    if missing_cols:
        raise ModelError(
            f"outcome {outcome!r}: column(s) {missing_cols} are not in the data; available columns: "
            f"{list(data.columns)}."
        )
    if len(set(needed)) != len(needed):
        raise ModelError(
            f"outcome {outcome!r}: outcome, arm, visit, subject and covariates must be distinct "
            f"columns: {needed}."
        )
    if not _is_numeric(data[outcome]):
        raise ModelError(
            f"outcome {outcome!r}: the column has dtype {data[outcome].dtype}, not numbers; convert it "
            "with pd.to_numeric (missing-value codes as NaN) before fitting."
        )
    for col in (arm, visit, subject):
        n_missing = int(data[col].isna().sum())
        if n_missing:
            raise ModelError(
                f"outcome {outcome!r}: column {col!r} has {n_missing} missing value(s); every row "
                f"needs a {col} (drop those rows first)."
            )
    if len(data) == 0:
        raise ModelError(f"outcome {outcome!r}: the data have no rows.")

    warnings: list[str] = []
    # Every column enters as integer codes, factorized once (``pd.factorize`` hashes each value
    # once); masks, counts and indicator columns are then numpy operations on the codes. At a
    # registry's millions of rows, string comparisons and ``map`` on the frame cost more than
    # the whole likelihood.
    observed = data[outcome].notna().to_numpy()
    arm_codes, arm_uniques = pd.factorize(data[arm])
    visit_codes, visit_uniques = pd.factorize(data[visit])
    # Rows without an outcome are never analysed, so only observed rows must fit the levels
    # (a visit where this outcome was not collected may be left out of visit_levels).
    try:
        arms = _levels_for(
            _present(data[arm], arm_codes, arm_uniques, observed if arm_levels is not None else None),
            arm_levels,
            "arm",
            arm,
        )
        visits = _levels_for(
            _present(data[visit], visit_codes, visit_uniques, observed if visit_levels is not None else None),
            visit_levels,
            "visit",
            visit,
        )
    except ValueError as error:
        raise ModelError(f"outcome {outcome!r}: {error}") from None
    if reference_arm is None:
        reference_arm = arms[0]
    elif reference_arm not in arms:
        raise ModelError(
            f"outcome {outcome!r}: reference_arm={reference_arm!r} is not one of the arms {arms}."
        )
    arms = [reference_arm] + [a for a in arms if a != reference_arm]
    if baseline_visit is None:
        baseline_visit = visits[0]
    elif baseline_visit not in visits:
        raise ModelError(
            f"outcome {outcome!r}: baseline_visit={baseline_visit!r} is not one of the visits {visits}."
        )
    arm_all = _positions(arm_codes, arm_uniques, arms)  # position in arms, -1 if absent
    visit_all = _positions(visit_codes, visit_uniques, visits)
    subject_rank = _subject_rank(data[subject])
    # Every later sum over rows (moments, means, SDs) runs in this order, so the fit is the same
    # to the last bit however the input rows are ordered: participant id, then visit position
    # (visits outside the levels last), a stable sort.
    order = np.lexsort((np.where(visit_all >= 0, visit_all, len(visits)), subject_rank))
    keep = observed & (arm_all >= 0) & (visit_all >= 0)
    rows = order[keep[order]]  # the analysed rows, in canonical order
    if rows.size == 0:
        raise ModelError(
            f"outcome {outcome!r} has no non-missing values to analyse; check the column (or its "
            "missing-value codes) or leave the outcome out."
        )
    srank, vpos = subject_rank[rows], visit_all[rows].astype(np.int64)
    dup = np.zeros(rows.size, dtype=bool)
    dup[1:] = (srank[1:] == srank[:-1]) & (vpos[1:] == vpos[:-1])  # sorted: repeats are adjacent
    if dup.any():
        first = int(rows[np.flatnonzero(dup)[0]])
        example = [data[subject].iloc[first], data[visit].iloc[first]]
        raise ModelError(
            f"outcome {outcome!r}: {int(dup.sum())} row(s) repeat a participant x visit with an "
            f"observed outcome (e.g. {subject}={example[0]!r}, {visit}={example[1]!r}); keep one row per "
            "participant and visit."
        )
    starts = np.flatnonzero(np.r_[True, srank[1:] != srank[:-1]])
    arm_rows = arm_all[rows]
    several = np.maximum.reduceat(arm_rows, starts) != np.minimum.reduceat(arm_rows, starts)
    if several.any():
        warnings.append(
            f"{int(several.sum())} participant(s) have outcomes under more than one "
            "arm; the model treats arm as varying within participant (check the arm column)"
        )

    y_all = data[outcome].to_numpy(dtype=float)
    base_pos = visits.index(baseline_visit)
    covariate_values = {}  # covariate -> its values at ``rows`` (numeric) or (codes, uniques)
    for c in covariates:
        covariate_values[c] = _covariate_values(data[c], rows)
    baseline_col = None
    model_covariates = list(covariates)
    if baseline_adjusted:
        baseline_col = f"baseline_{outcome}"
        if baseline_col in data.columns or baseline_col in covariates:
            raise ModelError(
                f"outcome {outcome!r}: baseline_adjusted=True adds a covariate {baseline_col!r}, but "
                "the data already have a column with that name; rename it."
            )
        # the participant's observed baseline: the one definition of prt_outcomes.derive, on
        # the analysed baseline rows only (participants by their rank)
        at_base = vpos == base_pos
        base_rows_frame = pd.DataFrame(
            {subject: srank[at_base], visit: base_pos, outcome: y_all[rows[at_base]]}
        )
        base_map = baseline_values(
            base_rows_frame, outcome, baseline_visit=base_pos, subject=subject, visit=visit
        )
        base_by_rank = np.full(int(subject_rank.max()) + 1, np.nan)
        base_by_rank[base_map.index.to_numpy()] = base_map.to_numpy()
        visits_model = visits[base_pos + 1 :]
        before = vpos < base_pos
        if before.any():
            warnings.append(
                f"{int(before.sum())} row(s) at visits before the baseline visit are not analysed "
                "(baseline_adjusted=True models the post-baseline visits)"
            )
        later_rows = vpos > base_pos
        rows, srank, vpos = rows[later_rows], srank[later_rows], vpos[later_rows]
        covariate_values = {c: _subset(v, later_rows) for c, v in covariate_values.items()}
        covariate_values[baseline_col] = base_by_rank[srank]
        if not visits_model:
            raise ModelError(
                f"outcome {outcome!r} has no follow-up values (none after the baseline visit "
                f"{baseline_visit!r}), so there is no baseline-adjusted model to fit; leave the "
                "outcome out of the analysis or check its follow-up columns."
            )
        model_covariates = [baseline_col] + covariates
        visit_offset = base_pos + 1
    else:
        visits_model = list(visits)
        visit_offset = 0

    if model_covariates:
        missing_of = {c: _missing(covariate_values[c]) for c in model_covariates}
        cov_missing = np.logical_or.reduce([missing_of[c] for c in model_covariates])
        if cov_missing.any():
            n_drop = int(cov_missing.sum())
            which = [c for c in model_covariates if missing_of[c].any()]
            warnings.append(
                f"{n_drop} row(s) with an observed outcome were dropped because covariate(s) {which} "
                "are missing"
            )
            kept = ~cov_missing
            rows, srank, vpos = rows[kept], srank[kept], vpos[kept]
            covariate_values = {c: _subset(v, kept) for c, v in covariate_values.items()}
    if rows.size == 0:
        raise ModelError(
            f"outcome {outcome!r}: no rows are left to analyse after dropping the rows with a "
            f"missing covariate ({model_covariates}); fill in the covariates or leave them out."
        )

    arm_code = arm_all[rows].astype(np.int64)
    visit_counts = np.bincount(vpos, minlength=len(visits))
    counts = {}
    for v, cnt in zip(visits, visit_counts):
        counts[str(v)] = counts.get(str(v), 0) + int(cnt)
    if not baseline_adjusted:
        _refuse_baseline_only(data, outcome, visit, visits, baseline_visit, counts)
    empty_visits = [v for v in visits_model if counts.get(str(v), 0) == 0]
    if empty_visits:
        raise ModelError(
            f"outcome {outcome!r}: visit(s) {empty_visits} have no observed values to analyse; drop them "
            "from visit_levels (or from the data) before fitting."
        )
    arm_counts = np.bincount(arm_code, minlength=len(arms))
    empty_arms = [a for a, cnt in zip(arms, arm_counts) if cnt == 0]
    if empty_arms:
        raise ModelError(
            f"outcome {outcome!r}: arm(s) {empty_arms} have no observed values to analyse; drop them from "
            "arm_levels (or from the data) before fitting."
        )
    if len(arms) > 1:
        cells = np.bincount(arm_code * len(visits) + vpos, minlength=len(arms) * len(visits))
        cells = cells.reshape(len(arms), len(visits))
        empty_cells = [
            (a, v) for i, a in enumerate(arms) for v in visits_model if cells[i, visits.index(v)] == 0
        ]
        if empty_cells:
            where = ", ".join(f"arm {a!r} at visit {v!r}" for a, v in empty_cells)
            raise ModelError(
                f"outcome {outcome!r} has no observed values for {where} (arm x visit cell(s) "
                f"{empty_cells}), so the arm x visit model is not estimable; check the data, or "
                "drop that visit or arm before fitting."
            )

    # participants in order of their (sorted) id: the codes pd.factorize gives the sorted rows
    new_subject = np.r_[True, srank[1:] != srank[:-1]]
    subject_code = np.cumsum(new_subject) - 1
    n_participants = int(subject_code[-1]) + 1
    if n_participants < 2:
        raise ModelError(
            f"outcome {outcome!r} has values for only {n_participants} participant, too few to "
            "estimate a within-participant covariance; check the data (the id column, or the "
            "rows filtered out) or leave the outcome out."
        )
    y_values = y_all[rows]
    if np.ptp(y_values) == 0:
        raise ModelError(
            f"outcome {outcome!r} has the same value ({y_values[0]:g}) in every analysed row, so "
            "its variance is zero and no model can be fitted; check the column (a missing-value "
            "code read as a number?) or leave the outcome out."
        )

    # Participants analysed, with their observed baseline outcome, for effect-size SDs (rows in
    # canonical order, as every other sum).
    analysed = np.zeros(int(subject_rank.max()) + 1, dtype=bool)
    analysed[srank] = True
    candidates = order[observed[order] & analysed[subject_rank[order]]]
    at_baseline_visit = visit_all[candidates] == base_pos
    base_rows = candidates[at_baseline_visit]
    first = np.r_[True, subject_rank[base_rows][1:] != subject_rank[base_rows][:-1]]
    base_rows = base_rows[first]  # drop_duplicates(subject): the first baseline row
    columns = [data.columns.get_loc(c) for c in (subject, arm, visit, outcome)]
    baseline_data = data.iloc[base_rows, columns]
    # ... and their observed change from baseline at each later visit (the change-SD convention)
    later = candidates[~at_baseline_visit]
    base_value = np.full(analysed.size, np.nan)
    base_value[subject_rank[base_rows]] = y_all[base_rows]
    change = np.asarray(change_from_baseline(y_all[later], base_value[subject_rank[later]]))
    has_change = ~np.isnan(change)
    later = later[has_change]
    change_data = pd.DataFrame(
        {
            # the columns' own dtypes (a take, no conversion of millions of values to objects)
            "subject": data[subject].iloc[later].reset_index(drop=True),
            "arm": pd.Categorical.from_codes(arm_all[later], categories=pd.Index(arms, dtype=object)),
            "visit": pd.Categorical.from_codes(visit_all[later], categories=pd.Index(visits, dtype=object)),
            "change": change[has_change],
        }
    )

    # the row-length intermediates are no longer needed: free them before X is allocated
    del order, observed, subject_rank, visit_all, arm_all, candidates, later, keep
    del arm_codes, visit_codes, base_value, change, has_change

    # ----- design matrix ---------------------------------------------------------------
    visit_code = vpos - visit_offset
    n = rows.size
    names = ["(Intercept)"]
    fills = [("one", None)]  # how to fill each column, in order; X is allocated once
    for i, a in enumerate(arms[1:], start=1):
        fills.append(("eq", (arm_code, i)))
        names.append(f"{arm}[{a}]")
    for j, v in enumerate(visits_model[1:], start=1):
        fills.append(("eq", (visit_code, j)))
        names.append(f"{visit}[{v}]")
    numeric, factors, means, factor_positions = [], {}, {}, {}
    for c in model_covariates:
        values = covariate_values[c]
        if not isinstance(values, tuple):
            x = values
            if np.ptp(x) == 0:
                _refuse_constant_covariate(outcome, c, f"{x[0]:g}")
            fills.append(("values", x))
            names.append(c)
            numeric.append(c)
            means[c] = float(x.mean())
        else:
            codes, uniques, source = values
            used = np.unique(codes)
            present = pd.Series(uniques.take(used)) if len(used) else pd.Series([], dtype=object)
            if isinstance(source.dtype, pd.CategoricalDtype):
                present = pd.Series(pd.Categorical(present, categories=source.cat.categories))
            levels = _levels_for(present, None, "covariate", c)
            if isinstance(source.dtype, pd.CategoricalDtype):
                levels = [lv for lv in source.cat.categories if lv in set(levels)]
            if len(levels) < 2:
                _refuse_constant_covariate(outcome, c, repr(levels[0]))
            factors[c] = levels
            position = _positions(codes, uniques, levels)
            factor_positions[c] = position
            for j, lv in enumerate(levels[1:], start=1):
                fills.append(("eq", (position, j)))
                names.append(f"{c}[{lv}]")
    # R's model.matrix order: the first factor (arm) varies fastest within each visit.
    for j, v in enumerate(visits_model[1:], start=1):
        for i, a in enumerate(arms[1:], start=1):
            fills.append(("cell", (i, j)))
            names.append(f"{arm}[{a}]:{visit}[{v}]")
    del rows, srank, vpos  # not needed past this point; X is the largest array of the fit
    X = np.empty((n, len(fills)))
    # filled by blocks of rows: each block's columns in a small column-major buffer, copied
    # into X once (a column-by-column fill would write every cache line of X p times)
    block = 1 << 14
    buffer = np.empty((len(fills), block))
    for start in range(0, n, block):
        stop = min(start + block, n)
        part = buffer[:, : stop - start]
        for col, (kind, what) in enumerate(fills):
            out = part[col]
            if kind == "one":
                out[:] = 1.0
            elif kind == "values":
                out[:] = what[start:stop]
            elif kind == "eq":
                np.equal(what[0][start:stop], what[1], out=out, casting="unsafe")
            else:
                out[:] = (arm_code[start:stop] == what[0]) & (visit_code[start:stop] == what[1])
        X[start:stop] = part.T
    rank = design_rank(X)
    if rank < X.shape[1]:
        _refuse_collinear(outcome, X, names, rank, model_covariates)

    rhs = []
    if len(arms) > 1 and len(visits_model) > 1:
        rhs.append(f"{arm} * {visit}")
    elif len(arms) > 1:
        rhs.append(arm)
    elif len(visits_model) > 1:
        rhs.append(visit)
    rhs += [c for c in model_covariates if c in numeric or c in factors]
    formula = f"{outcome} ~ " + (" + ".join(rhs) if rhs else "1")

    mf = ModelFrame(
        y=y_values,
        X=X,
        subject_code=subject_code,
        visit_code=visit_code,
        arm_code=arm_code,
        term_names=names,
        arm_levels=arms,
        visit_levels=visits_model,
        all_visit_levels=visits,
        reference_arm=reference_arm,
        baseline_visit=baseline_visit,
        numeric_covariates=numeric,
        factor_covariates=factors,
        covariate_means=means,
        formula=formula,
        warnings=warnings,
        baseline_data=baseline_data,
        change_data=change_data,
        n_subjects=n_participants,
        factor_codes=factor_positions,
    )
    mf.arm_column, mf.visit_column = arm, visit
    return mf


# ------------------------------------------------------------------------------------------ codes
def _present(series: pd.Series, codes: np.ndarray, uniques, mask) -> pd.Series:
    """The distinct values of ``series`` (where ``mask``, if given) as a short Series of the
    same dtype: what :func:`ordered_levels` needs, without its ``pd.unique`` over every row."""
    used = codes if mask is None else codes[mask]
    used = used[used >= 0]
    seen = np.zeros(len(uniques), dtype=bool)
    seen[used] = True
    values = uniques.take(np.flatnonzero(seen))
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(values, categories=series.cat.categories))
    return pd.Series(values, dtype=series.dtype) if len(values) else series.iloc[:0]


def _positions(codes: np.ndarray, uniques, levels) -> np.ndarray:
    """Per row, the position of its value in ``levels`` (-1 for a missing value or a value
    outside them): ``Series.map({level: position})`` done on the distinct values only."""
    index = {v: i for i, v in enumerate(levels)}
    dtype = np.int8 if len(levels) < 127 else np.int64  # row-length arrays: keep them small
    lookup = np.array([index.get(u, -1) for u in uniques] + [-1], dtype=dtype)
    return lookup[codes]  # code -1 (missing) picks the trailing -1


def _subject_rank(ids: pd.Series) -> np.ndarray:
    """Participant ids as their rank in sorted order (text order for ids of mixed types)."""
    try:
        return pd.factorize(ids, sort=True)[0]
    except TypeError:
        return pd.factorize(ids.astype(str), sort=True)[0]


def _covariate_values(series: pd.Series, rows: np.ndarray):
    """A covariate at ``rows``: float values (numeric) or ``(codes, uniques, series)``."""
    if _is_numeric(series):
        return series.to_numpy(dtype=float)[rows]
    codes, uniques = pd.factorize(series)
    small = np.int8 if len(uniques) < 127 else np.int32 if len(uniques) < 2**31 - 1 else np.int64
    return (codes[rows].astype(small), uniques, series)


def _subset(values, mask):
    if isinstance(values, tuple):
        return (values[0][mask], values[1], values[2])
    return values[mask]


def _missing(values) -> np.ndarray:
    return values[0] < 0 if isinstance(values, tuple) else np.isnan(values)


def design_rank(X: np.ndarray, chunk: int = 1 << 16) -> int:
    """``np.linalg.matrix_rank(X)`` (same tolerance) without an SVD of the n x p matrix.

    The singular values of ``X`` are those of the p x p triangle ``R`` of its QR
    factorisation, which is built from blocks of rows (R of the stacked R's of the blocks), so
    the work is O(n p^2) and the memory one block.

    Examples
    --------
    >>> design_rank(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]))
    1
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if n == 0 or p == 0:
        return 0
    R = qr_triangle(X, chunk)
    s = np.linalg.svd(R, compute_uv=False)
    tol = s.max(initial=0.0) * max(n, p) * np.finfo(float).eps
    return int(np.count_nonzero(s > tol))
