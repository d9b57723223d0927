"""Extract SAS PROC MIXED numbers for mmrm's fev_data from openpharma/mmrm into one tidy CSV.

Usage (from the repository root; the mirror comes from ``fetch github:openpharma/mmrm``)::

    python tests/references/models/matrix/extract_sas_matrix.py /work/.mirror/openpharma+mmrm/repo

Reads, at the commit named in every output row:

* ``design/SAS/sas_<type>_{ml,reml}.txt`` (+ ``sas_toep_{ml,reml}.rtf``, ``sas_log*.txt``): listings
  of ``MODEL FEV1 = / ddfm=satterthwaite`` (intercept only; the UN files ``sas_log.txt`` /
  ``sas_log_reml.txt`` fit ``ARMCD AVISIT ARMCD*AVISIT RACE SEX``), code ``design/SAS/sas*.R``.
* ``design/ddfm_covtype/kr_<type>.{txt,csv}`` and ``kr1_<type>``: ``MODEL FEV1 = ARMCD / ddfm=kr``
  (or ``kr(linear)``), REML, LSMEANS TRT - PBO at full precision in the csv, code
  ``design/ddfm_covtype/ddfm_covtype.R``. That script swaps the two spatial file names
  (``sas_wrapper("kr", "sp(exp)...", "kr1_spexp")``); the listing's "Fixed Effects SE Method" line
  (Kenward-Roger vs Prasad-Rao-Jeske-Kackar-Harville) says which is which, and is what is used.

* ``design/SAS/sas_group_<type>_{ml,reml}.txt``: the same intercept-only fits with
  ``REPEATED ... / GROUP = ARMCD`` (a covariance per arm; covariance parameters carry ``group``).
* ``design/SAS/sas_log_nonconvergence{,_reml}.txt``: the full UN model on ``fev_data[1:50, ]``,
  where SAS stops without convergence (its last iterate's -2LL is recorded).

Writes ``sas_fev_matrix.csv`` beside this script, one row per number: ``source, commit, data,
sas_converged`` ("Convergence criteria met." in the listing), ``structure`` (mmrm code),
``sas_type, method, df_method, model, quantity`` (m2ll | covparm | fixed | lsmean_diff | type3),
``term, estimate`` (type3: the F value), ``se, num_df, df`` (type3: den df) and ``decimals``
(digits SAS printed for the estimate; empty for full-precision values). Fixed-effect terms are SAS
effect + levels, e.g. ``AVISIT*ARMCD VIS2 TRT``.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).with_name("sas_fev_matrix.csv")
UN_FULL = "FEV1 ~ RACE + SEX + ARMCD*AVISIT + us(AVISIT | USUBJID)"
SIMPLE = {  # file stem -> (mmrm code, SAS type, model)
    "sas_log_simple": ("us", "UN", "FEV1 ~ us(AVISIT | USUBJID)"),
    "sas_log": ("us", "UN", UN_FULL),
    "sas_cs": ("cs", "CS", "FEV1 ~ cs(AVISIT | USUBJID)"),
    "sas_csh": ("csh", "CSH", "FEV1 ~ csh(AVISIT | USUBJID)"),
    "sas_ar1": ("ar1", "AR(1)", "FEV1 ~ ar1(AVISIT | USUBJID)"),
    "sas_ar1h": ("ar1h", "ARH(1)", "FEV1 ~ ar1h(AVISIT | USUBJID)"),
    "sas_toep": ("toep", "TOEP", "FEV1 ~ toep(AVISIT | USUBJID)"),
    "sas_toeph": ("toeph", "TOEPH", "FEV1 ~ toeph(AVISIT | USUBJID)"),
    "sas_adh": ("adh", "ANTE(1)", "FEV1 ~ adh(AVISIT | USUBJID)"),
    "sas_sp_exp": ("sp_exp", "SP(EXP)(VISITN)", "FEV1 ~ sp_exp(VISITN | USUBJID)"),
    "sas_sp_exp2": ("sp_exp", "SP(EXP)(VISITN VISITN2)", "FEV1 ~ sp_exp(VISITN, VISITN2 | USUBJID)"),
}
GROUPED = {  # file stem -> (mmrm code, SAS type, model): REPEATED ... / GROUP = ARMCD
    "sas_group_cs": ("cs", "CS", "FEV1 ~ cs(AVISIT | ARMCD / USUBJID)"),
    "sas_group_csh": ("csh", "CSH", "FEV1 ~ csh(AVISIT | ARMCD / USUBJID)"),
    "sas_group_ar1": ("ar1", "AR(1)", "FEV1 ~ ar1(AVISIT | ARMCD / USUBJID)"),
    "sas_group_ar1h": ("ar1h", "ARH(1)", "FEV1 ~ ar1h(AVISIT | ARMCD / USUBJID)"),
    "sas_group_toeph": ("toeph", "TOEPH", "FEV1 ~ toeph(AVISIT | ARMCD / USUBJID)"),
    "sas_group_adh": ("adh", "ANTE(1)", "FEV1 ~ adh(AVISIT | ARMCD / USUBJID)"),
}
KR = {  # file suffix -> (mmrm code, SAS type, model)
    "us": ("us", "UN", "FEV1 ~ ARMCD + us(AVISIT | USUBJID)"),
    "cs": ("cs", "CS", "FEV1 ~ ARMCD + cs(AVISIT | USUBJID)"),
    "csh": ("csh", "CSH", "FEV1 ~ ARMCD + csh(AVISIT | USUBJID)"),
    "ar1": ("ar1", "AR(1)", "FEV1 ~ ARMCD + ar1(AVISIT | USUBJID)"),
    "arh1": ("ar1h", "ARH(1)", "FEV1 ~ ARMCD + ar1h(AVISIT | USUBJID)"),
    "toep": ("toep", "TOEP", "FEV1 ~ ARMCD + toep(AVISIT | USUBJID)"),
    "toeph": ("toeph", "TOEPH", "FEV1 ~ ARMCD + toeph(AVISIT | USUBJID)"),
    "adh": ("adh", "ANTE(1)", "FEV1 ~ ARMCD + adh(AVISIT | USUBJID)"),
    "spexp": ("sp_exp", "SP(EXP)(VISITN VISITN2)", "FEV1 ~ ARMCD + sp_exp(VISITN, VISITN2 | USUBJID)"),
}
COVPARM = re.compile(
    r"^(UN\(\d,\d\)|CS|CSH|AR\(1\)|ARH\(1\)|TOEP\(\d\)|TOEPH\(\d\)|Var\(\d\)|Rho\(\d\)|SP\(EXP\)|Residual|Variance)$"
)
NUM = r"-?(?:\d+\.?\d*|\.\d+)(?:[Ee][-+]?\d+)?"


def git_show(repo, commit, path):
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def last_commit(repo, path):
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%H", "HEAD", "--", path],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def decimals(text):
    return len(text.split(".")[1]) if "." in text else 0


def rows_of_listing(text):
    """The listing as lists of cells: fields separated by two or more blanks."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def rows_of_rtf(text):
    """ODS RTF tables as lists of cells (control words and cell-position tokens removed)."""
    out = []
    for row in text.split(r"\row"):
        cells = []
        for cell in row.split(r"\cell")[:-1]:
            cell = re.sub(r"\\[a-zA-Z]+-?\d* ?", " ", cell)
            cell = re.sub(r"[{}]", " ", cell)
            cell = re.sub(r"(^|\s)x\d+(?=\s|$)", " ", cell)
            cells.append(" ".join(cell.split()))
        cells = [c for c in cells if c]
        if cells:
            out.append(cells)
    return out


