"""Write the .test study's data: a small, fixed cut of the project's seeded example trial.

The simulator (:mod:`prt_outcomes.simulate`) draws the bundled example; this keeps the first
participants of each arm (in participant-id order) at three visits, with two outcomes and two
covariates, so that CI's full run of the workflow is quick. The values are the simulator's
text exactly as ``prt-outcomes simulate`` writes it (read back as strings, never re-formatted),
and the file is byte-identical on every run: tests/test_workflow_standard.py regenerates it.

Run from the project folder::

    python .test/make_test_data.py            # writes .test/data/outcomes_long.csv
    python .test/make_test_data.py --out DIR  # writes DIR/outcomes_long.csv
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from prt_outcomes.simulate import EXAMPLE_SEED, write_example

PER_ARM = 10
VISITS = ("baseline", "post", "m3")
COLUMNS = ("participant_id", "arm", "visit", "pain_avg", "odi", "age", "sex")
DEFAULT_OUT = Path(__file__).resolve().parent / "data"


def write_test_data(out_dir: str | Path = DEFAULT_OUT, seed: int = EXAMPLE_SEED) -> Path:
    """Write ``out_dir/outcomes_long.csv`` and return its path."""
    with tempfile.TemporaryDirectory() as scratch:
        example = write_example(scratch, seed)
        # as text: the simulator's number formatting and empty cells pass through unchanged
        full = pd.read_csv(example, dtype=str, keep_default_na=False)
    ids = sorted(full["participant_id"].unique())
    arm_of = full.drop_duplicates("participant_id").set_index("participant_id")["arm"]
    kept = []
    for arm in sorted(arm_of.unique()):
        kept += [pid for pid in ids if arm_of[pid] == arm][:PER_ARM]
    cut = full[full["participant_id"].isin(kept) & full["visit"].isin(VISITS)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "outcomes_long.csv"
    cut.loc[:, list(COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder to write outcomes_long.csv in")
    parser.add_argument("--seed", type=int, default=EXAMPLE_SEED)
    args = parser.parse_args()
    print(write_test_data(args.out, args.seed))
