"""Typed study configuration, read from YAML and validated against a JSON schema.

The schema file (``prt_outcomes/data/config.schema.yaml``, JSON Schema 2020-12, linked from
``workflow/schemas/``) is checked with :mod:`jsonschema`, so the package never needs Snakemake.
Relative paths inside a config (its data files) are resolved against the directory holding the
config file.

Examples
--------
>>> from prt_outcomes.config import load_config
>>> cfg = load_config("config/config.yaml")            # doctest: +SKIP
>>> cfg.arm_names, cfg.reference_arm                    # doctest: +SKIP
(('prt', 'placebo', 'usual_care'), 'usual_care')
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from .errors import PrtOutcomesError
from .instruments import Instrument, get_instrument, instrument_from_dict

__all__ = [
    "ConfigError",
    "Arm",
    "Visit",
    "Covariate",
    "Outcome",
    "Threshold",
    "DataFile",
    "ModelSettings",
    "AuditGroup",
    "AuditSettings",
    "PrivacySettings",
    "AUDIT_DESIGNS",
    "StudyConfig",
    "load_config",
    "config_schema",
    "schema_defaults",
]

SUBJECT, ARM, VISIT = "participant_id", "arm", "visit"
SOURCE_FILE, SOURCE_ROW = "source_file", "source_row"
DATE = "date"  # optional assessment date, checked to increase over visits
#: Column names the pipeline itself uses: an outcome or covariate may not take one of them.
RESERVED_COLUMNS = (SUBJECT, ARM, VISIT, SOURCE_FILE, SOURCE_ROW, DATE)


class ConfigError(PrtOutcomesError):
    """The study configuration is invalid; the message says which key and what to do."""


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    codes: tuple = ()


@dataclass(frozen=True)
class Visit:
    name: str
    label: str
    order: int
    day: float | None = None
    baseline: bool = False
    codes: tuple = ()
    #: ``(start, end, target)`` in days since the first visit (``visits[].window``), or None
    window: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Covariate:
    name: str
    type: str  # "numeric" | "categorical"
    label: str
    min: float | None = None
    max: float | None = None
    levels: tuple[str, ...] = ()
    codes: Mapping[str, str] = field(default_factory=dict)
    required: bool = True
    #: level -> label shown in tables (``levels:`` given as a mapping); a level without one is
    #: shown as written
    level_labels: Mapping[str, str] = field(default_factory=dict)

    def level_label(self, level: str) -> str:
        """The label of a level: the config's (``levels: {code: label}``), else the level."""
        return self.level_labels.get(str(level), str(level))


@dataclass(frozen=True)
class ReliableChangeSettings:
    """An outcome's ``reliable_change:`` entry, resolved against its instrument.

    ``reliability`` and the functional population's ``normative_mean`` / ``normative_sd`` are
    the config's values (then ``source`` says where they come from) or the catalogue entry's;
    ``cutoff`` and ``critical_value`` default to the schema's defaults (the cut-off ``a``, two
    SD beyond the baseline mean, needs no population norms).
    """

    reliability: float
    source: str
    cutoff: str
    critical_value: float
    normative_mean: float | None = None
    normative_sd: float | None = None


@dataclass(frozen=True)
class Outcome:
    """An analysed outcome; range and direction resolved from its instrument and overrides."""

    name: str
    label: str
    instrument: Instrument
    primary: bool = False
    reliable_change: ReliableChangeSettings | None = None

    @property
    def min(self) -> float:
        return self.instrument.min

    @property
    def max(self) -> float:
        return self.instrument.max

    @property
    def step(self) -> float | None:
        return self.instrument.step

    @property
    def higher_is_better(self) -> bool:
        return self.instrument.higher_is_better

    @property
    def axis_label(self) -> str:
        """The label with the instrument's range, once: a label that already names it
        ("Pain NRS (0-10)") is not given it again."""
        span = f"({self.min:g}-{self.max:g})"
        named = {span, span.replace("-", "\u2013"), span.replace("-", " to ")}
        return self.label if any(s in self.label for s in named) else f"{self.label} {span}"


@dataclass(frozen=True)
class Threshold:
    rule: str
    label: str
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class DataFile:
    path: str
    layout: str = "long"
    format: str | None = None
    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    wide_pattern: str | None = None
    visit_codes: Mapping[str, str] = field(default_factory=dict)
    filter: Mapping[str, Any] = field(default_factory=dict)


