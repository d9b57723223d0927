rule describe:
    """Participant flow, baseline characteristics, observed summaries and missingness."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
    output:
        flow=f"{R}/tables/flow.csv",
        baseline=f"{R}/tables/baseline.csv",
        observed=f"{R}/tables/observed_summary.csv",
        missingness=f"{R}/tables/missingness.csv",
    log:
        f"{R}/logs/describe.log",
    conda:
        SOFTWARE
    script:
        "../scripts/describe.py"
