#!/usr/bin/env python
"""Benchmark of the trial-model engine against statsmodels MixedLM and lme4.

    .venv/bin/python benchmarks/bench_models.py [--sizes 150 1000 10000 50000] [--quick] [--full]

Simulates N participants x 5 visits (3 arms, dropout, age / sex / site covariates) for every
size, then fits each model in a fresh subprocess and reports the fit time (measured inside the
child around the fit call only; for lme4 inside R around lmer()) and the child's peak resident
memory (os.wait4 rusage: the whole process, interpreter and imports included).

Models:
  ours_ri     prt_outcomes fit_trial_model, covariance="random_intercept" (REML, Satterthwaite)
  ours_un     prt_outcomes fit_trial_model, covariance="unstructured"     (REML, Satterthwaite)
  sm_mixedlm  statsmodels MixedLM random intercept, REML (from_formula + fit); skipped at
              50,000 participants unless --full (~80 s)
  lme4        lme4::lmer(y ~ arm*visit + age + sex + site + (1|id)) via Rscript, when installed
  formula_ri  prt_outcomes.mmrm("y ~ arm*visit + age + sex + site + (1 | participant_id)")
  formula_un  prt_outcomes.mmrm("y ~ arm*visit + age + sex + site + us(visit | participant_id)")
  gls_un      nlme::gls(y ~ arm*visit + age + sex + site, correlation = corSymm(form = ~ v | id),
              weights = varIdent(form = ~ 1 | visit)) via Rscript, up to 10,000 participants

Targets checked at 10,000 participants x 5 visits (same run):
  random intercept at least 10x faster than statsmodels MixedLM;  unstructured under 10 s;
  the formula interface within 10% (+ 0.05 s) of fit_trial_model for the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VISITS = ["baseline", "week2", "week4", "week8", "week12"]
ARMS = ["control", "placebo", "prt"]
CHILD_TIMEOUT = 900

R_CHILD = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
d <- d[!is.na(d$y), ]
d$arm <- factor(d$arm, levels = c("control", "placebo", "prt"))
d$visit <- factor(d$visit, levels = c("baseline", "week2", "week4", "week8", "week12"))
invisible(gc(reset = TRUE))
t0 <- proc.time()[["elapsed"]]
fit <- lmer(y ~ arm * visit + age + sex + site + (1 | participant_id), data = d, REML = TRUE)
el <- proc.time()[["elapsed"]] - t0
cat(sprintf('{"seconds": %.6f, "loglik": %.10g}\n', el, as.numeric(logLik(fit))))
"""

R_GLS_CHILD = r"""
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
d <- d[!is.na(d$y), ]
d$arm <- factor(d$arm, levels = c("control", "placebo", "prt"))
d$visit <- factor(d$visit, levels = c("baseline", "week2", "week4", "week8", "week12"))
d$v <- as.integer(d$visit)
d <- d[order(d$participant_id, d$v), ]
invisible(gc(reset = TRUE))
t0 <- proc.time()[["elapsed"]]
fit <- gls(y ~ arm * visit + age + sex + site, data = d, method = "REML",
           correlation = corSymm(form = ~ v | participant_id), weights = varIdent(form = ~ 1 | visit))
el <- proc.time()[["elapsed"]] - t0
cat(sprintf('{"seconds": %.6f, "loglik": %.10g}\n', el, as.numeric(logLik(fit))))
"""
GLS_MAX_PARTICIPANTS = 10000


# ----------------------------------------------------------------------------- simulation
def simulate(n: int, seed: int = 1) -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    rng = np.random.default_rng(seed)
    arm = rng.choice(ARMS, size=n, p=[0.25, 0.35, 0.40])
    age = np.round(np.clip(rng.normal(45, 13, n), 18, 80), 1)
    sex = np.where(rng.random(n) < 0.56, "female", "male")
    site = rng.choice(["site_a", "site_b", "site_c"], size=n, p=[0.45, 0.35, 0.20])
    k = len(VISITS)
    idx = np.arange(k)
    sd = np.array([1.8, 1.6, 1.5, 1.7, 2.0])
    cov = 0.7 ** (np.abs(idx[:, None] - idx[None, :]) ** 0.6) * sd[:, None] * sd[None, :]
    err = rng.standard_normal((n, k)) @ np.linalg.cholesky(cov).T
    slope = {
        "control": [0, -0.2, -0.3, -0.3, -0.4],
        "placebo": [0, -0.6, -0.8, -0.9, -0.9],
        "prt": [0, -1.2, -1.9, -2.2, -2.4],
    }
    mu = 5 + 0.025 * (age - 45)[:, None] + 0.35 * (sex == "male")[:, None] + np.array([slope[a] for a in arm])
    y = np.round(mu + err, 3)
    # monotone dropout, hazard growing over visits
    hazard = np.array([0.0, 0.03, 0.05, 0.08, 0.12])
    dropped = np.cumsum(rng.random((n, k)) < hazard, axis=1) > 0
    y[dropped] = np.nan
    frame = pd.DataFrame(
        {
            "participant_id": np.repeat([f"P{i:06d}" for i in range(n)], k),
            "arm": np.repeat(arm, k),
            "visit": np.tile(VISITS, n),
            "y": y.ravel(),
            "age": np.repeat(age, k),
            "sex": np.repeat(sex, k),
            "site": np.repeat(site, k),
        }
    )
    return frame[frame["y"].notna()].reset_index(drop=True)