def config_schema() -> dict:
    """The JSON schema of the study configuration, as a dict."""
    text = resources.files("prt_outcomes").joinpath("data/config.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's ``default`` of every key of a top-level ``section`` that declares one.

    The schema is the one place a default is written; :class:`ModelSettings` takes its defaults
    from here, and tests/test_registries.py checks ``fit_trial_model``'s keyword defaults
    against them.

    >>> schema_defaults("models")["covariance"]
    'unstructured'
    """
    properties = config_schema()["properties"][section]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}


_MODEL_DEFAULTS = schema_defaults("models")


@dataclass(frozen=True)
class ModelSettings:
    """The ``models:`` section; every default is the schema's (see :func:`schema_defaults`).

    >>> ModelSettings().covariance, ModelSettings().method, ModelSettings().df_method
    ('unstructured', 'reml', 'satterthwaite')
    """

    covariance: str = _MODEL_DEFAULTS["covariance"]
    covariates: tuple[str, ...] = ()
    method: str = _MODEL_DEFAULTS["method"]
    df_method: str = _MODEL_DEFAULTS["df_method"]
    vcov: str = _MODEL_DEFAULTS["vcov"]
    baseline_adjusted: bool = _MODEL_DEFAULTS["baseline_adjusted"]
    effect_size_standardizer: str = _MODEL_DEFAULTS["effect_size_standardizer"]
    visits: tuple[str, ...] = ()  # visits the model analyses (models.visits); empty: every visit


#: The ``study.design`` values that mean a clinic audit; ``single_arm`` is the older name, kept
#: as an alias (the config reads it as ``audit``).
AUDIT_DESIGNS = ("audit", "single_arm")
#: Periods an ``audit.groups`` entry can cut the date column into.
AUDIT_PERIODS = ("month", "quarter", "year")


@dataclass(frozen=True)
class AuditGroup:
    """One entry of ``audit.groups``: a column whose values are the units compared.

    ``name`` is the column of the audit tables' ``group`` labels (``site``, or ``date_quarter``
    for the quarters of the date column); ``period`` is None for a plain column.

    >>> AuditGroup("date", "quarter").name
    'date_quarter'
    """

    column: str
    period: str | None = None

    @property
    def name(self) -> str:
        return self.column if self.period is None else f"{self.column}_{self.period}"


@dataclass(frozen=True)
class AuditSettings:
    """The ``audit:`` section (config/README.md, 'Clinic audit'); defaults are the schema's.

    >>> AuditSettings().effect_size_sd, AuditSettings().funnel_adjustment
    ('baseline_sd', None)
    """

    groups: tuple[AuditGroup, ...] = ()
    effect_size_sd: str = "baseline_sd"
    funnel_measures: tuple[str, ...] = ("completion", "mean_change")
    funnel_adjustment: str | None = None  # None | "multiplicative" | "additive"
    case_mix: tuple[str, ...] = ()
    benchmarks: bool = False
    attrition: tuple[str, ...] | None = None  # None: every covariate


@dataclass(frozen=True)
class PrivacySettings:
    """The ``privacy:`` section: counts 1 .. ``min_cell - 1`` are never published.

    >>> PrivacySettings().min_cell, PrivacySettings().round_to
    (5, None)
    """

    min_cell: int = 5
    round_to: int | None = None


#: The keys of an ``analyses:`` entry that override the ``models:`` settings.
ANALYSIS_OVERRIDES = (
    "covariance",
    "covariates",
    "method",
    "df_method",
    "vcov",
    "baseline_adjusted",
    "visits",
    "effect_size_standardizer",
)
#: The name of the one analysis of a config without ``analyses:`` (the ``models:`` settings).
PRIMARY_ANALYSIS = "primary"


@dataclass(frozen=True)
class AnalysisSettings:
    """One entry of ``analyses:``: a named analysis of the outcomes (config/README.md).

    ``model`` holds the ``models:`` settings with the entry's overrides applied; for ``kind``
    ``ancova`` its ``visits`` is ``(visit,)`` and ``baseline_adjusted`` is true. ``outcomes``
    empty means every outcome. The kinds are
    :data:`prt_outcomes.analyse.kinds.ANALYSIS_KINDS`.

    >>> AnalysisSettings("primary", "mmrm", ModelSettings()).applies_to("pain")
    True
    """

    name: str
    kind: str
    model: ModelSettings
    visit: str | None = None
    formula: str | None = None
    outcomes: tuple[str, ...] = ()

    def applies_to(self, outcome: str) -> bool:
        return not self.outcomes or outcome in self.outcomes


@dataclass(frozen=True)
class StudyConfig:
    """Everything the pipeline needs to know about one study.

    Build it with :func:`load_config` (from YAML) or :meth:`from_dict`.
    ``raw`` keeps the validated mapping (with defaults filled in) for the manifest.
    """

    name: str
    title: str
    design: str
    seed: int | None
    files: tuple[DataFile, ...]
    missing_codes: tuple
    allow_identifiers: tuple[str, ...]
    column_map: Mapping[str, str]
    arms: tuple[Arm, ...]
    reference_arm: str | None
    visits: tuple[Visit, ...]
    covariates: tuple[Covariate, ...]
    outcomes: tuple[Outcome, ...]
    thresholds: tuple[Threshold, ...]
    responder_denominator: str
    model: ModelSettings
    validation_mode: str
    baseline_required: str
    figure_formats: tuple[str, ...]
    dpi: int
    individual_trajectories: bool
    custom_instruments: Mapping[str, Instrument]
    base_dir: Path
    raw: Mapping[str, Any]
    # the named analyses (analyses:), the primary first; one from models: when none are given
    analyses: tuple[AnalysisSettings, ...] = ()
    # the audit: and privacy: sections (audit is None unless the design is an audit)
    audit: AuditSettings | None = None
    privacy: PrivacySettings = PrivacySettings()

    @property
    def is_audit(self) -> bool:
        """True for a clinic audit (``study.design: audit`` or its alias ``single_arm``)."""
        return self.design == "audit"

    # the missing-data sensitivity analyses (sensitivity:); None when the section is absent
    sensitivity: "SensitivitySettings | None" = None

    # ----- convenient views -------------------------------------------------
    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def arm_labels(self) -> dict[str, str]:
        return {a.name: a.label for a in self.arms}

    @property
    def visit_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.visits)

    @property
    def visit_labels(self) -> dict[str, str]:
        return {v.name: v.label for v in self.visits}

    @property
    def visit_days(self) -> dict[str, float]:
        return {v.name: (v.day if v.day is not None else float(v.order)) for v in self.visits}

    @property
    def baseline_visit(self) -> str | None:
        for v in self.visits:
            if v.baseline:
                return v.name
        return None

    @property
    def outcome_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outcomes)

    @property
    def analysis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.all_analyses)

    @property
    def all_analyses(self) -> tuple[AnalysisSettings, ...]:
        """The named analyses, primary first (the ``models:`` settings when none are configured)."""
        return self.analyses or (AnalysisSettings(PRIMARY_ANALYSIS, "mmrm", self.model),)

    @property
    def primary_analysis(self) -> AnalysisSettings:
        return self.all_analyses[0]

    def analysis(self, name: str) -> AnalysisSettings:
        for a in self.all_analyses:
            if a.name == name:
                return a
        raise KeyError(f"no analysis named {name!r}; the config's analyses are {list(self.analysis_names)}")

    def analyses_of(self, outcome: str) -> tuple[AnalysisSettings, ...]:
        """The analyses that apply to ``outcome`` (``analyses[].outcomes``), primary first."""
        return tuple(a for a in self.all_analyses if a.applies_to(outcome))

    def outcome_analyses(self) -> list[tuple[str, str]]:
        """Every (outcome, analysis) pair the workflow fits: one ``fit_model`` job each."""
        return [(o, a.name) for o in self.outcome_names for a in self.analyses_of(o)]

    def outcome(self, name: str) -> Outcome:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(f"outcome {name!r} is not in the config; outcomes: {self.outcome_names}")

    def covariate(self, name: str) -> Covariate:
        for c in self.covariates:
            if c.name == name:
                return c
        raise KeyError(f"covariate {name!r} is not in the config")

    def data_paths(self) -> list[Path]:
        """Data file paths, resolved against the directory the config was read from."""
        return [resolve_path(self.base_dir, f.path) for f in self.files]

    # ----- construction -----------------------------------------------------
    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], *, base_dir: str | Path = ".") -> "StudyConfig":
        """Validate ``mapping`` against the schema and build the typed config."""
        raw = copy.deepcopy(dict(mapping))
        _validate_schema(raw)
        return _build(raw, Path(base_dir))


def resolve_path(base_dir: Path, path: str | Path) -> Path:
    """``path`` itself when absolute, else ``base_dir / path`` with ``..`` folded away.

    >>> resolve_path(Path("/study/config"), "../data/x.csv").as_posix()
    '/study/data/x.csv'
    """
    p = Path(path)
    return p if p.is_absolute() else Path(os.path.normpath(Path(base_dir) / p))


#: A whole number written with a decimal part of zeros (``"1.0"``, ``"-2.00"``): read as the
#: whole number when codes are compared (``\1`` is the number without the zeros).
WHOLE_NUMBER_WITH_ZEROS = r"^(-?\d+)\.0+$"


def normalise_code(value) -> str:
    """A data value as the readers compare it: stripped, case-blind, ``"1.0"`` equal to ``"1"``.

    >>> normalise_code(" Usual Care "), normalise_code(1.0), normalise_code("-2.00")
    ('usual care', '1', '-2')
    """
    text = str(value).strip().lower()
    return re.sub(WHOLE_NUMBER_WITH_ZEROS, r"\1", text)


def _validate_schema(raw: dict) -> None:
    schema = config_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = _extend_with_defaults(validator_cls)(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors[:10]:
            where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
            hint = err.schema.get("description") if isinstance(err.schema, dict) else None
            lines.append(f"  - at '{where}': {err.message}" + (f" ({hint})" if hint else ""))
        raise ConfigError(
            "the study configuration does not match the schema "
            "(see config/README.md for every key):\n" + "\n".join(lines)
        )


def _extend_with_defaults(validator_cls):
    """Fill schema defaults into the mapping while validating (as snakemake.utils.validate does)."""
    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _build(raw: dict, base_dir: Path) -> StudyConfig:
    study = raw["study"]
    custom = {name: instrument_from_dict(name, spec) for name, spec in (raw.get("instruments") or {}).items()}

    arms_raw = raw["arms"]
    arms = tuple(
        Arm(name=a["name"], label=a.get("label", a["name"]), codes=tuple(a.get("codes", ())))
        for a in arms_raw["levels"]
    )
    arm_names = [a.name for a in arms]
    _unique(arm_names, "arms.levels")
    _unambiguous_codes("arms.levels", "arm", ((a.name, a.label, a.codes) for a in arms))
    reference = arms_raw.get("reference")
    if reference is not None and reference not in arm_names:
        raise ConfigError(
            f"arms.reference is {reference!r}, which is not one of the arms {arm_names}; "
            "set it to one of them."
        )
    if reference is None and len(arms) > 1:
        reference = arm_names[-1]

    visits = tuple(
        Visit(
            name=v["name"],
            label=v.get("label", v["name"]),
            order=i,
            day=v.get("day"),
            baseline=bool(v.get("baseline", False)),
            codes=tuple(v.get("codes", ())),
            window=_window(v),
        )
        for i, v in enumerate(raw["visits"])
    )
    _unique([v.name for v in visits], "visits")
    _unambiguous_codes("visits", "visit", ((v.name, v.label, v.codes) for v in visits))
    if sum(v.baseline for v in visits) > 1:
        raise ConfigError("more than one visit has 'baseline: true'; mark exactly one.")
    _check_visit_days(visits)

    covariates = tuple(
        Covariate(
            name=c["name"],
            type=c["type"],
            label=c.get("label", c["name"]),
            min=c.get("min"),
            max=c.get("max"),
            levels=tuple(str(k) for k in (c.get("levels") or ())),
            level_labels={str(k): str(v) for k, v in c["levels"].items()}
            if isinstance(c.get("levels"), Mapping)
            else {},
            codes={str(k): str(v) for k, v in (c.get("codes") or {}).items()},
            required=bool(c.get("required", True)),
        )
        for c in raw.get("covariates") or []
    )
    _unique([c.name for c in covariates], "covariates")
    for c in covariates:
        _unambiguous_levels(c)

    outcomes = []
    for o in raw["outcomes"]:
        if "instrument" in o:
            try:
                inst = get_instrument(o["instrument"], custom)
            except KeyError as exc:
                raise ConfigError(f"outcomes/{o['name']}: {exc.args[0]}") from None
        else:
            missing = [k for k in ("min", "max", "higher_is_better") if k not in o]
            if missing:
                raise ConfigError(
                    f"outcome {o['name']!r} names no instrument, so it needs {missing}; "
                    "add 'instrument:' or those keys."
                )
            inst = instrument_from_dict(o["name"], o)
        overrides = {k: o[k] for k in ("min", "max", "step", "higher_is_better") if k in o}
        if overrides:
            inst = replace(inst, **overrides)
        outcomes.append(
            Outcome(
                name=o["name"],
                label=o.get("label", inst.label),
                instrument=inst,
                primary=bool(o.get("primary", False)),
                reliable_change=_reliable_change_settings(o, inst),
            )
        )
    outcome_names = [o.name for o in outcomes]
    _unique(outcome_names, "outcomes")
    asked = [o.name for o in outcomes if o.reliable_change is not None]
    if asked and not any(v.baseline for v in visits):
        raise ConfigError(
            f"outcomes {asked} ask for reliable_change, which classes the change from the baseline "
            "visit, but no visit has 'baseline: true'; mark the baseline visit or remove reliable_change."
        )
    column_map = dict(raw.get("columns") or {})
    _check_column_names(outcome_names, [c.name for c in covariates], column_map)

    thresholds = []
    for t in raw.get("thresholds") or []:
        outs = tuple(t.get("outcomes") or outcome_names)
        unknown = [x for x in outs if x not in outcome_names]
        if unknown:
            raise ConfigError(f"threshold {t['rule']!r} names unknown outcomes {unknown}")
        _check_threshold_rule(t["rule"], outs, outcomes)
        thresholds.append(Threshold(rule=t["rule"], label=t.get("label", t["rule"]), outcomes=outs))

    models = raw.get("models") or {}
    default = ModelSettings()  # the schema's defaults, for a config without a 'models:' section
    model = ModelSettings(
        covariance=models.get("covariance", default.covariance),
        covariates=tuple(models.get("covariates", default.covariates)),
        method=models.get("method", default.method),
        df_method=models.get("df_method", default.df_method),
        vcov=models.get("vcov", default.vcov),
        baseline_adjusted=bool(models.get("baseline_adjusted", default.baseline_adjusted)),
        effect_size_standardizer=models.get("effect_size_standardizer", default.effect_size_standardizer),
        visits=tuple(models.get("visits", default.visits)),
    )
    cov_names = [c.name for c in covariates]
    visit_names = [v.name for v in visits]
    _check_model(model, "models", visit_names, cov_names)
    analyses = _analyses(raw.get("analyses"), model, visits, outcome_names, cov_names)

    data = raw["data"]
    files = tuple(
        DataFile(
            path=f["path"],
            layout=f.get("layout", "long"),
            format=f.get("format"),
            sep=f.get("sep"),
            decimal=f.get("decimal"),
            encoding=f.get("encoding"),
            sheet=f.get("sheet"),
            wide_pattern=f.get("wide_pattern"),
            visit_codes=dict(f.get("visit_codes") or {}),
            filter=dict(f.get("filter") or {}),
        )
        for f in data["files"]
    )
    for f in files:
        if f.layout == "wide" and not f.wide_pattern:
            raise ConfigError(
                f"data file {f.path!r} is wide, so it needs 'wide_pattern' (e.g. '{{outcome}}_{{visit}}')."
            )

    _check_results_root(raw.get("results_root", "results"))
    validation = raw.get("validation") or {}
    outputs = raw.get("outputs") or {}
    design = "audit" if study.get("design", "randomized") in AUDIT_DESIGNS else "randomized"
    audit = _audit_settings(raw, design, arms, visits, covariates, outcomes)
    privacy_raw = raw.get("privacy") or {}
    privacy = PrivacySettings(
        min_cell=int(privacy_raw.get("min_cell", 5)),
        round_to=None if privacy_raw.get("round_to") is None else int(privacy_raw["round_to"]),
    )
    return StudyConfig(
        name=study["name"],
        title=study.get("title", study["name"]),
        design=design,
        seed=study.get("seed"),
        files=files,
        missing_codes=tuple(data.get("missing_codes", ("",))),
        allow_identifiers=tuple(data.get("allow_identifiers", ())),
        column_map=column_map,
        arms=arms,
        reference_arm=reference,
        visits=visits,
        covariates=covariates,
        outcomes=tuple(outcomes),
        thresholds=tuple(thresholds),
        responder_denominator=(raw.get("responders") or {}).get("denominator", "randomized"),
        model=model,
        validation_mode=validation.get("mode", "lenient"),
        baseline_required=validation.get("baseline_required", "error"),
        figure_formats=tuple(outputs.get("figure_formats", ("png", "pdf"))),
        dpi=int(outputs.get("dpi", 300)),
        individual_trajectories=bool(outputs.get("individual_trajectories", False)),
        custom_instruments=custom,
        base_dir=base_dir,
        raw=raw,
        analyses=analyses,
        audit=audit,
        privacy=privacy,
        sensitivity=_sensitivity_settings(
            raw.get("sensitivity"),
            base_dir=base_dir,
            seed=study.get("seed"),
            outcomes=outcomes,
            arm_names=arm_names,
            reference=reference,
            baseline_visit=next((v.name for v in visits if v.baseline), None),
            cov_names=cov_names,
        ),
    )


def _window(entry: dict) -> tuple[float, float, float] | None:
    """A visit's ``window:`` as ``(start, end, target)``; the target defaults to the visit's
    ``day``, else the window's midpoint."""
    given = entry.get("window")
    if given is None:
        return None
    start, end = float(given["start"]), float(given["end"])
    target = given.get("target", entry.get("day", (start + end) / 2))
    if not start <= float(target) <= end:
        raise ConfigError(
            f"visits/{entry['name']}/window: the target day {target:g} is not between start "
            f"{start:g} and end {end:g}; give start <= target <= end (days since the first visit)."
        )
    return (start, end, float(target))


