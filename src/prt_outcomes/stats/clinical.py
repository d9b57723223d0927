"""Jacobson-Truax reliable change and clinically significant change, per participant.

For single-arm or clinic data (and per arm of a trial): did a participant change more than
measurement error allows (reliable change index, RCI), and did they end in the functional range
(clinically significant change)?

Formulas (Jacobson & Truax 1991)
--------------------------------
* Standard error of measurement ``SE = SD_pre * sqrt(1 - r_xx)``; standard error of the
  difference ``S_diff = sqrt(2 * SE**2)``; ``RCI = (post - pre) / S_diff``.
* Reliable change when ``|RCI| > critical_value`` (1.96 by default, two-sided 5%): reliable
  improvement in the instrument's better direction, reliable deterioration in the other.
* Cut-offs, with dysfunctional mean/SD ``m_c, sd_c`` and functional norms ``m_f, sd_f``
  (``+`` below means "in the better direction"):

  - ``a``: 2 SD beyond the dysfunctional mean, ``m_c + 2 sd_c``;
  - ``b``: within 2 SD of the functional mean, ``m_f - 2 sd_f`` (the bound on the dysfunctional side);
  - ``c``: weighted midpoint ``(sd_c * m_f + sd_f * m_c) / (sd_c + sd_f)``.

  Here ``b`` uses the functional SD as Jacobson & Truax (1991) define it; the R package
  clinicalsignificance (2.x) uses the clinical SD in its ``b`` cut-off, so ``b`` results differ
  from that package whenever the two SDs differ. Cut-offs ``a`` and ``c`` agree.
* ``m_c`` and ``sd_c`` (and ``SD_pre`` in the RCI, unless ``sd_pre`` is given) are the mean and
  SD (n - 1) of the pre scores of the participants with both a pre and a post score, as in the
  R package clinicalsignificance.
* A score is *functional* when it lies strictly on the better side of the cut-off.
* Categories: **recovered** = reliable improvement and moved from the dysfunctional range at pre
  to the functional range at post; **improved** = reliable improvement otherwise; **unchanged** =
  no reliable change; **deteriorated** = reliable deterioration (``harmed`` flags those who also
  moved from the functional into the dysfunctional range; clinicalsignificance counts them as a
  fifth category "Harmed"). Participants without a pre or a post score get no category (NA).

References
----------
Jacobson NS, Truax P (1991). Clinical significance: a statistical approach to defining meaningful
change in psychotherapy research. J Consult Clin Psychol 59(1):12-19.
Claus BB, Wager J, Bonnet U (2024). clinicalsignificance: Clinical Significance Analyses of
Intervention Studies in R. J Stat Softw 111(1).

Examples
--------
>>> import pandas as pd
>>> data = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3], "visit": ["pre", "post"] * 3,
...                      "bdi": [30, 10, 36, 26, 40, 38]})
>>> out = reliable_change(data, outcome="bdi", subject="id", pre="pre", post="post",
...                       reliability=0.8, normative_mean=7.7, normative_sd=7.5)
>>> out["category"].tolist()
['recovered', 'improved', 'unchanged']
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import PrtOutcomesError

__all__ = [
    "CATEGORIES",
    "ClinicalSignificanceError",
    "jacobson_truax_cutoff",
    "reliable_change",
    "clinical_significance_summary",
    "clinical_significance",
]

#: Category order used in every output.
CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated")


class ClinicalSignificanceError(PrtOutcomesError):
    """Inputs for the Jacobson-Truax analysis are missing or inconsistent; the message says which."""


def jacobson_truax_cutoff(
    cutoff: str,
    *,
    clinical_mean: float,
    clinical_sd: float,
    normative_mean: float | None = None,
    normative_sd: float | None = None,
    higher_is_better: bool = False,
) -> float:
    """Jacobson-Truax cut-off ``a``, ``b`` or ``c`` between dysfunctional and functional scores.

    Examples
    --------
    >>> round(jacobson_truax_cutoff("c", clinical_mean=35.48, clinical_sd=8.16,
    ...                             normative_mean=7.69, normative_sd=7.52), 2)
    21.02
    >>> jacobson_truax_cutoff("a", clinical_mean=30, clinical_sd=5)
    20.0
    """
    better = 1.0 if higher_is_better else -1.0
    if cutoff == "a":
        return clinical_mean + better * 2 * clinical_sd
    if cutoff not in ("b", "c"):
        raise ClinicalSignificanceError(
            f"cutoff must be 'a', 'b' or 'c', got {cutoff!r}: a = 2 SD beyond the dysfunctional "
            "mean, b = within 2 SD of the functional mean, c = weighted midpoint of the two."
        )
    if normative_mean is None or normative_sd is None:
        raise ClinicalSignificanceError(
            f"cut-off {cutoff!r} needs functional norms: pass normative_mean= and normative_sd= "
            "(or name an instrument whose catalogue entry has them), or use cutoff='a'."
        )
    if cutoff == "b":
        return normative_mean - better * 2 * normative_sd
    return (clinical_sd * normative_mean + normative_sd * clinical_mean) / (clinical_sd + normative_sd)


def _pre_post(data, outcome, subject, visit, pre, post, arm) -> pd.DataFrame:
    """One row per participant with ``pre`` and ``post`` scores (and arm)."""
    if subject not in data.columns:
        raise ClinicalSignificanceError(
            f"the data have no participant column {subject!r}; pass subject=. "
            f"Columns: {list(map(str, data.columns))}."
        )
    if arm is not None and arm not in data.columns:
        raise ClinicalSignificanceError(f"the data have no arm column {arm!r}.")
    long_format = visit in data.columns and outcome in data.columns
    if long_format:
        visits = set(pd.unique(data[visit].dropna()))
        absent = [v for v in (pre, post) if v not in visits]
        if absent:
            raise ClinicalSignificanceError(
                f"visits {absent} do not occur in column {visit!r} (visits present: "
                f"{sorted(map(str, visits))}); pass pre= and post= naming visits."
            )
        rows = data[data[visit].isin([pre, post])]
        dup = rows.duplicated([subject, visit], keep=False)
        if dup.any():
            ids = list(pd.unique(rows.loc[dup, subject]))[:5]
            raise ClinicalSignificanceError(
                f"participants {ids} have more than one row at the pre or post visit; keep one."
            )
        scores = _numeric(rows[outcome], outcome)
        wide = (
            rows.assign(_score=scores)
            .pivot(index=subject, columns=visit, values="_score")
            .reindex(columns=[pre, post])
        )
        wide.columns = ["pre", "post"]
        subjects = pd.unique(data[subject].dropna())
        wide = wide.reindex(subjects)
        if arm is not None:
            arms = data.dropna(subset=[arm]).drop_duplicates(subject).set_index(subject)[arm]
            wide.insert(0, arm, arms.reindex(wide.index))
    else:
        absent = [c for c in (pre, post) if c not in data.columns]
        if absent:
            raise ClinicalSignificanceError(
                f"give either long data (columns {visit!r} and {outcome!r}, with pre/post naming "
                f"visits) or wide data with pre/post naming score columns; columns {absent} are "
                f"missing (columns present: {list(map(str, data.columns))})."
            )
        if data[subject].duplicated().any():
            raise ClinicalSignificanceError(
                "wide data must have one row per participant; some participants repeat."
            )
        wide = pd.DataFrame(
            {"pre": _numeric(data[pre], pre).to_numpy(), "post": _numeric(data[post], post).to_numpy()},
            index=pd.Index(data[subject].to_numpy(), name=subject),
        )
        if arm is not None:
            wide.insert(0, arm, data[arm].to_numpy())
    wide.index.name = subject
    return wide


def _numeric(column: pd.Series, name: str) -> pd.Series:
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        raise ClinicalSignificanceError(
            f"column {name!r} holds non-numeric values (e.g. {column[bad].iloc[0]!r}); "
            "recode missing values as empty/NaN."
        )
    return converted.astype("float64")


def _from_instrument(instrument, reliability, normative_mean, normative_sd, higher_is_better):
    if instrument is None:
        return reliability, normative_mean, normative_sd, bool(higher_is_better)
    if isinstance(instrument, str):
        from ..instruments import get_instrument

        try:
            instrument = get_instrument(instrument)
        except KeyError as exc:
            raise ClinicalSignificanceError(exc.args[0]) from None
    return (
        reliability if reliability is not None else instrument.reliability,
        normative_mean if normative_mean is not None else instrument.normative_mean,
        normative_sd if normative_sd is not None else instrument.normative_sd,
        instrument.higher_is_better if higher_is_better is None else bool(higher_is_better),
    )


def reliable_change(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str = "participant_id",
    pre=None,
    post=None,
    visit: str = "visit",
    reliability: float | None = None,
    sd_pre: float | None = None,
    higher_is_better: bool | None = None,
    cutoff: str = "c",
    normative_mean: float | None = None,
    normative_sd: float | None = None,
    instrument=None,
    arm: str | None = None,
    critical_value: float = 1.96,
) -> pd.DataFrame:
    """Jacobson-Truax reliable change index and category per participant.

    Parameters
    ----------
    data : DataFrame
        Long data (one row per participant x visit, ``pre``/``post`` name visits of ``visit``)
        or wide data (one row per participant, ``pre``/``post`` name score columns).
    outcome : str
        Outcome column (long data) or label (wide data).
    subject : str
        Participant column.
    pre, post
        Visits (long) or columns (wide) of the pre and post scores.
    visit : str
        Visit column of long data.
    reliability : float, optional
        Reliability ``r_xx`` of the instrument, in (0, 1). Default: from ``instrument``.
    sd_pre : float, optional
        SD of the dysfunctional (pre) population; default the SD of the observed pre scores.
    higher_is_better : bool, optional
        Direction of improvement; default from ``instrument``, else False.
    cutoff : {"a", "b", "c"}
        Jacobson-Truax cut-off; ``b`` and ``c`` need functional norms.
    normative_mean, normative_sd : float, optional
        Functional population norms; default from ``instrument``.
    instrument : str or Instrument, optional
        Catalogue entry (:func:`prt_outcomes.instruments.get_instrument`) supplying
        ``reliability``, ``normative_mean``, ``normative_sd`` and direction when not given.
    arm : str, optional
        Arm column carried into the output (for per-arm summaries).
    critical_value : float
        ``|RCI|`` above which change is reliable.

    Returns
    -------
    DataFrame
        One row per participant: ``subject, [arm], pre, post, change, rci, reliable_improvement,
        reliable_deterioration, clinical_pre, functional_post, harmed, category`` and the
        constants ``s_diff, cutoff, cutoff_type, clinical_mean, clinical_sd, reliability``.
        ``category`` is one of :data:`CATEGORIES` (pandas string dtype), NA without both scores.

    Raises
    ------
    ClinicalSignificanceError
        When reliability or norms are missing or out of range, or the data do not fit.
    """
    reliability, normative_mean, normative_sd, higher_is_better = _from_instrument(
        instrument, reliability, normative_mean, normative_sd, higher_is_better
    )
    if reliability is None:
        raise ClinicalSignificanceError(
            "the reliable change index needs the instrument's reliability: pass reliability= "
            "(e.g. a test-retest or internal-consistency coefficient) or an instrument= whose "
            "catalogue entry has one."
        )
    if not 0 < reliability < 1:
        raise ClinicalSignificanceError(f"reliability must lie strictly between 0 and 1, got {reliability}.")
    wide = _pre_post(data, outcome, subject, visit, pre, post, arm)
    complete = wide["pre"].notna() & wide["post"].notna()
    if complete.sum() < 2 and sd_pre is None:
        raise ClinicalSignificanceError(
            f"only {int(complete.sum())} participants have both a pre and a post score of "
            f"{outcome!r}; the pre SD needs at least 2 (or pass sd_pre=)."
        )
    clinical_mean = float(wide.loc[complete, "pre"].mean())
    clinical_sd = float(wide.loc[complete, "pre"].std(ddof=1)) if sd_pre is None else float(sd_pre)
    if not clinical_sd > 0:
        raise ClinicalSignificanceError(f"the pre-score SD of {outcome!r} is {clinical_sd}; it must be > 0.")
    cut = jacobson_truax_cutoff(
        cutoff,
        clinical_mean=clinical_mean,
        clinical_sd=clinical_sd,
        normative_mean=normative_mean,
        normative_sd=normative_sd,
        higher_is_better=higher_is_better,
    )
    se_measurement = clinical_sd * math.sqrt(1 - reliability)
    s_diff = math.sqrt(2 * se_measurement**2)
    better = 1.0 if higher_is_better else -1.0

    out = wide.copy()
    out["change"] = out["post"] - out["pre"]
    out["rci"] = out["change"] / s_diff
    signed = better * out["rci"].to_numpy()
    valid = complete.to_numpy()

    def flag(values: np.ndarray) -> pd.Series:
        result = pd.array(values, dtype="boolean")
        result[~valid] = pd.NA
        return pd.Series(result, index=out.index)

    improvement = flag(signed > critical_value)
    deterioration = flag(signed < -critical_value)
    clinical_pre = flag(better * out["pre"].to_numpy() < better * cut)
    functional_post = flag(better * out["post"].to_numpy() > better * cut)
    out["reliable_improvement"] = improvement
    out["reliable_deterioration"] = deterioration
    out["clinical_pre"] = clinical_pre
    out["functional_post"] = functional_post
    out["harmed"] = deterioration & ~clinical_pre & ~functional_post

    category = np.select(
        [
            (improvement & clinical_pre & functional_post).fillna(False).to_numpy(bool),
            improvement.fillna(False).to_numpy(bool),
            deterioration.fillna(False).to_numpy(bool),
        ],
        ["recovered", "improved", "deteriorated"],
        default="unchanged",
    )
    out["category"] = pd.Series(category, index=out.index, dtype="string").where(valid, pd.NA)
    out["s_diff"] = s_diff
    out["cutoff"] = cut
    out["cutoff_type"] = cutoff
    out["clinical_mean"] = clinical_mean
    out["clinical_sd"] = clinical_sd
    out["reliability"] = float(reliability)
    return out.reset_index()


def clinical_significance_summary(result: pd.DataFrame, *, arm: str | None = None) -> pd.DataFrame:
    """Counts and percentages per Jacobson-Truax category (and per arm).

    Parameters
    ----------
    result : DataFrame
        Output of :func:`reliable_change`.
    arm : str, optional
        Column to group by (``"arm"`` when :func:`reliable_change` was given ``arm=``).

    Returns
    -------
    DataFrame
        ``[arm,] category, n, percent, n_used, n_missing``: one row per category in
        :data:`CATEGORIES` order; ``percent`` (0-100) is over participants with both scores
        (``n_used``); ``n_missing`` counts those without.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({"category": pd.array(["recovered", "unchanged", None], dtype="string")})
    >>> clinical_significance_summary(res)[["category", "n", "percent"]].values.tolist()
    [['recovered', 1, 50.0], ['improved', 0, 0.0], ['unchanged', 1, 50.0], ['deteriorated', 0, 0.0]]
    """
    if "category" not in result.columns:
        raise ClinicalSignificanceError(
            "the result has no 'category' column; pass reliable_change()'s output."
        )
    groups: Sequence = (
        [(None, result)] if arm is None else list(result.groupby(arm, sort=False, dropna=False))
    )
    rows = []
    for key, frame in groups:
        used = frame["category"].notna()
        n_used = int(used.sum())
        counts = frame.loc[used, "category"].value_counts()
        for cat in CATEGORIES:
            n = int(counts.get(cat, 0))
            row = {} if arm is None else {arm: key}
            row.update(
                category=cat,
                n=n,
                percent=100.0 * n / n_used if n_used else float("nan"),
                n_used=n_used,
                n_missing=int((~used).sum()),
            )
            rows.append(row)
    return pd.DataFrame(rows)


def clinical_significance(data: pd.DataFrame, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`reliable_change` and its :func:`clinical_significance_summary` in one call.

    Returns ``(per_participant, summary)``; the summary is per arm when ``arm=`` is given.
    """
    per_participant = reliable_change(data, **kwargs)
    arm = kwargs.get("arm")
    return per_participant, clinical_significance_summary(per_participant, arm=arm)
