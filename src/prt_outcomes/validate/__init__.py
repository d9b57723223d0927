"""The validate stage (workflow/rules/validate.smk): the pandera schema built from the config
(``schemas``) and lazy validation with the quarantine table and the reconciled summary
(``checks``).
"""
