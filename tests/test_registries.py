"""Each registry is one table; every document or list that restates it is pinned to it here.

The registries: covariance structures (``models.covariance.COVARIANCE_REGISTRY``), result tables
(``outputs.RESULT_TABLE_REGISTRY``), threshold kinds (``thresholds.THRESHOLD_KINDS``), input
formats (``io.INPUT_FORMATS``), and the model defaults (the schema's ``models`` defaults). Each
``*_mismatches`` helper returns the places that disagree with its registry, so a test fails
naming the file to edit; the ``..._in_one_place_only`` tests add an entry to the registry alone
(monkeypatch) and show that the pins notice.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml

from prt_outcomes import ingest as prt_io
from prt_outcomes import outputs, thresholds
from prt_outcomes.config import ModelSettings, StudyConfig, config_schema, schema_defaults
from prt_outcomes.models import covariance
from prt_outcomes.models.fit import fit_trial_model

ROOT = Path(__file__).resolve().parents[1]
CONFIG_README = ROOT / "config" / "README.md"
README = ROOT / "README.md"


def _backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _readme_row(path: Path, key: str) -> str:
    """The cell after ``| `key` |`` in a Markdown table of ``path``."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| `{key}` |"):
            return line[len(f"| `{key}` |") :]
    raise AssertionError(f"{path.name} has no table row for `{key}`")


def _schema_models() -> dict:
    return config_schema()["properties"]["models"]["properties"]


# ----- df methods, vcov estimators, effect-size SDs --------------------------------------------
def _inference_registries():
    from prt_outcomes.models import inference
    from prt_outcomes.stats.effects import STANDARDIZERS

    return {
        "df_method": (list(inference.DF_METHOD_NAMES), "models/inference.py DF_METHODS"),
        "vcov": (list(inference.VCOV_NAMES), "models/inference.py VCOV_METHODS"),
        "effect_size_standardizer": (list(STANDARDIZERS), "effects.py STANDARDIZERS"),
    }


def inference_mismatches() -> dict[str, object]:
    out = {}
    for key, (names, where) in _inference_registries().items():
        enum = _schema_models()[key]["enum"]
        if enum != names:
            out[f"src/prt_outcomes/data/config.schema.yaml models.{key} enum (registry: {where})"] = enum
        documented = [n for n in _backticked(_readme_row(CONFIG_README, key)) if n in names or "_" in n]
        if [n for n in documented if n in names] != names:
            out[f"config/README.md models.{key} row"] = documented
    return out


def test_df_methods_vcov_and_standardizers_are_listed_as_their_registries_list_them():
    assert inference_mismatches() == {}


def test_a_df_method_added_in_one_place_only_fails_the_pins(monkeypatch):
    from prt_outcomes.models import inference

    monkeypatch.setattr(inference, "DF_METHOD_NAMES", (*inference.DF_METHOD_NAMES, "containment"))
    places = inference_mismatches()
    assert any("models.df_method enum" in place for place in places)
    assert "config/README.md models.df_method row" in places


# ----- covariance structures ----------------------------------------------------------------
def covariance_markdown(registry) -> str:
    """The structure table of config/README.md, as the registry writes it."""

    def cell(text):
        return text.replace("|", "\\|")

    rows = [
        "| structure | covariance over the k visits | parameters | SAS PROC MIXED | R |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| `{s.name}` | {cell(s.description)} | {s.parameters} | `{cell(s.sas)}` | {cell(s.r)} |"
        for s in registry.values()
    ]
    return "\n".join(rows) + "\n"


def covariance_mismatches() -> dict[str, object]:
    names = list(covariance.COVARIANCE_REGISTRY)
    out = {}
    if list(covariance.COVARIANCE_STRUCTURES) != names:
        out["models.covariance.COVARIANCE_STRUCTURES"] = covariance.COVARIANCE_STRUCTURES
    enum = _schema_models()["covariance"]["enum"]
    if enum != names:
        out["src/prt_outcomes/data/config.schema.yaml models.covariance enum"] = enum
    block = covariance_markdown(covariance.COVARIANCE_REGISTRY)
    if block not in CONFIG_README.read_text(encoding="utf-8"):
        out["config/README.md structure table (paste this)"] = block
    doc = inspect.getdoc(fit_trial_model)
    section = doc[doc.index("covariance : str") : doc.index("reference_arm :")]
    documented = [n for n in _backticked(section) if re.fullmatch(r"[a-z0-9_]+", n)]
    if sorted(documented) != sorted(names):
        out["models/fit.py fit_trial_model docstring, parameter covariance"] = documented
    return out


