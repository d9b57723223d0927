# One fit_model job per outcome x named analysis (analyses:, config/README.md); the pairs are the
# config's (an analysis may be restricted to some outcomes).
OUTCOME_ANALYSES = STUDY.outcome_analyses()
MODEL_TABLE_NAMES = list(LAYOUT.model_tables("{outcome}", "{analysis}"))
# The sensitivity events file (sensitivity.events.file): an input of the jobs that read it, so an
# edited file runs them again.
SENSITIVITY_EVENTS = (
    [str(STUDY.sensitivity.events_file)]
    if STUDY.sensitivity is not None and STUDY.sensitivity.events_file is not None
    else []
)


rule fit_model:
    """One named analysis (the trial model, an ANCOVA, cLDA, ...) of one outcome: an independent job."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
    output:
        **named(LAYOUT.model_tables("{outcome}", "{analysis}")),
    log:
        log_of("fit_model_{outcome}_{analysis}"),
    wildcard_constraints:
        analysis="|".join(STUDY.analysis_names),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        SOFTWARE
    # One thread is honest: the engine pins BLAS to one thread (prt_outcomes.models.fit; on a
    # loaded machine BLAS threads made a fit 20x slower), and the outcomes' jobs run in
    # parallel instead.
    threads: 1
    # What a cluster executor requests (profiles/slurm); a local run limits them only when
    # given --resources. A fit peaks at 195-440 MB resident from 150 to 50,000 participants
    # x 5 visits and takes seconds (benchmarks/README.md); the example's jobs peak at 209 MB.
    # mem_mb in MB, runtime in minutes.
    resources:
        mem_mb=1000,
        runtime=15,
    script:
        "../scripts/fit_model.py"


rule collect_models:
    """Stack the per-outcome x analysis model tables into the contract's tables."""
    input:
        **{
            name: [
                str(LAYOUT.model_table(outcome, analysis, name)) for outcome, analysis in OUTCOME_ANALYSES
            ]
            for name in MODEL_TABLE_NAMES
        },
    output:
        **{name: str(LAYOUT.table(name)) for name in MODEL_TABLE_NAMES},
    log:
        log_of("collect_models"),
    conda:
        SOFTWARE
    script:
        "../scripts/collect_models.py"


# Clinic audit (study.design: audit): completion, attrition, change, responders and funnel tables,
# disclosure-controlled with the privacy: settings. For a trial the audit tables are written empty,
# with their columns, so the output contract is the same for every design.
from prt_outcomes.outputs import RESULT_TABLE_REGISTRY as _REGISTRY

AUDIT_TABLE_NAMES = [name for name in _REGISTRY if name.startswith("audit_")]


rule summaries:
    """Responder analyses (every threshold x outcome x visit), Jacobson-Truax reliable change
    (outcomes[].reliable_change) and the clinic-audit tables (prt_outcomes.pipeline.summaries).
    One job: each takes under a second from the same analysis data and config values, so one
    interpreter start-up instead of three, here and on a cluster."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
    output:
        **{name: str(LAYOUT.table(name)) for name in AUDIT_TABLE_NAMES},
        responders=str(LAYOUT.table("responders")),
        reliable_change=str(LAYOUT.table("reliable_change")),
    log:
        log_of("summaries"),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        SOFTWARE
    script:
        "../scripts/summaries.py"


# ---- sensitivity (issue 12): one job per outcome x strategy of `sensitivity:`, one tipping-point
# scan per outcome, stacked by collect_sensitivity (which writes the two tables empty, with their
# columns, for a config without `sensitivity:`).
SENSITIVITY = STUDY.sensitivity
SENSITIVITY_JOBS = SENSITIVITY.jobs if SENSITIVITY is not None else []
SENSITIVITY_OUTCOMES = list(SENSITIVITY.outcomes) if SENSITIVITY is not None else []


rule sensitivity:
    """One outcome under one missing-data strategy (MAR, J2R, CR, CIR, or per_participant: each
    participant's own, from sensitivity.events.file; the file's deltas and sensitivity.responders
    in every job): an independent job."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
        events=SENSITIVITY_EVENTS,
    output:
        table=str(LAYOUT.sensitivity_table("{outcome}", "{strategy}")),
    log:
        log_of("sensitivity_{outcome}_{strategy}"),
    # the strategies of this study's jobs (SensitivitySettings.jobs, the one producer); no job:
    # a pattern that matches nothing
    wildcard_constraints:
        strategy="|".join(dict.fromkeys(s for _, s in SENSITIVITY_JOBS)) or "(?!)",
    conda:
        SOFTWARE
    # the jackknife refits the MMRM once per participant, MI once per imputation: the refits run
    # over the job's threads (forked workers, results identical whatever their number);
    # Snakemake lowers 2 to --cores when fewer are given
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    script:
        "../scripts/sensitivity.py"


rule tipping_point:
    """The tipping-point scan of one outcome over sensitivity.tipping_point.deltas."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
        events=SENSITIVITY_EVENTS,
    output:
        table=str(LAYOUT.tipping_point_table("{outcome}")),
    log:
        log_of("tipping_point_{outcome}"),
    conda:
        SOFTWARE
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    script:
        "../scripts/tipping_point.py"


rule collect_sensitivity:
    """Stack the sensitivity and tipping-point jobs into tables/sensitivity.csv and tipping_point.csv."""
    input:
        sensitivity=[str(LAYOUT.sensitivity_table(o, s)) for o, s in SENSITIVITY_JOBS],
        tipping_point=[str(LAYOUT.tipping_point_table(o)) for o in SENSITIVITY_OUTCOMES],
    output:
        sensitivity=str(LAYOUT.table("sensitivity")),
        tipping_point=str(LAYOUT.table("tipping_point")),
    log:
        log_of("collect_sensitivity"),
    conda:
        SOFTWARE
    script:
        "../scripts/collect_sensitivity.py"
