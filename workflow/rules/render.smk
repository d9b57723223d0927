rule manifest:
    """Provenance: input hashes, resolved config, package versions, seed."""
    input:
        data=DATA_FILES,
        inputs_stamp=STAMPS["inputs"],
        config_stamp=STAMPS["config_full"],
    output:
        manifest=str(LAYOUT.manifest),
    log:
        log_of("manifest"),
    conda:
        SOFTWARE
    script:
        "../scripts/manifest.py"


rule render_tables:
    """Markdown, HTML and LaTeX (booktabs) versions of every table, plus journal tables (also .docx)."""
    input:
        **named(LAYOUT.result_tables()),
        config_stamp=STAMPS["config_full"],
    output:
        **named(LAYOUT.rendered_tables()),
    log:
        log_of("render_tables"),
    conda:
        SOFTWARE
    script:
        "../scripts/render_tables.py"


rule render_figures:
    """Figures drawn from the result tables (and the PNGs the report embeds)."""
    input:
        **named(LAYOUT.figure_inputs()),
        config_stamp=STAMPS["config_full"],
    output:
        # the contract's figures are shown in `snakemake --report`; a report-only PNG is not
        **{
            key: (
                report(path, caption="../report/figure.rst", category="Figures")
                if key in LAYOUT.figures()
                else path
            )
            for key, path in named(LAYOUT.figure_outputs()).items()
        },
    log:
        log_of("render_figures"),
    conda:
        SOFTWARE
    # The figures are drawn over the job's threads (forked workers, files identical whatever
    # their number): this job is the end of the run's critical path, with only render_tables
    # beside it. Snakemake lowers 2 to --cores when fewer are given. Resources as explained at
    # fit_model (analyse.smk): the example's figures peak at 290 MB resident per process.
    threads: 2
    resources:
        mem_mb=1000,
        runtime=30,
    script:
        "../scripts/render_figures.py"


rule report:
    """One self-contained HTML report (the tables and figures the render rules wrote, embedded),
    and the same report as one Word document."""
    input:
        # result tables (numbers the report states), validation files, manifest, the row-level
        # files read only to know which participant ids must never appear, and the rendered
        # table fragments and PNGs (prt_outcomes.layout.RunLayout.report_inputs)
        **named(LAYOUT.report_inputs()),
        config_stamp=STAMPS["config_full"],
    output:
        report=report(str(LAYOUT.report), caption="../report/report.rst", category="Report"),
        # the same sections as one Word document (prt_outcomes.render.docx.report_to_docx)
        report_docx=str(LAYOUT.report_docx),
    log:
        log_of("report"),
    conda:
        SOFTWARE
    # One thread. Resources as explained at fit_model (analyse.smk); the report now only reads
    # and embeds files.
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    script:
        "../scripts/report.py"
