rule ingest:
    """Read every data file, map columns and codes, reshape wide to long."""
    input:
        DATA_FILES,
        inputs_stamp=STAMPS["inputs"],
        config_stamp=STAMPS["config_data"],
    output:
        **named(LAYOUT.ingest._asdict()),
    log:
        log_of("ingest"),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        SOFTWARE
    script:
        "../scripts/ingest.py"
