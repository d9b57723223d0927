"""Covariance structures other than unstructured / random intercept against R nlme::gls.

The reference numbers below were produced by ``R_SCRIPT`` (nlme 3.1, REML, tight tolerances) on
``tests/references/models/sim2_two_arm_cs.csv`` (2 arms, 4 visits, intermittent missing values,
covariates age, sex, site), with the command in ``R_COMMAND``. ``test_against_live_nlme`` reruns
the script when R is installed.

Tolerances: both programs maximise the same REML likelihood (nlme's ``logLik`` is on the same
scale, checked: compound symmetry agrees to 1e-12). nlme's optimizer stops up to ~1e-7 below the
maximum for the heterogeneous structures, which moves estimates by up to ~1e-4 standard errors
and SEs by ~1e-5 relative; our log-likelihood must never be lower than nlme's by more than 1e-6.
Term order is R's ``model.matrix`` order, the same as the engine's.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prt_outcomes.models import fit_trial_model

DATA = Path(__file__).parent / "references" / "models" / "sim2_two_arm_cs.csv"
ARMS, VISITS = "usual_care;prt", "v1;v2;v3;v4"
R_COMMAND = "Rscript gls_structures.R sim2_two_arm_cs.csv 'usual_care;prt' 'v1;v2;v3;v4' out.csv"

R_SCRIPT = r"""suppressMessages(library(nlme))
args <- commandArgs(TRUE)
d <- read.csv(args[1]); arms <- strsplit(args[2], ";")[[1]]; vis <- strsplit(args[3], ";")[[1]]
d$arm <- factor(d$arm, levels=arms); d$visit <- factor(d$visit, levels=vis)
d$sex <- factor(d$sex); d$site <- factor(d$site)
d <- d[!is.na(d$y),]; d <- d[order(d$participant_id, d$visit_index),]
f <- y ~ arm*visit + age + sex + site
ctl <- glsControl(msMaxIter=500, tolerance=1e-10, msTol=1e-12)
fits <- list(
 compound_symmetry = gls(f, d, correlation=corCompSymm(form=~visit_index|participant_id), control=ctl),
 ar1 = gls(f, d, correlation=corAR1(form=~visit_index|participant_id), control=ctl),
 heterogeneous_ar1 = gls(f, d, correlation=corAR1(form=~visit_index|participant_id),
                         weights=varIdent(form=~1|visit), control=ctl),
 heterogeneous_compound_symmetry = gls(f, d, correlation=corCompSymm(form=~visit_index|participant_id),
                                       weights=varIdent(form=~1|visit), control=ctl),
 toeplitz = gls(f, d, correlation=corARMA(form=~visit_index|participant_id, p=length(vis)-1), control=ctl),
 ar1_ml = gls(f, d, correlation=corAR1(form=~visit_index|participant_id), control=ctl, method="ML")
)
out <- do.call(rbind, lapply(names(fits), function(n) {
  m <- fits[[n]]
  data.frame(model=n, term=c(names(coef(m)), "loglik"), est=c(coef(m), logLik(m)),
             se=c(sqrt(diag(vcov(m))), NA))
}))
write.csv(out, args[4], row.names=FALSE)
"""

NLME_REML = {
    "compound_symmetry": {
        "loglik": -806.552080249,
        "estimate": [
            4.80243641587,
            0.282776857124,
            0.0928990103752,
            0.11467293346,
            0.0322900876072,
            0.00130368121902,
            -0.0268225227282,
            0.281912705266,
            -0.0931206417053,
            -1.04334511473,
            -1.7279808254,
            -1.83926898812,
        ],
        "se": [
            0.492013531517,
            0.272567043831,
            0.178905659044,
            0.17773870893,
            0.179211130663,
            0.0103266685496,
            0.235973029211,
            0.26854431118,
            0.325061487784,
            0.234165889491,
            0.236291981674,
            0.237401998214,
        ],
    },
    "ar1": {
        "loglik": -822.533943381,
        "estimate": [
            4.70303477256,
            0.295466245573,
            0.129309341568,
            0.142295525291,
            0.000128397072289,
            0.00217368256538,
            0.0457406860681,
            0.296553344694,
            -0.0973245701419,
            -1.06910683819,
            -1.73070780626,
            -1.79645203174,
        ],
        "se": [
            0.46717385314,
            0.273419448863,
            0.171904001198,
            0.217848166743,
            0.248198287728,
            0.00968080091733,
            0.221269649315,
            0.251533605306,
            0.306980742887,
            0.225046928055,
            0.28913764394,
            0.328558370704,
        ],
    },
    "heterogeneous_ar1": {
        "loglik": -822.480587043,
        "estimate": [
            4.69378018219,
            0.294595243019,
            0.130098768206,
            0.142481981583,
            -7.91716990174e-05,
            0.00230204079225,
            0.0532650804084,
            0.295378229212,
            -0.089796108277,
            -1.06916965701,
            -1.73216656981,
            -1.79639605622,
        ],
        "se": [
            0.466576265717,
            0.271341358111,
            0.171996006483,
            0.216382894245,
            0.247549552575,
            0.00968447581264,
            0.22125266579,
            0.251548267379,
            0.306897746524,
            0.2251803626,
            0.287209323533,
            0.327732186337,
        ],
    },
    "heterogeneous_compound_symmetry": {
        "loglik": -806.449248967,
        "estimate": [
            4.81183219677,
            0.285052858345,
            0.0921016513267,
            0.115454511387,
            0.0345220871045,
            0.00117744523542,
            -0.0373117710728,
            0.274043722564,
            -0.0837966449197,
            -1.04324440549,
            -1.72983900638,
            -1.8402842059,
        ],
        "se": [
            0.491941001031,
            0.27303111937,
            0.177978093138,
            0.177235444388,
            0.181042822317,
            0.0103211044561,
            0.235743893351,
            0.268249847148,
            0.324614972914,
            0.232956034491,
            0.235586589613,
            0.239868765909,
        ],
    },
    "toeplitz": {
        "loglik": -805.049229758,
        "estimate": [
            4.78367529393,
            0.286115897685,
            0.100155351502,
            0.123099233145,
            0.0285640332374,
            0.0014631330356,
            -0.0156172625432,
            0.282414372382,
            -0.0897779564693,
            -1.04826413709,
            -1.72981948057,
            -1.83214300701,
        ],
        "se": [
            0.492501690617,
            0.272865353907,
            0.172722416154,
            0.182249197051,
            0.186254918871,
            0.0103365330732,
            0.236250678256,
            0.268839011485,
            0.325667767175,
            0.225967315324,
            0.242194607476,
            0.246712613684,
        ],
    },
}


def _fit(structure, method="reml"):
    data = pd.read_csv(DATA)
    return fit_trial_model(
        data,
        outcome="y",
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=["age", "sex", "site"],
        covariance=structure,
        method=method,
        arm_levels=ARMS.split(";"),
        visit_levels=VISITS.split(";"),
    )


def _compare(fit, ref):
    assert fit.converged
    assert fit.loglik >= ref["loglik"] - 1e-6
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-7)
    se = np.asarray(ref["se"])
    np.testing.assert_array_less(np.abs(fit.coefficients["estimate"] - ref["estimate"]) / se, 1e-4)
    np.testing.assert_allclose(fit.coefficients["se"], se, rtol=2e-5)


needs_data = pytest.mark.skipif(not DATA.exists(), reason="simulated reference data not present")


@needs_data
@pytest.mark.parametrize("structure", list(NLME_REML))
def test_against_stored_nlme_values(structure):
    _compare(_fit(structure), NLME_REML[structure])


@needs_data
@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_against_live_nlme(tmp_path):
    script = tmp_path / "gls_structures.R"
    script.write_text(R_SCRIPT)
    out = tmp_path / "out.csv"
    done = subprocess.run(
        ["Rscript", str(script), str(DATA), ARMS, VISITS, str(out)], capture_output=True, text=True
    )
    if done.returncode != 0 and "there is no package called" in done.stderr:
        pytest.skip("R package nlme is not installed")
    assert done.returncode == 0, done.stderr
    ref = pd.read_csv(out)
    for model, rows in ref.groupby("model", sort=False):
        if model.endswith("_ml"):
            continue
        ll = rows.loc[rows["term"] == "loglik", "est"].iloc[0]
        coef = rows[rows["term"] != "loglik"]
        _compare(_fit(model), dict(loglik=ll, estimate=coef["est"].to_numpy(), se=coef["se"].to_numpy()))
