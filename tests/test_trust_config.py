"""Trust (issue 9): a config means one thing, is read the same way everywhere, and its changes reach
the results. Fast tests of the loader, the schema, the manifest records and the content stamps."""

from __future__ import annotations

import copy
import json
import logging
import os

import pytest
import yaml

from conftest import EXAMPLE_CONFIG, REPO_ROOT
from prt_outcomes.config import ConfigError, StudyConfig, config_schema, load_config
from prt_outcomes.provenance import build_manifest, sha256_file, write_stamps

STUDIES = REPO_ROOT / "config" / "studies"


def _raw() -> dict:
    return yaml.safe_load(EXAMPLE_CONFIG.read_text())


def _refused(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_dict(raw)


# ---- item 5: ambiguous config is refused, not resolved "first one wins" ----------------------
@pytest.mark.parametrize(
    "mutate, message",
    [
        # the label of one arm is the name of another: 'placebo' rows would become 'prt'
        (
            lambda r: r["arms"]["levels"][0].update(label="placebo"),
            r"name of arm 'placebo' and also the label of arm 'prt'",
        ),
        # the same code on two arms (1 and 1.0 read alike)
        (
            lambda r: [r["arms"]["levels"][0].update(codes=[1]), r["arms"]["levels"][1].update(codes=[1.0])],
            r"code of arm 'placebo'.*code of arm 'prt'",
        ),
        # compared case-blind, like the readers
        (lambda r: r["arms"]["levels"][2].update(codes=["PRT"]), "arm 'usual_care'.*arm 'prt'"),
        (
            lambda r: r["visits"][1].update(label="m1"),
            r"name of visit 'm1' and also the label of visit 'post'",
        ),
        (lambda r: [r["visits"][1].update(codes=[2]), r["visits"][2].update(codes=["2"])], "visit 'm1'"),
    ],
)
def test_ambiguous_arm_and_visit_values_are_refused(mutate, message):
    raw = _raw()
    mutate(raw)
    _refused(raw, message)


def test_unambiguous_labels_and_codes_still_load():
    raw = _raw()
    raw["arms"]["levels"][0].update(label="PRT", codes=[1, "prt"])  # its own name again: fine
    raw["visits"][0].update(codes=[0, "0.0"])
    assert StudyConfig.from_dict(raw).arm_names == ("prt", "placebo", "usual_care")


def test_covariate_codes_that_read_alike_must_agree():
    raw = _raw()
    raw["covariates"][1]["codes"] = {1: "female", "1.0": "male"}
    _refused(raw, "read as the same value")


# ---- item 7 (config part): settings that used to pass or fail obscurely ---------------------
@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["models"].update(df_method="kenward_roger", method="ml"), "kenward_roger.*reml"),
        (
            lambda r: r["covariates"].append({"name": "participant_id", "type": "numeric"}),
            "named like the pipeline's own 'participant_id'",
        ),
        (
            lambda r: [
                r.update(columns={"record_id": "participant_id"}),
                r["covariates"].append({"name": "record_id", "type": "numeric"}),
            ],
            "'record_id' is mapped to the participant id",
        ),
        (
            lambda r: r.update(columns={"id": "participant_id", "subject": "participant_id"}),
            "map to 'participant_id'",
        ),
        (lambda r: r["outcomes"].append({"name": "visit", "instrument": "nrs_0_10"}), "named like"),
        (
            lambda r: r["covariates"].append({"name": "odi", "type": "numeric"}),
            "both an outcome and a covariate",
        ),
        (lambda r: r["outputs"].update(dpi=30000), "outputs/dpi.*maximum"),
        (lambda r: r["outputs"].update(figure_formats=["png", "png"]), "outputs/figure_formats.*non-unique"),
        (lambda r: r["data"]["files"][0].update(sep=";;"), "data/files/0/sep.*too long.*one character"),
        (lambda r: r["data"]["files"][0].update(sep=""), "data/files/0/sep"),
        (lambda r: r["visits"][3].update(day=45), r"visit 'm2' \(day 45\).*'m1' \(day 60\)"),
        (lambda r: r["visits"][3].update(day=60), "visit 'm2'"),
        (lambda r: r.update(results_root="../elsewhere"), "results_root '../elsewhere' points outside"),
        (lambda r: r.update(results_root="results/../../x"), "points outside"),
        (lambda r: r.update(results_root="/tmp/x"), "points outside"),
        (lambda r: r["study"].update(name="boulder\n"), "study/name"),
        (lambda r: r["arms"]["levels"][0].update(name="prt\n"), "arms/levels/0/name"),
    ],
)
def test_refused_settings(mutate, message):
    raw = _raw()
    mutate(raw)
    _refused(raw, message)


def test_results_root_inside_the_project_is_fine():
    raw = _raw()
    raw["results_root"] = "results/2024"
    assert StudyConfig.from_dict(raw).raw["results_root"] == "results/2024"


