"""Paths are named once (issue 10, items 1-2): prt_outcomes.layout.RunLayout names every file of a
run; the workflow scripts build no path and pass what Snakemake hands them; the render steps and
the report read nothing but the files the layout declares as their inputs."""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from conftest import REPO_ROOT  # noqa: E402
from prt_outcomes.layout import RunLayout, file_key  # noqa: E402
from prt_outcomes.outputs import expected_outputs, figure_stems, journal_table_files  # noqa: E402
from prt_outcomes.render import figures as F  # noqa: E402
from prt_outcomes.render.report import build_report, render_tables  # noqa: E402

SCRIPTS = sorted((REPO_ROOT / "workflow" / "scripts").glob("*.py"))
RULES = sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))


def _every_path(layout: RunLayout) -> list[Path]:
    """Every file the layout names for the example (wildcard-free)."""
    paths = list(layout.contract())
    paths += list(layout.ingest) + list(layout.validation) + list(layout.stamps.values())
    paths += [layout.analysis_data, layout.analysis_csv, layout.lock]
    for outcome, analysis in layout.config.outcome_analyses():
        paths += list(layout.model_tables(outcome, analysis).values())
    paths += list(layout.figure_outputs().values()) + list(layout.report_inputs().values())
    return paths


def test_the_contract_is_the_layouts(cfg, tmp_path):
    layout = RunLayout.for_study(cfg, tmp_path)
    assert expected_outputs(cfg, tmp_path) == layout.contract()
    names = {p.relative_to(layout.study_dir).as_posix() for p in layout.contract()}
    assert {f"tables/{n}" for n in journal_table_files(cfg)} <= names
    assert {f"figures/{s}.{f}" for s in figure_stems(cfg) for f in cfg.figure_formats} <= names
    assert len(names) == len(layout.contract())  # no file named twice


def test_every_path_is_inside_the_study_folder_and_keys_are_names(cfg, tmp_path):
    layout = RunLayout.for_study(cfg, tmp_path)
    assert all(p.is_relative_to(layout.study_dir) for p in _every_path(layout))
    for mapping in (layout.rendered_tables(), layout.figure_outputs(), layout.report_inputs()):
        assert all(key.isidentifier() for key in mapping), mapping  # snakemake.output.<key>
    assert layout.rendered_tables()[file_key("contrasts", "tex")] == layout.table("contrasts", "tex")


def test_report_figures_without_png_are_drawn_for_the_report_only(cfg, tmp_path):
    pdf_only = RunLayout.for_study(replace(cfg, figure_formats=("pdf",)), tmp_path)
    extra = {k: p for k, p in pdf_only.figure_outputs().items() if k not in pdf_only.figures()}
    assert set(extra.values()) == set(pdf_only.report_figures().values())
    assert all(p.is_relative_to(pdf_only.intermediate) for p in extra.values())
    assert not [p for p in pdf_only.contract() if p in extra.values()]  # not in the contract
    with_png = RunLayout.for_study(cfg, tmp_path)
    assert set(with_png.figure_outputs()) == set(with_png.figures())


