"""Trial-model engine vs independent R references on the simulated trials.

Fixtures: tests/references/models/ (data from make_sim_data.py, values from make_r_reference.R,
versions in r_versions.txt).  Random intercept is compared with lme4 + lmerTest (coefficients)
+ emmeans (marginal means, contrasts); Kenward-Roger with emmeans/pbkrtest.  Unstructured is
compared with model "gls_un_reml"/"gls_un_ml": nlme::gls(corSymm + varIdent) polished to the
optimum by Newton steps in R and given textbook Satterthwaite df (numDeriv derivatives; the same
code reproduces SAS's df on fev_data) -- see the README there for why plain gls + emmeans
("gls_un_reml_emm", kept in the fixtures for the record) is not accurate enough (SEs ~1e-5 off,
emmeans' gls df 1-8 % off).

Tolerances (statements about the math, not about this implementation):
* estimates and SEs: 1e-5 relative.  Both programs maximise the same likelihood; the references
  are converged far below that (lme4 xtol 1e-12, gls tolerance 1e-10).  For quantities that can
  be near zero (a contrast at baseline) the error is relative to max(|ref|, SD(y)), i.e. 1e-5 of
  the outcome's scale.
* Satterthwaite / Kenward-Roger df: 1e-2 relative.  The reference dfs involve numerical Hessians
  (lmerTest: numDeriv; nlme apVar: finite differences), accurate to ~1e-4, and a different but
  equally valid numerical route in the engine may differ by more than that but not by 1 %.
* Kenward-Roger df: 1e-5 relative.  pbkrtest's df (emmeans calls pbkrtest::Lb_ddf) is closed
  form given the REML optimum, with no numerical derivatives, so only optimiser precision
  separates the two (measured <= 7e-8).  1e-2 would not do here: KR and Satterthwaite df differ
  by less than 1 % on most of these cases.  KR-adjusted SEs differ from model-based SEs by
  1e-4 to 1e-3 here, so the 1e-5 SE tolerance checks the adjustment.
* log-likelihood: engine >= R - 1e-6 (the engine finds at least the same optimum) and
  engine <= R + 1e-3 (same scale: a constant such as 0.5 log|X'X| would be caught).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import load_refcompare

REPO_ROOT = Path(__file__).resolve().parents[1]
REF_DIR = REPO_ROOT / "tests" / "references" / "models"

rc = load_refcompare()

from prt_outcomes.models import fit_trial_model  # noqa: E402

RTOL = 1e-5
DF_RTOL = 1e-2
KR_DF_RTOL = 1e-5

DATASETS = list(rc.manifest()["dataset"])


def _cases(quantity: str) -> list:
    out = []
    for name in DATASETS:
        ref = rc.reference(name)
        for model in rc.MODELS:
            if not ref[(ref["model"] == model) & (ref["quantity"] == quantity)].empty:
                out.append(pytest.param(name, model, id=f"{name}-{model}"))
    return out


@functools.lru_cache(maxsize=None)
def _fit_or_error(name: str, model: str):
    # exceptions are cached too, so an unimplemented option is attempted once, not per test
    try:
        return fit_trial_model(rc.sim_data(name), **rc.sim_fit_kwargs(name, model)), None
    except Exception as exc:  # noqa: BLE001 - re-raised by _fit
        return None, exc


def _fit(name: str, model: str):
    fit, exc = _fit_or_error(name, model)
    if exc is not None:
        raise exc
    return fit


@functools.lru_cache(maxsize=None)
def _y_scale(name: str) -> float:
    d = rc.sim_data(name)
    return float(d[rc.spec(name)["outcome"]].std())


def _factors(name: str) -> dict[str, list[str]]:
    s = rc.spec(name)
    d = rc.sim_data(name)
    f = {"arm": s["arm_levels"], "visit": s["visit_levels"]}
    for c in s["covariates"]:
        if d[c].dtype == object or pd.api.types.is_string_dtype(d[c]):
            f[c] = sorted(d[c].dropna().unique())
    return f


def _compare(engine: pd.DataFrame, ref: pd.DataFrame, keys, label: str, scale: float) -> None:
    merged = rc.align(engine, ref, keys)
    rc.check_close(merged, "estimate", RTOL, scale=scale, label=label)
    rc.check_close(merged, "se", RTOL, label=label)
    rc.check_close(merged, "df", KR_DF_RTOL if label.endswith("_kr") else DF_RTOL, label=label)


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("name,model", _cases("marginal_mean"))
def test_marginal_means(name, model):
    ref = rc.ref_table(rc.reference(name), model, "marginal_mean")
    _compare(_fit(name, model).marginal_means, ref, ["arm", "visit"], f"{name}/{model}", _y_scale(name))


@pytest.mark.parametrize("name,model", _cases("contrast"))
def test_contrasts(name, model):
    ref = rc.ref_table(rc.reference(name), model, "contrast")
    _compare(
        _fit(name, model).contrasts, ref, ["arm", "reference", "visit"], f"{name}/{model}", _y_scale(name)
    )


@pytest.mark.parametrize("name,model", _cases("change_contrast"))
def test_change_contrasts(name, model):
    ref = rc.ref_table(rc.reference(name), model, "change_contrast")
    _compare(
        _fit(name, model).change_contrasts,
        ref,
        ["arm", "reference", "visit"],
        f"{name}/{model}",
        _y_scale(name),
    )


@pytest.mark.parametrize("name,model", _cases("coefficient"))
def test_coefficients(name, model):
    ref = rc.ref_table(rc.reference(name), model, "coefficient")
    factors = _factors(name)
    ref["term"] = [rc.r_term_to_engine(t, factors) for t in ref["term"]]
    coefs = _fit(name, model).coefficients
    assert set(coefs["term"]) == set(ref["term"]), (sorted(coefs["term"]), sorted(ref["term"]))
    _compare(coefs, ref, ["term"], f"{name}/{model}", _y_scale(name))


@pytest.mark.parametrize("name,model", _cases("covariance"))
def test_covariance_matrix(name, model):
    ref = rc.ref_table(rc.reference(name), model, "covariance")
    visits = rc.spec(name)["visit_levels"]
    expected = ref.pivot(index="visit", columns="term", values="estimate").loc[visits, visits].to_numpy()
    got = _fit(name, model).covariance
    got = got.loc[visits, visits].to_numpy(dtype=float)
    scale = float(np.max(np.diag(expected)))
    err = np.abs(got - expected) / np.maximum(np.abs(expected), scale)
    assert err.max() <= RTOL, f"{name}/{model}: covariance max rel err {err.max():.3g}\n{got}\n{expected}"


@pytest.mark.parametrize("name,model", _cases("loglik"))
def test_loglik(name, model):
    ll_ref = rc.ref_scalar(rc.reference(name), model, "loglik")
    fit = _fit(name, model)
    assert fit.loglik >= ll_ref - 1e-6, (fit.loglik, ll_ref)
    assert fit.loglik <= ll_ref + 1e-3, (fit.loglik, ll_ref)


@pytest.mark.parametrize("name,model", _cases("n_obs"))
def test_counts_and_convergence(name, model):
    ref = rc.reference(name)
    fit = _fit(name, model)
    assert fit.n_obs == int(rc.ref_scalar(ref, model, "n_obs"))
    assert fit.n_subjects == int(rc.ref_scalar(ref, model, "n_subjects"))
    assert fit.converged


def test_fixture_boundary_cases_are_what_they_claim():
    """sim3: small positive lme4 variance; sim4: at the boundary (lme4 theta 0 to 1e-16,
    isSingular TRUE).  Guards the fixtures."""
    r3 = rc.reference("sim3_near_zero_re")
    r4 = rc.reference("sim4_singular")
    s2_3 = rc.ref_scalar(r3, "lmer_ri_reml", "sigma2_subject")
    assert 0 < s2_3 < 0.05 * rc.ref_scalar(r3, "lmer_ri_reml", "sigma2")
    assert rc.ref_scalar(r4, "lmer_ri_reml", "sigma2_subject") <= 1e-12 * rc.ref_scalar(
        r4, "lmer_ri_reml", "sigma2"
    )
    assert rc.ref_scalar(r4, "lmer_ri_reml", "singular") == 1.0


def test_near_zero_random_intercept_variance():
    """sim3: the off-diagonal of the random-intercept covariance is sigma2_subject = 0.057
    (residual 2.11).  Compared relative to itself (1e-4: the likelihood is flat in this
    direction, so it is the least well-determined parameter of the fit)."""
    ref = rc.reference("sim3_near_zero_re")
    s2 = rc.ref_scalar(ref, "lmer_ri_reml", "sigma2_subject")
    cov = _fit("sim3_near_zero_re", "lmer_ri_reml").covariance.to_numpy(dtype=float)
    off = cov[~np.eye(cov.shape[0], dtype=bool)]
    assert np.all(np.abs(off - s2) <= 1e-4 * s2), (off, s2)


def test_singular_fit_boundary():
    """sim4: lme4 puts the random-intercept variance exactly at 0; the engine must too (within
    1e-6 of the residual variance), and then Satterthwaite df equals n - p = 706 (lmerTest)."""
    ref = rc.reference("sim4_singular")
    fit = _fit("sim4_singular", "lmer_ri_reml")
    cov = fit.covariance.to_numpy(dtype=float)
    s2 = rc.ref_scalar(ref, "lmer_ri_reml", "sigma2")
    off = cov[~np.eye(cov.shape[0], dtype=bool)]
    assert np.all(np.abs(off) <= 1e-6 * s2), off
    n_minus_p = fit.n_obs - len(fit.coefficients)
    assert n_minus_p == 706
    np.testing.assert_allclose(fit.coefficients["df"].to_numpy(dtype=float), n_minus_p, rtol=DF_RTOL)


# ------------------------------------------------------------------------- live R rerun


@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")
def test_live_r_rerun_matches_fixture_and_engine(tmp_path):
    """Rerun make_r_reference.R (random-intercept models, --lmer-only, ~5 s) on one dataset into
    tmp_path.  The fresh values equal the stored fixture (same script and R versions; 1e-6
    relative, so a stale fixture is caught) and the engine agrees with them at the tolerances
    above."""
    name = "sim5_small_hetero"
    cmd = [
        "Rscript",
        str(REF_DIR / "make_r_reference.R"),
        "--outdir",
        str(tmp_path),
        "--datasets",
        name,
        "--no-real",
        "--lmer-only",
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    except subprocess.CalledProcessError as exc:  # missing R packages: report, do not hide
        pytest.fail(f"make_r_reference.R failed:\n{exc.stderr[-2000:]}")
    fresh = rc.reference(name, tmp_path)
    stored = rc.reference(name)
    assert set(fresh["model"]) == {"lmer_ri_reml", "lmer_ri_reml_kr"}
    key = ["model", "quantity", "arm", "reference", "visit", "term"]
    m = fresh.merge(stored, on=key, how="left", suffixes=("_fresh", "_stored"), validate="one_to_one")
    assert len(m) == len(fresh) == len(stored[stored["model"].isin(fresh["model"].unique())])
    for col in ("estimate", "se", "df"):
        a, b = m[f"{col}_fresh"].to_numpy(float), m[f"{col}_stored"].to_numpy(float)
        ok = np.isfinite(b)
        assert np.array_equal(np.isfinite(a), ok), col
        assert np.all(rc.rel_err(a[ok], b[ok], 1e-3) <= 1e-6), col
    fit = _fit(name, "lmer_ri_reml")
    model = "lmer_ri_reml"
    _compare(
        fit.marginal_means,
        rc.ref_table(fresh, model, "marginal_mean"),
        ["arm", "visit"],
        model,
        _y_scale(name),
    )
    _compare(
        fit.contrasts,
        rc.ref_table(fresh, model, "contrast"),
        ["arm", "reference", "visit"],
        model,
        _y_scale(name),
    )
    _compare(
        fit.change_contrasts,
        rc.ref_table(fresh, model, "change_contrast"),
        ["arm", "reference", "visit"],
        model,
        _y_scale(name),
    )
