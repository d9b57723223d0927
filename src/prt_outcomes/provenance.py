"""Provenance: the manifest (input hashes, the resolved config, package versions, the seed) and
the content stamps that make the workflow rebuild what a changed config or input affects.

Snakemake reruns a job when an input is newer than its outputs. That misses a config edit (the
config is not a file input of any job) and a data file replaced by an export with an older
timestamp. :func:`write_stamps` therefore writes small files whose *content* is the resolved
config (one per stage, holding only what that stage reads) and the sha256 of every input file,
rewriting each only when its content changed; the rules take the stamps as inputs.

Examples
--------
>>> from prt_outcomes.provenance import canonical_json
>>> canonical_json({"b": 1, "a": [1, 2]})
'{"a":[1,2],"b":1}'
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import __version__
from .config import ConfigError, StudyConfig

__all__ = [
    "sha256_file",
    "package_versions",
    "project_root",
    "provenance_path",
    "input_records",
    "canonical_json",
    "STAMP_STAGES",
    "config_section",
    "write_stamps",
    "build_manifest",
    "write_manifest",
]

#: Config keys (section -> sub-keys, ``None`` = the whole section) that only the rendering and
#: report stages read, and those that only the analysis stages (models, responders) read. A
#: stage's stamp leaves out what it never reads, so a new title re-renders without refitting.
PRESENTATION_KEYS: Mapping[str, tuple[str, ...] | None] = {"study": ("title",), "outputs": None}
ANALYSIS_KEYS: Mapping[str, tuple[str, ...] | None] = {
    "study": ("seed",),
    "models": None,
    "analyses": None,
    "sensitivity": None,
    "audit": None,
    "privacy": None,
    "thresholds": None,
    "responders": None,
}
#: Stamp stages: ``data`` (ingest, validate, derive), ``analysis`` (describe, models,
#: responders), ``full`` (tables, figures, report, manifest).
STAMP_STAGES = ("data", "analysis", "full")

PACKAGES = (
    "prt-outcomes",
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "pandera",
    "matplotlib",
    "snakemake",
    "pyyaml",
    "jsonschema",
    "pyarrow",
    "openpyxl",
    "threadpoolctl",
)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _missing_input(config: StudyConfig, path: Path) -> ConfigError:
    return ConfigError(
        f"the data file {str(path)!r} named in the config of study {config.name!r} does not "
        "exist. Relative paths in a config are resolved against the config file's folder; "
        "correct 'data.files[].path'."
    )


def _relative_to_config(config: StudyConfig, path: Path) -> str:
    return Path(os.path.relpath(path.resolve(), Path(config.base_dir).resolve())).as_posix()


def project_root(config: StudyConfig) -> Path | None:
    """The project a config belongs to: the nearest folder, from the config's own upwards,
    holding the workflow's ``Snakefile``; ``None`` when the config lies outside any project."""
    from .layout import WORKFLOW_FILE

    here = Path(config.base_dir).resolve()
    for folder in (here, *here.parents):
        if (folder / WORKFLOW_FILE).is_file():
            return folder
    return None


def provenance_path(config: StudyConfig, path: str | Path) -> tuple[str, str]:
    """``(path, base)``: how provenance names an input, never by an absolute path.

    Relative to the project root (``base`` ``"project"``) when the file lies inside the
    project the config belongs to (:func:`project_root`), else relative to the config file's
    folder (``base`` ``"config"``, possibly with ``..``): the same file is named the same way
    on every machine that holds the project, and the sha256 beside it says which content.

    >>> from prt_outcomes.config import load_config
    >>> provenance_path(load_config("config/config.yaml"), "data/example/outcomes_long.csv")  # doctest: +SKIP
    ('data/example/outcomes_long.csv', 'project')
    """
    resolved = Path(path).resolve()
    root = project_root(config)
    if root is not None and resolved.is_relative_to(root):
        return resolved.relative_to(root).as_posix(), "project"
    return _relative_to_config(config, resolved), "config"


