rule validate:
    """Check the long data against schemas built from the config; quarantine failing rows."""
    input:
        data=rules.ingest.output.data,
        issues=rules.ingest.output.issues,
        meta=rules.ingest.output.meta,
        config_stamp=STAMPS["config_data"],
    output:
        clean=f"{R}/intermediate/clean.parquet",
        summary=report(
            f"{R}/validation/summary.csv",
            caption="../report/validation.rst",
            category="Validation",
        ),
        failures=f"{R}/validation/failures.csv",
        rule_counts=f"{R}/validation/rule_counts.csv",
        filtered=f"{R}/validation/filtered.csv",
        quarantined=f"{R}/intermediate/quarantined.csv",
        report=f"{R}/validation/report.md",
    log:
        f"{R}/logs/validate.log",
    conda:
        SOFTWARE
    script:
        "../scripts/validate.py"
