"""workflow/hooks.smk: the run's Snakemake process exits when its work is done.

Snakemake's job rate limiter leaves a one-second ``threading.Timer`` after each scheduling
round, and the interpreter waited for the last one: every run ended about 1 s after its last
job (issue 15, part 3; benchmarks/bench_workflow.py measures the run).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "workflow" / "hooks.smk"


def _hooks_namespace() -> dict:
    """The Python part of hooks.smk (everything before its first hook directive)."""
    text = HOOKS.read_text(encoding="utf-8")
    namespace: dict = {}
    exec(compile(text[: text.index("\nonsuccess:")], str(HOOKS), "exec"), namespace)  # noqa: S102
    return namespace


def test_pending_timers_are_cancelled_without_running_their_action():
    fired = threading.Event()
    timer = threading.Timer(60.0, fired.set)
    timer.start()
    _hooks_namespace()["cancel_scheduling_timers"]()
    timer.join(timeout=5.0)
    assert not timer.is_alive()
    assert not fired.is_set()


def test_both_hooks_cancel_the_timers():
    text = HOOKS.read_text(encoding="utf-8")
    for hook in ("onsuccess", "onerror"):
        assert re.search(rf"^{hook}:\n    cancel_scheduling_timers\(\)$", text, re.M), hook


def test_the_one_study_and_the_batch_workflows_include_the_hooks():
    # Only a main Snakefile's hooks are registered (a study in a batch is a module), so each
    # entry point includes them.
    assert re.search(r'^include: "workflow/hooks.smk"$', (ROOT / "Snakefile").read_text(), re.M)
    assert re.search(r'^include: "hooks.smk"$', (ROOT / "workflow" / "batch.smk").read_text(), re.M)
