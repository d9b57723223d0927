"""Snakemake adapter: fit one named analysis (``{analysis}``) to one outcome (``{outcome}``).

An outcome whose data cannot support the model is written as not fitted (``model_info.status``
"failed", the reason in ``message``, no estimate rows) and the job succeeds, so that the other
outcomes' jobs and the report still run; the reason is also logged.
"""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.outcomes import MODEL_TABLES, analyse_outcome
    from prt_outcomes.outputs import write_csv

    outcome, analysis = snakemake.wildcards.outcome, snakemake.wildcards.analysis
    result = analyse_outcome(pd.read_parquet(snakemake.input.data), step.config, outcome, analysis)
    info = result.model_info.iloc[0]
    if not result.fitted:
        step.log.error("%s (%s): not fitted: %s", outcome, analysis, info["message"])
    elif info["message"]:
        step.log.info("%s (%s): %s", outcome, analysis, info["message"])
    for warning in result.warnings:
        step.log.warning("%s (%s): %s", outcome, analysis, warning)
    for name in MODEL_TABLES:
        write_csv(getattr(result, name), getattr(snakemake.output, name))