# ----------------------------------------------------------------------------- children
def child(method: str, path: str) -> None:
    import pandas as pd

    data = pd.read_parquet(path)
    if method in ("ours_ri", "ours_un"):
        from prt_outcomes.models import fit_trial_model

        t0 = time.perf_counter()
        fit = fit_trial_model(
            data,
            outcome="y",
            arm="arm",
            visit="visit",
            subject="participant_id",
            covariates=("age", "sex", "site"),
            covariance="random_intercept" if method == "ours_ri" else "unstructured",
            reference_arm="control",
            arm_levels=ARMS,
            visit_levels=VISITS,
            baseline_visit="baseline",
        )
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "loglik": float(fit.loglik), "converged": bool(fit.converged)}
    elif method in ("formula_ri", "formula_un"):
        from prt_outcomes import mmrm

        term = "(1 | participant_id)" if method == "formula_ri" else "us(visit | participant_id)"
        t0 = time.perf_counter()
        fit = mmrm(
            f"y ~ arm * visit + age + sex + site + {term}",
            data,
            levels={"arm": ARMS, "visit": VISITS},
        )
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "loglik": float(fit.loglik), "converged": bool(fit.converged)}
    elif method == "sm_mixedlm":
        import warnings

        import statsmodels.formula.api as smf

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = smf.mixedlm(
                "y ~ C(arm, Treatment('control')) * C(visit, Treatment('baseline')) + age + C(sex) + C(site)",
                data,
                groups=data["participant_id"],
            )
            res = model.fit(reml=True)
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "loglik": float(res.llf), "converged": bool(res.converged)}
    else:
        raise SystemExit(f"unknown method {method}")
    print(json.dumps(out))