def _audit_settings(raw, design, arms, visits, covariates, outcomes) -> AuditSettings | None:
    """The ``audit:`` section, checked against the study: an audit is one group of patients
    with a baseline visit; its units and case-mix covariates are declared covariates."""
    given = raw.get("audit")
    if design != "audit":
        if given is not None:
            raise ConfigError(
                "the config has an 'audit:' section but study.design is 'randomized'; set "
                "'study: {design: audit}' for a clinic audit, or remove the 'audit:' section."
            )
        return None
    if len(arms) > 1:
        raise ConfigError(
            f"study.design is 'audit' but arms.levels lists {len(arms)} arms; an audit describes one "
            "group of patients (routine care). List one arm level, or set design: randomized for a trial."
        )
    if not any(v.baseline for v in visits):
        raise ConfigError(
            "study.design is 'audit', which measures change from the first visit, but no visit has "
            "'baseline: true'; mark the first visit as the baseline."
        )
    given = given or {}
    cov = {c.name: c for c in covariates}
    groups = []
    for entry in given.get("groups") or []:
        group = (
            AuditGroup(entry) if isinstance(entry, str) else AuditGroup(entry["column"], entry.get("period"))
        )
        if group.period is not None:
            if group.column != DATE:
                raise ConfigError(
                    f"audit.groups: a period ({group.period!r}) is cut from the assessment date, so its "
                    f"column must be {DATE!r} (map the file's date column to it under 'columns:'), not "
                    f"{group.column!r}."
                )
        elif group.column not in cov:
            raise ConfigError(
                f"audit.groups names {group.column!r}, which is not a declared covariate; declare it "
                f"under 'covariates:' (type: categorical, e.g. a site or clinician column) so the "
                "pipeline reads it."
            )
        groups.append(group)
    funnel = given.get("funnel") or {}
    measures = tuple(funnel.get("measures", ("completion", "mean_change")))
    for m in measures:
        if m not in ("completion", "mean_change"):
            try:
                _check_threshold_rule(m, tuple(o.name for o in outcomes), list(outcomes))
            except ConfigError as exc:
                raise ConfigError(
                    f"audit.funnel.measures: {m!r} is neither 'completion', 'mean_change' nor a "
                    f"responder rule ({str(exc).removeprefix('thresholds: ')})."
                ) from None
    case_mix = tuple(funnel.get("case_mix", ()))
    unknown = [c for c in case_mix if c not in cov]
    if unknown:
        raise ConfigError(
            f"audit.funnel.case_mix lists {unknown}, which are not declared under 'covariates:'; "
            "case-mix adjustment reads baseline covariates."
        )
    if funnel and not groups:
        raise ConfigError(
            "audit.funnel compares units, but audit.groups is empty; name the units (e.g. "
            "groups: [site]) or remove 'funnel:'."
        )
    attrition = given.get("attrition")
    if attrition is not None:
        unknown = [c for c in attrition if c not in cov]
        if unknown:
            raise ConfigError(f"audit.attrition lists {unknown}, which are not declared under 'covariates:'.")
        attrition = tuple(attrition)
    adjustment = funnel.get("adjustment", "none")
    return AuditSettings(
        groups=tuple(groups),
        effect_size_sd=given.get("effect_size_sd", "baseline_sd"),
        funnel_measures=measures,
        funnel_adjustment=None if adjustment == "none" else adjustment,
        case_mix=case_mix,
        benchmarks=bool(given.get("benchmarks", False)),
        attrition=attrition,
    )