def test_covariance_structures_are_listed_as_the_registry_lists_them():
    assert covariance_mismatches() == {}


@pytest.mark.parametrize("name", list(covariance.COVARIANCE_REGISTRY))
def test_covariance_registry_row_describes_its_engine_class(name):
    import numpy as np

    spec = covariance.COVARIANCE_REGISTRY[name]
    rng = np.random.default_rng(7)
    for k in (2, 3, 5):
        structure = covariance.make_structure(name, k)
        assert structure.name == name
        # the engine profiles out sigma2, so its free parameters are one fewer than SAS counts
        assert structure.n_params + 1 == spec.n_parameters(k)
        relative = structure.relative(rng.uniform(0.1, 0.4, structure.n_params))
        assert (not np.allclose(np.diag(relative), relative[0, 0])) == spec.heterogeneous


def test_a_structure_added_in_one_place_only_fails_the_pins(monkeypatch):
    extra = covariance.CovarianceSpec(
        "spatial_gaussian",
        "one variance, correlation rho^(distance^2)",
        "2",
        lambda k: 2,
        "TYPE=SP(GAU)(coords)",
        "mmrm sp_gau",
        False,
        covariance.Toeplitz,
    )
    monkeypatch.setitem(covariance.COVARIANCE_REGISTRY, extra.name, extra)
    places = covariance_mismatches()
    assert any("COVARIANCE_STRUCTURES" in p for p in places)
    assert any("config.schema.yaml" in p for p in places)
    assert any("config/README.md" in p for p in places)
    assert any("fit_trial_model docstring" in p for p in places)


# ----- model defaults -----------------------------------------------------------------------
# fit_trial_model's keyword for each config key under models: (same name unless listed)
_FIT_KEYWORD = {"effect_size_standardizer": "standardizer"}


def model_default_mismatches() -> dict[str, object]:
    defaults = schema_defaults("models")
    out = {}
    settings = ModelSettings()
    for key, value in defaults.items():
        if getattr(settings, key) != value:
            out[f"config.ModelSettings.{key}"] = getattr(settings, key)
        parameter = inspect.signature(fit_trial_model).parameters[_FIT_KEYWORD.get(key, key)]
        if parameter.default != value:
            out[f"models/fit.py fit_trial_model({parameter.name}=)"] = parameter.default
        if isinstance(value, str) and f"`{value}` (default" not in _readme_row(CONFIG_README, key):
            out[f"config/README.md models.{key}"] = _readme_row(CONFIG_README, key)
    return out


def test_model_defaults_are_the_schema_defaults_everywhere():
    assert set(schema_defaults("models")) == {
        "covariance",
        "method",
        "df_method",
        "vcov",
        "baseline_adjusted",
        "effect_size_standardizer",
    }
    assert model_default_mismatches() == {}


def test_a_config_without_models_section_gets_the_schema_defaults():
    mapping = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    mapping.pop("models", None)
    config = StudyConfig.from_dict(mapping, base_dir=ROOT / "config")
    assert config.model == ModelSettings()
    for key, value in schema_defaults("models").items():
        assert getattr(config.model, key) == value


def test_a_default_changed_in_the_schema_only_fails_the_pins(monkeypatch):
    changed = {**schema_defaults("models"), "df_method": "kenward_roger"}
    monkeypatch.setitem(globals(), "schema_defaults", lambda section: changed)
    places = model_default_mismatches()
    assert "config.ModelSettings.df_method" in places
    assert "models/fit.py fit_trial_model(df_method=)" in places
    assert "config/README.md models.df_method" in places


