"""Snakemake adapter: stack the sensitivity and tipping-point jobs (none: empty tables with their columns)."""

from prt_outcomes.logs import WorkflowStep

with WorkflowStep(snakemake) as step:
    import pandas as pd

    from prt_outcomes.analyse.sensitivity_jobs import (
        SENSITIVITY_COLUMNS,
        TIPPING_POINT_COLUMNS,
        stack_sensitivity,
    )
    from prt_outcomes.outputs import write_csv

    for name, columns in (("sensitivity", SENSITIVITY_COLUMNS), ("tipping_point", TIPPING_POINT_COLUMNS)):
        frames = [pd.read_csv(path) for path in snakemake.input[name]]
        write_csv(stack_sensitivity(frames, columns), snakemake.output[name])