def _check_model(model: ModelSettings, where: str, visit_names: list[str], cov_names: list[str]) -> None:
    """Refuse model settings that name undeclared visits or covariates or do not go together."""
    unknown = [name for name in model.visits if name not in visit_names]
    if unknown:
        raise ConfigError(f"{where}.visits lists {unknown}, which are not declared under 'visits:'.")
    unknown = [c for c in model.covariates if c not in cov_names]
    if unknown:
        raise ConfigError(f"{where}.covariates lists {unknown}, which are not declared under 'covariates:'.")
    if model.df_method.startswith("kenward_roger") and model.method == "ml":
        raise ConfigError(
            f"{where}: df_method {model.df_method!r} needs method 'reml' (the Kenward-Roger "
            "adjustment is defined for REML fits), but method is 'ml'. Set 'method: reml', or "
            "choose df_method 'satterthwaite' or 'residual' for an ML fit."
        )
    if model.df_method.startswith("kenward_roger") and model.vcov != "model":
        raise ConfigError(
            f"{where}: df_method {model.df_method!r} adjusts the model-based covariance of the "
            f"estimates, so it cannot be combined with vcov {model.vcov!r}; use vcov 'model', or "
            "df_method 'satterthwaite' with the empirical covariance (as mmrm does)."
        )