# --------------------------------------------------------------------------------------------
# the scripts build no path
# --------------------------------------------------------------------------------------------
def _path_building(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("Path", "PurePath", "glob", "os"):
            found.append(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in (
            "parent",
            "parents",
            "glob",
            "joinpath",
            "with_name",
        ):
            found.append(f".{node.attr}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            found.append("a / b")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.search(r"[\\/]|\.(csv|parquet|json|html|png|pdf|md|tex|log)\b", node.value):
                found.append(repr(node.value))
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_a_workflow_script_builds_no_path(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    if ast.get_docstring(tree) is not None:
        tree.body = tree.body[1:]  # the docstring may name files; the code may not
    assert _path_building(tree) == [], script.name
    text = script.read_text(encoding="utf-8")
    assert "snakemake.input" in text or script.stem == "ingest"  # ingest reads the config's files
    assert "snakemake.output" in text


def test_the_detector_sees_path_building():
    bad = ast.parse('from pathlib import Path\nd = Path(x).parent / "tables"\nf"{d}/a.csv"')
    assert {"Path", ".parent", "a / b"} <= set(_path_building(bad))


@pytest.mark.parametrize("rule_file", RULES, ids=[r.stem for r in RULES])
def test_rules_spell_no_path(rule_file):
    """Every path of a rule comes from LAYOUT (common.smk), none is an f-string of folders."""
    text = rule_file.read_text(encoding="utf-8")
    assert not re.search(r"""f["'][^"']*\{R\}""", text)
    assert not re.search(r"""["'](tables|figures|intermediate|validation|logs)/""", text)


# --------------------------------------------------------------------------------------------
# the render steps and the report read only their declared inputs
# --------------------------------------------------------------------------------------------
def _copy_only(files: dict, source: RunLayout, target: RunLayout) -> dict:
    """Copy ``files`` (paths under ``source``) to the same places under ``target``."""
    copied = {}
    for key, path in files.items():
        to = target.study_dir / Path(path).relative_to(source.study_dir)
        if Path(path).exists():
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, to)
        copied[key] = to
    return copied


@pytest.fixture(scope="module")
def full(results, cfg):
    """The fake results, rendered (tables, and PNG figures at a low dpi), with the report."""
    config = replace(cfg, dpi=60, figure_formats=("png",))
    render_tables(config, results)
    F.render_figures(config, results)
    return config, RunLayout(config, results), build_report(config, results).read_bytes()


def test_the_report_reads_only_its_declared_inputs(full, tmp_path):
    config, source, report = full
    target = RunLayout(config, tmp_path / "only_inputs")
    inputs = _copy_only(source.report_inputs(), source, target)
    assert build_report(config, inputs=inputs, out=target.report).read_bytes() == report


def test_the_table_renderer_reads_only_the_result_tables(full, tmp_path):
    config, source, _ = full
    target = RunLayout(config, tmp_path / "only_inputs")
    tables = _copy_only(source.result_tables(), source, target)
    written = render_tables(config, tables=tables, out=target.rendered_tables())
    assert sorted(written) == sorted(target.rendered_tables().values())
    for key, path in target.rendered_tables().items():
        assert path.read_bytes() == source.rendered_tables()[key].read_bytes(), key


def test_the_figure_renderer_reads_only_its_declared_tables(full, tmp_path):
    config, source, _ = full
    target = RunLayout(config, tmp_path / "only_inputs")
    tables = _copy_only(source.figure_inputs(), source, target)
    written = F.render_figures(config, tables=tables, out=target.figure_outputs())
    assert sorted(written) == sorted(target.figure_outputs().values())
    assert not (target.study_dir / "tables" / "model_info.csv").exists()


def test_without_png_figures_the_report_embeds_pngs_drawn_for_it(full, cfg, tmp_path):
    config = replace(cfg, dpi=40, figure_formats=("pdf",))
    source, target = RunLayout(config, full[1].study_dir), RunLayout(config, tmp_path / "pdf_only")
    tables = _copy_only(source.figure_inputs(), source, target)
    written = F.render_figures(config, tables=tables, out=target.figure_outputs())
    pngs = [p for p in written if p.suffix == ".png"]
    assert pngs and all(p.is_relative_to(target.intermediate) for p in pngs)
    assert not list((target.study_dir / "figures").glob("*.png"))  # the contract's folder: PDF only
    inputs = {**source.report_inputs(), **{file_key(s, "png"): p for s, p in target.report_figures().items()}}
    text = build_report(config, inputs=inputs, out=target.report).read_text(encoding="utf-8")
    assert "Figure not rendered" not in text and text.count("data:image/png;base64,") >= 4


# Modules that name files of their own, outside a run's folder: the `validate --report DIR` and
# `simulate --out DIR` commands' folders, and the project's Snakefile and profiles/default that
# the CLI starts Snakemake with (a run's files, the logs included, come from RunLayout).
OWN_FOLDERS = {"validate/checks.py", "simulate.py", "cli.py"}


@pytest.mark.parametrize(
    "module",
    [
        p
        for p in sorted((REPO_ROOT / "src" / "prt_outcomes").rglob("*.py"))
        if p.relative_to(REPO_ROOT / "src" / "prt_outcomes").as_posix() not in OWN_FOLDERS
    ],
    ids=lambda p: p.relative_to(REPO_ROOT / "src" / "prt_outcomes").as_posix(),
)
def test_no_package_module_but_the_layout_joins_a_name_to_a_folder(module):
    if module.name == "layout.py":
        return
    assert _name_joins(module.read_text(encoding="utf-8")) == [], module.name


def _name_joins(source: str) -> list[str]:
    """``folder / "name"`` and ``folder / f"{stem}.csv"`` joins (a division by a number is not one)."""

    def text(side) -> bool:
        return isinstance(side, ast.JoinedStr) or (
            isinstance(side, ast.Constant) and isinstance(side.value, str)
        )

    return [
        ast.unparse(node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and (text(node.left) or text(node.right))
    ]


def test_the_join_detector_sees_the_old_conventions():
    old = 'out = results_dir / "intermediate"\np = d / f"{name}.csv"\nq = x / 2'
    assert _name_joins(old) == ["results_dir / 'intermediate'", "d / f'{name}.csv'"]
