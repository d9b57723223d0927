"""The render stage (workflow/rules/render.smk): journal tables and their writers (``tables``),
figures drawn from result tables (``figures``) and the self-contained HTML report (``report``).
"""