def input_records(config: StudyConfig, inputs: Iterable[str | Path]) -> list[dict]:
    """``path`` (:func:`provenance_path`, ``/``-separated), ``relative_to`` (``project`` or
    ``config``), ``sha256``, ``bytes``.

    Relative paths keep the user's folder layout (and name) out of the manifest while still
    saying which file was read; the hash says exactly which content.
    """
    records = []
    for p in map(Path, inputs):
        if not p.is_file():
            raise _missing_input(config, p)
        shown, base = provenance_path(config, p)
        records.append(
            {"path": shown, "relative_to": base, "sha256": sha256_file(p), "bytes": p.stat().st_size}
        )
    return records


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces (so equal content, equal bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def config_section(config: StudyConfig, stage: str) -> dict:
    """The part of the resolved config (file + schema defaults) that ``stage`` reads.

    >>> from prt_outcomes.config import load_config
    >>> cfg = load_config("config/config.yaml")                              # doctest: +SKIP
    >>> "models" in config_section(cfg, "data"), "models" in config_section(cfg, "analysis")  # doctest: +SKIP
    (False, True)
    """
    if stage not in STAMP_STAGES:
        raise ValueError(f"stage must be one of {STAMP_STAGES}, not {stage!r}")
    raw = copy.deepcopy(dict(config.raw))
    raw.pop("results_root", None)  # where results go, not what they are
    drops = []
    if stage in ("data", "analysis"):
        drops.append(PRESENTATION_KEYS)
    if stage == "data":
        drops.append(ANALYSIS_KEYS)
    for drop in drops:
        for key, subkeys in drop.items():
            if subkeys is None:
                raw.pop(key, None)
            elif isinstance(raw.get(key), dict):
                for sub in subkeys:
                    raw[key].pop(sub, None)
    return raw


def _write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` unless the file already holds it: an unchanged stamp keeps its timestamp."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _hashes(paths: list[Path], cache_file: Path) -> dict[str, str]:
    """sha256 per file, reusing the last hash while size, mtime, ctime and inode are unchanged.

    ctime cannot be set back by copying, so a replaced file is always hashed again.
    """
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        cache = {}
    hashes, fresh = {}, {}
    for p in paths:
        key = str(p.resolve())
        st = p.stat()
        signature = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        cached = cache.get(key)
        digest = cached[1] if cached and cached[0] == signature else sha256_file(p)
        hashes[key] = digest
        fresh[key] = [signature, digest]
    if fresh != cache:
        _write_if_changed(cache_file, json.dumps(fresh, indent=1, sort_keys=True) + "\n")
    return hashes


def write_stamps(config: StudyConfig, directory: str | Path) -> dict[str, Path]:
    """Write the content stamps under ``directory``; return ``{name: path}``.

    ``inputs`` holds :func:`input_records` of the config's data files; ``config_<stage>`` the
    :func:`config_section` of each stage. A stamp is rewritten only when its content changed,
    so an unchanged rerun has nothing to do and a changed value or file rebuilds what reads it.
    """
    from .layout import stamp_paths  # the stamps' file names

    files = stamp_paths(directory)
    paths = config.data_paths()
    for p in paths:
        if not p.is_file():
            raise _missing_input(config, p)
    hashes = _hashes(paths, files["hash_cache"])
    records = [{"path": _relative_to_config(config, p), "sha256": hashes[str(p.resolve())]} for p in paths]
    stamps = {"inputs": _write_if_changed(files["inputs"], canonical_json(records) + "\n")}
    for stage in STAMP_STAGES:
        text = canonical_json(config_section(config, stage)) + "\n"
        stamps[f"config_{stage}"] = _write_if_changed(files[f"config_{stage}"], text)
    return stamps


def build_manifest(config: StudyConfig, inputs: Iterable[str | Path]) -> dict:
    """Everything needed to say what produced a run's results.

    No timestamps: the manifest is a pure function of inputs, config and environment, so a
    rerun on the same machine writes the same bytes. ``config`` is the config file's content
    plus the schema's defaults, except that a data file given by an absolute path is named as
    in ``inputs`` (:func:`provenance_path`); input paths are relative to the project root, or
    to the config file's folder for data outside the project. No absolute path of the machine
    that ran is recorded.
    """
    files = input_records(config, inputs)
    raw = json.loads(json.dumps(config.raw, default=str))
    for entry in (raw.get("data") or {}).get("files") or []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and Path(entry["path"]).is_absolute()
        ):
            entry["path"] = provenance_path(config, entry["path"])[0]
    return {
        "study": config.name,
        "created_by": f"prt-outcomes {__version__}",
        "config": raw,
        "inputs": files,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seed": config.seed,
    }


def write_manifest(config: StudyConfig, inputs: Iterable[str | Path], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_manifest(config, inputs), indent=2, sort_keys=True) + "\n", "utf-8")
    return path
