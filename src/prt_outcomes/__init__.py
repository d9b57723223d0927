"""prt-outcomes: research data pipeline for pain-trial outcomes.

The notebook API::

    import prt_outcomes as po
    config = po.load_config("config/config.yaml")
    checked = po.load_and_validate(config)            # ingest + validate
    fit = po.fit_trial_model(checked.clean, outcome="pain_avg", arm="arm", visit="visit",
                             subject="participant_id", covariance="unstructured",
                             visit_levels=config.visit_names)
    fit.contrasts
    po.run(config, results_root="results")            # every stage in-process

Submodules are imported lazily so that ``import prt_outcomes`` stays light.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "load_config": "config",
    "StudyConfig": "config",
    "ConfigError": "config",
    "get_instrument": "instruments",
    "read_study_data": "ingest",
    "load_and_validate": "validate.checks",
    "validate_study_data": "validate.checks",
    "add_change_scores": "derive",
    "participant_flow": "describe",
    "baseline_table": "describe",
    "observed_summary": "describe",
    "missingness": "describe",
    "fit_trial_model": "models",
    "TrialModelResult": "models",
    "mmrm": "models",
    "MMRMFit": "models",
    "hedges_g": "stats.effects",
    "responder_analysis": "analyse.responders",
    "parse_threshold": "thresholds",
    "simulate_trial": "simulate",
    "run": "pipeline",
    "missing_data_sensitivity": "analyse.sensitivity",
    "sensitivity_analysis": "analyse.sensitivity",
    "tipping_point": "analyse.sensitivity",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'prt_outcomes' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