def _analyses(
    entries, model: ModelSettings, visits: tuple[Visit, ...], outcome_names: list[str], cov_names: list[str]
) -> tuple[AnalysisSettings, ...]:
    """The ``analyses:`` entries, each with the ``models:`` settings it overrides applied."""
    if not entries:
        return ()
    visit_names = [v.name for v in visits]
    baseline = next((v.name for v in visits if v.baseline), None)
    _unique([e["name"] for e in entries], "analyses")
    out = []
    for e in entries:
        name, kind = e["name"], e["kind"]
        where = f"analyses/{name}"
        overrides = {k: e[k] for k in ANALYSIS_OVERRIDES if k in e}
        if "covariates" in overrides:
            overrides["covariates"] = tuple(overrides["covariates"])
        if "visits" in overrides:
            overrides["visits"] = tuple(overrides["visits"])
        unknown = [o for o in e.get("outcomes", ()) if o not in outcome_names]
        if unknown:
            raise ConfigError(
                f"{where}.outcomes lists {unknown}, which are not declared under 'outcomes:' "
                f"({outcome_names}); name declared outcomes or drop the key to analyse every outcome."
            )
        misplaced = {
            "visit": kind != "ancova",
            "formula": kind != "formula",
            "visits": kind == "ancova",
            "baseline_adjusted": kind in ("ancova", "clda"),
        }
        for key, wrong in misplaced.items():
            if wrong and key in e:
                raise ConfigError(
                    f"{where}: the key {key!r} does not apply to kind {kind!r} (config/README.md, "
                    "'Analyses' lists the keys of each kind); remove it."
                )
        visit = e.get("visit")
        if kind in ("ancova", "clda") and baseline is None:
            raise ConfigError(
                f"{where}: kind {kind!r} needs a baseline visit (mark one visit 'baseline: true')."
            )
        if kind == "ancova":
            if visit is None:
                raise ConfigError(f"{where}: kind 'ancova' needs 'visit:', the follow-up visit it analyses.")
            if visit not in visit_names or visit == baseline:
                raise ConfigError(
                    f"{where}.visit is {visit!r}, which is not a follow-up visit declared under "
                    f"'visits:' ({[v for v in visit_names if v != baseline]})."
                )
            overrides.update(visits=(visit,), baseline_adjusted=True)
        if kind == "formula":
            formula = e.get("formula")
            if not formula or "~" not in formula:
                raise ConfigError(
                    f"{where}: kind 'formula' needs 'formula:', an mmrm formula such as "
                    "'{outcome} ~ arm*visit + us(visit | participant_id)'."
                )
        if kind == "clda":
            overrides["baseline_adjusted"] = False
        settings = replace(model, **overrides)
        _check_model(settings, where, visit_names, cov_names)
        out.append(
            AnalysisSettings(
                name=name,
                kind=kind,
                model=settings,
                visit=visit,
                formula=e.get("formula"),
                outcomes=tuple(e.get("outcomes", ())),
            )
        )
    return tuple(out)


