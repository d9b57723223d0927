"""The house: stage packages mirror the rule files, and the ground imports no stage.

Read from the source (ast), so a violation names the module and the import to move.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "prt_outcomes"
RULES = REPO_ROOT / "workflow" / "rules"
#: The workflow's stages: one rule file each, with their code in a module or package of that name.
STAGES = ("ingest", "validate", "derive", "describe", "analyse", "render")
#: Stages whose code others may read: derive is the one definition of baseline and change (the
#: engine, the threshold language and describe read it) and imports only the config.
SHARED_STAGES = ("derive",)
#: The faces that run the stages (the in-process run, the command line, the deprecated stubs).
FACES = ("pipeline", "cli", "_moved", "io", "schemas", "validation", "analysis", "responders", "tables")
FACES += ("figures", "report", "effects", "proportions", "clinical", "__init__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the prt_outcomes modules ``path`` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:
                found |= {f"{target}.{alias.name}" for alias in node.names}
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {f for f in found if f.startswith("prt_outcomes.")}


def _stage_of(module: str) -> str | None:
    top = module.split(".")[1] if module.count(".") else ""
    return top if top in STAGES else None


def test_every_rule_file_has_its_stage_in_the_package():
    rule_files = sorted(p.stem for p in RULES.glob("*.smk") if p.stem != "common")
    assert rule_files == sorted(STAGES)
    for stage in STAGES:
        assert (PACKAGE / f"{stage}.py").is_file() or (PACKAGE / stage / "__init__.py").is_file(), stage


def _ground_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        top = module.split(".")[1] if module.count(".") else "__init__"
        if top in STAGES or top in FACES:
            continue
        yield path


@pytest.mark.parametrize("path", list(_ground_modules()), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_the_ground_imports_no_stage(path):
    stages = {m for m in _imports(path) if _stage_of(m) and _stage_of(m) not in SHARED_STAGES}
    assert not stages, f"{path.relative_to(PACKAGE)} imports {sorted(stages)}"


@pytest.mark.parametrize("stage", [s for s in STAGES if s not in SHARED_STAGES])
def test_a_stage_imports_no_later_stage(stage):
    later = STAGES[STAGES.index(stage) + 1 :]
    single = PACKAGE / f"{stage}.py"
    paths = [single] if single.is_file() else (PACKAGE / stage).rglob("*.py")
    for path in paths:
        wrong = {m for m in _imports(path) if _stage_of(m) in later}
        assert not wrong, f"{path.relative_to(PACKAGE)} imports the later stage(s) {sorted(wrong)}"


def test_the_import_reader_sees_relative_and_absolute_imports(tmp_path):
    source = PACKAGE / "render" / "report.py"
    found = _imports(source)
    assert "prt_outcomes.render.tables" in found and "prt_outcomes.files" in found
