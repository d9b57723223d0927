# Several studies in one DAG: `prt-outcomes run --config a.yaml --config b.yaml` (or, from the
# project folder, `snakemake -s workflow/batch.smk --cores 8 --config "config_paths=[a.yaml,b.yaml]"`).
# Each study is the one-study workflow (../Snakefile) loaded as a Snakemake module with its own
# config and namespace (its own LAYOUT, STAMPS and outputs, see rules/common.smk); its rules are
# named `s<i>_<study>__<rule>` (i: its place on the command line), and `all` asks for every
# study's contract files. The outputs of one
# study are the files a run of that study alone writes.
import re
from pathlib import Path

from snakemake.utils import min_version

from prt_outcomes.config import ConfigError, load_config
from prt_outcomes.layout import RunLayout

min_version("9.0")

BATCH_SETTINGS = ("config_paths", "results_root")


def _batch_studies():
    given = dict(workflow.config_settings.config or {})
    unknown = sorted(set(given) - set(BATCH_SETTINGS))
    if unknown:
        raise ConfigError(
            f"--config {unknown[0]}=... is not a batch setting; workflow/batch.smk takes only "
            f"{', '.join(BATCH_SETTINGS)}. Put study settings in the studies' config files."
        )
    paths = given.get("config_paths")
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise ConfigError('workflow/batch.smk needs the studies: --config "config_paths=[a.yaml,b.yaml]".')
    root = given.get("results_root")
    studies, seen = [], {}
    for path in paths:
        path = Path(str(path)).resolve()
        study = load_config(path)
        results = str(root) if root is not None else study.raw["results_root"]
        folder = RunLayout.for_study(study, results).study_dir.resolve()
        if folder in seen:
            # two studies would write one results folder: refuse before any job runs
            raise ConfigError(
                f"{seen[folder]} and {path} both write the results folder {folder} (study name "
                f"{study.name!r}); give one of them another study.name or results_root."
            )
        seen[folder] = path
        studies.append((study, path, results))
    return studies


def _profile_resources_for(prefix):
    # A profile's set-resources / set-threads (profiles/slurm) name the one-study rules
    # (`fit_model`); a batch's rules are `<prefix>fit_model`, so each study's rules get the
    # same entries. Snakemake applies these when a rule is created, by its final name.
    settings = workflow.resource_settings
    for parsed in (settings._parsed_overwrite_resources, settings._parsed_overwrite_threads):
        for rule_name, value in list(parsed.items()):
            if "__" not in rule_name:
                parsed.setdefault(prefix + rule_name, value)


BATCH = _batch_studies()
BATCH_OUTPUTS = []
for _i, (_study, _path, _results) in enumerate(BATCH):
    # module and rule names must be identifiers; the index keeps two similar names apart
    STUDY_MODULE = f"s{_i + 1}_" + re.sub(r"\W", "_", _study.name)
    STUDY_PREFIX = STUDY_MODULE + "__"
    _profile_resources_for(STUDY_PREFIX)

    module:
        name: STUDY_MODULE
        snakefile:
            "../Snakefile"
        config:
            {"config_path": str(_path), "results_root": _results}

    use rule * from STUDY_MODULE exclude all as STUDY_PREFIX*

    BATCH_OUTPUTS += [str(p) for p in RunLayout.for_study(_study, _results).contract()]


rule all:
    default_target: True
    input:
        BATCH_OUTPUTS,


include: "hooks.smk"