def _reliable_change_settings(entry: dict, instrument: Instrument) -> ReliableChangeSettings | None:
    """The outcome's ``reliable_change:`` settings; a reliability must be given with its source
    or come from the instrument's catalogue entry, and cut-offs b and c need population norms."""
    given = entry.get("reliable_change")
    if given is None:
        return None
    name = entry["name"]
    defaults = _schema_item_defaults("outcomes", "reliable_change")
    if "reliability" in given:
        if "source" not in given:
            raise ConfigError(
                f"outcomes/{name}/reliable_change: reliability {given['reliability']} has no 'source'; "
                "say where the value comes from (a study of the instrument's test-retest or internal "
                "consistency reliability), e.g. source: 'Keller 2006, test-retest r = 0.83'."
            )
        reliability, source = float(given["reliability"]), str(given["source"])
    elif instrument.reliability is not None:
        reliability, source = float(instrument.reliability), instrument.source or "instrument catalogue"
    else:
        raise ConfigError(
            f"outcomes/{name}/reliable_change: the instrument {instrument.name!r} has no sourced "
            "reliability in the catalogue; give 'reliability:' (between 0 and 1) and its 'source:'."
        )
    cutoff = given.get("cutoff", defaults["cutoff"])
    norms = [given.get(k, getattr(instrument, k)) for k in ("normative_mean", "normative_sd")]
    if ("normative_mean" in given or "normative_sd" in given) and "source" not in given:
        raise ConfigError(
            f"outcomes/{name}/reliable_change: population norms are given without a 'source'; say "
            "where they come from."
        )
    if cutoff in ("b", "c") and None in norms:
        raise ConfigError(
            f"outcomes/{name}/reliable_change: cut-off {cutoff!r} needs the functional population's "
            f"mean and SD, which instrument {instrument.name!r} does not have; give normative_mean "
            "and normative_sd (with their source), or use cutoff: a (two SD beyond the baseline mean)."
        )
    return ReliableChangeSettings(
        reliability=reliability,
        source=source,
        cutoff=cutoff,
        critical_value=float(given.get("critical_value", defaults["critical_value"])),
        normative_mean=None if norms[0] is None else float(norms[0]),
        normative_sd=None if norms[1] is None else float(norms[1]),
    )


def _schema_item_defaults(array: str, key: str) -> dict[str, Any]:
    """The schema's defaults of an object ``key`` inside the items of the top-level ``array``."""
    properties = config_schema()["properties"][array]["items"]["properties"][key]["properties"]
    return {k: copy.deepcopy(spec["default"]) for k, spec in properties.items() if "default" in spec}


def _check_threshold_rule(rule: str, outcomes: tuple[str, ...], declared: list[Outcome]) -> None:
    """Parse a responder rule now, so that a typo fails at config load, not mid-workflow."""
    from .thresholds import ThresholdError, parse_threshold

    direction = {o.name: o.higher_is_better for o in declared}
    try:
        for outcome in outcomes:
            parsed = parse_threshold(rule, outcome, direction)
            unknown = [name for name in parsed.outcomes if name not in direction]
            if unknown:
                raise ThresholdError(f"it names {unknown}, which are not outcomes of this study")
    except ThresholdError as exc:
        raise ConfigError(f"thresholds: rule {rule!r} cannot be used: {exc}") from None


def _unambiguous_codes(where: str, kind: str, entries) -> None:
    """Refuse a data value (name, label or code) that would mean two different arms or visits.

    The readers map a value to the first entry that claims it, so an ambiguity would silently
    assign rows to the wrong arm or visit.
    """
    claimed: dict[str, tuple[str, str, object]] = {}
    for name, label, codes in entries:
        for role, value in [("name", name), ("label", label), *(("code", c) for c in codes)]:
            key = normalise_code(value)
            if key in claimed and claimed[key][0] != name:
                other, other_role, other_value = claimed[key]
                raise ConfigError(
                    f"{where}: the value {value!r} is the {role} of {kind} {name!r} and also the "
                    f"{other_role} of {kind} {other!r} ({other_value!r}; values are compared "
                    f"case-blind, with 1.0 equal to 1), so a data value could mean either. Give "
                    f"every {kind} its own name, label and codes."
                )
            claimed.setdefault(key, (name, role, value))


