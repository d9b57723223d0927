rule fit_model:
    """The configured trial model (mixed model / MMRM) for one outcome: an independent job."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
    output:
        marginal_means=f"{R}/intermediate/models/{{outcome}}/marginal_means.csv",
        contrasts=f"{R}/intermediate/models/{{outcome}}/contrasts.csv",
        change_contrasts=f"{R}/intermediate/models/{{outcome}}/change_contrasts.csv",
        model_info=f"{R}/intermediate/models/{{outcome}}/model_info.csv",
    log:
        f"{R}/logs/fit_model_{{outcome}}.log",
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
    """Stack the per-outcome model tables into the contract's tables."""
    input:
        marginal_means=expand(rules.fit_model.output.marginal_means, outcome=OUTCOMES),
        contrasts=expand(rules.fit_model.output.contrasts, outcome=OUTCOMES),
        change_contrasts=expand(rules.fit_model.output.change_contrasts, outcome=OUTCOMES),
        model_info=expand(rules.fit_model.output.model_info, outcome=OUTCOMES),
    output:
        marginal_means=f"{R}/tables/marginal_means.csv",
        contrasts=f"{R}/tables/contrasts.csv",
        change_contrasts=f"{R}/tables/change_contrasts.csv",
        model_info=f"{R}/tables/model_info.csv",
    log:
        f"{R}/logs/collect_models.log",
    conda:
        SOFTWARE
    script:
        "../scripts/collect_models.py"


rule responders:
    """Responder analyses for every configured threshold x outcome x visit."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
    output:
        responders=f"{R}/tables/responders.csv",
    log:
        f"{R}/logs/responders.log",
    conda:
        SOFTWARE
    script:
        "../scripts/responders.py"
