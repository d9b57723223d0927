"""Every stage of one study, in-process: the notebook twin of the Snakemake workflow.

Snakemake runs each stage as a separate job through ``workflow/scripts/``; :func:`run` calls the
same package functions in one process and writes the same files, which is handy in notebooks and
tests. The stage functions in between (:func:`describe`, :func:`analyse`) are shared by both.

Examples
--------
>>> import prt_outcomes as po                                   # doctest: +SKIP
>>> report = po.run(po.load_config("config/config.yaml"))       # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from .config import StudyConfig, load_config
from .layout import IngestFiles, RunLayout, ValidationFiles
from .outputs import results_lock, write_csv

__all__ = [
    "save_ingest",
    "load_ingest",
    "write_validation",
    "strict_validation_gate",
    "derive",
    "write_analysis_data",
    "describe",
    "analyse",
    "run",
]


def save_ingest(result, files: "IngestFiles | str | Path") -> None:
    """Persist an :class:`~prt_outcomes.ingest.IngestResult` between workflow jobs.

    ``files`` names the data, issues and meta files (:class:`~prt_outcomes.layout.IngestFiles`,
    as the ingest rule's outputs are); a folder means the three files the layout names in it.
    """
    files = _ingest_files(files)
    files.data.parent.mkdir(parents=True, exist_ok=True)
    result.data.to_parquet(files.data, index=False)
    # a machine file between jobs: Parquet keeps every value as read (a CSV would carry the
    # spreadsheet-formula guard of write_csv into the values read back)
    result.issues.to_parquet(files.issues, index=False)
    meta = {
        f.name: _to_json(getattr(result, f.name)) for f in fields(result) if f.name not in ("data", "issues")
    }
    Path(files.meta).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", "utf-8")


def load_ingest(files: "IngestFiles | str | Path"):
    """Read back what :func:`save_ingest` wrote."""
    from .ingest import IngestResult

    files = _ingest_files(files)
    meta = json.loads(Path(files.meta).read_text("utf-8"))
    issues = pd.read_parquet(files.issues)
    meta = {name: _from_json(value) for name, value in meta.items()}
    return IngestResult(data=pd.read_parquet(files.data), issues=issues, **meta)


def _ingest_files(files) -> IngestFiles:
    if isinstance(files, IngestFiles):
        return IngestFiles(*(Path(f) for f in files))
    return IngestFiles.under(files)


def _to_json(value):
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": str(value.dtype)}
    return value


def _from_json(value):
    if isinstance(value, dict) and set(value) == {"ndarray", "dtype"}:
        return np.asarray(value["ndarray"], dtype=value["dtype"])
    return value


def derive(clean: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Analysis data: the clean rows with baseline, change and percent change per outcome."""
    from .derive import add_change_scores

    if config.baseline_visit is None:
        return clean
    return add_change_scores(clean, config.outcome_names, baseline_visit=config.baseline_visit)


def write_analysis_data(data: pd.DataFrame, parquet: str | Path, csv: str | Path) -> None:
    """The analysis data between jobs (Parquet, every type kept) and as CSV (for reading)."""
    Path(parquet).parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(parquet, index=False)
    write_csv(data, csv)


def describe(data: pd.DataFrame, config: StudyConfig) -> dict[str, pd.DataFrame]:
    """``flow``, ``baseline``, ``observed_summary`` and ``missingness`` tables; for an audit
    with ``privacy.min_cell`` applied (:func:`prt_outcomes.describe.disclose_describe_tables`),
    so that every file written from them (CSV, md/html/tex, the report) is controlled too."""
    from .describe import (
        baseline_table,
        disclose_describe_tables,
        missingness,
        observed_summary,
        participant_flow,
    )

    tables = {
        "flow": participant_flow(data, config),
        "baseline": baseline_table(data, config),
        "observed_summary": observed_summary(data, config),
        "missingness": missingness(data, config),
    }
    return disclose_describe_tables(tables, config)


def analyse(data: pd.DataFrame, config: StudyConfig) -> dict[str, pd.DataFrame]:
    """Every named analysis per outcome (stacked), the responder, reliable-change, audit,
    sensitivity and tipping-point tables."""
    from .analyse.outcomes import MODEL_TABLES, analyse_outcomes, stack_tables

    # One result per outcome x analysis, as the workflow's fit_model jobs; an analysis the data
    # cannot support is a model_info row with status "failed".
    per_outcome = analyse_outcomes(data, config)
    tables = {
        name: stack_tables([getattr(r, name) for r in per_outcome], columns)
        for name, columns in MODEL_TABLES.items()
    }
    tables.update(summaries(data, config))
    # ---- sensitivity (issue 12): every outcome x strategy job and tipping point, stacked as the
    # workflow's collect_sensitivity does (empty tables without a sensitivity: section)
    from .analyse.sensitivity_jobs import sensitivity_tables

    tables.update(sensitivity_tables(data, config))
    return tables


def summaries(data: pd.DataFrame, config: StudyConfig) -> dict[str, pd.DataFrame]:
    """The analysis data's summaries beside the models: ``responders`` (every threshold x
    outcome x visit), ``reliable_change`` (outcomes with ``reliable_change:``) and the
    clinic-audit tables ``audit_*``, disclosure-controlled (empty with their columns for a trial).

    One workflow job (the ``summaries`` rule): each takes well under a second, they read the same
    analysis data and config values, so they always run together.
    """
    from .analyse.audit_tables import audit_tables
    from .analyse.outcomes import analyse_responders
    from .analyse.reliable_change import reliable_change_table

    return {
        "responders": analyse_responders(data, config),
        "reliable_change": reliable_change_table(data, config),
        **audit_tables(data, config),
    }


def run(config: StudyConfig | str | Path, results_root: str | Path | None = None) -> Path:
    """Run every stage in this process and return the path of ``report.html``.

    Writes the same files as the workflow (see :func:`prt_outcomes.outputs.expected_outputs`),
    at the paths :class:`~prt_outcomes.layout.RunLayout` names, as the workflow's rules do.
    ``config`` is a :class:`StudyConfig` or the path of a config file (read with
    :func:`~prt_outcomes.config.load_config`, like the workflow); ``results_root`` defaults to
    the config's ``results_root``. The results folder is locked for the run
    (:func:`~prt_outcomes.outputs.results_lock`). In strict validation mode a failing row stops
    the run with :class:`~prt_outcomes.validate.checks.ValidationFailed`, after the validation files
    are written.
    """
    from .ingest import read_study_data
    from .provenance import write_manifest
    from .render.figures import render_figures
    from .render.report import render_tables, write_reports
    from .validate.checks import validate_study_data

    if not isinstance(config, StudyConfig):
        config = load_config(config)
    if results_root is None:
        results_root = config.raw.get("results_root", "results")
    layout = RunLayout.for_study(config, results_root)
    with results_lock(layout.study_dir, holder="prt_outcomes.run in this process"):
        ingest = read_study_data(config)
        save_ingest(ingest, layout.ingest)
        checked = validate_study_data(ingest.data, config, ingest=ingest)
        write_validation(checked, layout.validation)
        strict_validation_gate(
            config,
            len(checked.failures),
            report=layout.validation.report,
            failures=layout.validation.failures,
        )
        data = derive(checked.clean, config)
        write_analysis_data(data, layout.analysis_data, layout.analysis_csv)
        for name, table in {**describe(data, config), **analyse(data, config)}.items():
            write_csv(table, layout.table(name))
        write_manifest(config, config.data_paths(), layout.manifest)
        render_tables(config, tables=layout.result_tables(), out=layout.rendered_tables())
        figure_inputs = layout.figure_inputs()
        render_figures(
            config,
            tables=figure_inputs,
            analysis_data=figure_inputs.get("analysis_data"),
            out=layout.figure_outputs(),
        )
        return write_reports(
            config, inputs=layout.report_inputs(), html=layout.report, docx=layout.report_docx
        )


def strict_validation_gate(
    config: StudyConfig, n_failures: int, *, report: str | Path, failures: str | Path
) -> None:
    """In strict mode, stop after validation when it found failures; its files stay in place.

    The validation step itself always succeeds and writes its report (a failed job would have
    its outputs deleted); the next step calls this gate. ``report`` and ``failures`` are the
    validation's ``report.md`` and ``failures.csv``, which the message points at.

    Raises
    ------
    ValidationFailed
        ``validation.mode`` is ``strict`` and ``n_failures > 0``.

    Examples
    --------
    >>> strict_validation_gate(load_config("config/config.yaml"), 0,
    ...                        report="report.md", failures="failures.csv")   # doctest: +SKIP
    """
    if config.validation_mode != "strict" or n_failures == 0:
        return
    # imported here: the validation module loads pandera (0.2 s), which the derive job needs
    # only to stop a strict run
    from .validate.checks import ValidationFailed

    raise ValidationFailed(
        f"validation found {n_failures} failure(s) in the data of study {config.name!r} and "
        "validation.mode is 'strict', so the run stops after validation. Read "
        f"{Path(report)} (what failed and why) and {Path(failures)} (the file, "
        "row and column of every failure), correct the data or the config and run again; or set "
        "'validation: {mode: lenient}' to analyse the rows that pass and report the others."
    )


def write_validation(checked, files: ValidationFiles) -> None:
    """The validation stage's files, at the paths ``files`` names.

    The aggregate, id-free files (summary, failures, rule counts, rows left out by the config
    filter, the readable report) go where the layout puts them (``validation/``); so do the
    row-level ones, which carry participant ids: the quarantined rows and the clean rows
    (``intermediate/``).
    """
    write_csv(checked.summary, files.summary)
    write_csv(checked.failures, files.failures)
    write_csv(checked.rule_counts, files.rule_counts)
    write_csv(checked.filtered, files.filtered)
    Path(files.report).write_text(checked.to_markdown(), encoding="utf-8")
    write_csv(checked.quarantined, files.quarantined)
    Path(files.clean).parent.mkdir(parents=True, exist_ok=True)
    checked.clean.to_parquet(files.clean, index=False)