def _unambiguous_levels(cov: Covariate) -> None:
    """Two raw codes that read alike (e.g. ``1`` and ``"1.0"``) must map to the same level."""
    seen: dict[str, tuple[str, str]] = {}
    for raw_code, level in cov.codes.items():
        key = normalise_code(raw_code)
        if key in seen and seen[key][1] != level:
            raise ConfigError(
                f"covariates/{cov.name}: the codes {seen[key][0]!r} and {raw_code!r} read as the "
                f"same value but map to different levels ({seen[key][1]!r} and {level!r}); "
                "keep one of them."
            )
        seen.setdefault(key, (raw_code, level))


def _check_visit_days(visits: tuple[Visit, ...]) -> None:
    """Visits are listed in time order, so their days must increase."""
    previous = None
    for v in visits:
        if v.day is None:
            continue
        if previous is not None and v.day <= previous.day:
            raise ConfigError(
                f"visits: visit {v.name!r} (day {v.day:g}) comes after visit {previous.name!r} "
                f"(day {previous.day:g}) but its day is not later. List the visits in time order "
                "with increasing 'day'."
            )
        previous = v


def _check_column_names(outcomes: list[str], covariates: list[str], column_map: Mapping) -> None:
    """Every study column has one meaning: outcomes, covariates and the pipeline's own columns
    (participant id, arm, visit, ...) never share a name, and no two file columns map to one."""
    for kind, names in (("outcome", outcomes), ("covariate", covariates)):
        for name in names:
            if name in RESERVED_COLUMNS:
                raise ConfigError(
                    f"{kind} {name!r} is named like the pipeline's own {name!r} column; "
                    f"rename the {kind} (and map the file's column to it under 'columns:')."
                )
    both = sorted(set(outcomes) & set(covariates))
    if both:
        raise ConfigError(
            f"{both[0]!r} is both an outcome and a covariate; a column can only be one of them."
        )
    targets: dict[str, str] = {}
    for source, target in column_map.items():
        if target in targets:
            raise ConfigError(
                f"columns: both {targets[target]!r} and {source!r} map to {target!r}, so the study "
                f"column {target!r} would come from two file columns; keep one mapping."
            )
        targets[target] = source
    special = {SUBJECT: "participant id", ARM: "arm", VISIT: "visit"}
    study_names = set(outcomes) | set(covariates)
    for source, target in column_map.items():
        if target in special and source != target and source in study_names:
            raise ConfigError(
                f"columns: the file column {source!r} is mapped to the {special[target]} column, "
                f"but {source!r} is also the name of an outcome or covariate, so the name would "
                "mean two columns. Rename the outcome or covariate."
            )


def _check_results_root(root: str) -> None:
    """A config writes its results inside the project: the command line's ``--results`` is the
    explicit way to write anywhere else."""
    pure = Path(root)
    if pure.is_absolute() or os.path.normpath(root).split(os.sep)[0] == "..":
        raise ConfigError(
            f"results_root {root!r} points outside the project folder; a config's results_root "
            "must be a relative path inside the project (default 'results'). To write results "
            "elsewhere, pass it on the command line: prt-outcomes run --results DIR."
        )


