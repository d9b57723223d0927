"""Helpers shared by tests/test_models_reference_*.py: load fixtures, map R coefficient names,
align engine tables with reference tables.

Imported by path (``tests/`` is not a package), see ``load_refcompare`` in the test modules.
No dependency on ``prt_outcomes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REF_DIR = Path(__file__).resolve().parent
REPO_ROOT = REF_DIR.parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# engine arguments for each reference model
MODELS = {
    "lmer_ri_reml": dict(covariance="random_intercept", method="reml", df_method="satterthwaite"),
    "lmer_ri_reml_kr": dict(covariance="random_intercept", method="reml", df_method="kenward_roger_expected"),
    "gls_un_reml": dict(covariance="unstructured", method="reml", df_method="satterthwaite"),
    "lmer_ri_ml": dict(covariance="random_intercept", method="ml", df_method="satterthwaite"),
    "gls_un_ml": dict(covariance="unstructured", method="ml", df_method="satterthwaite"),
}


def manifest() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "datasets.csv", dtype=str, keep_default_na=False)


def spec(name: str) -> dict:
    m = manifest().set_index("dataset").loc[name]
    return {
        "file": m["file"],
        "outcome": m["outcome"],
        "arm_levels": m["arm_levels"].split(";"),
        "visit_levels": m["visit_levels"].split(";"),
        "covariates": tuple(c for c in m["covariates"].split(";") if c),
        "reference_arm": m["reference_arm"],
        "baseline_visit": m["baseline_visit"],
        "ml": m["ml"] == "TRUE",
    }


def sim_data(name: str) -> pd.DataFrame:
    s = spec(name)
    d = pd.read_csv(
        REF_DIR / s["file"],
        dtype={"participant_id": str, "arm": str, "visit": str, "sex": str, "site": str},
    )
    return d


def sim_fit_kwargs(name: str, model: str) -> dict:
    s = spec(name)
    return dict(
        outcome=s["outcome"],
        arm="arm",
        visit="visit",
        subject="participant_id",
        covariates=s["covariates"],
        reference_arm=s["reference_arm"],
        arm_levels=s["arm_levels"],
        visit_levels=s["visit_levels"],
        baseline_visit=s["baseline_visit"],
        **MODELS[model],
    )


def reference(name: str, directory: Path | None = None) -> pd.DataFrame:
    path = (directory or REF_DIR) / f"ref_{name}.csv"
    text_columns = ("dataset", "model", "quantity", "arm", "reference", "visit", "term")
    ref = pd.read_csv(
        path,
        dtype={c: str for c in text_columns},
        keep_default_na=False,
        na_values={"estimate": [""], "se": [""], "df": [""]},
    )
    return ref


def ref_table(ref: pd.DataFrame, model: str, quantity: str) -> pd.DataFrame:
    out = ref[(ref["model"] == model) & (ref["quantity"] == quantity)].copy()
    return out.reset_index(drop=True)


def ref_scalar(ref: pd.DataFrame, model: str, quantity: str) -> float:
    t = ref_table(ref, model, quantity)
    assert len(t) == 1, (model, quantity, len(t))
    return float(t["estimate"].iloc[0])


def r_term_to_engine(term: str, factors: dict[str, list[str]]) -> str:
    """R model-matrix column name -> engine coefficient name.

    ``armplacebo:visitweek2`` -> ``arm[placebo]:visit[week2]``; ``sexmale`` -> ``sex[male]``;
    ``age`` -> ``age``; ``(Intercept)`` unchanged.  ``factors`` maps each factor column name to
    its levels.  Longest column name wins when names are prefixes of one another.
    """
    if term == "(Intercept)":
        return term
    parts = []
    for piece in term.split(":"):
        mapped = None
        for col in sorted(factors, key=len, reverse=True):
            if piece.startswith(col) and piece[len(col) :] in factors[col]:
                mapped = f"{col}[{piece[len(col) :]}]"
                break
        parts.append(mapped if mapped is not None else piece)
    return ":".join(parts)


def _as_str(s: pd.Series) -> pd.Series:
    return s.astype(object).map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )


def align(engine: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Inner-join engine rows with reference rows on ``keys`` (as strings); columns of the
    engine get suffix ``_eng``, reference ``_ref``.  Asserts every reference row is matched."""
    e = engine.copy()
    r = ref.copy()
    for k in keys:
        e[k] = _as_str(e[k])
        r[k] = _as_str(r[k])
    merged = r.merge(e, on=keys, how="left", suffixes=("_ref", "_eng"), indicator=True)
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, f"reference rows without an engine row:\n{missing[keys].to_string()}"
    assert len(merged) == len(r), "engine table has duplicate keys"
    return merged


def rel_err(eng, ref, scale: float = 0.0) -> np.ndarray:
    """|eng - ref| / max(|ref|, scale)."""
    eng = np.asarray(eng, dtype=float)
    ref = np.asarray(ref, dtype=float)
    return np.abs(eng - ref) / np.maximum(np.abs(ref), scale)


def check_close(merged: pd.DataFrame, column: str, rtol: float, scale: float = 0.0, label: str = "") -> float:
    """Assert |eng - ref| <= rtol * max(|ref|, scale) for every row; return the max relative error."""
    eng = merged[f"{column}_eng"].to_numpy(dtype=float)
    ref = merged[f"{column}_ref"].to_numpy(dtype=float)
    assert np.all(np.isfinite(eng)), f"{label} {column}: engine has non-finite values"
    err = rel_err(eng, ref, scale)
    worst = int(np.argmax(err))
    assert err.max() <= rtol, (
        f"{label} {column}: max relative error {err.max():.3g} > {rtol:g} at row\n"
        f"{merged.iloc[worst].to_dict()}"
    )
    return float(err.max())


def ashar_frame(outcome: str) -> pd.DataFrame | None:
    """The Ashar 2022 analysis rows, built exactly as make_r_reference.R builds them."""
    path = SHARED_DATA / "ashar2022_prt_backpain" / "Ashar2022_outcomes_demographics.csv"
    if not path.exists():
        return None
    a = pd.read_csv(path, na_values=["<undefined>", "NaN", "NA", ""])
    a = a[(a["is_patient"] == 1) & a["group"].notna()]
    a = a[a[outcome].notna()]
    out = pd.DataFrame(
        {
            "participant_id": a["id"].map(lambda i: f"S{int(i):04d}"),
            "arm": a["group"].map({1: "prt", 2: "placebo", 3: "usual_care"}).astype(str),
            "visit": a["time"].map({1: "pre", 2: "post"}).astype(str),
            outcome: a[outcome].astype(float),
            "age": a["age"].astype(float),
            "gender": a["gender"].map({1: "male", 2: "female"}).astype(str),
        }
    )
    return out.reset_index(drop=True)
