"""The files one run writes under ``results/<study>/``: the output contract in one place.

The Snakefile asks for these paths, the tests check them, and the README documents them. Change a
name here, deliberately, and in the README together.

Examples
--------
>>> from prt_outcomes.outputs import RESULT_TABLES
>>> "contrasts" in RESULT_TABLES
True
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import StudyConfig
from .errors import OutputError

__all__ = [
    "RESULT_TABLE_REGISTRY",
    "MODEL_TABLE_NAMES",
    "ResultTable",
    "RESULT_TABLES",
    "TABLE_FORMATS",
    "VALIDATION_FILES",
    "results_dir",
    "table_path",
    "figure_stems",
    "audit_funnel_stems",
    "audit_run_chart_stems",
    "journal_table_stems",
    "journal_table_files",
    "write_csv",
    "expected_outputs",
    "LOCK_FILE",
    "results_lock",
]


@dataclass(frozen=True)
class ResultTable:
    """One row of :data:`RESULT_TABLE_REGISTRY`: a tidy result table of a run.

    Attributes
    ----------
    name : str
        File stem: ``tables/<name>.csv`` (and ``.md``, ``.html``, ``.tex``).
    stage : str
        The workflow stage that writes it (``describe`` or ``analyse``).
    title : str
        Caption of the rendered table and of the report.
    columns_from : str
        ``"module:ATTRIBUTE"`` of the producer's column list, the one place the columns are
        written; read it with :meth:`columns`.
    """

    name: str
    stage: str
    title: str
    columns_from: str

    def columns(self) -> tuple[str, ...]:
        """The table's columns, read from its producer (imported on demand: producers are heavy).

        >>> RESULT_TABLE_REGISTRY["flow"].columns()
        ('arm', 'visit', 'randomized', 'assessed', 'analysed')
        """
        module, attribute = self.columns_from.split(":")
        return tuple(getattr(importlib.import_module(module), attribute))


#: The tidy result tables (CSV, each also rendered as Markdown, HTML and LaTeX), in the order
#: the report and the README list them: the one table that :data:`RESULT_TABLES`, the workflow's
#: file lists, the report's captions and the per-outcome model tables derive from, and that the
#: README's output table is checked against (tests/test_registries.py).
RESULT_TABLE_REGISTRY: dict[str, ResultTable] = {
    table.name: table
    for table in (
        ResultTable(
            "flow", "describe", "Participant flow per arm and visit", "prt_outcomes.describe:FLOW_COLUMNS"
        ),
        ResultTable(
            "baseline",
            "describe",
            "Baseline characteristics by arm (tidy)",
            "prt_outcomes.describe:BASELINE_COLUMNS",
        ),
        ResultTable(
            "observed_summary",
            "describe",
            "Observed outcomes per arm and visit, and change from baseline",
            "prt_outcomes.describe:OBSERVED_COLUMNS",
        ),
        ResultTable(
            "missingness",
            "describe",
            "Missing outcome values per arm and visit",
            "prt_outcomes.describe:MISSINGNESS_COLUMNS",
        ),
        ResultTable(
            "marginal_means",
            "analyse",
            "Model-estimated means per arm and visit (95% CI)",
            "prt_outcomes.analyse.outcomes:MARGINAL_MEANS_COLUMNS",
        ),
        ResultTable(
            "contrasts",
            "analyse",
            "Differences between arms per visit (arm minus reference, 95% CI)",
            "prt_outcomes.analyse.outcomes:CONTRAST_COLUMNS",
        ),
        ResultTable(
            "change_contrasts",
            "analyse",
            "Differences between arms in change from baseline (95% CI)",
            "prt_outcomes.analyse.outcomes:CONTRAST_COLUMNS",
        ),
        ResultTable(
            "lsmeans_change",
            "analyse",
            "Model-based (LS) mean change from baseline per visit and arm, and differences (MMRMT01)",
            "prt_outcomes.analyse.outcomes:LSMEANS_CHANGE_COLUMNS",
        ),
        ResultTable(
            "model_info",
            "analyse",
            "Trial models: formula, covariance structure, fit and warnings",
            "prt_outcomes.analyse.outcomes:MODEL_INFO_COLUMNS",
        ),
        ResultTable(
            "responders",
            "analyse",
            "Responder analyses per threshold, visit and arm",
            "prt_outcomes.analyse.responders:RESPONDER_COLUMNS",
        ),
        ResultTable(
            "reliable_change",
            "analyse",
            "Reliable change (Jacobson-Truax) per outcome, follow-up visit and arm",
            "prt_outcomes.analyse.reliable_change:RELIABLE_CHANGE_COLUMNS",
        ),
        # ---- sensitivity (issue 12)
        ResultTable(
            "sensitivity",
            "analyse",
            "Sensitivity to missing data: estimates per strategy, visit and arm",
            "prt_outcomes.analyse.sensitivity:SENSITIVITY_COLUMNS",
        ),
        ResultTable(
            "tipping_point",
            "analyse",
            "Tipping point: the difference per visit as the imputed values are shifted by delta",
            "prt_outcomes.analyse.sensitivity:TIPPING_POINT_COLUMNS",
        ),
    )
}
# Clinic-audit tables (study.design: audit; empty with their columns for a trial), written by
# the workflow's audit rule with the privacy: settings' disclosure control applied.
RESULT_TABLE_REGISTRY.update(
    {
        table.name: table
        for table in (
            ResultTable(
                "audit_completion",
                "analyse",
                "Audit: patients followed up per follow-up visit (eligible, assessed, 95% CI)",
                "prt_outcomes.analyse.audit:AUDIT_COMPLETION_COLUMNS",
            ),
            ResultTable(
                "audit_attrition",
                "analyse",
                "Audit: baseline characteristics of the patients followed up and lost",
                "prt_outcomes.analyse.audit:AUDIT_ATTRITION_COLUMNS",
            ),
            ResultTable(
                "audit_change",
                "analyse",
                "Audit: change from the first visit of the patients followed up (95% CI)",
                "prt_outcomes.analyse.audit:AUDIT_CHANGE_COLUMNS",
            ),
            ResultTable(
                "audit_responders",
                "analyse",
                "Audit: responders per threshold, on the observed and eligible denominators",
                "prt_outcomes.analyse.audit:AUDIT_RESPONDER_COLUMNS",
            ),
            ResultTable(
                "audit_funnel",
                "analyse",
                "Audit: units compared on funnel plots (95% and 99.8% limits)",
                "prt_outcomes.analyse.audit:AUDIT_FUNNEL_COLUMNS",
            ),
        )
    }
)
#: Tidy result tables (CSV), each also rendered as Markdown, HTML and LaTeX.
RESULT_TABLES = tuple(RESULT_TABLE_REGISTRY)
#: The tables every outcome x analysis job writes (``analyse.outcomes.MODEL_TABLES`` gives their
#: columns; tests/test_registries.py pins the two), stacked into the contract's tables.
MODEL_TABLE_NAMES = ("marginal_means", "contrasts", "change_contrasts", "lsmeans_change", "model_info")
TABLE_FORMATS = ("csv", "md", "html", "tex")
VALIDATION_FILES = ("summary.csv", "failures.csv", "rule_counts.csv", "filtered.csv", "report.md")
#: Held (``flock``) by the run writing ``results/<study>/``; not part of the output contract.
LOCK_FILE = ".prt-outcomes.lock"


def results_dir(config: StudyConfig, root: str | Path = "results") -> Path:
    """``<root>/<study name>``."""
    return Path(root) / config.name


def table_path(config: StudyConfig, name: str, ext: str = "csv", root: str | Path = "results") -> Path:
    """``tables/<name>.<ext>`` of ``config``'s run (named by :class:`prt_outcomes.layout.RunLayout`)."""
    from .layout import RunLayout

    return RunLayout.for_study(config, root).table(name, ext)


