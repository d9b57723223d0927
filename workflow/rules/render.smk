TABLE_CSVS = [f"{R}/tables/{t}.csv" for t in RESULT_TABLES]


rule manifest:
    """Provenance: input hashes, resolved config, package versions, seed."""
    input:
        data=DATA_FILES,
        inputs_stamp=STAMPS["inputs"],
        config_stamp=STAMPS["config_full"],
    output:
        f"{R}/manifest.json",
    log:
        f"{R}/logs/manifest.log",
    script:
        "../scripts/manifest.py"


rule render_tables:
    """Markdown, HTML and LaTeX (booktabs) versions of every table, plus journal tables."""
    input:
        TABLE_CSVS,
        config_stamp=STAMPS["config_full"],
    output:
        [f"{R}/tables/{t}.{ext}" for t in RESULT_TABLES for ext in ("md", "html", "tex")]
        + [f"{R}/tables/{name}" for name in journal_table_files(STUDY)],
    log:
        f"{R}/logs/render_tables.log",
    script:
        "../scripts/render_tables.py"


rule render_figures:
    """Figures drawn from the result tables."""
    input:
        TABLE_CSVS,
        rules.derive.output.csv,
        config_stamp=STAMPS["config_full"],
    output:
        [report(path, caption="../report/figure.rst", category="Figures") for path in FIGURES],
    log:
        f"{R}/logs/render_figures.log",
    script:
        "../scripts/render_figures.py"


rule report:
    """One self-contained HTML report."""
    input:
        TABLE_CSVS,
        rules.render_tables.output,
        rules.render_figures.output,
        rules.validate.output.summary,
        rules.validate.output.failures,
        rules.validate.output.rule_counts,
        rules.manifest.output,
        # read only to know which participant ids must never appear in the report
        rules.ingest.output.data,
        rules.derive.output.csv,
        config_stamp=STAMPS["config_full"],
    output:
        report(f"{R}/report.html", caption="../report/report.rst", category="Report"),
    log:
        f"{R}/logs/report.log",
    script:
        "../scripts/report.py"
