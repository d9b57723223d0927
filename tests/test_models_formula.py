"""The formula interface: parser, R's model.matrix coding, data checks of ``prt_outcomes.mmrm``.

R reference: tests/references/models/formula/hA_model_matrix.csv, R ``model.matrix`` on the
hand-made frame hA_small_frame.csv (script hA_make_reference.R there). Column names are compared
after removing the engine's brackets (``a[q]:b[v]`` is R's ``aq:bv``); values exactly up to
1e-12 (they are 0/1 indicators and products of the frame's numbers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prt_outcomes as po
from prt_outcomes.errors import ModelError
from prt_outcomes.models.formula import Design, aliased_columns, parse_formula

REPO_ROOT = Path(__file__).resolve().parents[1]
FORMULA_REF = REPO_ROOT / "tests" / "references" / "models" / "formula"
SIM2 = REPO_ROOT / "tests" / "references" / "models" / "sim2_two_arm_cs.csv"


# ------------------------------------------------------------------------------------ parser
@pytest.mark.parametrize(
    "text, terms, intercept",
    [
        ("y ~ a", ["a"], True),
        ("y ~ a * b", ["a", "b", "a:b"], True),
        ("y ~ (a + b) * c", ["a", "b", "c", "a:c", "b:c"], True),
        ("y ~ a * b * c - a:b:c", ["a", "b", "c", "a:b", "a:c", "b:c"], True),
        ("y ~ b:a + a", ["a", "b:a"], True),  # order by degree; variables by first appearance
        ("y ~ a - 1", ["a"], False),
        ("y ~ 0 + a", ["a"], False),
        ("y ~ a + 0", ["a"], False),
        ("y ~ -1 + a", ["a"], False),
        ("y ~ a - 1 + 1", ["a"], True),
        ("y ~ a / b", ["a", "a:b"], True),
        ("y ~ a * b - a", ["b", "a:b"], True),
        ("y ~ `my var` + a", ["my var", "a"], True),
    ],
)
def test_expansion(text, terms, intercept):
    f = parse_formula(text)
    assert [":".join(t) for t in f.terms] == terms
    assert f.intercept is intercept
    assert f.covariance is None


@pytest.mark.parametrize(
    "text, code, structure, visit, subject, group",
    [
        ("y ~ a + us(VISIT | ID)", "us", "unstructured", ("VISIT",), "ID", None),
        ("y ~ a + cs(VISIT | ID)", "cs", "compound_symmetry", ("VISIT",), "ID", None),
        ("y ~ a + csh(VISIT | ID)", "csh", "heterogeneous_compound_symmetry", ("VISIT",), "ID", None),
        ("y ~ a + ar1(VISIT | ID)", "ar1", "ar1", ("VISIT",), "ID", None),
        ("y ~ a + ar1h(VISIT | ID)", "ar1h", "heterogeneous_ar1", ("VISIT",), "ID", None),
        ("y ~ a + toep(VISIT | ID)", "toep", "toeplitz", ("VISIT",), "ID", None),
        ("y ~ a + toeph(VISIT | ID)", "toeph", "heterogeneous_toeplitz", ("VISIT",), "ID", None),
        ("y ~ a + ad(VISIT | ID)", "ad", "ante_dependence", ("VISIT",), "ID", None),
        ("y ~ a + adh(VISIT | ID)", "adh", "heterogeneous_ante_dependence", ("VISIT",), "ID", None),
        ("y ~ a + sp_exp(t1, t2 | ID)", "sp_exp", "spatial_exponential", ("t1", "t2"), "ID", None),
        ("y ~ a + us(VISIT | ARM / ID)", "us", "unstructured", ("VISIT",), "ID", "ARM"),
        ("y ~ a + (1 | ID)", "ri", "random_intercept", (), "ID", None),
        ("y ~ us(VISIT | ID) + a", "us", "unstructured", ("VISIT",), "ID", None),
    ],
)
def test_covariance_terms(text, code, structure, visit, subject, group):
    f = parse_formula(text)
    assert [":".join(t) for t in f.terms] == ["a"]
    cov = f.covariance
    assert (cov.code, cov.structure, cov.visit, cov.subject, cov.group) == (
        code,
        structure,
        visit,
        subject,
        group,
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("y a", "exactly one '~'"),
        ("y ~ log(x)", "log() is not supported"),
        ("y ~ a + us(v | id) + cs(v | id)", "2 covariance terms"),
        ("y ~ a | b", "unexpected '|'"),
        ("log(y) ~ a", "left-hand side"),
        ("y ~ a + (x | id)", "only a random intercept"),
        ("y ~ a + us(v)", "us(VISIT | SUBJECT)"),
        ("y ~ a + us(v1, v2 | id)", "one visit column"),
        ("y ~ a ^ 2", "'^' is not supported"),
        ("y ~ y + a", "also appears"),
        ("y ~ a + 2", "not a term"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ModelError, match="formula") as info:
        parse_formula(text)
    assert message in str(info.value)


# ------------------------------------------------------------------------------------ R coding
def _r_matrix():
    frame = pd.read_csv(FORMULA_REF / "hA_small_frame.csv")
    ref = pd.read_csv(FORMULA_REF / "hA_model_matrix.csv")
    return frame, ref


@pytest.mark.parametrize("text", list(pd.read_csv(FORMULA_REF / "hA_model_matrix.csv")["formula"].unique()))
def test_model_matrix_matches_r(text):
    """Names and values as R's model.matrix, including the coding of terms whose margins are
    absent (full indicators) and the intercept-free rule (first factor by indicators)."""
    frame, ref = _r_matrix()
    ref = ref[ref["formula"] == text]
    design = Design.build(parse_formula(text), frame)
    names = [n.replace("[", "").replace("]", "") for n in design.column_names]
    r_names = list(ref.drop_duplicates("column").sort_values("column")["name"])
    assert names == r_names
    r_X = ref.pivot(index="row", columns="column", values="value").to_numpy()
    np.testing.assert_allclose(design.matrix(frame), r_X, rtol=0, atol=1e-12)


def test_aliased_columns_later_one_dropped():
    # an intercept plus a full set of indicators: the last indicator is the dependent one (R lm)
    g = np.array([0, 1, 2, 0, 1, 2])
    X = np.column_stack([np.ones(6), g == 0, g == 1, g == 2, np.arange(6.0)])
    assert aliased_columns(X).tolist() == [False, False, False, True, False]
    assert aliased_columns(np.column_stack([np.ones(3), np.zeros(3)])).tolist() == [False, True]


def test_levels_and_reference():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4], "arm": ["b", "a", "c", "a"], "v": [3, 1, 2, 1]})
    d = Design.build(parse_formula("y ~ arm + v"), df, reference={"arm": "c"}, levels={"v": [3, 2, 1]})
    assert d.levels == {"arm": ["c", "a", "b"], "v": [3, 2, 1]}
    assert d.column_names == ["(Intercept)", "arm[a]", "arm[b]", "v[2]", "v[1]"]
    cat = df.assign(arm=pd.Categorical(df["arm"], categories=["c", "b", "a", "unused"]))
    assert Design.build(parse_formula("y ~ arm"), cat).levels["arm"] == ["c", "b", "a"]
    with pytest.raises(ModelError, match="not in the levels"):
        Design.build(parse_formula("y ~ arm"), df, levels={"arm": ["a", "b"]})
    with pytest.raises(ModelError, match="reference level 'z'"):
        Design.build(parse_formula("y ~ arm"), df, reference={"arm": "z"})
    flags = df.assign(flag=[True, False, True, False])
    assert Design.build(parse_formula("y ~ flag"), flags).column_names == ["(Intercept)", "flag[True]"]


# ------------------------------------------------------------------------------------ mmrm checks
@pytest.fixture(scope="module")
def sim2():
    return pd.read_csv(SIM2)


def test_missing_rows_dropped_and_counted(sim2):
    data = sim2.copy()
    data.loc[data.index[:5], "age"] = np.nan
    n_missing_y = int(data["y"].isna().sum())
    fit = po.mmrm("y ~ arm * visit + age + cs(visit | participant_id)", data)
    dropped = n_missing_y + int(data["y"].notna()[:5].sum())
    assert fit.n_obs == len(data) - dropped
    assert fit.info["n_rows_dropped"] == dropped
    assert any(f"{dropped} row(s) not analysed" in w and "['age']" in w for w in fit.warnings)


def test_user_errors(sim2):
    with pytest.raises(ModelError, match=r"column\(s\) \['agee'\] are not in the data"):
        po.mmrm("y ~ arm + agee + us(visit | participant_id)", sim2)
    with pytest.raises(ModelError, match="no covariance term"):
        po.mmrm("y ~ arm * visit", sim2)
    doubled = pd.concat([sim2, sim2.iloc[:1]])
    with pytest.raises(ModelError, match="repeat a subject x visit"):
        po.mmrm("y ~ arm * visit + us(visit | participant_id)", doubled)
    with pytest.raises(ModelError, match="changes within subject"):
        po.mmrm(
            "y ~ arm * visit + us(visit | site_varying / participant_id)",
            sim2.assign(site_varying=sim2["visit"]),
        )
    with pytest.raises(ModelError, match="not numbers"):
        po.mmrm("y ~ arm + us(visit | participant_id)", sim2.assign(y=sim2["y"].astype(str)))
    apart = sim2[
        ~(
            (sim2["visit"] == "v4")
            & sim2["participant_id"].isin(
                sim2.loc[(sim2["visit"] == "v1") & sim2["y"].notna(), "participant_id"]
            )
        )
    ]
    with pytest.raises(ModelError, match=r"no subject has values at both visits of \[\('v1', 'v4'\)\]"):
        po.mmrm("y ~ visit + us(visit | participant_id)", apart)
    with pytest.raises(ModelError, match="zero residual"):
        po.mmrm("y ~ visit + cs(visit | participant_id)", sim2.assign(y=sim2["visit"].str[1:].astype(float)))
    with pytest.raises(ModelError, match="kenward_roger"):
        po.mmrm("y ~ arm + us(visit | participant_id)", sim2, method="ml", df_method="kenward_roger")


def test_row_order_does_not_matter(sim2):
    form = "y ~ arm * visit + sex + (1 | participant_id)"
    a = po.mmrm(form, sim2)
    b = po.mmrm(form, sim2.sample(frac=1.0, random_state=7))
    # Row order changes the floating-point sums, hence the optimiser's path: the REML optimum is
    # found to the optimiser's tolerance, where the log-likelihood is flat (equal to 1e-12) and
    # the variance parameters, and with them estimates, SEs, t and df, agree to its square root
    # (1.5e-8 relative seen on 2 cores); 1e-6 says "the same fit"
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients, check_exact=False, rtol=1e-6)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)


def test_aliased_terms_are_nan_and_means_estimable(sim2):
    """An aliased column is reported as NaN with a warning; estimable means do not change."""
    # arm:visit with an intercept and no margins: one cell indicator is aliased with the intercept
    full = po.mmrm("y ~ arm:visit + us(visit | participant_id)", sim2)
    cells = po.mmrm("y ~ arm:visit - 1 + us(visit | participant_id)", sim2)
    assert full.aliased.sum() == 1 and not cells.aliased.any()
    assert np.isnan(full.coefficients["estimate"].iloc[-1])
    assert any("not estimable" in w for w in full.warnings)
    assert full.loglik == pytest.approx(cells.loglik, abs=1e-8)  # same column space: same REML fit
    a = full.emmeans("arm", by="visit")
    b = cells.emmeans("arm", by="visit")
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-8)
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-6)
    # a single coefficient of the aliased model is not estimable as a contrast
    L = np.zeros(len(full.terms))
    L[0] = 1.0
    assert np.isnan(full.contrast(L)["estimate"].iloc[0])


def test_contrast_by_name_equals_pairs(sim2):
    fit = po.mmrm("y ~ arm * visit + us(visit | participant_id)", sim2, reference={"arm": "usual_care"})
    L = pd.DataFrame({"arm[prt]": [1.0], "arm[prt]:visit[v2]": [1.0]}, index=["prt - usual_care at v2"])
    c = fit.contrast(L)
    p = fit.pairs("arm", by="visit")
    row = p[p["visit"] == "v2"].iloc[0]
    assert row["contrast"] == "usual_care - prt"
    assert c["label"].iloc[0] == "prt - usual_care at v2"
    assert c["estimate"].iloc[0] == pytest.approx(-row["estimate"], rel=1e-10)
    assert c["se"].iloc[0] == pytest.approx(row["se"], rel=1e-10)
    ci = fit.conf_int(0.1)
    assert list(ci.columns) == ["term", "estimate", "ci_low", "ci_high"]
    assert (ci["ci_high"] - ci["ci_low"] < fit.coefficients["ci_high"] - fit.coefficients["ci_low"]).all()
    assert "MMRM: y ~ arm * visit" in fit.summary()


def test_grouped_unstructured_equals_separate_fits(sim2):
    """With fixed effects fully crossed with the group, the REML likelihood factorises over the
    groups: each group's covariance is the ungrouped fit on that group alone."""
    form = "y ~ arm * visit + us(visit | arm / participant_id)"
    fit = po.mmrm(form, sim2)
    for arm, cov in fit.covariance.items():
        alone = po.mmrm("y ~ visit + us(visit | participant_id)", sim2[sim2["arm"] == arm])
        np.testing.assert_allclose(cov.to_numpy(), alone.covariance.to_numpy(), rtol=1e-5)


