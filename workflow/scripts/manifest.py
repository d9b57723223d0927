"""Snakemake adapter: provenance manifest."""

from prt_outcomes.logs import WorkflowStep

# heavy imports inside the step: a Ctrl-C while importing stops the job quietly too
with WorkflowStep(snakemake) as step:
    from prt_outcomes.provenance import write_manifest

    write_manifest(step.config, snakemake.input.data, snakemake.output.manifest)
