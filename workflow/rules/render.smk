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
    conda:
        SOFTWARE
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
    conda:
        SOFTWARE
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
    conda:
        SOFTWARE
    # One thread: matplotlib draws on one. Resources as explained at fit_model (analyse.smk):
    # the example's figures peak at 290 MB resident and take about a minute.
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
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
    conda:
        SOFTWARE
    # One thread: the report's tables and figures are drawn on one. Resources as explained at
    # fit_model (analyse.smk): the example's report peaks at 263 MB resident.
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    script:
        "../scripts/report.py"