def parse(rows):
    """-2 log-likelihood (last iteration), covariance parameters, fixed effects of a listing."""
    m2ll, covparms, fixed, section, method_se, converged = None, [], [], None, None, False
    type3 = []
    for cells in rows:
        line = " ".join(cells)
        converged = converged or "Convergence criteria met." in line
        if "Iteration History" in line:
            section = "iter"
        elif "Covariance Parameter Estimates" in line:
            section = "cov"
        elif "Solution for Fixed Effects" in line:
            section = "fixed"
        elif "Type 3 Tests of Fixed Effects" in line:
            section = "type3"
        elif re.search(r"Fit Statistics|Least Squares Means|Estimated R", line):
            section = None
        if line.startswith("Fixed Effects SE Method"):
            method_se = line
        if section == "iter" and len(cells) >= 3 and all(re.fullmatch(NUM, c) for c in cells[:3]):
            m2ll = cells[2]
        elif section == "cov" and COVPARM.match(cells[0]) and len(cells) >= 5:
            vals = [c for c in cells[1:] if re.fullmatch(NUM, c)]
            group = next((c.split(" ", 1)[1] for c in cells[1:] if c.startswith("ARMCD ")), "")
            covparms.append((cells[0], vals[0], group))
        elif section == "type3" and len(cells) >= 5 and all(re.fullmatch(NUM, c) for c in cells[1:5]):
            # Effect, Num DF, Den DF, Chi-Square, F Value, Pr > ChiSq, Pr > F
            type3.append((cells[0], cells[1], cells[2], cells[4]))
        # a row starting with an Obs number is a PROC PRINT of an ODS data set, not the table
        elif section == "fixed" and len(cells) >= 6 and cells[-4] != "." and not cells[0].isdigit():
            est, se, df = cells[-5], cells[-4], cells[-3]
            if re.fullmatch(NUM, est) and re.fullmatch(NUM, se):
                fixed.append((" ".join(cells[:-5]), est, se, df))
    return m2ll, covparms, fixed, method_se, converged, type3