def estimand_table(config: StudyConfig, outcome: str) -> str:
    """The result table holding the primary analysis's estimand for ``outcome``.

    ``contrasts`` (the baseline-adjusted differences) when the outcome's primary analysis has
    the baseline as a covariate (ANCOVA, cLDA, ``models.baseline_adjusted``), otherwise
    ``change_contrasts`` (the differences in change from baseline). The report's lead table,
    the outcome journal table and the forest plot read it from here.

    >>> from prt_outcomes.config import load_config                       # doctest: +SKIP
    >>> estimand_table(load_config("config/config.yaml"), "pain_avg")     # doctest: +SKIP
    'change_contrasts'
    """
    analyses = config.analyses_of(outcome)
    return "contrasts" if analyses and analyses[0].model.baseline_adjusted else "change_contrasts"


def figure_stems(config: StudyConfig) -> list[str]:
    """Figure file names without extension."""
    stems = []
    for outcome in config.outcome_names:
        stems += [f"trajectory_{outcome}", f"change_{outcome}"]
    if config.thresholds:
        stems.append("responders")
    # responder curves: outcomes named by a "percent_reduction >= X" threshold rule
    stems += [f"responder_curve_{outcome}" for outcome in responder_curve_outcomes(config)]
    if len(config.arms) > 1:
        stems.append("forest")
    stems += ["flow", "missingness"]
    if config.individual_trajectories:
        stems += [f"individual_{outcome}" for outcome in config.outcome_names]
    stems += list(audit_funnel_stems(config))
    stems += list(audit_run_chart_stems(config))
    if config.is_audit and config.audit.benchmarks:
        stems.append("audit_benchmarks")
    # ---- sensitivity (issue 12): a forest of strategies and a tipping-point figure per outcome
    if config.sensitivity is not None:
        stems += [f"sensitivity_{outcome}" for outcome in config.sensitivity.outcomes]
        if config.sensitivity.tipping_deltas:
            stems += [f"tipping_point_{outcome}" for outcome in config.sensitivity.outcomes]
    return stems


