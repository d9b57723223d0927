"""Copy, verbatim, the rbmi R functions that prt_outcomes.stats.imputation mirrors into rbmi_functions.R.

rbmi (openpharma/rbmi, Apache License >= 2) is not installable here (no CRAN), so the reference
script make_rbmi_reference.R sources these copies. Each function is copied from its top-level
``name <- function(`` line to the first following line that is exactly ``}`` (rbmi's style), from
a git checkout of rbmi at a fixed commit::

    python tests/references/imputation/vendor_rbmi.py /work/.mirror/openpharma+rbmi/repo
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COMMIT = "5961fa0740d6deb9384ec6bf1041b8bc81686209"
FUNCTIONS = {
    "R/strategies.R": [
        "compute_sigma",
        "strategy_MAR",
        "strategy_JR",
        "strategy_CR",
        "strategy_CIR",
        "strategy_LMCF",
    ],
    "R/impute.R": ["get_conditional_parameters"],
    "R/utilities.R": ["sample_mvnorm"],
    "R/delta.R": ["d_lagscale"],
    "R/pool.R": [
        "pool_internal.jackknife",
        "pool_internal.bootstrap",
        "pool_internal.rubin",
        "rubin_df",
        "rubin_rules",
        "pool_bootstrap_percentile",
        "pval_percentile",
        "pool_bootstrap_normal",
        "parametric_ci",
    ],
}


def extract(text: str, name: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name} <- function("))
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return "\n".join(lines[start : end + 1])


def main(repo: str) -> None:
    parts = [
        "# Verbatim copies of rbmi functions (openpharma/rbmi, Apache License >= 2,",
        f"# commit {COMMIT}), written by vendor_rbmi.py. Do not edit.",
        "",
    ]
    for path, names in FUNCTIONS.items():
        text = subprocess.run(
            ["git", "-C", repo, "show", f"{COMMIT}:{path}"], check=True, capture_output=True, text=True
        ).stdout
        for name in names:
            parts += [f"# {path}", extract(text, name), ""]
    out = Path(__file__).with_name("rbmi_functions.R")
    out.write_text("\n".join(parts))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
