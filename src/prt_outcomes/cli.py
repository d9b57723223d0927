"""Command line: ``prt-outcomes run | validate | simulate``.

``run`` starts the Snakemake workflow in a subprocess (the package itself never imports
Snakemake), so Snakemake's own progress is what the user sees.

Examples
--------
.. code-block:: console

    $ prt-outcomes run --config config/config.yaml --cores 2
    $ prt-outcomes validate --config config/config.yaml --data my_export.csv --report checks/
    $ prt-outcomes simulate --seed 20221 --out data/example
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import __version__

__all__ = ["main", "find_snakefile"]


def find_snakefile(start: Path | None = None) -> Path:
    """The workflow's ``Snakefile``: in the current directory or the source checkout."""
    candidates = [Path(start or Path.cwd()) / "Snakefile", Path(__file__).resolve().parents[2] / "Snakefile"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "cannot find the workflow's Snakefile; run prt-outcomes from the project directory "
        "(the one holding Snakefile) or pass --snakefile."
    )


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    from .config import ConfigError, load_config
    from .outputs import results_dir

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"prt-outcomes: {exc}", file=sys.stderr)
        return 2
    snakefile = Path(args.snakefile) if args.snakefile else find_snakefile()
    results_root = args.results or config.raw.get("results_root", "results")
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(snakefile),
        "--configfile", str(args.config),
        "--config", f"results_root={results_root}",
        "--cores", str(args.cores),
        "--printshellcmds",
        *extra,
    ]
    print("prt-outcomes: " + " ".join(command[2:]), flush=True)
    completed = subprocess.run(command, env=os.environ.copy())
    if completed.returncode != 0:
        print(
            f"prt-outcomes: the workflow stopped (exit {completed.returncode}); the logs are in "
            f"{results_dir(config, results_root) / 'logs'} and the lines above say which step failed.",
            file=sys.stderr,
        )
        return completed.returncode
    report = results_dir(config, results_root) / "report.html"
    print(f"\nReport: {report.resolve()}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .validation import validate_command

    return validate_command(args.config, data_files=args.data or None, report_dir=args.report)


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import write_example

    print(write_example(args.out, args.seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prt-outcomes", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"prt-outcomes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole workflow (Snakemake) for one study")
    run.add_argument("--config", default="config/config.yaml", help="study config (YAML)")
    run.add_argument("--cores", type=int, default=2, help="cores Snakemake may use (default 2)")
    run.add_argument("--results", default=None, help="results root (default: results)")
    run.add_argument("--snakefile", default=None, help="workflow Snakefile (default: ./Snakefile)")

    validate = sub.add_parser("validate", help="check data files against the study config only")
    validate.add_argument("--config", required=True, help="study config (YAML)")
    validate.add_argument("--data", nargs="+", default=None, help="data files (default: the config's)")
    validate.add_argument("--report", default=None, help="directory for summary.csv, failures.csv, report.md")

    simulate = sub.add_parser("simulate", help="write the bundled example data set")
    simulate.add_argument("--seed", type=int, default=20221)
    simulate.add_argument("--out", default="data/example")
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
