"""Every file of one run, named once: the contract's outputs and the intermediate files between jobs.

:class:`RunLayout` is the one place a path under ``results/<study>/`` is spelled. The workflow
(``workflow/rules/common.smk``) builds every rule's ``input:``, ``output:`` and ``log:`` from it,
the workflow scripts pass the paths Snakemake hands them (``snakemake.input`` /
``snakemake.output``) to the package, and the in-process :func:`prt_outcomes.run` passes the
same paths from the same object. No other module joins a file name to a folder.

Groups of files that travel together are small records (:class:`IngestFiles`,
:class:`ValidationFiles`) or mappings keyed as the rules name them: a rendered file's key is
``<stem>_<format>`` (:func:`file_key`), so ``snakemake.output.contrasts_html`` is
``tables/contrasts.html``.

Examples
--------
>>> from pathlib import Path
>>> import prt_outcomes
>>> from prt_outcomes.config import load_config
>>> example = Path(prt_outcomes.__file__).parents[2] / "config" / "config.yaml"  # the checkout's
>>> layout = RunLayout.for_study(load_config(example), "results")
>>> layout.table("contrasts").as_posix()
'results/boulder_example/tables/contrasts.csv'
>>> file_key("contrasts", "html")
'contrasts_html'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .outputs import (
    LOCK_FILE,
    MODEL_TABLE_NAMES,
    RESULT_TABLES,
    TABLE_FORMATS,
    VALIDATION_FILES,
    figure_stems,
    journal_table_stems,
    results_dir,
)

if TYPE_CHECKING:  # pragma: no cover
    from .config import StudyConfig

__all__ = [
    "RunLayout",
    "IngestFiles",
    "ValidationFiles",
    "file_key",
    "stamp_paths",
    "RENDERED_FORMATS",
    "JOURNAL_EXTRA_FORMATS",
    "REPORT_FIGURE_FORMAT",
    "REPORT_TABLES",
    "FIGURE_TABLES",
]

#: The workflow's file, in the project's root folder (which it marks).
WORKFLOW_FILE = "Snakefile"
#: Formats every result table is rendered in, beside its CSV.
RENDERED_FORMATS = ("md", "html", "tex")
#: The journal tables are also written for Word (prt_outcomes.render.docx).
JOURNAL_EXTRA_FORMATS = ("docx",)
#: The format the report embeds (base64, so the page stays one file).
REPORT_FIGURE_FORMAT = "png"
#: The result tables the report reads numbers from (it embeds the rendered tables).
REPORT_TABLES = (
    "flow",
    "contrasts",
    "change_contrasts",
    "lsmeans_change",
    "missingness",
    "model_info",
    "responders",
    "reliable_change",
    "sensitivity",
    "tipping_point",
)
#: The clinic-audit tables the report of an audit (study.design: audit) reads its sections from.
REPORT_AUDIT_TABLES = (
    "audit_completion",
    "audit_attrition",
    "audit_change",
    "audit_responders",
    "audit_funnel",
)
#: Result tables the report embeds as rendered (tidy tables without a journal version).
REPORT_RESULT_FRAGMENTS = ("reliable_change",)
#: The result tables the figures are drawn from.
FIGURE_TABLES = (
    "marginal_means",
    "observed_summary",
    "responders",
    "contrasts",
    "change_contrasts",
    "flow",
    "missingness",
    "audit_funnel",
    "audit_responders",
    "sensitivity",
    "tipping_point",
)
#: The content stamps: the data files' hashes and the config as each stage group reads it.
_STAMP_NAMES = ("inputs", "config_data", "config_analysis", "config_full")


def file_key(stem: str, fmt: str) -> str:
    """The name of a rendered file among a rule's inputs or outputs: ``<stem>_<format>``.

    Stems and outcome names are identifiers (the config schema's ``name`` pattern), so the key
    is a valid Python name: ``snakemake.output.outcome_pain_avg_tex``.

    >>> file_key("outcome_pain_avg", "tex")
    'outcome_pain_avg_tex'
    """
    return f"{stem}_{fmt}"


def stamp_paths(directory: str | Path) -> dict[str, Path]:
    """The content stamps (and the hash cache) that :func:`prt_outcomes.provenance.write_stamps` keeps.

    >>> sorted(stamp_paths("s"))
    ['config_analysis', 'config_data', 'config_full', 'hash_cache', 'inputs']
    """
    directory = Path(directory)
    paths = {name: directory / f"{name}.json" for name in _STAMP_NAMES}
    paths["hash_cache"] = directory / "input_hash_cache.json"
    return paths


class IngestFiles(NamedTuple):
    """What the ingest job hands to the validate job (machine files, Parquet and JSON)."""

    data: Path
    issues: Path
    meta: Path

    @classmethod
    def under(cls, directory: str | Path) -> "IngestFiles":
        """The three files in one folder (the run's ``intermediate/``).

        >>> IngestFiles.under("i").meta.as_posix()
        'i/ingest_meta.json'
        """
        directory = Path(directory)
        names = ("ingested.parquet", "ingest_issues.parquet", "ingest_meta.json")
        return cls(*(directory / name for name in names))


class ValidationFiles(NamedTuple):
    """The validation stage's files: the aggregate, id-free ones under ``validation/``, and the
    row-level ones (clean rows, quarantined rows with their ids) under ``intermediate/``."""

    summary: Path
    failures: Path
    rule_counts: Path
    filtered: Path
    report: Path
    quarantined: Path
    clean: Path


@dataclass(frozen=True)
class RunLayout:
    """Every file of one study's run under ``study_dir`` (``<results_root>/<study name>``).

    Parameters
    ----------
    config : StudyConfig
        The study: its outcomes, thresholds, arms and output settings decide which figures and
        journal tables exist.
    study_dir : Path
        The run's folder.

    Examples
    --------
    >>> from pathlib import Path
    >>> import prt_outcomes
    >>> from prt_outcomes.config import load_config
    >>> example = Path(prt_outcomes.__file__).parents[2] / "config" / "config.yaml"
    >>> layout = RunLayout.for_study(load_config(example), "results")
    >>> layout.model_table("{outcome}", "{analysis}", "contrasts").as_posix()  # as fit_model names it
    'results/boulder_example/intermediate/models/{outcome}/{analysis}/contrasts.csv'
    >>> layout.report_figure("flow").as_posix()                   # the config asks for PNG
    'results/boulder_example/figures/flow.png'
    >>> layout.log("fit_model_pain_avg").as_posix()
    'results/boulder_example/logs/fit_model_pain_avg.log'
    """

    config: "StudyConfig" = field(repr=False, compare=False)
    study_dir: Path

    @classmethod
    def for_study(cls, config: "StudyConfig", results_root: str | Path = "results") -> "RunLayout":
        """The layout of ``config``'s run under ``results_root`` (``<root>/<study name>``)."""
        return cls(config, results_dir(config, results_root))

    # ---------------------------------------------------------------------------- folders
    @property
    def intermediate(self) -> Path:
        return self.study_dir / "intermediate"

    # ---------------------------------------------------------------------------- intermediate
    @property
    def stamps(self) -> dict[str, Path]:
        """Content stamps by name (see :func:`stamp_paths`)."""
        return stamp_paths(self.intermediate / "stamps")

    @property
    def stamps_dir(self) -> Path:
        return self.intermediate / "stamps"

    @property
    def ingest(self) -> IngestFiles:
        return IngestFiles.under(self.intermediate)

    @property
    def validation(self) -> ValidationFiles:
        names = dict(zip(("summary", "failures", "rule_counts", "filtered", "report"), VALIDATION_FILES))
        return ValidationFiles(
            **{key: self.study_dir / "validation" / name for key, name in names.items()},
            quarantined=self.intermediate / "quarantined.csv",
            clean=self.intermediate / "clean.parquet",
        )

    @property
    def analysis_data(self) -> Path:
        """The analysis data between jobs (Parquet keeps every type)."""
        return self.intermediate / "analysis_data.parquet"

    @property
    def analysis_csv(self) -> Path:
        """The analysis data as CSV (read by the figures of individual trajectories)."""
        return self.intermediate / "analysis_data.csv"

    def model_table(self, outcome: str, analysis: str, name: str) -> Path:
        """One outcome's table of one named analysis (``outcome`` and ``analysis`` may be the
        workflow's ``{outcome}`` / ``{analysis}`` wildcards)."""
        return self.intermediate / "models" / outcome / analysis / f"{name}.csv"

    def model_tables(self, outcome: str, analysis: str) -> dict[str, Path]:
        """One outcome x analysis's model tables (:data:`prt_outcomes.outputs.MODEL_TABLE_NAMES`)."""
        return {name: self.model_table(outcome, analysis, name) for name in MODEL_TABLE_NAMES}

    # ---- sensitivity (issue 12): the per-job tables stacked into tables/sensitivity.csv and
    # tables/tipping_point.csv
    def sensitivity_table(self, outcome: str, strategy: str) -> Path:
        """One outcome x strategy's sensitivity table (``outcome`` / ``strategy`` may be the
        workflow's ``{outcome}`` / ``{strategy}`` wildcards)."""
        return self.intermediate / "sensitivity" / outcome / f"{strategy}.csv"

    def tipping_point_table(self, outcome: str) -> Path:
        """One outcome's tipping-point scan."""
        return self.intermediate / "sensitivity" / outcome / "tipping_point.csv"

    def report_figure(self, stem: str) -> Path:
        """The PNG of figure ``stem`` that the report embeds: the figure file itself when the
        config asks for PNG, else a copy drawn for the report only, under ``intermediate/``."""
        if REPORT_FIGURE_FORMAT in self.config.figure_formats:
            return self.figure(stem, REPORT_FIGURE_FORMAT)
        return self.intermediate / "report_figures" / f"{stem}.{REPORT_FIGURE_FORMAT}"

    @property
    def log_dir(self) -> Path:
        """The folder of the steps' logs (the CLI reads a failed step's message there)."""
        return self.study_dir / "logs"

    def log(self, step: str) -> Path:
        """The log of a workflow step (``fit_model_{outcome}_{analysis}`` for a wildcard job)."""
        return self.log_dir / f"{step}.log"

    @property
    def lock(self) -> Path:
        return self.study_dir / LOCK_FILE

    # ---------------------------------------------------------------------------- contract
    def table(self, name: str, ext: str = "csv") -> Path:
        """``tables/<name>.<ext>``: a result table, a journal table or one of their renderings."""
        return self.study_dir / "tables" / f"{name}.{ext}"

    def figure(self, stem: str, ext: str) -> Path:
        return self.study_dir / "figures" / f"{stem}.{ext}"

    @property
    def manifest(self) -> Path:
        return self.study_dir / "manifest.json"

    @property
    def report(self) -> Path:
        return self.study_dir / "report.html"

    @property
    def report_docx(self) -> Path:
        """The report as one Word document (the sections of :attr:`report`)."""
        return self.study_dir / "report.docx"

    def result_tables(self) -> dict[str, Path]:
        """The tidy result tables' CSVs by name, in the registry's order."""
        return {name: self.table(name) for name in RESULT_TABLES}

    def describe_tables(self) -> dict[str, Path]:
        """The result tables the describe stage writes, by name."""
        from .outputs import RESULT_TABLE_REGISTRY

        return {t.name: self.table(t.name) for t in RESULT_TABLE_REGISTRY.values() if t.stage == "describe"}

    def journal_tables(self) -> dict[str, dict[str, Path]]:
        """The journal tables by stem, each ``{format: path}``; the per-outcome ones have a CSV
        too, because each combines several result tables; every one has a Word version."""
        return {
            stem: {
                fmt: self.table(stem, fmt)
                for fmt in (
                    *(TABLE_FORMATS if stem.startswith("outcome_") else RENDERED_FORMATS),
                    *JOURNAL_EXTRA_FORMATS,
                )
            }
            for stem in journal_table_stems(self.config)
        }

    def rendered_tables(self) -> dict[str, Path]:
        """Every file the table renderer writes, by :func:`file_key`: each result table as
        Markdown, HTML and LaTeX, then the journal tables."""
        files = {file_key(n, fmt): self.table(n, fmt) for n in RESULT_TABLES for fmt in RENDERED_FORMATS}
        for stem, paths in self.journal_tables().items():
            files.update({file_key(stem, fmt): path for fmt, path in paths.items()})
        return files

    def figures(self) -> dict[str, Path]:
        """Every figure file of the contract, by :func:`file_key` (stems as
        :func:`prt_outcomes.outputs.figure_stems`, formats as the config's)."""
        return {
            file_key(stem, fmt): self.figure(stem, fmt)
            for stem in figure_stems(self.config)
            for fmt in self.config.figure_formats
        }

    def report_figures(self) -> dict[str, Path]:
        """The PNG of every figure the report embeds, by stem (see :meth:`report_figure`)."""
        return {stem: self.report_figure(stem) for stem in figure_stems(self.config)}

    def figure_inputs(self) -> dict[str, Path]:
        """The files the figure renderer reads, by name: the tables of :data:`FIGURE_TABLES`,
        and the analysis data when the config asks for individual trajectories or has responder
        curves."""
        from .outputs import responder_curve_outcomes

        files = {name: self.table(name) for name in FIGURE_TABLES}
        # individual trajectories and responder curves are drawn from participant-level data
        if self.config.individual_trajectories or responder_curve_outcomes(self.config):
            files["analysis_data"] = self.analysis_csv
        return files

    def figure_outputs(self) -> dict[str, Path]:
        """Everything the figure renderer writes, by key: the contract's figures, plus the
        report's PNG copies (key ``<stem>_report``) when the config asks for no PNG."""
        files = self.figures()
        for stem, path in self.report_figures().items():
            if path not in files.values():
                files[f"{stem}_report"] = path
        return files

    def report_fragments(self) -> dict[str, Path]:
        """The HTML table fragments the report embeds, by stem (the journal tables', and the
        result tables of :data:`REPORT_RESULT_FRAGMENTS`)."""
        fragments = {stem: paths["html"] for stem, paths in self.journal_tables().items()}
        fragments.update({name: self.table(name, "html") for name in REPORT_RESULT_FRAGMENTS})
        return fragments

    def report_inputs(self) -> dict[str, Path]:
        """Every file the report reads, by name: the result tables it takes numbers from (study
        summary, flow, which outcomes were fitted, which sections have rows), the validation
        files, the manifest, the two row-level files that say which participant ids must never
        appear, then the table fragments (``<stem>_html``) and the PNGs (``<stem>_png``) that
        the renderers wrote."""
        validation = self.validation
        files = {name: self.table(name) for name in (*REPORT_TABLES, *REPORT_AUDIT_TABLES)}
        files.update(
            validation_summary=validation.summary,
            validation_failures=validation.failures,
            validation_rule_counts=validation.rule_counts,
            manifest=self.manifest,
            analysis_data=self.analysis_csv,
            ingested=self.ingest.data,
        )
        files.update({file_key(stem, "html"): path for stem, path in self.report_fragments().items()})
        files.update(
            {file_key(stem, REPORT_FIGURE_FORMAT): path for stem, path in self.report_figures().items()}
        )
        return files

    def contract(self) -> list[Path]:
        """Every file of the output contract (what ``rule all`` asks for), in a fixed order."""
        paths = list(self.validation)[:5]
        paths += [self.table(t, ext) for t in RESULT_TABLES for ext in TABLE_FORMATS]
        for paths_of_stem in self.journal_tables().values():
            paths += [
                paths_of_stem[fmt] for fmt in (*TABLE_FORMATS, *JOURNAL_EXTRA_FORMATS) if fmt in paths_of_stem
            ]
        paths += list(self.figures().values())
        paths += [self.report, self.report_docx, self.manifest]
        return paths
