"""The command line: Ctrl-C stops the workflow cleanly, a results folder has one writer at a time,
and launcher settings reach Snakemake as strings."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import CLI_ENV, EXAMPLE_CONFIG, cli_run_command
from prt_outcomes.cli import main
from prt_outcomes.config import load_config
from prt_outcomes.outputs import results_dir, results_lock

ENV = CLI_ENV


def _wait_for(path: Path, process: subprocess.Popen, limit: float = 120.0) -> None:
    """Poll until ``path`` exists (the child reached the point to interrupt)."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the process ended early ({process.returncode}): {out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path} never appeared")
        time.sleep(0.1)


def test_ctrl_c_is_forwarded_and_the_child_may_clean_up(tmp_path):
    """The wrapper forwards SIGINT, waits for the child's clean-up, prints one line."""
    child = tmp_path / "child.py"
    child.write_text(
        textwrap.dedent(f"""
        import signal, sys, time
        from pathlib import Path
        def stop(signum, frame):
            time.sleep(0.5)  # clean-up takes a moment; the parent must wait for it
            Path({str(tmp_path / "cleaned")!r}).write_text("cleaned")
            sys.exit(130)
        signal.signal(signal.SIGINT, stop)
        Path({str(tmp_path / "ready")!r}).write_text("ready")
        time.sleep(120)
    """)
    )
    wrapper = (
        "import sys; from prt_outcomes.cli import run_interruptible; "
        f"sys.exit(run_interruptible([sys.executable, {str(child)!r}], on_interrupt='stopped cleanly'))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", wrapper], env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for(tmp_path / "ready", process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert (tmp_path / "cleaned").read_text() == "cleaned"  # the child finished its clean-up
    assert err.strip() == "stopped cleanly", err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


@pytest.mark.slow
def test_ctrl_c_during_a_run_leaves_nothing_to_unlock(tmp_path):
    """Through the real CLI and Snakemake: after Ctrl-C the next run needs neither --unlock nor
    --rerun-incomplete, and the user sees one line from prt-outcomes and no traceback."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        textwrap.dedent("""
        rule slow:
            output: "slow.txt"
            shell:
                "echo partial > {output}; touch started.flag; "
                "[ -f go.flag ] || sleep 60; echo done >> {output}"
    """)
    )
    command = cli_run_command(
        EXAMPLE_CONFIG, "--snakefile", snakefile, "--results", tmp_path / "results", "--cores", 1
    )
    process = subprocess.Popen(
        command, cwd=tmp_path, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for(tmp_path / "started.flag", process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert [line for line in err.splitlines() if line.startswith("prt-outcomes:")] == [
        "prt-outcomes: interrupted; Snakemake stopped its jobs. Run the same command again to "
        "continue: unfinished outputs are built again."
    ]
    # the job was stopped at once (no "done"), and the next run just works
    assert "done" not in (tmp_path / "slow.txt").read_text()
    (tmp_path / "go.flag").touch()
    again = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "slow.txt").read_text() == "partial\ndone\n"
    for word in ("LockException", "IncompleteFilesException", "--unlock"):
        assert word not in again.stdout + again.stderr


def test_a_second_run_on_the_same_results_folder_is_refused(tmp_path, capsys):
    config = load_config(EXAMPLE_CONFIG)
    with results_lock(results_dir(config, tmp_path), holder="project /somewhere/else"):
        status = main(["run", "--config", str(EXAMPLE_CONFIG), "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1
    assert "another run is writing the results folder" in err
    assert "project /somewhere/else" in err and "--results" in err
    # the lock is gone with its holder: a later run may take it
    with results_lock(results_dir(config, tmp_path)):
        pass


def test_results_folder_that_looks_like_a_number_is_a_folder(tmp_path):
    """`--results 2024` used to reach the schema as the integer 2024."""
    command = cli_run_command(EXAMPLE_CONFIG, "--results", "2024", "-n")
    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "not of type" not in done.stderr
    assert str(tmp_path / "2024" / "boulder_example" / "report.html") in done.stdout + done.stderr


def test_config_errors_are_one_message_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        EXAMPLE_CONFIG.read_text()
        .replace("df_method: satterthwaite", "df_method: kenward_roger")
        .replace("method: reml ", "method: ml ")
    )
    assert main(["run", "--config", str(bad), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prt-outcomes: ") and "kenward_roger" in err and "Traceback" not in err