def _unique(names: list[str], where: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{where}: name {n!r} appears twice; names must be unique.")
        seen.add(n)


def load_config(path: str | Path, *, base_dir: str | Path | None = None) -> StudyConfig:
    """Read, validate and type a study configuration: the one loader of every entry point.

    ``prt-outcomes validate``, ``prt-outcomes run``, the Snakefile and :func:`prt_outcomes.run`
    all read a study through this function, so they check the same config: the file's content
    plus the schema's defaults, nothing else.

    Parameters
    ----------
    path : str or Path
        YAML file.
    base_dir : str or Path, optional
        Directory that relative data paths are resolved against. Defaults to the directory
        holding the config file, so a config finds its data wherever it is run from.

    Raises
    ------
    ConfigError
        When the file cannot be read or does not match the schema.

    Examples
    --------
    >>> cfg = load_config("config/config.yaml")                         # doctest: +SKIP
    >>> cfg.data_paths()[0].relative_to(Path.cwd()).as_posix()          # doctest: +SKIP
    'data/example/outcomes_long.csv'
    """
    path = Path(path)
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise ConfigError(f"config path {str(path)!r} is a folder; give the YAML file.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text ({exc.reason}).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys.")
    base = Path(base_dir) if base_dir is not None else path.resolve().parent
    return StudyConfig.from_dict(mapping, base_dir=base)


# --------------------------------------------------------------------------------------------
# sensitivity: (issue 12) the missing-data sensitivity analyses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensitivitySettings:
    """The ``sensitivity:`` section, resolved (config/README.md "Sensitivity to missing data").

    ``strategies`` are the config's names (``J2R``, not the API's ``JR``); ``events_column`` /
    ``events_file`` name where each participant's first visit affected by an intercurrent event
    comes from (neither: the visit after the last observed one); ``tipping_arms`` empty means
    every arm but the reference; ``baseline`` empty means the outcome's value at the baseline
    visit (and the change from it is imputed).

    >>> SensitivitySettings(outcomes=("pain",)).strategies
    ('MAR', 'J2R')
    """

    outcomes: tuple[str, ...]
    method: str = "conditional_mean"
    n_imputations: int | None = None
    seed: int | None = None
    strategies: tuple[str, ...] = ("MAR", "J2R")
    baseline: str | None = None
    events_column: str | None = None
    events_file: Path | None = None
    tipping_deltas: tuple[float, ...] = ()
    tipping_arms: tuple[str, ...] = ()
    tipping_cumulative: bool = False
    tipping_strategy: str = "MAR"
    # the events file has a strategy column with a value: one more job per outcome,
    # "per_participant", applies each participant's own strategy
    per_participant: bool = False
    # responder rules of the threshold language (sensitivity.responders), as written: each adds
    # the risk difference rows of every strategy job (analysis "responder: <rule>")
    responders: tuple[str, ...] = ()

    @property
    def jobs(self) -> list[tuple[str, str]]:
        """The (outcome, strategy) pairs: one workflow job each (``per_participant`` last when
        the events file gives strategies)."""
        extra = ("per_participant",) if self.per_participant else ()
        return [(o, s) for o in self.outcomes for s in (*self.strategies, *extra)]


def _sensitivity_settings(
    given, *, base_dir, seed, outcomes, arm_names, reference, baseline_visit, cov_names
) -> SensitivitySettings | None:
    if given is None:
        return None
    where = "sensitivity"
    names = [o.name for o in outcomes]
    primary = [o.name for o in outcomes if o.primary] or names[:1]
    chosen = tuple(given.get("outcomes") or primary)
    unknown = [o for o in chosen if o not in names]
    if unknown:
        raise ConfigError(f"{where}.outcomes names {unknown}, which are not among the outcomes {names}.")
    if reference is None or len(arm_names) < 2:
        raise ConfigError(
            f"{where}: the reference-based strategies compare arms with arms.reference, so the study needs "
            "at least two arms and a reference arm; remove the sensitivity section or add them."
        )
    baseline = given.get("baseline")
    if baseline is not None and baseline not in cov_names:
        raise ConfigError(
            f"{where}.baseline is {baseline!r}, which is not a covariate {cov_names}; name the covariate "
            "that holds each participant's baseline value, or leave it out to use the baseline visit."
        )
    if baseline is None and baseline_visit is None:
        raise ConfigError(
            f"{where}: the imputation model conditions on a baseline, and no visit has 'baseline: true'; "
            "mark the baseline visit or name a baseline covariate in sensitivity.baseline."
        )
    method = given.get("method", "conditional_mean")
    n_imp = given.get("n_imputations")
    if method != "conditional_mean" and n_imp is None:
        raise ConfigError(
            f"{where}.method {method!r} draws n_imputations imputations or bootstrap samples; set "
            "sensitivity.n_imputations (e.g. 100 for a first look, 1000 for a report)."
        )
    events = given.get("events") or {}
    if len(events) > 1:
        raise ConfigError(f"{where}.events: give either 'column' or 'file', not both.")
    events_file = resolve_path(Path(base_dir), events["file"]) if "file" in events else None
    tp = given.get("tipping_point") or {}
    arms = tuple(tp.get("arms") or ())
    bad = [a for a in arms if a not in arm_names or a == reference]
    if bad:
        raise ConfigError(
            f"{where}.tipping_point.arms names {bad}; name arms other than the reference {reference!r} "
            f"(the arms are {arm_names})."
        )
    if tp and len(arm_names) != 2:
        raise ConfigError(
            f"{where}.tipping_point scans one difference per visit, so it needs exactly two arms, not "
            f"{len(arm_names)}; remove tipping_point or analyse two arms."
        )
    responders = tuple(given.get("responders") or ())
    _check_sensitivity_responders(responders, method, chosen, outcomes)
    deltas = tuple(float(d) for d in tp.get("deltas") or ())
    steps = [b - a for a, b in zip(deltas, deltas[1:])]
    if steps and not (all(d > 0 for d in steps) or all(d < 0 for d in steps)):
        raise ConfigError(f"{where}.tipping_point.deltas must be strictly monotone: {list(deltas)}.")
    return SensitivitySettings(
        outcomes=chosen,
        method=method,
        n_imputations=n_imp,
        seed=given.get("seed", seed),
        strategies=tuple(given.get("strategies") or ("MAR", "J2R")),
        baseline=baseline,
        events_column=events.get("column"),
        events_file=events_file,
        tipping_deltas=deltas,
        tipping_arms=arms,
        tipping_cumulative=bool(tp.get("cumulative", False)),
        tipping_strategy=tp.get("strategy", "MAR"),
        per_participant=_gives_strategies(events_file),
        responders=responders,
    )


def _check_sensitivity_responders(rules, method, chosen, outcomes) -> None:
    """Parse ``sensitivity.responders`` now (a typo fails at load), on each analysed outcome."""
    from .thresholds import ThresholdError, parse_threshold

    if rules and method != "approximate_bayesian":
        raise ConfigError(
            f"sensitivity.responders {list(rules)} needs random imputations, but sensitivity.method is "
            f"{method!r}: a threshold applied to conditional means (expected values) is not the expected "
            "responder indicator (conditional means are never extreme), so the proportion of "
            "responders would be biased. Set sensitivity.method: approximate_bayesian with "
            "sensitivity.n_imputations (e.g. 100), or remove sensitivity.responders."
        )
    direction = {o.name: o.higher_is_better for o in outcomes}
    for k, rule in enumerate(rules):
        for outcome in chosen:
            try:
                parsed = parse_threshold(rule, outcome, direction)
            except ThresholdError as exc:
                raise ConfigError(
                    f"sensitivity.responders[{k}]: rule {rule!r} cannot be used: {exc}"
                ) from None
            if parsed.outcomes != (outcome,):
                raise ConfigError(
                    f"sensitivity.responders[{k}]: rule {rule!r} reads {list(parsed.outcomes)}, but the "
                    f"sensitivity analysis of {outcome!r} imputes {outcome!r} alone; write the rule "
                    "with a bare kind (e.g. 'percent_reduction >= 30', 'value <= 1'), which applies to "
                    "each outcome of sensitivity.outcomes."
                )


def _gives_strategies(path: Path | None) -> bool:
    """Whether the events file has a ``strategy`` column with a value (the cells are checked by
    prt_outcomes.analyse.sensitivity_jobs.read_events_file when the jobs read it)."""
    import csv

    if path is None or not path.is_file():
        return False  # the jobs say the file is missing
    with open(path, newline="", encoding="utf-8") as handle:
        return any((row.get("strategy") or "").strip() for row in csv.DictReader(handle))
