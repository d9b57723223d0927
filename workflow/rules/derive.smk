rule derive:
    """Baseline, change and percent change from baseline per outcome."""
    input:
        clean=rules.validate.output.clean,
        failures=rules.validate.output.failures,
        # named in the message of a strict run that stops here
        validation_report=rules.validate.output.report,
        config_stamp=STAMPS["config_data"],
    output:
        data=str(LAYOUT.analysis_data),
        csv=str(LAYOUT.analysis_csv),
    log:
        log_of("derive"),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        SOFTWARE
    script:
        "../scripts/derive.py"
