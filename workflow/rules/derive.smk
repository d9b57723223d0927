rule derive:
    """Baseline, change and percent change from baseline per outcome."""
    input:
        clean=rules.validate.output.clean,
        failures=rules.validate.output.failures,
        config_stamp=STAMPS["config_data"],
    output:
        data=f"{R}/intermediate/analysis_data.parquet",
        csv=f"{R}/intermediate/analysis_data.csv",
    log:
        f"{R}/logs/derive.log",
    conda:
        SOFTWARE
    script:
        "../scripts/derive.py"
