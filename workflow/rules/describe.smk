rule describe:
    """Participant flow, baseline characteristics, observed summaries and missingness."""
    input:
        data=rules.derive.output.data,
        config_stamp=STAMPS["config_analysis"],
    output:
        **named(LAYOUT.describe_tables()),
    log:
        log_of("describe"),
    conda:
        SOFTWARE
    script:
        "../scripts/describe.py"
