"""Provenance manifest: input hashes, the resolved config, package versions and the seed.

Examples
--------
>>> from prt_outcomes.provenance import sha256_file   # doctest: +SKIP
>>> sha256_file("data/example/outcomes_long.csv")     # doctest: +SKIP
'3f1c...'
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable

from . import __version__
from .config import StudyConfig

__all__ = ["sha256_file", "package_versions", "build_manifest", "write_manifest"]

PACKAGES = (
    "prt-outcomes", "numpy", "scipy", "pandas", "statsmodels", "pingouin", "pandera",
    "matplotlib", "snakemake", "pyyaml", "jsonschema",
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


def build_manifest(config: StudyConfig, inputs: Iterable[str | Path]) -> dict:
    """Everything needed to say what produced a run's results.

    No timestamps: the manifest is a pure function of inputs, config and environment, so a
    rerun on the same machine writes the same bytes.
    """
    files = []
    for p in inputs:
        p = Path(p)
        files.append({"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size})
    return {
        "study": config.name,
        "created_by": f"prt-outcomes {__version__}",
        "config": json.loads(json.dumps(config.raw, default=str)),
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
