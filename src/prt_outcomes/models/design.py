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


def _canonical_order(data: pd.DataFrame, subject: str, visit: str, visits: list) -> pd.DataFrame:
    """Rows sorted by participant id, then by visit position (a stable sort)."""
    position = {v: i for i, v in enumerate(visits)}
    visit_position = data[visit].astype(object).map(position).fillna(len(visits)).to_numpy(dtype=float)
    try:
        subject_rank = pd.factorize(data[subject], sort=True)[0]
    except TypeError:  # ids of mixed types: order them by their text
        subject_rank = pd.factorize(data[subject].astype(str), sort=True)[0]
    return data.iloc[np.lexsort((visit_position, subject_rank))]


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
    # Rows without an outcome are never analysed, so only observed rows must fit the levels
    # (a visit where this outcome was not collected may be left out of visit_levels).
    observed = data[outcome].notna()
    arm_source = data.loc[observed, arm] if arm_levels is not None else data[arm]
    visit_source = data.loc[observed, visit] if visit_levels is not None else data[visit]
    try:
        arms = _levels_for(arm_source, arm_levels, "arm", arm)
        visits = _levels_for(visit_source, visit_levels, "visit", visit)
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
    # Every later sum over rows (moments, means, SDs) runs in this order, so the fit is the same
    # to the last bit however the input rows are ordered.
    data = _canonical_order(data, subject, visit, visits)

    frame = data[needed].copy()
    frame = frame[frame[outcome].notna()]
    frame = frame[frame[arm].isin(arms) & frame[visit].isin(visits)]
    if len(frame) == 0:
        raise ModelError(
            f"outcome {outcome!r} has no non-missing values to analyse; check the column (or its "
            "missing-value codes) or leave the outcome out."
        )
    dup = frame.duplicated([subject, visit])
    if dup.any():
        example = frame.loc[dup, [subject, visit]].iloc[0].tolist()
        raise ModelError(
            f"outcome {outcome!r}: {int(dup.sum())} row(s) repeat a participant x visit with an "
            f"observed outcome (e.g. {subject}={example[0]!r}, {visit}={example[1]!r}); keep one row per "
            "participant and visit."
        )

    arms_per_subject = frame.groupby(subject)[arm].nunique()
    if (arms_per_subject > 1).any():
        warnings.append(
            f"{int((arms_per_subject > 1).sum())} participant(s) have outcomes under more than one "
            "arm; the model treats arm as varying within participant (check the arm column)"
        )

    baseline_data = None
    baseline_col = None
    model_covariates = list(covariates)
    if baseline_adjusted:
        baseline_col = f"baseline_{outcome}"
        if baseline_col in data.columns or baseline_col in covariates:
            raise ModelError(
                f"outcome {outcome!r}: baseline_adjusted=True adds a covariate {baseline_col!r}, but "
                "the data already have a column with that name; rename it."
            )
        # the participant's observed baseline: the one definition of prt_outcomes.derive
        base_map = baseline_values(
            frame, outcome, baseline_visit=baseline_visit, subject=subject, visit=visit
        )
        visits_model = visits[visits.index(baseline_visit) + 1 :]
        before = frame[visit].isin(visits[: visits.index(baseline_visit)])
        if before.any():
            warnings.append(
                f"{int(before.sum())} row(s) at visits before the baseline visit are not analysed "
                "(baseline_adjusted=True models the post-baseline visits)"
            )
        frame = frame[frame[visit].isin(visits_model)].copy()
        frame[baseline_col] = frame[subject].map(base_map).astype(float)
        if not visits_model:
            raise ModelError(
                f"outcome {outcome!r} has no follow-up values (none after the baseline visit "
                f"{baseline_visit!r}), so there is no baseline-adjusted model to fit; leave the "
                "outcome out of the analysis or check its follow-up columns."
            )
        model_covariates = [baseline_col] + covariates
    else:
        visits_model = list(visits)

    cov_missing = frame[model_covariates].isna().any(axis=1) if model_covariates else None
    if cov_missing is not None and cov_missing.any():
        n_drop = int(cov_missing.sum())
        which = [c for c in model_covariates if frame[c].isna().any()]
        warnings.append(
            f"{n_drop} row(s) with an observed outcome were dropped because covariate(s) {which} are missing"
        )
        frame = frame[~cov_missing]
    if len(frame) == 0:
        raise ModelError(
            f"outcome {outcome!r}: no rows are left to analyse after dropping the rows with a "
            f"missing covariate ({model_covariates}); fill in the covariates or leave them out."
        )

    counts = frame.groupby(frame[visit].astype(str)).size()
    if not baseline_adjusted:
        _refuse_baseline_only(data, outcome, visit, visits, baseline_visit, counts)
    empty_visits = [v for v in visits_model if counts.get(str(v), 0) == 0]
    if empty_visits:
        raise ModelError(
            f"outcome {outcome!r}: visit(s) {empty_visits} have no observed values to analyse; drop them "
            "from visit_levels (or from the data) before fitting."
        )
    arm_counts = frame.groupby(frame[arm].astype(str)).size()
    empty_arms = [a for a in arms if arm_counts.get(str(a), 0) == 0]
    if empty_arms:
        raise ModelError(
            f"outcome {outcome!r}: arm(s) {empty_arms} have no observed values to analyse; drop them from "
            "arm_levels (or from the data) before fitting."
        )
    if len(arms) > 1:
        cells = frame.groupby([frame[arm].astype(str), frame[visit].astype(str)]).size()
        empty_cells = [(a, v) for a in arms for v in visits_model if cells.get((str(a), str(v)), 0) == 0]
        if empty_cells:
            where = ", ".join(f"arm {a!r} at visit {v!r}" for a, v in empty_cells)
            raise ModelError(
                f"outcome {outcome!r} has no observed values for {where} (arm x visit cell(s) "
                f"{empty_cells}), so the arm x visit model is not estimable; check the data, or "
                "drop that visit or arm before fitting."
            )

    n_participants = frame[subject].nunique()
    if n_participants < 2:
        raise ModelError(
            f"outcome {outcome!r} has values for only {n_participants} participant, too few to "
            "estimate a within-participant covariance; check the data (the id column, or the "
            "rows filtered out) or leave the outcome out."
        )
    y_values = frame[outcome].to_numpy(dtype=float)
    if np.ptp(y_values) == 0:
        raise ModelError(
            f"outcome {outcome!r} has the same value ({y_values[0]:g}) in every analysed row, so "
            "its variance is zero and no model can be fitted; check the column (a missing-value "
            "code read as a number?) or leave the outcome out."
        )

    # ----- design matrix ---------------------------------------------------------------
    arm_index = {a: i for i, a in enumerate(arms)}
    visit_index = {v: i for i, v in enumerate(visits_model)}
    arm_code = frame[arm].map(arm_index).to_numpy(dtype=np.int64)
    visit_code = frame[visit].map(visit_index).to_numpy(dtype=np.int64)
    n = len(frame)
    columns: list[np.ndarray] = [np.ones(n)]
    names = ["(Intercept)"]
    for i, a in enumerate(arms[1:], start=1):
        columns.append((arm_code == i).astype(float))
        names.append(f"{arm}[{a}]")
    for j, v in enumerate(visits_model[1:], start=1):
        columns.append((visit_code == j).astype(float))
        names.append(f"{visit}[{v}]")
    numeric, factors, means = [], {}, {}
    for c in model_covariates:
        s = frame[c]
        if _is_numeric(s):
            x = s.to_numpy(dtype=float)
            if np.ptp(x) == 0:
                _refuse_constant_covariate(outcome, c, f"{x[0]:g}")
            columns.append(x)
            names.append(c)
            numeric.append(c)
            means[c] = float(x.mean())
        else:
            levels = _levels_for(s, None, "covariate", c)
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [lv for lv in s.cat.categories if lv in set(levels)]
            if len(levels) < 2:
                _refuse_constant_covariate(outcome, c, repr(levels[0]))
            factors[c] = levels
            for lv in levels[1:]:
                columns.append((s == lv).to_numpy(dtype=float))
                names.append(f"{c}[{lv}]")
    # R's model.matrix order: the first factor (arm) varies fastest within each visit.
    for j, v in enumerate(visits_model[1:], start=1):
        for i, a in enumerate(arms[1:], start=1):
            columns.append(((arm_code == i) & (visit_code == j)).astype(float))
            names.append(f"{arm}[{a}]:{visit}[{v}]")
    X = np.column_stack(columns)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        _refuse_collinear(outcome, X, names, rank, model_covariates)

    subject_code = pd.factorize(frame[subject])[0]
    rhs = []
    if len(arms) > 1 and len(visits_model) > 1:
        rhs.append(f"{arm} * {visit}")
    elif len(arms) > 1:
        rhs.append(arm)
    elif len(visits_model) > 1:
        rhs.append(visit)
    rhs += [c for c in model_covariates if c in numeric or c in factors]
    formula = f"{outcome} ~ " + (" + ".join(rhs) if rhs else "1")

    # Participants analysed, with their observed baseline outcome, for effect-size SDs.
    analysed = set(frame[subject])
    base = data[[subject, arm, visit, outcome]]
    base = base[(base[visit] == baseline_visit) & base[outcome].notna() & base[subject].isin(analysed)]
    baseline_data = base.drop_duplicates(subject)
    # ... and their observed change from baseline at each later visit (the change-SD convention)
    later = data[[subject, arm, visit, outcome]]
    later = later[(later[visit] != baseline_visit) & later[outcome].notna() & later[subject].isin(analysed)]
    at_baseline = baseline_data.set_index(subject)[outcome]
    change_data = pd.DataFrame(
        {
            "subject": later[subject].to_numpy(),
            "arm": later[arm].to_numpy(),
            "visit": later[visit].to_numpy(),
            "change": change_from_baseline(
                later[outcome].to_numpy(), later[subject].map(at_baseline).to_numpy()
            ),
        }
    ).dropna(subset=["change"])

    mf = ModelFrame(
        y=frame[outcome].to_numpy(dtype=float),
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
        n_subjects=int(subject_code.max() + 1),
    )
    mf.arm_column, mf.visit_column = arm, visit
    return mf
