"""Command line: ``prt-outcomes run | validate | simulate``.

``run`` starts the Snakemake workflow in a subprocess (the package itself never imports
Snakemake), so Snakemake's own progress is what the user sees. The study is read from the one
config file given (the same reading as ``validate``); a failed step's one-paragraph message is
repeated at the end; Ctrl-C stops the workflow cleanly; a lock keeps two runs from writing the
same results folder at once.

Examples
--------
.. code-block:: console

    $ prt-outcomes run --config config/config.yaml --cores 2
    $ prt-outcomes run --config site_a.yaml --config site_b.yaml --cores 8   # one DAG
    $ prt-outcomes validate --config config/config.yaml --data my_export.csv --report checks/
    $ prt-outcomes simulate --seed 20221 --out data/example
    $ prt-outcomes simulate --design audit --out data/clinic_example
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import __version__

__all__ = ["main", "find_snakefile", "run_interruptible", "snakemake_command", "batch_command", "BATCH_FILE"]

#: The workflow of several studies in one DAG (one Snakemake module per study), beside Snakefile.
BATCH_FILE = Path("workflow") / "batch.smk"

#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
INTERRUPTED = 130


def find_snakefile(start: Path | None = None) -> Path:
    """The workflow's ``Snakefile``: in the current directory or the source checkout."""
    from .layout import WORKFLOW_FILE

    candidates = [
        Path(start or Path.cwd()) / WORKFLOW_FILE,
        Path(__file__).resolve().parents[2] / WORKFLOW_FILE,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "cannot find the workflow's Snakefile; run prt-outcomes from the project directory "
        "(the one holding Snakefile) or pass --snakefile."
    )


def _yaml_quoted(text: str) -> str:
    """``text`` as a single-quoted YAML scalar: Snakemake parses ``--config`` values as YAML, so
    an unquoted ``2024`` would arrive as a number and ``a: b`` as a mapping."""
    return "'" + text.replace("'", "''") + "'"


def snakemake_command(
    snakefile: Path, config_path: Path, results_root: Path | None, cores: int, extra: list[str]
) -> list[str]:
    """The Snakemake command line ``prt-outcomes run`` starts.

    Only launcher settings travel through ``--config``: the study itself is read by the workflow
    from ``config_path`` with :func:`prt_outcomes.config.load_config`, as ``validate`` reads it.
    The workflow runs in the Snakefile's folder (the project), wherever the command is typed.

    >>> cmd = snakemake_command(Path("/p/Snakefile"), Path("/s/c.yaml"), Path("/r/2024"), 2, [])
    >>> cmd[5:9]
    ['--directory', '/p', '--config', "config_path='/s/c.yaml'"]
    >>> cmd[9]
    "results_root='/r/2024'"
    """
    settings = [f"config_path={_yaml_quoted(str(config_path))}"]
    if results_root is not None:
        settings.append(f"results_root={_yaml_quoted(str(results_root))}")
    return _command(snakefile, snakefile.parent, settings, cores, extra)


def batch_command(
    snakefile: Path, config_paths: list[Path], results_root: Path | None, cores: int, extra: list[str]
) -> list[str]:
    """The Snakemake command of ``prt-outcomes run`` with several ``--config``: one DAG.

    The project's ``workflow/batch.smk`` loads the one-study workflow (``snakefile``) once per
    study as a Snakemake module; only the launcher settings travel, as in
    :func:`snakemake_command`.

    >>> cmd = batch_command(Path("/p/Snakefile"), [Path("/s/a.yaml"), Path("/s/b.yaml")], None, 8, [])
    >>> cmd[3:7]
    ['--snakefile', '/p/workflow/batch.smk', '--directory', '/p']
    >>> cmd[8]
    "config_paths=['/s/a.yaml', '/s/b.yaml']"
    """
    paths = ", ".join(_yaml_quoted(str(p)) for p in config_paths)
    settings = [f"config_paths=[{paths}]"]
    if results_root is not None:
        settings.append(f"results_root={_yaml_quoted(str(results_root))}")
    return _command(snakefile.parent / BATCH_FILE, snakefile.parent, settings, cores, extra)


def _command(
    workflow_file: Path, project: Path, settings: list[str], cores: int, extra: list[str]
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(workflow_file),
        "--directory",
        str(project),
        "--config",
        *settings,
        "--cores",
        str(cores),
        # the terminal shows progress; prt-outcomes run keeps Snakemake's full log in
        # results/<study>/logs/snakemake.log (see _run)
        "--quiet",
        "rules",
        # Snakemake marks the outputs of jobs stopped by Ctrl-C as incomplete: build them again
        # instead of asking the user for this flag.
        "--rerun-incomplete",
        # named explicitly: Snakemake would otherwise prefer a profiles/default folder in the
        # user's current folder over the project's
        "--workflow-profile",
        str(project / "profiles" / "default"),
        *extra,
    ]


