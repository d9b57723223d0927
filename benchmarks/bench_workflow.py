"""Workflow overhead (issue #15 part 3): ``prt-outcomes run`` of the bundled example, timed.

Runs the example from an empty results folder (a temporary ``--results``), prints the wall time,
the CPU time of the run and its jobs (user + sys: on a shared machine the steadier figure), the
load average beside them, the target (20 s wall on 2 cores) and PASS/FAIL.

.. code-block:: console

    $ .venv/bin/python benchmarks/bench_workflow.py [--cores 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 20.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_workflow_") as results:
        load_before = os.getloadavg()[0]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "prt_outcomes.cli",
                "run",
                "--config",
                "config/config.yaml",
                "--cores",
                str(args.cores),
                "--results",
                results,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        lines = len(done.stdout.splitlines()) + len(done.stderr.splitlines())
    status = "PASS" if done.returncode == 0 and seconds < TARGET_S else "FAIL"
    print(
        "| benchmark | cores | wall s | CPU s (user + sys) | target s | terminal lines "
        "| load (1 min) before/after | result |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| example `prt-outcomes run`, clean results | {args.cores} | {seconds:.1f} | {cpu:.1f} | "
        f"{TARGET_S:.0f} | {lines} | {load_before:.2f} / {os.getloadavg()[0]:.2f} | {status} |"
    )
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