def test_spatial_exponential_on_unit_times_is_ar1(sim2):
    """sp_exp on times 1, 2, 3, 4 is rho^|t - s|: the AR(1) model, same likelihood."""
    data = sim2.assign(time=sim2["visit"].str[1:].astype(float))
    form = "y ~ arm * visit + sp_exp(time | participant_id)"
    sp = po.mmrm(form, data)
    ar = po.mmrm("y ~ arm * visit + ar1(visit | participant_id)", data)
    assert sp.loglik == pytest.approx(ar.loglik, abs=1e-6)


def test_fit_trial_model_model_answers_like_its_tables(sim2):
    """``fit_trial_model(...).model`` is the same fit: its emmeans are the marginal means and its
    pairs the contrasts (up to rounding of the reference-grid averaging)."""
    res = po.fit_trial_model(
        sim2,
        outcome="y",
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=["age", "sex"],
        covariance="unstructured",
        reference_arm="usual_care",
    )
    assert res.model is not None
    assert res.model.terms == list(res.coefficients["term"])
    em = res.model.emmeans(["arm", "visit"])
    merged = res.marginal_means.merge(em, on=["arm", "visit"], suffixes=("", "_model"))
    assert len(merged) == len(res.marginal_means)
    for col in ("estimate", "se", "df", "ci_low", "ci_high"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_model"], rtol=1e-12, atol=1e-12)
    pairs = res.model.pairs("arm", by="visit")
    np.testing.assert_allclose(-pairs["estimate"], res.contrasts["estimate"], rtol=1e-12)
    np.testing.assert_allclose(pairs["df"], res.contrasts["df"], rtol=1e-12)
    pd.testing.assert_frame_equal(res.model.coefficients, res.coefficients, check_exact=True)


def test_visit_reference_does_not_reorder_the_covariance(sim2):
    """reference= changes the coding of the visit factor, not the lag order of an AR(1)."""
    form = "y ~ arm * visit + ar1(visit | participant_id)"
    a = po.mmrm(form, sim2)
    b = po.mmrm(form, sim2, reference={"visit": "v3"})
    assert b.coefficients["term"].iloc[2] == "visit[v1]"
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    pd.testing.assert_frame_equal(a.covariance, b.covariance, check_exact=False, rtol=1e-6)
    ea, eb = (x.emmeans("arm", by="visit").sort_values(["visit", "arm"], ignore_index=True) for x in (a, b))
    pd.testing.assert_frame_equal(ea, eb, check_exact=False, rtol=1e-6)


@pytest.mark.parametrize(
    "code", ["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ri"], ids=lambda c: f"structure={c}"
)
def test_formula_path_equals_fit_trial_model(sim2, code):
    """The formula path and fit_trial_model run the same core on the same design: same fit.
    (Except for (1 | ID), whose positions are the order of a subject's rows, not its visits:
    the same model, but sums run in another order.)"""
    from prt_outcomes.models.formula import MMRM_COVARIANCE_CODES

    name = MMRM_COVARIANCE_CODES.get(code, "random_intercept")
    term = "(1 | participant_id)" if code == "ri" else f"{code}(visit | participant_id)"
    fit = po.mmrm(f"y ~ arm * visit + age + {term}", sim2, reference={"arm": "usual_care"})
    res = po.fit_trial_model(
        sim2,
        outcome="y",
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=["age"],
        covariance=name,
        reference_arm="usual_care",
    )
    assert fit.terms == list(res.coefficients["term"])
    if code == "ri":  # same optimum; 1e-6 is the optimiser's convergence, not the model's
        assert fit.loglik == pytest.approx(res.loglik, abs=1e-8)
        pd.testing.assert_frame_equal(fit.coefficients, res.coefficients, check_exact=False, rtol=1e-6)
        return
    # same rows in the same (subject, visit) order and the same columns: the same numbers exactly
    assert fit.loglik == res.loglik
    pd.testing.assert_frame_equal(fit.coefficients, res.coefficients, check_exact=True)
    pd.testing.assert_frame_equal(fit.covariance, res.covariance, check_exact=True)
    pd.testing.assert_frame_equal(fit.variance_components, res.variance_components, check_exact=True)
