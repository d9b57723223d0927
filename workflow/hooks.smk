# What the Snakemake process does when the run ends (the main Snakefile's hooks only: a study
# loaded as a module of workflow/batch.smk registers none).
#
# Snakemake's job rate limiter (--max-jobs-per-timespan, 100/1s unless given) starts a
# one-second threading.Timer after each scheduling round, and the interpreter waits for the
# last one before it exits: every run ended about 1 s after its last job. Scheduling is over
# when these hooks run, so the timers are cancelled (a cancelled timer's only action, waking
# the scheduler, has nobody left to wake).
import threading


def cancel_scheduling_timers():
    """Cancel the timers still pending in this process (see the comment above)."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


onsuccess:
    cancel_scheduling_timers()


onerror:
    cancel_scheduling_timers()