def emit_type3(out, base, type3):
    for effect, num_df, den_df, f_value in type3:
        out.append(
            {
                **base,
                "quantity": "type3",
                "term": effect,
                "estimate": f_value,
                "num_df": num_df,
                "df": den_df,
                "decimals": decimals(f_value),
            }
        )


def emit(out, *, source, commit, structure, sas_type, method, df_method, model, parsed, data="fev_data"):
    m2ll, covparms, fixed, _, converged, type3 = parsed
    base = dict(
        source=source,
        commit=commit,
        data=data,
        sas_converged=converged,
        structure=structure,
        sas_type=sas_type,
        method=method,
        df_method=df_method,
        model=model,
    )
    out.append({**base, "quantity": "m2ll", "term": "-2LL", "estimate": m2ll, "decimals": decimals(m2ll)})
    for name, est, group in covparms:
        out.append(
            {
                **base,
                "quantity": "covparm",
                "term": name,
                "group": group,
                "estimate": est,
                "decimals": decimals(est),
            }
        )
    for term, est, se, df in fixed:
        out.append(
            {
                **base,
                "quantity": "fixed",
                "term": term,
                "estimate": est,
                "se": se,
                "df": df,
                "decimals": decimals(est),
            }
        )
    emit_type3(out, base, type3)


def main(repo):
    repo = Path(repo)
    out = []
    for stem, (code, sas_type, model) in {**SIMPLE, **GROUPED}.items():
        for method in ("ml", "reml"):
            if stem.startswith("sas_log"):
                name = f"design/SAS/{stem}{'_reml' if method == 'reml' else ''}.txt"
            elif stem == "sas_toep":
                name = f"design/SAS/{stem}_{method}.rtf"
            else:
                name = f"design/SAS/{stem}_{method}.txt"
            commit = last_commit(repo, name)
            text = git_show(repo, commit, name)
            rows = rows_of_rtf(text) if name.endswith(".rtf") else rows_of_listing(text)
            parsed = parse(rows)
            emit(
                out,
                source=name,
                commit=commit,
                structure=code,
                sas_type=sas_type,
                method=method,
                df_method="satterthwaite",
                model=model,
                parsed=parsed,
            )
    # SAS's non-convergence runs of design/SAS/sas.R: the full UN model on fev_data[1:50, ]
    for method in ("ml", "reml"):
        name = f"design/SAS/sas_log_nonconvergence{'_reml' if method == 'reml' else ''}.txt"
        commit = last_commit(repo, name)
        emit(
            out,
            source=name,
            commit=commit,
            structure="us",
            sas_type="UN",
            method=method,
            df_method="satterthwaite",
            model=UN_FULL,
            parsed=parse(rows_of_listing(git_show(repo, commit, name))),
            data="fev_data[1:50, ]",
        )
    for suffix, (code, sas_type, model) in KR.items():
        for prefix in ("kr", "kr1"):
            name = f"design/ddfm_covtype/{prefix}_{suffix}.txt"
            commit = last_commit(repo, name)
            parsed = parse(rows_of_listing(git_show(repo, commit, name)))
            df_method = "kenward_roger" if "Kenward-Roger" in parsed[3] else "kenward_roger_linear"
            emit(
                out,
                source=name,
                commit=commit,
                structure=code,
                sas_type=sas_type,
                method="reml",
                df_method=df_method,
                model=model,
                parsed=parsed,
            )
            csv_name = name[:-4] + ".csv"
            c_commit = last_commit(repo, csv_name)
            for rec in csv.DictReader(git_show(repo, c_commit, csv_name).splitlines()):
                out.append(
                    dict(
                        source=csv_name,
                        commit=c_commit,
                        data="fev_data",
                        sas_converged=parsed[4],
                        structure=code,
                        sas_type=sas_type,
                        method="reml",
                        df_method=df_method,
                        model=model,
                        quantity="lsmean_diff",
                        term=f"{rec['Effect']} {rec['ARMCD']} - {rec['_ARMCD']}",
                        estimate=rec["Estimate"],
                        se=rec["StdErr"],
                        df=rec["DF"],
                        decimals="",
                    )
                )
    fields = [
        "source",
        "commit",
        "data",
        "sas_converged",
        "structure",
        "sas_type",
        "method",
        "df_method",
        "model",
        "quantity",
        "term",
        "group",
        "estimate",
        "se",
        "num_df",
        "df",
        "decimals",
    ]
    with OUT.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in out:
            w.writerow({k: r.get(k, "") for k in fields})
    print(f"wrote {len(out)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/openpharma+mmrm/repo")