# ----- result tables ------------------------------------------------------------------------
def _readme_output_rows() -> dict[str, str]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `tables/([a-z_]+)\.csv` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def result_table_mismatches() -> dict[str, object]:
    from prt_outcomes.analyse.outcomes import MODEL_TABLES
    from prt_outcomes.render.report import RESULT_TABLE_TITLES

    registry = outputs.RESULT_TABLE_REGISTRY
    out = {}
    if list(outputs.RESULT_TABLES) != list(registry):
        out["outputs.RESULT_TABLES"] = outputs.RESULT_TABLES
    titles = {t.name: t.title for t in registry.values()}
    if RESULT_TABLE_TITLES != titles:
        out["report.RESULT_TABLE_TITLES"] = RESULT_TABLE_TITLES
    # the per-outcome model tables are the registry's tables whose columns analysis.py writes
    model_tables = {
        t.name: list(t.columns())
        for t in registry.values()
        if t.columns_from.startswith("prt_outcomes.analyse.outcomes:")
    }
    if {name: list(cols) for name, cols in MODEL_TABLES.items()} != model_tables:
        out["analysis.MODEL_TABLES"] = list(MODEL_TABLES)
    rows = _readme_output_rows()
    if list(rows) != list(registry):
        out["README.md output table (tables/<name>.csv rows)"] = list(rows)
    for name, cell in rows.items():
        listed = [token for token in _backticked(cell) if ", " in token]
        if name in registry and listed and listed[0].split(", ") != list(registry[name].columns()):
            out[f"README.md tables/{name}.csv columns"] = listed[0]
    return out


def test_the_model_tables_the_layout_names_are_those_the_analyse_stage_writes():
    from prt_outcomes.analyse.outcomes import MODEL_TABLES

    assert tuple(MODEL_TABLES) == outputs.MODEL_TABLE_NAMES


def test_result_tables_are_listed_as_the_registry_lists_them():
    assert result_table_mismatches() == {}


def test_every_producer_column_list_is_found():
    for table in outputs.RESULT_TABLE_REGISTRY.values():
        columns = table.columns()
        assert columns and len(set(columns)) == len(columns), table.name


def test_the_readme_states_columns_of_the_fixed_tables():
    # the pin is only worth something if the README lists columns for some tables
    rows = _readme_output_rows()
    assert {"flow", "marginal_means", "contrasts", "responders"} <= {
        name for name, cell in rows.items() if any(", " in t for t in _backticked(cell))
    }


def test_every_result_table_is_an_expected_output(example_config):
    files = {p.name for p in outputs.expected_outputs(example_config, root="r")}
    for name in outputs.RESULT_TABLE_REGISTRY:
        assert {f"{name}.{ext}" for ext in outputs.TABLE_FORMATS} <= files


def test_a_table_added_in_one_place_only_fails_the_pins(monkeypatch):
    extra = outputs.ResultTable(
        "clinic_extra", "analyse", "A table added in one place", "prt_outcomes.describe:FLOW_COLUMNS"
    )
    monkeypatch.setitem(outputs.RESULT_TABLE_REGISTRY, extra.name, extra)
    places = result_table_mismatches()
    assert "outputs.RESULT_TABLES" in places
    assert "report.RESULT_TABLE_TITLES" in places
    assert "README.md output table (tables/<name>.csv rows)" in places


def test_a_column_changed_in_the_producer_only_fails_the_readme_pin(monkeypatch):
    import prt_outcomes.analyse.outcomes as analysis

    monkeypatch.setattr(analysis, "MARGINAL_MEANS_COLUMNS", [*analysis.MARGINAL_MEANS_COLUMNS, "extra"])
    assert "README.md tables/marginal_means.csv columns" in result_table_mismatches()


