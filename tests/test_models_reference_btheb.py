"""The HSAUR3 book model on the Beat the Blues trial (BtheB), ML random intercept, vs lme4 live and
vs the numbers printed in the book; plus convergence and boundary honesty of random-intercept fits.

Model (Everitt & Hothorn, *A Handbook of Statistical Analyses Using R*, 3rd ed., chapter
"Analyzing Longitudinal Data I", object ``BtheB_lmer1``; HSAUR3 1.0.13
``doc/Ch_analysing_longitudinal_dataI.R``, chunk ALDI-fit-BtheB)::

    lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject),
         data = BtheB_long, REML = FALSE, na.action = na.omit)

``BtheB_long`` is the book's reshape (chunk ALDI-long-BtheB): ``bdi.2m, bdi.3m, bdi.5m, bdi.8m`` at
``time`` 2, 3, 5, 8 months (four follow-ups: the data have no 4- or 6-month visit), the response
named ``bdi``; 280 rows of 97 subjects after ``na.omit``. Fixture ``references/models/btheb/``:
``btheb_long.csv`` (that frame) and ``btheb_lmer.csv`` from ``btheb_lmer.R`` (rerun live when
Rscript is available and checked equal to the stored file).

The book prints (HSAUR3 ``doc/Ch_analysing_longitudinal_dataI.pdf``, Figure 13.2)::

    Linear mixed model fit by maximum likelihood ['lmerMod']
         AIC      BIC   logLik deviance df.resid
      1887.5   1916.6   -935.7   1871.5      272
    Random effects:
     Groups   Name        Variance Std.Dev.
     subject  (Intercept) 48.78    6.984
     Residual             25.14    5.014
    Number of obs: 280, groups:  subject, 97
    Fixed effects:
                   Estimate Std. Error t value
    (Intercept)     5.59239    2.24244   2.494
    bdi.pre         0.63968    0.07789   8.212
    time           -0.70476    0.14639  -4.814
    treatmentBtheB -2.32908    1.67036  -1.394
    drugYes        -2.82495    1.72684  -1.636
    length>6m       0.19708    1.63832   0.120

Tolerances: lme4 (nloptwrap, ftol_abs 1e-14) to the rounding of the optimisation: logLik 1e-6
relative, coefficients 1e-6 relative, SEs 1e-5 relative, variances 1e-5. The book: half a unit of
each printed digit. Achieved (2026-12-02): logLik 2e-13 absolute, coefficients 1.7e-7 relative, SEs
3e-8 relative, variances 8e-8 relative; every printed book number reproduced at its rounding.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prt_outcomes as po

REF = Path(__file__).resolve().parent / "references" / "models" / "btheb"
FORMULA = "bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject)"
BOOK_COEF = {  # term: (estimate, SE) as printed, 5 decimals
    "(Intercept)": (5.59239, 2.24244),
    "bdi.pre": (0.63968, 0.07789),
    "time": (-0.70476, 0.14639),
    "treatment[BtheB]": (-2.32908, 1.67036),
    "drug[Yes]": (-2.82495, 1.72684),
    "length[>6m]": (0.19708, 1.63832),
}
BOOK = {"loglik": -935.7, "AIC": 1887.5, "BIC": 1916.6, "var_subject": 48.78, "var_residual": 25.14}


def _read(path):
    return pd.read_csv(path, keep_default_na=False, na_values=["NA"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    long, ref = pd.read_csv(REF / "btheb_long.csv"), _read(REF / "btheb_lmer.csv")
    rscript = shutil.which("Rscript")
    if rscript:
        tmp = tmp_path_factory.mktemp("btheb")
        subprocess.run(
            [rscript, str(REF / "btheb_lmer.R"), str(tmp / "long.csv"), str(tmp / "ref.csv")],
            check=True,
            capture_output=True,
            timeout=120,
        )
        pd.testing.assert_frame_equal(pd.read_csv(tmp / "long.csv"), long)
        live = _read(tmp / "ref.csv")
        assert list(live["term"]) == list(ref["term"])
        np.testing.assert_allclose(
            live[["estimate", "se"]].to_numpy(float), ref[["estimate", "se"]].to_numpy(float), rtol=1e-8
        )
    return long, ref


@pytest.fixture(scope="module")
def fit(reference):
    long, _ = reference
    # R's factor levels: treatment TAU first (the data's order), drug No, length <6m (sorted)
    return po.mmrm(FORMULA, long, method="ml", reference={"treatment": "TAU"})


def test_btheb_frame_is_the_books(reference):
    long, _ = reference
    assert len(long) == 280 and long["subject"].nunique() == 97
    assert sorted(long["time"].unique()) == [2, 3, 5, 8]


def test_btheb_matches_lme4(fit, reference):
    _, ref = reference
    assert fit.converged and fit.warnings == []
    r = ref.set_index("term")
    ll = float(r.loc["ML", "estimate"])
    assert fit.loglik == pytest.approx(ll, rel=1e-6)
    assert fit.loglik >= ll - 1e-6  # not stopped below lme4's optimum
    coefs = fit.coefficients.set_index("term")
    for term in BOOK_COEF:
        c = r.loc[term.replace("[", "").replace("]", "")]
        assert coefs.loc[term, "estimate"] == pytest.approx(c["estimate"], rel=1e-6, abs=1e-9)
        assert coefs.loc[term, "se"] == pytest.approx(c["se"], rel=1e-5)
    comps = fit.variance_components.set_index("parameter")["estimate"]
    assert comps["subject_intercept_variance"] == pytest.approx(r.loc["subject", "estimate"], rel=1e-5)
    assert comps["residual_variance"] == pytest.approx(r.loc["Residual", "estimate"], rel=1e-5)


def test_btheb_matches_the_book(fit):
    coefs = fit.coefficients.set_index("term")
    for term, (est, se) in BOOK_COEF.items():
        assert abs(coefs.loc[term, "estimate"] - est) <= 5e-6
        assert abs(coefs.loc[term, "se"] - se) <= 5e-6
    assert abs(fit.loglik - BOOK["loglik"]) <= 0.05
    assert abs(fit.aic - BOOK["AIC"]) <= 0.05
    # the book's BIC uses log(number of observations) (lme4), the engine's log(subjects) (SAS)
    n_par = len(BOOK_COEF) + 2
    assert abs(-2 * fit.loglik + n_par * np.log(fit.n_obs) - BOOK["BIC"]) <= 0.05
    comps = fit.variance_components.set_index("parameter")["estimate"]
    assert abs(comps["subject_intercept_variance"] - BOOK["var_subject"]) <= 0.005
    assert abs(comps["residual_variance"] - BOOK["var_residual"]) <= 0.005
    assert fit.n_obs == 280 and fit.n_subjects == 97


def test_boundary_random_intercept_is_reported_and_optimal(reference, tmp_path):
    """Within-subject differences made negatively correlated put the subject variance at 0:
    the fit must say so (warning), still report convergence, and its logLik must equal lme4's
    singular fit (lm's, as the variance is 0), not lie below it."""
    long, _ = reference
    d = long.copy()
    rng = np.random.default_rng(11)
    # subject means removed: deviations sum to 0 within subject, a negative intra-class correlation
    d["y"] = d["bdi"] - d.groupby("subject")["bdi"].transform("mean") + rng.normal(0, 0.1, len(d))
    f = po.mmrm("y ~ time + (1 | subject)", d, method="ml")
    assert f.converged
    assert any("boundary" in w for w in f.warnings), f.warnings
    comps = f.variance_components.set_index("parameter")["estimate"]
    assert comps["subject_intercept_variance"] == pytest.approx(0.0, abs=1e-8)
    # at the boundary the model is the linear model: its ML logLik in closed form
    X = np.column_stack([np.ones(len(d)), d["time"].to_numpy(float)])
    y = d["y"].to_numpy()
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    n = len(y)
    ll_lm = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    assert f.loglik == pytest.approx(ll_lm, rel=1e-9)
    rscript = shutil.which("Rscript")
    if rscript:
        d[["subject", "time", "y"]].to_csv(tmp_path / "b.csv", index=False)
        code = (
            "suppressPackageStartupMessages(library(lme4)); d <- read.csv(commandArgs(TRUE)[1]);"
            "f <- lmer(y ~ time + (1 | subject), d, REML = FALSE);"
            "cat(sprintf('%.12f %d', as.numeric(logLik(f)), isSingular(f)))"
        )
        out = subprocess.run(
            [rscript, "-e", code, str(tmp_path / "b.csv")], check=True, capture_output=True, text=True
        ).stdout.split()
        assert out[1] == "1"  # lme4 agrees it is a boundary (singular) fit
        assert f.loglik >= float(out[0]) - 1e-6
        assert f.loglik == pytest.approx(float(out[0]), abs=1e-6)