def run_interruptible(command: list[str], *, on_interrupt: str | None = None, on_line=None, **popen) -> int:
    """Run ``command`` and return its exit status; on Ctrl-C let it and its jobs stop cleanly.

    The child runs in a process group of its own, so the terminal's Ctrl-C reaches only this
    process, which forwards one SIGINT to the child's whole group (as a terminal would: Snakemake
    and the jobs it started) and waits until they have stopped and Snakemake has released its
    lock. A second Ctrl-C sends SIGTERM, a third SIGKILL. After an interrupt ``on_interrupt`` is
    printed (one line, no traceback) and the status is 130.
    """
    reader = None
    if on_line is not None:
        import threading

        popen.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    child = subprocess.Popen(command, start_new_session=True, **popen)
    if on_line is not None:

        def pump():
            for line in child.stdout:
                on_line(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
    interrupts = 0
    while True:
        try:
            status = child.wait()
            break
        except KeyboardInterrupt:
            interrupts += 1
            sig = {1: signal.SIGINT, 2: signal.SIGTERM}.get(interrupts, signal.SIGKILL)
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                pass
    if reader is not None:
        reader.join(timeout=10)
    if interrupts:
        if on_interrupt:
            print(on_interrupt, file=sys.stderr, flush=True)
        return INTERRUPTED
    return status


def _step_failures(logs_dir: Path, since: float) -> list[tuple[Path, str]]:
    """The failure paragraphs of the steps whose logs were written during this run."""
    from .logs import failure_from_log

    found = []
    for log in sorted(logs_dir.glob("*.log")) if logs_dir.is_dir() else []:
        try:
            fresh = log.stat().st_mtime >= since
        except OSError:
            continue
        message = failure_from_log(log) if fresh else None
        if message:
            found.append((log, message))
    return found


#: Lines of Snakemake's output shown on the terminal; everything goes to the run's log.
_SHOWN = (
    "steps (",
    "Nothing to be done",
    "Error in rule",
    "Exiting because",
    "MissingInput",
    "WorkflowError",
)


class _Terminal:
    """Snakemake's output: every line to ``log``, the progress and error lines to the terminal."""

    def __init__(self, *logs: Path):
        # a batch of studies keeps the one Snakemake log in every study's logs folder
        self.files = []
        for log in logs:
            log.parent.mkdir(parents=True, exist_ok=True)
            self.files.append(open(log, "w", encoding="utf-8"))
        self.shown = 0

    def __call__(self, line: str) -> None:
        for file in self.files:
            file.write(line)
        text = line.rstrip()
        if any(key in text for key in _SHOWN) or text.startswith(("prt-outcomes:", "Error", "ConfigError")):
            print(text, flush=True)
            self.shown += 1

    def close(self) -> None:
        for file in self.files:
            file.close()


def _summary(layout, project: Path) -> list[str]:
    """The lines printed after a successful run: report, warnings, quarantined rows."""
    import csv

    def shown(path: Path) -> str:
        return str(Path(path).resolve())

    lines = [f"Report: {shown(layout.report)}"]
    warnings = 0
    for log in sorted(layout.log_dir.glob("*.log")) if layout.log_dir.is_dir() else []:
        if log.name == "snakemake.log":
            continue
        text = log.read_text(encoding="utf-8", errors="replace")
        warnings += sum(1 for line in text.splitlines() if line.startswith("WARNING "))
    lines.append(f"Warnings: {warnings} (in the step logs under {shown(layout.log_dir)})")
    quarantined = 0
    try:
        with open(layout.validation.summary, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("file") == "total":
                    quarantined = int(float(row.get("rows_quarantined") or 0))
    except (OSError, ValueError):
        pass
    where = f"; read {shown(layout.validation.report)}" if quarantined else ""
    lines.append(f"Quarantined rows: {quarantined}{where}")
    return lines


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    import contextlib

    from .config import ConfigError, load_config
    from .errors import PrtOutcomesError
    from .layout import RunLayout
    from .outputs import results_lock

    config_files = args.config or ["config/config.yaml"]
    try:
        configs = []
        for config_file in config_files:
            config = load_config(config_file)
            missing = [str(p) for p in config.data_paths() if not p.is_file()]
            if missing:
                raise ConfigError(
                    f"the data file {missing[0]!r} named in {config_file} does not exist; relative "
                    "paths in a config are resolved against the config file's folder."
                )
            configs.append(config)
        snakefile = (Path(args.snakefile) if args.snakefile else find_snakefile()).resolve()
    except (ConfigError, FileNotFoundError) as exc:
        print(f"prt-outcomes: {exc}", file=sys.stderr)
        return 2
    project = snakefile.parent
    # --results is typed in the user's shell: relative to where they are. A config's
    # results_root is relative to the project, where the workflow runs.
    given_root = Path(args.results).expanduser().resolve() if args.results is not None else None
    layouts = []
    for config_file, config in zip(config_files, configs):
        root = given_root if given_root is not None else project / config.raw["results_root"]
        layouts.append(RunLayout.for_study(config, root))
        earlier = [f for f, lay in zip(config_files, layouts[:-1]) if lay.study_dir == layouts[-1].study_dir]
        if earlier:
            print(
                f"prt-outcomes: {earlier[0]} and {config_file} both write the results folder "
                f"{layouts[-1].study_dir} (study name {config.name!r}); give one of them another "
                "study.name or results_root, or run them one at a time.",
                file=sys.stderr,
            )
            return 2
    config_paths = [Path(f).resolve() for f in config_files]
    if len(configs) == 1:
        command = snakemake_command(snakefile, config_paths[0], given_root, args.cores, extra)
    else:
        command = batch_command(snakefile, config_paths, given_root, args.cores, extra)
    snakemake_logs = [layout.log_dir / "snakemake.log" for layout in layouts]
    names = ", ".join(repr(config.name) for config in configs)
    where = snakemake_logs[0] if len(configs) == 1 else "logs/snakemake.log of each study"
    print(
        f"prt-outcomes: running {'study' if len(configs) == 1 else 'studies'} {names} (full log: {where})",
        flush=True,
    )
    started = time.time() - 1  # file times may be rounded down to the second
    try:
        with contextlib.ExitStack() as locks:
            for layout in layouts:
                locks.enter_context(results_lock(layout.study_dir, holder=f"project {project}"))
            terminal = _Terminal(*snakemake_logs)
            terminal("prt-outcomes: " + " ".join(command[2:]) + "\n")
            try:
                status = run_interruptible(
                    command,
                    on_interrupt="prt-outcomes: interrupted; Snakemake stopped its jobs. Run the same "
                    "command again to continue: unfinished outputs are built again.",
                    on_line=terminal,
                )
            finally:
                terminal.close()
    except PrtOutcomesError as exc:
        print(f"prt-outcomes: {exc}", file=sys.stderr)
        return 1
    if status == INTERRUPTED:
        return status
    if status != 0:
        failures = [f for layout in layouts for f in _step_failures(layout.log_dir, started)]
        for log, message in failures:
            print(f"prt-outcomes: the workflow stopped. {message} (log: {log})", file=sys.stderr)
        if not failures:
            # an error before any step ran (the Snakefile's own message): its last lines
            tail = snakemake_logs[0].read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
            print("\n".join(tail), file=sys.stderr)
            print(
                f"prt-outcomes: the workflow stopped (exit {status}); the logs are in "
                f"{layouts[0].log_dir} ({snakemake_logs[0].name}: Snakemake's own) and the lines above "
                "say which step failed.",
                file=sys.stderr,
            )
        return status
    if len(layouts) == 1:
        print("\n".join(["", *_summary(layouts[0], project)]), flush=True)
    else:
        for config, layout in zip(configs, layouts):
            print(
                "\n".join(
                    ["", f"Study {config.name!r}:", *("  " + line for line in _summary(layout, project))]
                ),
                flush=True,
            )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .validate.checks import validate_command

    return validate_command(
        args.config, data_files=args.data or None, report_dir=args.report, quarantine_file=args.quarantine
    )


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import AUDIT_SEED, EXAMPLE_SEED, write_clinic_example, write_example

    if args.design == "audit":
        seed = AUDIT_SEED if args.seed is None else args.seed
        print(write_clinic_example(args.out or "data/clinic_example", seed))
    else:
        seed = EXAMPLE_SEED if args.seed is None else args.seed
        print(write_example(args.out or "data/example", seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prt-outcomes", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"prt-outcomes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole workflow (Snakemake) for one study or several")
    run.add_argument(
        "--config",
        action="append",
        default=None,
        help="study config (YAML; default config/config.yaml); give it several times to run several "
        "studies in one DAG (workflow/batch.smk)",
    )
    run.add_argument("--cores", type=int, default=2, help="cores Snakemake may use (default 2)")
    run.add_argument(
        "--results",
        default=None,
        help="folder to write <study>/ under, anywhere (default: the config's results_root, "
        "inside the project)",
    )
    run.add_argument("--snakefile", default=None, help="workflow Snakefile (default: ./Snakefile)")

    validate = sub.add_parser("validate", help="check data files against the study config only")
    validate.add_argument("--config", required=True, help="study config (YAML)")
    validate.add_argument("--data", nargs="+", default=None, help="data files (default: the config's)")
    validate.add_argument(
        "--report",
        default=None,
        help="directory for the id-free summary.csv, failures.csv, rule_counts.csv, filtered.csv, report.md",
    )
    validate.add_argument(
        "--quarantine",
        default=None,
        help="also write the quarantined rows, with their participant ids, to this CSV (outside --report)",
    )

    simulate = sub.add_parser("simulate", help="write the bundled example data set")
    simulate.add_argument(
        "--design",
        choices=("trial", "audit"),
        default="trial",
        help="trial: the example trial (data/example); audit: the multi-site clinic (data/clinic_example)",
    )
    simulate.add_argument("--seed", type=int, default=None, help="default 20221 (trial), 20240 (audit)")
    simulate.add_argument("--out", default=None, help="default data/example or data/clinic_example")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        return _run(args, extra)
    if args.command == "validate":
        return _validate(args)
    return _simulate(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