def test_schema_is_2020_12_and_snakemake_validates_it_quietly(caplog):
    from snakemake.utils import validate

    assert config_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    with caplog.at_level(logging.WARNING):
        validate(_raw(), str(REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


# ---- item 1: one loader; relative paths follow the config file --------------------------------
def test_relative_data_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "study" / "data").mkdir(parents=True)
    (tmp_path / "study" / "config").mkdir()
    raw = _raw()
    raw["data"]["files"] = [{"path": "../data/visits.csv"}]
    config_file = tmp_path / "study" / "config" / "study.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    expected = tmp_path / "study" / "data" / "visits.csv"
    for cwd in (tmp_path, tmp_path / "study" / "data", REPO_ROOT):
        monkeypatch.chdir(cwd)
        assert load_config(config_file).data_paths() == [expected]
        assert load_config(os.path.relpath(config_file, cwd)).data_paths() == [expected]


def test_bundled_example_finds_its_data_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = load_config(EXAMPLE_CONFIG).data_paths()
    assert paths == [REPO_ROOT / "data" / "example" / "outcomes_long.csv"]
    assert paths[0].is_file()


def test_every_study_config_finds_its_data_from_any_folder(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configs = sorted(STUDIES.glob("*.yaml"))
    assert configs
    for path in configs:
        config = load_config(path)
        missing = [str(p) for p in config.data_paths() if not p.is_file()]
        assert not missing, (path.name, missing)
        # the public data beside the project, or the project's own seeded example data
        own = STUDIES.parents[1] / "data"
        assert all(shared_data in p.parents or own in p.parents for p in config.data_paths()), path.name


def test_loaded_config_is_the_file_plus_schema_defaults_only(tmp_path):
    minimal = {
        "study": {"name": "tiny"},
        "data": {"files": [{"path": "x.csv"}]},
        "arms": {"levels": [{"name": "a"}, {"name": "b"}]},
        "visits": [{"name": "v0", "baseline": True}, {"name": "v1"}],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10"}],
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(minimal))
    assert load_config(path).raw == {
        "results_root": "results",
        "study": {"name": "tiny", "design": "randomized"},
        "data": {"files": [{"path": "x.csv", "layout": "long"}]},
        "arms": {"levels": [{"name": "a"}, {"name": "b"}]},
        "visits": [{"name": "v0", "baseline": True}, {"name": "v1", "baseline": False}],
        "outcomes": [{"name": "pain", "instrument": "nrs_0_10", "primary": False}],
    }


# ---- item 7: the manifest names inputs relative to the config, with hash and size ---------------
def test_manifest_records_relative_input_paths_with_hash_and_size(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "config").mkdir()
    data = tmp_path / "data" / "visits.csv"
    data.write_text("participant_id,arm,visit,pain_avg\n")
    raw = _raw()
    raw["data"]["files"] = [{"path": "../data/visits.csv"}]
    (tmp_path / "config" / "s.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "config" / "s.yaml")
    manifest = build_manifest(config, config.data_paths())
    assert manifest["inputs"] == [
        {
            "path": "../data/visits.csv",
            "relative_to": "config",
            "sha256": sha256_file(data),
            "bytes": data.stat().st_size,
        }
    ]
    assert str(tmp_path) not in json.dumps(manifest)


# ---- item 2: content stamps change exactly when content changes -----------------------------
def _stamp_state(stamps):
    return {name: (path.read_bytes(), path.stat().st_mtime_ns) for name, path in stamps.items()}


def test_stamps_follow_content_not_timestamps(tmp_path):
    (tmp_path / "data").mkdir()
    data = tmp_path / "data" / "visits.csv"
    data.write_text("participant_id,arm,visit,pain_avg\n1,prt,baseline,5\n")
    raw = _raw()
    raw["data"]["files"] = [{"path": "data/visits.csv"}]
    config_file = tmp_path / "s.yaml"

    def stamps_for(mapping):
        config_file.write_text(yaml.safe_dump(mapping))
        return write_stamps(load_config(config_file), tmp_path / "stamps")

    first = _stamp_state(stamps_for(raw))
    assert _stamp_state(stamps_for(raw)) == first  # unchanged: not even rewritten

    changed = copy.deepcopy(raw)
    changed["models"]["covariance"] = "ar1"
    after = _stamp_state(stamps_for(changed))
    assert [n for n in after if after[n] != first[n]] == ["config_analysis", "config_full"]

    titled = copy.deepcopy(changed)
    titled["study"]["title"] = "Another title"
    after_title = _stamp_state(stamps_for(titled))
    assert [n for n in after_title if after_title[n] != after[n]] == ["config_full"]

    coded = copy.deepcopy(titled)
    coded["data"]["missing_codes"] = ["", "NA"]
    after_codes = _stamp_state(stamps_for(coded))
    assert [n for n in after_codes if after_codes[n] != after_title[n]] == [
        "config_data",
        "config_analysis",
        "config_full",
    ]

    # another export, same size, an older timestamp: the content stamp still changes
    old = data.stat()
    data.write_text("participant_id,arm,visit,pain_avg\n1,prt,baseline,6\n")
    os.utime(data, ns=(old.st_atime_ns - 10**12, old.st_mtime_ns - 10**12))
    after_data = _stamp_state(stamps_for(coded))
    assert [n for n in after_data if after_data[n] != after_codes[n]] == ["inputs"]
    assert json.loads(after_data["inputs"][0])[0]["sha256"] == sha256_file(data)


def test_missing_data_file_is_a_config_error(tmp_path):
    raw = _raw()
    raw["data"]["files"] = [{"path": "nowhere.csv"}]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="nowhere.csv.*does not exist.*config file's folder"):
        write_stamps(load_config(tmp_path / "s.yaml"), tmp_path / "stamps")
