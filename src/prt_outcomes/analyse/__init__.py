"""The analyse stage (workflow/rules/analyse.smk): per outcome the configured trial model
(``outcomes``, over the engine in :mod:`prt_outcomes.models`) and the responder analyses
(``responders``).
"""
