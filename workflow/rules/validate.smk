rule validate:
    """Check the long data against schemas built from the config; quarantine failing rows."""
    input:
        **named(LAYOUT.ingest._asdict()),
        config_stamp=STAMPS["config_data"],
    output:
        summary=report(
            str(LAYOUT.validation.summary),
            caption="../report/validation.rst",
            category="Validation",
        ),
        failures=str(LAYOUT.validation.failures),
        rule_counts=str(LAYOUT.validation.rule_counts),
        filtered=str(LAYOUT.validation.filtered),
        report=str(LAYOUT.validation.report),
        quarantined=str(LAYOUT.validation.quarantined),
        clean=str(LAYOUT.validation.clean),
    log:
        log_of("validate"),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        SOFTWARE
    script:
        "../scripts/validate.py"
