"""The kinds of named analysis an ``analyses:`` entry can ask for (config/README.md, "Analyses").

Each kind is one row of :data:`ANALYSIS_KINDS`: its name (the value of ``analyses[].kind``;
the config schema's enum is pinned to this registry by tests/test_registries.py), what it
assumes and what it fits. :func:`prt_outcomes.analyse.outcomes.analyse_outcome` fits them.

Examples
--------
>>> list(ANALYSIS_KINDS)
['mmrm', 'ancova', 'clda', 'completers', 'formula']
>>> ANALYSIS_KINDS["ancova"].fits
'y_v ~ arm + baseline + covariates at the one visit v (OLS)'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AnalysisKind", "ANALYSIS_KINDS"]


@dataclass(frozen=True)
class AnalysisKind:
    """One row of :data:`ANALYSIS_KINDS`.

    Attributes
    ----------
    name : str
        The value of ``analyses[].kind``.
    description : str
        What the analysis is, in a sentence (config/README.md lists it).
    fits : str
        The model it fits, in formula notation.
    """

    name: str
    description: str
    fits: str


ANALYSIS_KINDS: dict[str, AnalysisKind] = {
    k.name: k
    for k in (
        AnalysisKind(
            "mmrm",
            "the trial model with the models: settings (the entry's overrides applied)",
            "y ~ arm * visit + covariates, within-participant covariance (fit_trial_model)",
        ),
        AnalysisKind(
            "ancova",
            "baseline-adjusted ANCOVA of the outcome at one follow-up visit, in the participants "
            "with a value there",
            "y_v ~ arm + baseline + covariates at the one visit v (OLS)",
        ),
        AnalysisKind(
            "clda",
            "constrained longitudinal data analysis: the baseline is a response and its mean is "
            "common to the arms (randomisation); arm effects at the post-baseline visits only",
            "y ~ visit + arm:visit[post-baseline] + covariates, baseline included (po.mmrm)",
        ),
        AnalysisKind(
            "completers",
            "the mmrm kind in the participants with a value at every visit the model analyses",
            "y ~ arm * visit + covariates on completers (fit_trial_model)",
        ),
        AnalysisKind(
            "formula",
            "any mmrm formula ('{outcome}' is replaced by the outcome's column); means and "
            "contrasts from its arm and visit factors",
            "the formula as written (po.mmrm)",
        ),
    )
}
