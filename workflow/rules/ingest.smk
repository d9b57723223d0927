rule ingest:
    """Read every data file, map columns and codes, reshape wide to long."""
    input:
        DATA_FILES,
        inputs_stamp=STAMPS["inputs"],
        config_stamp=STAMPS["config_data"],
    output:
        data=f"{R}/intermediate/ingested.parquet",
        issues=f"{R}/intermediate/ingest_issues.parquet",
        meta=f"{R}/intermediate/ingest_meta.json",
    log:
        f"{R}/logs/ingest.log",
    conda:
        SOFTWARE
    script:
        "../scripts/ingest.py"
