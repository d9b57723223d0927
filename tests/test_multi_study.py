"""Several studies in one DAG: ``prt-outcomes run --config a.yaml --config b.yaml``.

The batch (``workflow/batch.smk``) loads the one-study workflow once per study as a Snakemake
module; each study's contract files must be exactly the files a run of that study alone writes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prt_outcomes import cli
from prt_outcomes.config import load_config
from prt_outcomes.layout import RunLayout

REPO = Path(__file__).resolve().parents[1]
CLINIC = REPO / "config" / "studies" / "clinic_example.yaml"
FEV = REPO / "config" / "studies" / "fev_data.yaml"


def _captured(monkeypatch) -> list[list[str]]:
    """Replace the Snakemake subprocess by a recorder (status 0: the run 'succeeds')."""
    commands: list[list[str]] = []

    def fake(command, **kwargs):
        commands.append(command)
        return 0

    monkeypatch.setattr(cli, "run_interruptible", fake)
    return commands


def test_one_config_keeps_the_one_study_command(tmp_path, monkeypatch):
    commands = _captured(monkeypatch)
    assert cli.main(["run", "--config", str(CLINIC), "--results", str(tmp_path), "--cores", "1"]) == 0
    snakefile = REPO / "Snakefile"
    assert commands == [cli.snakemake_command(snakefile, CLINIC.resolve(), tmp_path.resolve(), 1, [])]


def test_several_configs_make_one_batch_command(tmp_path, monkeypatch, capsys):
    commands = _captured(monkeypatch)
    example = REPO / "config" / "config.yaml"
    argv = ["run", "--config", str(CLINIC), "--config", str(example), "--results", str(tmp_path)]
    assert cli.main(argv) == 0
    assert len(commands) == 1
    command = commands[0]
    assert command[command.index("--snakefile") + 1] == str(REPO / "workflow" / "batch.smk")
    assert f"config_paths=['{CLINIC.resolve()}', '{example.resolve()}']" in command
    out = capsys.readouterr().out
    # the summary names each study's report
    for path in (CLINIC, example):
        report = RunLayout.for_study(load_config(path), tmp_path.resolve()).report
        assert f"Report: {report}" in out
    # and every study keeps Snakemake's log in its own logs folder
    for name in ("clinic_example", "boulder_example"):
        assert (tmp_path / name / "logs" / "snakemake.log").is_file()


def test_two_configs_writing_one_results_folder_are_refused(tmp_path, monkeypatch, capsys):
    commands = _captured(monkeypatch)
    argv = ["run", "--config", str(CLINIC), "--config", str(CLINIC), "--results", str(tmp_path)]
    assert cli.main(argv) == 2
    assert commands == []
    err = capsys.readouterr().err
    assert "both write the results folder" in err and "clinic_example" in err


def test_batch_workflow_refuses_one_results_folder_twice(tmp_path):
    # the batch file checks it too, for users who start Snakemake themselves
    settings = f"config_paths=['{CLINIC}', '{CLINIC}']"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "batch.smk"), "-n", "--cores", "1"]
        + ["--directory", str(REPO), "--config", settings, f"results_root='{tmp_path}'"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "both write the results folder" in done.stdout + done.stderr


def _contract(config_path: Path, root: Path) -> dict[str, bytes]:
    layout = RunLayout.for_study(load_config(config_path), root)
    return {str(p.relative_to(layout.study_dir)): p.read_bytes() for p in layout.contract()}


@pytest.mark.slow
def test_batch_writes_what_each_study_writes_alone(tmp_path, shared_data):
    """Two studies in one DAG and each alone: every contract file byte for byte."""
    run = [sys.executable, "-m", "prt_outcomes.cli", "run", "--cores", "2"]
    batch = tmp_path / "batch"
    both = subprocess.run(
        run + ["--config", str(CLINIC), "--config", str(FEV), "--results", str(batch)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert both.returncode == 0, both.stdout[-3000:] + both.stderr[-3000:]
    for config_path in (CLINIC, FEV):
        alone = tmp_path / config_path.stem
        one = subprocess.run(
            run + ["--config", str(config_path), "--results", str(alone)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]
        together, single = _contract(config_path, batch), _contract(config_path, alone)
        assert together.keys() == single.keys()
        differ = [name for name in single if together[name] != single[name]]
        assert differ == [], f"{config_path.name}: {differ}"
        # the step logs say the same, but for the results folder they name; Snakemake's own log
        # differs (its rule names carry the study's prefix, and it lists both studies' jobs)
        study = load_config(config_path).name

        def step_logs(root: Path) -> dict[str, str]:
            logs = sorted((root / study / "logs").glob("*.log"))
            return {
                p.name: p.read_text().replace(str(root), "<root>") for p in logs if p.name != "snakemake.log"
            }

        assert step_logs(batch) == step_logs(alone)


def test_profile_resources_reach_every_study(tmp_path):
    # profiles/slurm sizes rules by their one-study names; a batch's rules carry a prefix
    settings = f"config_paths=['{CLINIC}', '{REPO / 'config' / 'config.yaml'}']"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "batch.smk"), "-n", "--cores", "1"]
        + ["--directory", str(REPO), "--set-resources", "fit_model:mem_mb=1234"]
        + ["--config", settings, f"results_root='{tmp_path}'"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    blocks = done.stdout.split("\nrule ")
    fits = [b for b in blocks if b.split(":")[0].endswith("__fit_model")]
    assert {b.split(":")[0].split("__")[0] for b in fits} == {"s1_clinic_example", "s2_boulder_example"}
    assert all("mem_mb=1234" in b for b in fits)