# ----- threshold kinds ----------------------------------------------------------------------
def _docstring_kind_table() -> dict[str, str]:
    doc = thresholds.__doc__
    table = doc[doc.index("=" * 23) : doc.index("``kind(outcome)``")]
    rows = {}
    for line in table.splitlines():
        match = re.match(r"``([a-z_]+)``\s+(.*\S)\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def threshold_kind_mismatches() -> dict[str, object]:
    kinds = thresholds.THRESHOLD_KINDS
    out = {}
    if list(thresholds.KINDS) != list(kinds):
        out["thresholds.KINDS"] = thresholds.KINDS
    documented = {name: kind.definition for name, kind in kinds.items()}
    if _docstring_kind_table() != documented:
        out["thresholds.py module docstring, table of quantities"] = _docstring_kind_table()
    text = CONFIG_README.read_text(encoding="utf-8")
    sentence = text[
        text.index("The quantities a rule compares are") : text.index("(`prt_outcomes.thresholds")
    ]
    if _backticked(sentence) != list(kinds):
        out["config/README.md thresholds: the quantities"] = _backticked(sentence)
    with pytest.raises(thresholds.ThresholdError) as raised:
        thresholds.parse_threshold("nonsense", outcome="pain")
    listed = str(raised.value).split("QUANTITY is one of ")[1].split(" (for the rule's outcome)")[0]
    if listed.split(", ") != list(kinds):
        out["thresholds._ALLOWED (the error message)"] = listed
    return out


def test_threshold_kinds_are_listed_as_the_registry_lists_them():
    assert threshold_kind_mismatches() == {}


@pytest.mark.parametrize("name", list(thresholds.THRESHOLD_KINDS))
def test_threshold_kind_row_says_how_the_rule_behaves(name):
    import pandas as pd

    kind = thresholds.THRESHOLD_KINDS[name]
    rule = thresholds.parse_threshold(f"{name} >= 10", outcome="pain")
    assert rule.needs_baseline == kind.needs_baseline
    without_baseline = pd.DataFrame({"pain": [3.0]})
    if kind.needs_baseline:
        with pytest.raises(thresholds.ThresholdError, match="baseline column"):
            rule.evaluate(without_baseline)
    else:
        assert rule.evaluate(without_baseline).tolist() == [False]
    if kind.percent:
        assert thresholds.parse_threshold(f"{name} >= 30%", outcome="pain").needs_baseline
    else:
        with pytest.raises(thresholds.ThresholdError, match="percent kinds"):
            thresholds.parse_threshold(f"{name} >= 30%", outcome="pain")


def test_a_kind_added_in_one_place_only_fails_the_pins(monkeypatch):
    extra = thresholds.ThresholdKind("ratio", "``value / baseline``", True, False)
    monkeypatch.setitem(thresholds.THRESHOLD_KINDS, extra.name, extra)
    places = threshold_kind_mismatches()
    assert "thresholds.KINDS" in places
    assert "thresholds.py module docstring, table of quantities" in places
    assert "config/README.md thresholds: the quantities" in places


# ----- input formats ------------------------------------------------------------------------
def input_format_mismatches() -> dict[str, object]:
    names = list(prt_io.INPUT_FORMATS)
    out = {}
    schema = config_schema()["properties"]["data"]["properties"]["files"]["items"]["properties"]
    if schema["format"]["enum"] != names:
        out["src/prt_outcomes/data/config.schema.yaml data.files[].format enum"] = schema["format"]["enum"]
    listed = _backticked(_readme_row(CONFIG_README, "files[].format"))
    if listed != names:
        out["config/README.md files[].format"] = listed
    suffixes = {s: f.name for f in prt_io.INPUT_FORMATS.values() for s in f.suffixes}
    if prt_io._FORMAT_OF_SUFFIX != suffixes:
        out["io._FORMAT_OF_SUFFIX"] = prt_io._FORMAT_OF_SUFFIX
    return out


def test_input_formats_are_listed_as_the_registry_lists_them():
    assert input_format_mismatches() == {}


def test_an_unreadable_extension_names_every_format(tmp_path):
    from prt_outcomes.config import DataFile

    with pytest.raises(prt_io.InputError) as raised:
        prt_io._read_raw(tmp_path / "trial.sav", DataFile(path="trial.sav"))
    for fmt in prt_io.INPUT_FORMATS.values():
        assert f"{fmt.label} ({fmt.suffixes[0]})" in str(raised.value)


@pytest.mark.parametrize("suffix", [s for f in prt_io.INPUT_FORMATS.values() for s in f.suffixes])
def test_every_registered_suffix_reaches_its_reader(suffix, tmp_path, monkeypatch):
    fmt = prt_io._FORMAT_OF_SUFFIX[suffix]
    seen = []

    def reader(path, spec):
        seen.append(path.suffix)
        raise prt_io.InputError("stop")

    monkeypatch.setitem(prt_io.INPUT_FORMATS, fmt, prt_io.InputFormat(fmt, "x", (suffix,), reader))
    path = tmp_path / f"trial{suffix}"
    path.write_bytes(b"a,b\n1,2\n")
    from prt_outcomes.config import DataFile

    with pytest.raises(prt_io.InputError, match="stop"):
        prt_io._read_raw(path, DataFile(path=str(path)))
    assert seen == [suffix]


def test_a_format_added_in_one_place_only_fails_the_pins(monkeypatch):
    extra = prt_io.InputFormat("sas7bdat", "SAS", (".sas7bdat",), lambda path, spec: None)
    monkeypatch.setitem(prt_io.INPUT_FORMATS, extra.name, extra)
    places = input_format_mismatches()
    assert "src/prt_outcomes/data/config.schema.yaml data.files[].format enum" in places
    assert "config/README.md files[].format" in places
    assert "io._FORMAT_OF_SUFFIX" in places


# ----- analysis kinds (analyses[].kind) -------------------------------------------------------
def _schema_analyses() -> dict:
    return config_schema()["properties"]["analyses"]["items"]["properties"]


def analysis_kind_mismatches() -> dict[str, object]:
    from prt_outcomes.analyse.kinds import ANALYSIS_KINDS
    from prt_outcomes.config import ANALYSIS_OVERRIDES

    names = list(ANALYSIS_KINDS)
    out = {}
    enum = _schema_analyses()["kind"]["enum"]
    if enum != names:
        out["src/prt_outcomes/data/config.schema.yaml analyses[].kind enum"] = enum
    documented = [n for n in names if f"| `{n}` |" in CONFIG_README.read_text(encoding="utf-8")]
    if documented != names:
        out["config/README.md analyses kinds table"] = documented
    # an entry's overrides take the models: section's values (same enums)
    for key in ANALYSIS_OVERRIDES:
        if _schema_analyses()[key].get("enum") != _schema_models()[key].get("enum"):
            out[f"src/prt_outcomes/data/config.schema.yaml analyses[].{key} enum"] = _schema_analyses()[key]
    return out


def test_analysis_kinds_are_listed_as_the_registry_lists_them():
    assert analysis_kind_mismatches() == {}


def test_an_analysis_kind_added_in_one_place_only_fails_the_pins(monkeypatch):
    from prt_outcomes.analyse import kinds

    extra = kinds.AnalysisKind("bootstrap", "x", "y")
    monkeypatch.setitem(kinds.ANALYSIS_KINDS, extra.name, extra)
    places = analysis_kind_mismatches()
    assert "src/prt_outcomes/data/config.schema.yaml analyses[].kind enum" in places
    assert "config/README.md analyses kinds table" in places


# ---- sensitivity (issue 12): the schema's sensitivity enums are the API's registries


def _schema_sensitivity() -> dict:
    return config_schema()["properties"]["sensitivity"]["properties"]


def sensitivity_mismatches() -> dict:
    from prt_outcomes.analyse import sensitivity

    out = {}
    methods = sorted(set(sensitivity.METHODS.values()))
    if sorted(_schema_sensitivity()["method"]["enum"]) != methods:
        out["config.schema.yaml sensitivity.method enum (registry: sensitivity.METHODS)"] = methods
    # the config says J2R where the API's registry says JR (it takes both)
    named = [sensitivity._normalise_strategy(s) for s in _schema_sensitivity()["strategies"]["items"]["enum"]]
    if sorted(named) != sorted(sensitivity._STRATEGIES):
        out["config.schema.yaml sensitivity.strategies enum (registry: sensitivity._STRATEGIES)"] = named
    tp = _schema_sensitivity()["tipping_point"]["properties"]["strategy"]["enum"]
    if tp != _schema_sensitivity()["strategies"]["items"]["enum"]:
        out["config.schema.yaml sensitivity.tipping_point.strategy enum"] = tp
    row = _readme_row(CONFIG_README, "method")
    for m in methods:
        if f"`{m}`" not in CONFIG_README.read_text(encoding="utf-8").split("## `sensitivity`")[-1]:
            out[f"config/README.md sensitivity method {m}"] = row
    return out


def test_sensitivity_methods_and_strategies_are_the_apis():
    assert sensitivity_mismatches() == {}


def test_a_method_added_to_the_api_only_fails_the_sensitivity_pin(monkeypatch):
    from prt_outcomes.analyse import sensitivity

    monkeypatch.setattr(sensitivity, "METHODS", {**sensitivity.METHODS, "bayes": "bayes"})
    assert any("sensitivity.method" in place for place in sensitivity_mismatches())
    monkeypatch.setattr(sensitivity, "_STRATEGIES", (*sensitivity._STRATEGIES, "LMCF"))
    assert any("sensitivity.strategies" in place for place in sensitivity_mismatches())
