"""Trial-model engine: linear mixed models / MMRM over visits in numpy and scipy.

Examples
--------
>>> from prt_outcomes.models import fit_trial_model, TrialModelResult  # doctest: +SKIP
"""

from .covariance import COVARIANCE_STRUCTURES
from .fit import fit_trial_model
from .result import TrialModelResult

__all__ = ["fit_trial_model", "TrialModelResult", "COVARIANCE_STRUCTURES"]