def audit_run_chart_stems(config: StudyConfig) -> dict[str, tuple[str, str]]:
    """The run charts of a clinic audit: stem -> (period grouping's name, funnel measure).

    One per ``audit.groups`` entry that cuts the date column into periods (``{column: date,
    period: quarter}``) and per funnel measure: the units of the funnel table in time order
    (a p-chart for a rate). None for a trial or an audit without period groupings.

    >>> from prt_outcomes.config import StudyConfig
    >>> cfg = StudyConfig.from_dict({"study": {"name": "a", "design": "audit"},
    ...     "data": {"files": [{"path": "x.csv"}]}, "arms": {"levels": [{"name": "c"}]},
    ...     "visits": [{"name": "v0", "baseline": True}, {"name": "v1"}],
    ...     "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}],
    ...     "audit": {"groups": [{"column": "date", "period": "quarter"}],
    ...               "funnel": {"measures": ["completion"]}}})
    >>> list(audit_run_chart_stems(cfg))
    ['run_chart_date_quarter_completion']
    """
    return {
        stem.replace("funnel_", "run_chart_", 1): (group, measure)
        for stem, (group, measure) in audit_funnel_stems(config).items()
        if any(g.name == group and g.period for g in config.audit.groups)
    }


def responder_curve_outcomes(config: StudyConfig) -> dict[str, list[float]]:
    """The outcomes that get a responder curve (``responder_curve_<outcome>``), in the config's
    outcome order, each with the ``X`` of its ``percent_reduction >= X`` threshold rules
    (:func:`prt_outcomes.thresholds.percent_reduction_cutoff`), which the curve marks."""
    from .thresholds import percent_reduction_cutoff

    cutoffs: dict[str, list[float]] = {}
    for t in config.thresholds:
        x = percent_reduction_cutoff(t.rule)
        if x is not None:
            for o in t.outcomes:
                cutoffs.setdefault(o, []).append(x)
    return {o: sorted(cutoffs[o]) for o in config.outcome_names if o in cutoffs}


def audit_funnel_stems(config: StudyConfig) -> dict[str, tuple[str, str]]:
    """The funnel plots of a clinic audit: stem -> (``audit.groups`` name, funnel measure).

    One per grouping and measure, of the primary outcome at the last follow-up visit (the
    attrition table's follow-up); none for a trial or an audit without groups.

    >>> from prt_outcomes.config import StudyConfig
    >>> cfg = StudyConfig.from_dict({"study": {"name": "a", "design": "audit"},
    ...     "data": {"files": [{"path": "x.csv"}]}, "arms": {"levels": [{"name": "c"}]},
    ...     "visits": [{"name": "v0", "baseline": True}, {"name": "v1"}],
    ...     "covariates": [{"name": "site", "type": "categorical"}],
    ...     "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}],
    ...     "audit": {"groups": ["site"], "funnel": {"measures": ["completion", "percent_reduction >= 30"]}}})
    >>> list(audit_funnel_stems(cfg))
    ['funnel_site_completion', 'funnel_site_percent_reduction_30']
    """
    if not config.is_audit or not config.audit.groups:
        return {}
    import re

    out = {}
    for group in config.audit.groups:
        for measure in config.audit.funnel_measures:
            slug = re.sub(r"[^a-z0-9]+", "_", measure.lower()).strip("_")
            out[f"funnel_{group.name}_{slug}"] = (group.name, measure)
    return out


