# Load the study config once, with the package's one loader; everything else derives from it.
#
# The study comes from exactly one file: `--config config_path=FILE` (what `prt-outcomes run`
# passes), else a single `--configfile FILE`, else config/config.yaml. Nothing is merged: the
# Snakefile has no `configfile:` directive, and --config may carry only the launcher settings
# below. Relative data paths in the file are resolved against the file's folder. In a batch of
# studies (workflow/batch.smk) this file is read once per study, in the study's own module
# namespace, and the module statement's config carries the same two settings.
from pathlib import Path

from prt_outcomes.config import ConfigError, load_config
from prt_outcomes.layout import RunLayout
from prt_outcomes.provenance import write_stamps

LAUNCHER_SETTINGS = ("config_path", "results_root")


def _launcher_settings():
    if not workflow.modifier.is_main_snakefile():
        # one study of a batch (workflow/batch.smk): its `module` statement's config names it
        given = dict(config)
        return Path(str(given["config_path"])).resolve(), given.get("results_root")
    # the --config KEY=VALUE entries
    given = dict(workflow.config_settings.config or {})
    unknown = sorted(set(given) - set(LAUNCHER_SETTINGS))
    if unknown:
        raise ConfigError(
            f"--config {unknown[0]}=... is not a launcher setting; --config takes only "
            f"{', '.join(LAUNCHER_SETTINGS)}. Put study settings in the study's config file."
        )
    files = [str(f) for f in (workflow.overwrite_configfiles or ())]
    path = given.get("config_path")
    if path is not None and files:
        raise ConfigError("give the study config once: --config config_path=FILE or --configfile FILE.")
    if path is None and len(files) > 1:
        raise ConfigError(f"give one study config, not {len(files)} (--configfile {' '.join(files)}).")
    if path is None:  # the bundled example, beside this Snakefile
        path = files[0] if files else Path(workflow.basedir) / "config" / "config.yaml"
    return Path(str(path)).resolve(), given.get("results_root")


CONFIG_PATH, _GIVEN_ROOT = _launcher_settings()
STUDY = load_config(CONFIG_PATH)
# Snakemake's --config parses values as YAML: `results_root=2024` arrives as a number.
RESULTS_ROOT = STUDY.raw["results_root"] if _GIVEN_ROOT is None else str(_GIVEN_ROOT)
# Every job sees only the launcher settings (and the study's name, for the report caption);
# the scripts load the study itself from config_path.
config.clear()
config.update(
    {
        "config_path": str(CONFIG_PATH),
        "results_root": RESULTS_ROOT,
        "study_name": STUDY.name,
    }
)

# Every path of the run, intermediate files included, is named by the layout; the rules take
# their input, output and log paths from it, and the scripts pass them on to the package.
LAYOUT = RunLayout.for_study(STUDY, RESULTS_ROOT)
OUTCOMES = list(STUDY.outcome_names)
DATA_FILES = [str(p) for p in STUDY.data_paths()]
ALL_OUTPUTS = [str(p) for p in LAYOUT.contract()]
# Content stamps, rewritten only when their content changes: a changed config value or a
# replaced data file (whatever its timestamp) rebuilds the outputs that read it.
STAMPS = {name: str(path) for name, path in write_stamps(STUDY, LAYOUT.stamps_dir).items()}


def named(files):
    """A rule's named inputs or outputs from one of the layout's ``{name: path}`` mappings."""
    return {name: str(path) for name, path in dict(files).items()}


def log_of(step):
    return str(LAYOUT.log(step))


# The software of every rule (used with --software-deployment-method conda; normal runs use
# the Python that started them). Rule files live in workflow/rules/, so the path is relative
# to that folder, as Snakemake reads it.
SOFTWARE = "../envs/prt-outcomes.yaml"

# The priority of the jobs on the run's longest chain: ingest, validate and derive (every later
# job waits for them), the fits and the summaries (the longest jobs the figures wait for). When
# one of them is ready together with a short side job (the manifest, the sensitivity collection,
# the descriptive tables), Snakemake starts it first and the side job takes the core left over.
# At equal priority it had started two side jobs while ingest waited, and the summaries alone
# after the fits while the other core idled.
CRITICAL_PATH_PRIORITY = 1


wildcard_constraints:
    outcome="|".join(OUTCOMES),