def run_child(cmd: list[str]) -> dict:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text = out.read().strip().splitlines()
        if proc.returncode != 0 or not text:
            return {
                "status": f"failed ({err.read().strip().splitlines()[-1:]})",
                "peak_mb": usage.ru_maxrss / 1024,
            }
        res = json.loads(text[-1])
        res.update(status="ok", peak_mb=usage.ru_maxrss / 1024, process_seconds=wall)
        return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[150, 1000, 10000, 50000], help="participants")
    ap.add_argument("--quick", action="store_true", help="sizes 150 and 1000 only (smoke run)")
    ap.add_argument("--full", action="store_true", help="also run statsmodels at 50,000 participants")
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["ours_ri", "formula_ri", "ours_un", "formula_un", "sm_mixedlm", "lme4", "gls_un"],
    )
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "PARQUET"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    sizes = [150, 1000] if args.quick else args.sizes
    methods = list(args.methods)
    if shutil.which("Rscript") is None:
        for method in ("lme4", "gls_un"):
            if method in methods:
                print(f"Rscript not found: {method} skipped")
                methods.remove(method)
    load = os.getloadavg()
    print(
        f"bench_models: sizes {sizes}, methods {methods}, {os.cpu_count()} cpus, load average {load[0]:.1f}"
    )
    results: dict[tuple[int, str], dict] = {}
    nrows: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rscript = Path(tmp) / "lmer_child.R"
        rscript.write_text(R_CHILD)
        gls_script = Path(tmp) / "gls_child.R"
        gls_script.write_text(R_GLS_CHILD)
        for n in sizes:
            data = simulate(n, seed=n)
            nrows[n] = len(data)
            pq = Path(tmp) / f"sim_{n}.parquet"
            data.to_parquet(pq)
            csv = None
            for method in methods:
                if method == "sm_mixedlm" and n >= 50000 and not args.full:
                    results[(n, method)] = {"status": "skipped (--full)"}
                    continue
                if method == "gls_un" and n > GLS_MAX_PARTICIPANTS:
                    results[(n, method)] = {"status": f"skipped (> {GLS_MAX_PARTICIPANTS})"}
                    continue
                if method in ("lme4", "gls_un"):
                    if csv is None:
                        csv = Path(tmp) / f"sim_{n}.csv"
                        data.to_csv(csv, index=False)
                    cmd = ["Rscript", str(rscript if method == "lme4" else gls_script), str(csv)]
                else:
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, str(pq)]
                res = run_child(cmd)
                results[(n, method)] = res
                secs = f"{res['seconds']:.3f} s" if "seconds" in res else res["status"]
                peak = res.get("peak_mb", float("nan"))
                print(f"  n={n:>6} x 5  {method:<11} {secs:>14}  peak {peak:8.0f} MB", flush=True)

    # ------------------------------------------------------------------ table
    print()
    print("| participants | observed rows | method | fit time (s) | peak RSS (MB) | loglik | status |")
    print("|---:|---:|---|---:|---:|---:|---|")
    for n in sizes:
        for method in methods:
            r = results.get((n, method), {})
            secs = f"{r['seconds']:.3f}" if "seconds" in r else "—"
            mb = f"{r['peak_mb']:.0f}" if "peak_mb" in r else "—"
            ll = f"{r['loglik']:.3f}" if "loglik" in r else "—"
            print(f"| {n} | {nrows[n]} | {method} | {secs} | {mb} | {ll} | {r.get('status', '—')} |")

    print()
    print(
        "| participants | statsmodels / ours_ri | lme4 / ours_ri | ours_un (s) | gls / ours_un "
        "| formula_ri / ours_ri | formula_un / ours_un |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")

    def seconds(n, method):
        return results.get((n, method), {}).get("seconds")

    for n in sizes:
        ri, un = seconds(n, "ours_ri"), seconds(n, "ours_un")
        f = lambda a, b: f"{a / b:.2f}x" if a is not None and b else "—"  # noqa: E731
        print(
            f"| {n} | {f(seconds(n, 'sm_mixedlm'), ri)} | {f(seconds(n, 'lme4'), ri)} "
            f"| {f'{un:.2f}' if un is not None else '—'} | {f(seconds(n, 'gls_un'), un)} "
            f"| {f(seconds(n, 'formula_ri'), ri)} | {f(seconds(n, 'formula_un'), un)} |"
        )

    print()
    ri = results.get((10000, "ours_ri"), {}).get("seconds")
    sm = results.get((10000, "sm_mixedlm"), {}).get("seconds")
    un = results.get((10000, "ours_un"), {}).get("seconds")
    if ri is not None and sm is not None:
        verdict = "PASS" if sm / ri >= 10 else "FAIL"
        print(
            "target: random intercept at 10,000 x 5 >= 10x faster than statsmodels: "
            f"{sm / ri:.1f}x  {verdict}"
        )
    else:
        print("target: random intercept at 10,000 x 5 >= 10x faster than statsmodels: not measured")
    if un is not None:
        print(f"target: unstructured at 10,000 x 5 under 10 s: {un:.2f} s  {'PASS' if un < 10 else 'FAIL'}")
    else:
        print("target: unstructured at 10,000 x 5 under 10 s: not measured")
    for kind in ("ri", "un"):
        ours, formula = seconds(10000, f"ours_{kind}"), seconds(10000, f"formula_{kind}")
        label = f"target: formula interface ({kind}) at 10,000 x 5 within 10% + 0.05 s of fit_trial_model"
        if ours is None or formula is None:
            print(f"{label}: not measured")
        else:
            verdict = "PASS" if formula <= 1.1 * ours + 0.05 else "FAIL"
            print(f"{label}: {formula:.3f} s vs {ours:.3f} s  {verdict}")
    # loglik agreement between implementations of the same model
    groups = {
        "random-intercept": ("ours_ri", "formula_ri", "sm_mixedlm", "lme4"),
        "unstructured": ("ours_un", "formula_un", "gls_un"),
    }
    for n in sizes:
        for name, members in groups.items():
            lls = {m: results.get((n, m), {}).get("loglik") for m in members}
            lls = {m: v for m, v in lls.items() if v is not None}
            if len(lls) > 1:
                print(f"n={n}: {name} REML loglik " + ", ".join(f"{m} {v:.4f}" for m, v in lls.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