def journal_table_stems(config: StudyConfig) -> list[str]:
    """Journal-style tables rendered from the tidy ones."""
    stems = [f"outcome_{o}" for o in config.outcome_names] + ["baseline_table"]
    if config.thresholds:
        stems.append("responder_table")
    return stems


def journal_table_files(config: StudyConfig) -> list[str]:
    """File names of the journal tables under ``tables/``.

    The per-outcome tables also have a CSV, because each combines several result tables; every
    one has a Word version (``.docx``).
    """
    return [
        f"{stem}.{ext}"
        for stem in journal_table_stems(config)
        for ext in (*(TABLE_FORMATS if stem.startswith("outcome_") else ("md", "html", "tex")), "docx")
    ]


def expected_outputs(config: StudyConfig, root: str | Path = "results") -> list[Path]:
    """Every file of the output contract for ``config`` (what ``rule all`` asks for).

    The paths are named by :class:`prt_outcomes.layout.RunLayout`, the one namer of a run's files.
    """
    from .layout import RunLayout

    return RunLayout.for_study(config, root).contract()


def write_csv(frame, path: str | Path) -> Path:
    """Write a table as CSV, the same bytes on every rerun, with no cell a spreadsheet runs.

    Every CSV of a run goes through here (result and journal tables, validation files,
    intermediate files). Floats are written with 10 significant digits: more than any estimate
    is worth, and few enough that last-bit differences of floating-point arithmetic never reach
    the file. Header and text cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return get a leading single quote (OWASP's rule against CSV injection, see
    :func:`prt_outcomes.render.tables.neutralise_formula`); numeric columns, and numbers written as
    text such as ``"-1.5"``, stay numbers; a lone carriage return in a cell is written as a line
    feed, inside the quoted cell (:func:`prt_outcomes.render.tables.csv_safe_frame`). A full disk or a
    read-only folder raises :class:`~prt_outcomes.errors.OutputError` naming the file, and the
    partial file is removed.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> path = write_csv(pd.DataFrame({"arm": ["=1+1"], "estimate": [-0.5]}),
    ...                  pathlib.Path(tempfile.mkdtemp()) / "t.csv")
    >>> path.read_text().splitlines()
    ['arm,estimate', "'=1+1,-0.5"]
    """
    from .files import csv_safe_frame, output_file

    path = Path(path)
    safe = csv_safe_frame(frame)
    with output_file(path):
        safe.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
    return path


@contextmanager
def results_lock(study_dir: str | Path, holder: str = "") -> Iterator[Path]:
    """Hold an exclusive lock on ``study_dir`` for one run; refuse when another run holds it.

    Snakemake locks its own working directory only, so two project folders (or the workflow and
    an in-process :func:`prt_outcomes.run`) writing the same results folder would mix their files.
    The lock is an ``flock`` on ``<study_dir>/.prt-outcomes.lock``: the system drops it when the
    holding process ends, however it ends, so a crash never leaves a stale lock.

    Raises
    ------
    OutputError
        When another run holds the lock.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with results_lock(folder):
    ...     try:
    ...         with results_lock(folder):
    ...             pass
    ...     except OutputError as exc:
    ...         print(str(exc)[:36])
    another run is writing the results f
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, as before
        yield Path(study_dir)
        return
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    path = study_dir / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip()
            raise OutputError(
                f"another run is writing the results folder {str(study_dir)!r} right now"
                + (f" ({who})" if who else "")
                + ". Wait for it to finish, or write this run's results elsewhere with "
                "prt-outcomes run --results DIR."
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}" + (f", {holder}" if holder else "") + "\n")
            handle.flush()
            yield path
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
