"""Reliable change per arm and follow-up visit: the analyse stage's use of :mod:`prt_outcomes.stats.clinical`.

For every outcome whose config entry has ``reliable_change:``, each participant's change from
the baseline visit to each later visit is classed by Jacobson & Truax (1991) as recovered,
improved, unchanged or deteriorated (:func:`prt_outcomes.stats.clinical.reliable_change`), with the
reliability and cut-off the config names, and the categories are counted per arm. Participants
without a baseline or a follow-up value at that visit are counted in ``n_missing``, not dropped:
``n_used + n_missing`` is the arm's number of participants in the analysis frame.

Output contract (``tables/reliable_change.csv``): :data:`RELIABLE_CHANGE_COLUMNS`.

Examples
--------
>>> import pandas as pd
>>> from prt_outcomes.config import StudyConfig
>>> config = StudyConfig.from_dict({
...     "study": {"name": "demo", "design": "single_arm"},
...     "arms": {"levels": [{"name": "prt"}]},
...     "visits": [{"name": "pre", "baseline": True}, {"name": "post"}],
...     "outcomes": [{"name": "pain", "instrument": "bpi_average_pain",
...                   "reliable_change": {"reliability": 0.8, "source": "example value"}}],
...     "data": {"files": [{"path": "unused.csv"}]},
... })
>>> data = pd.DataFrame({"participant_id": ["1", "1", "2", "2", "3", "3"], "arm": "prt",
...                      "visit": ["pre", "post"] * 3, "pain": [8, 2, 6, 5, 7, None]})
>>> table = reliable_change_table(data, config)
>>> table[["visit", "category", "n", "n_used", "n_missing"]].values.tolist()[:3]
[['post', 'recovered', 1, 2, 1], ['post', 'improved', 0, 2, 1], ['post', 'unchanged', 1, 2, 1]]
"""

from __future__ import annotations

import pandas as pd

from ..config import ARM, SUBJECT, VISIT, StudyConfig
from ..stats.clinical import clinical_significance_summary, reliable_change

__all__ = ["RELIABLE_CHANGE_COLUMNS", "reliable_change_table"]

#: Output contract of ``tables/reliable_change.csv`` (order matters). ``percent`` is over
#: ``n_used`` (participants with both scores); ``cutoff_value`` is the Jacobson-Truax cut-off
#: between the dysfunctional and functional ranges on the outcome's scale.
RELIABLE_CHANGE_COLUMNS = (
    "outcome",
    "visit",
    "arm",
    "category",
    "n",
    "percent",
    "n_used",
    "n_missing",
    "reliability",
    "critical_value",
    "cutoff",
    "cutoff_value",
    "reliability_source",
)


def reliable_change_table(data: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Jacobson-Truax categories per outcome x follow-up visit x arm (see the module docstring).

    Parameters
    ----------
    data : DataFrame
        The analysis frame: one row per participant x visit, with the canonical columns.
    config : StudyConfig
        Outcomes with ``reliable_change`` settings are analysed; the others are left out.

    Returns
    -------
    DataFrame
        Columns :data:`RELIABLE_CHANGE_COLUMNS`, one row per outcome x visit x arm x category;
        empty (with those columns) when no outcome asks for reliable change.
    """
    asked = [o for o in config.outcomes if o.reliable_change is not None]
    if not asked:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RELIABLE_CHANGE_COLUMNS})
    baseline = config.baseline_visit  # the config refuses reliable_change without one
    present = set(data[VISIT])
    follow_ups = [v for v in config.visit_names[config.visit_names.index(baseline) + 1 :] if v in present]
    arms = [a for a in config.arm_names if a in set(data[ARM])]
    tables = []
    for outcome in asked:
        settings = outcome.reliable_change
        if outcome.name not in data.columns or baseline not in present:
            continue
        for visit in follow_ups:
            per_participant = reliable_change(
                data,
                outcome=outcome.name,
                subject=SUBJECT,
                visit=VISIT,
                pre=baseline,
                post=visit,
                arm=ARM,
                reliability=settings.reliability,
                higher_is_better=outcome.higher_is_better,
                cutoff=settings.cutoff,
                normative_mean=settings.normative_mean,
                normative_sd=settings.normative_sd,
                critical_value=settings.critical_value,
            )
            summary = clinical_significance_summary(per_participant, arm=ARM)
            summary[ARM] = pd.Categorical(summary[ARM], categories=arms)
            summary = summary.sort_values(ARM, kind="stable")
            summary[ARM] = summary[ARM].astype(str)
            # the cut-off reliable_change() placed between the ranges (one value per call)
            cutoff_value = float(per_participant["cutoff"].iloc[0])
            summary.insert(0, VISIT, visit)
            summary.insert(0, "outcome", outcome.name)
            tables.append(
                summary.assign(
                    reliability=settings.reliability,
                    critical_value=settings.critical_value,
                    cutoff=settings.cutoff,
                    cutoff_value=cutoff_value,
                    reliability_source=settings.source,
                )
            )
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RELIABLE_CHANGE_COLUMNS})
    return pd.concat(tables, ignore_index=True)[list(RELIABLE_CHANGE_COLUMNS)]
