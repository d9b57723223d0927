#!/usr/bin/env Rscript
# Independent R reference values for prt_outcomes.models.fit_trial_model.
#
# Regenerate (from the repository root):
#   Rscript tests/references/models/make_r_reference.R
# Options:
#   --outdir DIR        where to write ref_<dataset>.csv and r_versions.txt (default: this folder)
#   --datasets a,b      only these simulated datasets (names from datasets.csv); default all
#   --no-real           skip the two real-data cases (Ashar 2022)
#   --shared-data DIR   location of the public data (default: <repo>/../shared/data)
#   --lmer-only         only the lme4 models (used by the live test, ~5 s)
#
# Output: one tidy CSV per dataset, ref_<dataset>.csv, columns
#   dataset, model, quantity, arm, reference, visit, term, estimate, se, df
# numbers written with 12 significant digits.  See README.md in this folder for every quantity.
#
# Models (all with treatment coding, arm and visit as factors, reference arm / baseline visit first):
#   lmer_ri_reml     lme4::lmer(y ~ arm*visit + covariates + (1|id), REML); lmerTest Satterthwaite
#                    coefficient table; emmeans(lmer.df = "satterthwaite") marginal means/contrasts.
#   lmer_ri_reml_kr  same fit, emmeans(lmer.df = "kenward-roger") (pbkrtest): KR-adjusted SE and df.
#   gls_un_reml      nlme::gls(y ~ arm*visit + covariates, correlation = corSymm(~ visit_index | id),
#                    weights = varIdent(~ 1 | visit), method = "REML"); emmeans mode = "satterthwaite"
#                    (numerical-derivative Satterthwaite using nlme's apVar); coefficient df obtained
#                    the same way, by expressing each coefficient as a contrast of reference-grid cells.
#   lmer_ri_ml / gls_un_ml   the same with ML (datasets with ml = TRUE in datasets.csv).
#
# Log-likelihood scale: the brief expected nlme's REML log-likelihood to differ from lme4 / SAS by
# a constant 0.5 * log|X'X|.  With R 4.2.2 / nlme 3.1-162 it does not: gls(corCompSymm) and
# lmer(1|id) give the same REML logLik to 1e-12 on sim1, gls(no correlation) equals
# logLik(lm, REML = TRUE), and gls unstructured on mmrm's fev_data gives -2 logLik = 3386.45, the
# SAS PROC MIXED "-2 Res Log Likelihood" 3386.4.  (The 0.5 * log|X'X| term appears only when nlme
# converts between ML and REML scales, logLik(fit, REML = ) with the other method, and in older
# definitions of the REML likelihood.)  So `loglik` is stored as returned by logLik() for every
# model, which is the lme4/SAS scale the engine reports; `half_logdet_XtX` (= 0.5 * log|X'X|) is
# stored beside it for anyone comparing with a program that uses the other convention.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(nlme)
})
emm_options(pbkrtest.limit = 1e5, lmerTest.limit = 1e5)

args <- commandArgs(trailingOnly = TRUE)
get_arg <- function(flag, default = NULL) {
  i <- match(flag, args)
  if (is.na(i)) default else args[i + 1]
}
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
here <- normalizePath(dirname(script_path))
repo_root <- normalizePath(file.path(here, "..", "..", ".."))
outdir <- get_arg("--outdir", here)
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)
only <- get_arg("--datasets", NULL)
do_real <- !("--no-real" %in% args)
lmer_only <- "--lmer-only" %in% args   # quick mode for the live test: random-intercept models only
shared <- get_arg("--shared-data", file.path(dirname(repo_root), "shared", "data"))

fmt <- function(x) ifelse(is.na(x), "", sprintf("%.12g", x))

rows <- function(dataset, model, quantity, arm = NA, reference = NA, visit = NA, term = NA,
                 estimate = NA, se = NA, df = NA) {
  data.frame(dataset = dataset, model = model, quantity = quantity, arm = arm,
             reference = reference, visit = visit, term = term, estimate = estimate,
             se = se, df = df, stringsAsFactors = FALSE)
}

# ---------------------------------------------------------------- emmeans-based quantities
# emm: emmGrid over arm x visit (arm varies fastest).  Returns marginal means, arm - reference
# per visit, and difference in change from baseline (interaction contrasts).
emm_tables <- function(emm, dataset, model, arm_levels, visit_levels, ref, base) {
  s <- as.data.frame(summary(emm))
  grid <- s[, c("arm", "visit")]
  out <- list(rows(dataset, model, "marginal_mean", arm = as.character(s$arm),
                   visit = as.character(s$visit), estimate = s$emmean, se = s$SE, df = s$df))
  cell <- function(a, v) as.numeric(grid$arm == a & grid$visit == v)
  others <- setdiff(arm_levels, ref)
  con <- list(); lab <- list()
  for (v in visit_levels) for (a in others) {
    con[[length(con) + 1]] <- cell(a, v) - cell(ref, v)
    lab[[length(lab) + 1]] <- c("contrast", a, v)
  }
  for (v in setdiff(visit_levels, base)) for (a in others) {
    con[[length(con) + 1]] <- cell(a, v) - cell(a, base) - cell(ref, v) + cell(ref, base)
    lab[[length(lab) + 1]] <- c("change_contrast", a, v)
  }
  names(con) <- paste0("c", seq_along(con))
  cs <- as.data.frame(summary(contrast(emm, method = con, adjust = "none")))
  lab <- do.call(rbind, lab)
  out[[2]] <- rows(dataset, model, lab[, 1], arm = lab[, 2], reference = ref, visit = lab[, 3],
                   estimate = cs$estimate, se = cs$SE, df = cs$df)
  do.call(rbind, out)
}

# Coefficient table with emmeans df: each coefficient is written as a linear combination of
# reference-grid predictions (grid spans the coefficient space because numeric covariates are
# given two values), then evaluated with contrast() so that emmeans' df method applies.
coef_via_emmeans <- function(fit, dataset, label, numeric_covs, data, ...) {
  # (no formal may start with "mode": `mode = ` passed through ... would partially match it)
  at <- list()
  for (v in numeric_covs) { m <- mean(data[[v]]); at[[v]] <- c(m, m + 1) }
  rg <- ref_grid(fit, at = at, data = data, ...)
  Xg <- rg@linfct
  b <- coef(fit)
  ginvT <- MASS::ginv(t(Xg))
  con <- list()
  for (j in seq_along(b)) {
    e <- numeric(length(b)); e[j] <- 1
    w <- as.numeric(ginvT %*% e)
    stopifnot(max(abs(t(Xg) %*% w - e)) < 1e-8)
    con[[names(b)[j]]] <- w
  }
  cs <- as.data.frame(summary(contrast(rg, method = con, adjust = "none")))
  stopifnot(max(abs(cs$estimate - b)) < 1e-8 * max(1, max(abs(b))))
  rows(dataset, label, "coefficient", term = names(b), estimate = cs$estimate, se = cs$SE, df = cs$df)
}

prep <- function(d, outcome, arm_levels, visit_levels, covs) {
  d <- d[!is.na(d[[outcome]]), , drop = FALSE]
  d$y <- d[[outcome]]
  d$arm <- factor(d$arm, levels = arm_levels)
  d$visit <- factor(d$visit, levels = visit_levels)
  d$visit_index <- as.integer(d$visit)
  for (v in covs) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]])
  # gls with corSymm needs the data sorted by subject then time (emmeans' gls_grad rebuilds X in
  # data order); keep that order for all fits.
  d <- d[order(d$participant_id, d$visit_index), ]
  rownames(d) <- NULL
  d
}

numeric_covariates <- function(d, covs) covs[vapply(covs, function(v) is.numeric(d[[v]]), TRUE)]

fit_lmer <- function(d, dataset, covs, arm_levels, visit_levels, ref, base, reml = TRUE, kr = TRUE) {
  rhs <- paste(c("arm * visit", covs, "(1 | participant_id)"), collapse = " + ")
  f <- as.formula(paste("y ~", rhs))
  # tight optimizer tolerances: the references must be converged well beyond the 1e-5 test tolerance
  ctrl <- lmerControl(optimizer = "nloptwrap",
                      optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5))
  fit <- lmerTest::lmer(f, data = d, REML = reml, control = ctrl)
  model <- if (reml) "lmer_ri_reml" else "lmer_ri_ml"
  ct <- summary(fit, ddf = "Satterthwaite")$coefficients
  vc <- as.data.frame(VarCorr(fit))
  s2_id <- vc$vcov[vc$grp == "participant_id"]
  s2 <- vc$vcov[vc$grp == "Residual"]
  k <- length(visit_levels)
  cov_rows <- rows(dataset, model, "covariance", visit = rep(visit_levels, times = k),
                   term = rep(visit_levels, each = k),
                   estimate = as.vector(s2_id * matrix(1, k, k) + s2 * diag(k)))
  out <- list(
    rows(dataset, model, "coefficient", term = rownames(ct), estimate = ct[, "Estimate"],
         se = ct[, "Std. Error"], df = ct[, "df"]),
    emm_tables(emmeans(fit, ~ arm * visit, lmer.df = "satterthwaite"), dataset, model,
               arm_levels, visit_levels, ref, base),
    cov_rows,
    rows(dataset, model, "loglik", estimate = as.numeric(logLik(fit))),
    rows(dataset, model, "aic_r", estimate = AIC(fit)),
    rows(dataset, model, "bic_r", estimate = BIC(fit)),
    rows(dataset, model, "sigma2", estimate = s2),
    rows(dataset, model, "sigma2_subject", estimate = s2_id),
    rows(dataset, model, "singular", estimate = as.numeric(isSingular(fit))),
    rows(dataset, model, "n_obs", estimate = nobs(fit)),
    rows(dataset, model, "n_subjects", estimate = length(unique(d$participant_id)))
  )
  if (kr) {
    out[[length(out) + 1]] <- emm_tables(emmeans(fit, ~ arm * visit, lmer.df = "kenward-roger"),
                                         dataset, paste0(model, "_kr"), arm_levels, visit_levels,
                                         ref, base)
  }
  do.call(rbind, out)
}

# ---------------------------------------------------------------- unstructured: polished REML/ML
# nlme's optimiser stops with the variance parameters ~1e-5 (relative) from the optimum and its
# apVar is a finite-difference Hessian, which moves emmeans' Satterthwaite df by up to ~8 % on
# these data.  The tested references (models gls_un_reml / gls_un_ml) are therefore computed here
# from the textbook formulas, starting from the gls fit:
#   * V (visits x visits) parameterised by its log-Cholesky factor theta;
#   * REML log-likelihood  -1/2 [sum_i log|V_i| + log|X'V^-1 X| + r'V^-1 r + (n - p) log 2 pi]
#     (ML: -1/2 [sum_i log|V_i| + r'V^-1 r + n log 2 pi]), V_i = V[obs_i, obs_i], beta = GLS;
#   * Newton iterations with numDeriv Richardson gradient and Hessian until |grad| < 2e-5 (the
#     numerical gradient's noise floor; theta then moves < 1e-7);
#   * C = (X'V^-1 X)^-1;  Satterthwaite df for a linear function l: 2 (l'Cl)^2 / (g'Ag) with
#     g_j = l' dC/dtheta_j l (numDeriv::jacobian) and A = (-Hessian)^-1 (observed information of
#     the REML / ML likelihood) -- the definition used by SAS PROC MIXED and R mmrm.
# The same code on mmrm's fev_data reproduces SAS's Satterthwaite df (checked in ref_fev_data.csv
# and tests/test_models_reference_sas.py).
# Marginal-mean weights are emmeans' reference-grid rows (emmeans(...)@linfct).

un_loglik_factory <- function(d, f, reml) {
  X <- model.matrix(f, d)
  y <- d$y
  p <- ncol(X)
  n <- nrow(X)
  pat <- tapply(d$visit_index, d$participant_id, function(v) paste(v, collapse = ","))
  groups <- split(names(pat), pat)
  pats <- lapply(names(groups), function(key) {
    vis <- as.integer(strsplit(key, ",")[[1]])
    ids <- groups[[key]]
    k <- length(vis)
    # rows of each subject in visit order (data sorted by subject, visit)
    Xj <- lapply(seq_len(k), function(j) X[match(paste(ids, vis[j]), paste(d$participant_id, d$visit_index)), , drop = FALSE])
    yj <- lapply(seq_len(k), function(j) y[match(paste(ids, vis[j]), paste(d$participant_id, d$visit_index))])
    # cross-products for every visit pair (a, b), a fastest: A = XX %*% vec(W), etc.
    XX <- matrix(0, p * p, k * k); XY <- matrix(0, p, k * k); YY <- numeric(k * k)
    for (b in seq_len(k)) for (a in seq_len(k)) {
      col <- a + (b - 1) * k
      XX[, col] <- as.vector(crossprod(Xj[[a]], Xj[[b]]))
      XY[, col] <- as.vector(crossprod(Xj[[a]], yj[[b]]))
      YY[col] <- sum(yj[[a]] * yj[[b]])
    }
    list(vis = vis, m = length(ids), k = k, XX = XX, XY = XY, YY = YY)
  })
  K <- max(d$visit_index)
  theta_to_V <- function(theta) {
    L <- matrix(0, K, K)
    L[lower.tri(L, diag = TRUE)] <- theta
    diag(L) <- exp(diag(L))
    tcrossprod(L)
  }
  V_to_theta <- function(V) {
    L <- t(chol(V))
    diag(L) <- log(diag(L))
    L[lower.tri(L, diag = TRUE)]
  }
  parts <- function(theta) {
    V <- theta_to_V(theta)
    A <- matrix(0, p, p); b <- numeric(p); cc <- 0; logdet <- 0
    for (pt in pats) {
      Vo <- V[pt$vis, pt$vis, drop = FALSE]
      W <- solve(Vo)
      logdet <- logdet + pt$m * as.numeric(determinant(Vo, logarithm = TRUE)$modulus)
      w <- as.vector(W)
      A <- A + matrix(pt$XX %*% w, p, p)
      b <- b + as.vector(pt$XY %*% w)
      cc <- cc + sum(pt$YY * w)
    }
    list(V = V, A = A, b = b, c = cc, logdet = logdet)
  }
  loglik <- function(theta) {
    q <- parts(theta)
    beta <- solve(q$A, q$b)
    rss <- q$c - sum(q$b * beta)
    if (reml) {
      -0.5 * (q$logdet + as.numeric(determinant(q$A, logarithm = TRUE)$modulus) + rss + (n - p) * log(2 * pi))
    } else {
      -0.5 * (q$logdet + rss + n * log(2 * pi))
    }
  }
  list(loglik = loglik, parts = parts, V_to_theta = V_to_theta, theta_to_V = theta_to_V, X = X, p = p, n = n)
}

un_polished <- function(d, f, gfit, V0, dataset, arm_levels, visit_levels, ref, base, reml) {
  model <- if (reml) "gls_un_reml" else "gls_un_ml"
  lf <- un_loglik_factory(d, f, reml)
  theta <- lf$V_to_theta(unname(as.matrix(V0)))
  ll0 <- lf$loglik(theta)
  for (it in 1:20) {
    g <- numDeriv::grad(lf$loglik, theta)
    if (Sys.getenv("REF_DEBUG") != "") cat(model, "newton", it, lf$loglik(theta), max(abs(g)), "\n")
    # numDeriv's Richardson gradient has a noise floor of ~1e-5 here; below that Newton steps
    # change theta by < 1e-7 (H is O(10-1000)), far below what the 1e-5 tests can see.
    if (max(abs(g)) < 2e-5) break
    H <- numDeriv::hessian(lf$loglik, theta)
    step <- -solve(H, g)
    ll_old <- lf$loglik(theta)
    t <- 1
    while (lf$loglik(theta + t * step) < ll_old - 1e-12 && t > 1e-6) t <- t / 2
    theta <- theta + t * step
  }
  g <- numDeriv::grad(lf$loglik, theta)
  stopifnot(max(abs(g)) < 1e-4)
  H <- numDeriv::hessian(lf$loglik, theta)
  Ainfo <- solve(-H)
  q <- lf$parts(theta)
  C <- solve(q$A)
  beta <- as.vector(C %*% q$b)
  names(beta) <- colnames(lf$X)
  stopifnot(max(abs(beta - coef(gfit))) < 1e-3 * max(1, max(abs(beta))))
  Cfun <- function(th) as.vector(solve(lf$parts(th)$A))
  J <- numDeriv::jacobian(Cfun, theta)          # p^2 x q
  evaluate <- function(Lm) {                   # rows = linear functions of beta
    est <- as.vector(Lm %*% beta)
    v <- rowSums((Lm %*% C) * Lm)
    gmat <- t(apply(Lm, 1, function(l) as.vector(crossprod(J, as.vector(l %o% l)))))
    if (length(theta) == 1) gmat <- t(gmat)
    df <- 2 * v^2 / rowSums((gmat %*% Ainfo) * gmat)
    list(estimate = est, se = sqrt(v), df = df)
  }
  # coefficients
  cf <- evaluate(diag(lf$p))
  out <- list(rows(dataset, model, "coefficient", term = names(beta), estimate = cf$estimate, se = cf$se, df = cf$df))
  # marginal means and contrasts on emmeans' reference grid
  emm <- emmeans(gfit, ~ arm * visit, data = d, mode = "df.error")
  Lmeans <- emm@linfct
  grid <- emm@grid
  mm <- evaluate(Lmeans)
  out[[2]] <- rows(dataset, model, "marginal_mean", arm = as.character(grid$arm), visit = as.character(grid$visit),
                   estimate = mm$estimate, se = mm$se, df = mm$df)
  cw <- contrast_weights(grid, arm_levels, visit_levels, ref, base)
  cc <- evaluate(cw$W %*% Lmeans)
  out[[3]] <- rows(dataset, model, cw$lab[, 1], arm = cw$lab[, 2], reference = ref, visit = cw$lab[, 3],
                   estimate = cc$estimate, se = cc$se, df = cc$df)
  V <- lf$theta_to_V(theta)
  k <- length(visit_levels)
  ll <- lf$loglik(theta)
  stopifnot(ll >= ll0 - 1e-9, ll >= as.numeric(logLik(gfit)) - 1e-6)
  out[[4]] <- rows(dataset, model, "covariance", visit = rep(visit_levels, times = k),
                   term = rep(visit_levels, each = k), estimate = as.vector(V))
  out[[5]] <- rbind(
    rows(dataset, model, "loglik", estimate = ll),
    rows(dataset, model, "loglik_gls", estimate = as.numeric(logLik(gfit))),
    rows(dataset, model, "max_abs_grad", estimate = max(abs(g))),
    rows(dataset, model, "n_obs", estimate = nrow(d)),
    rows(dataset, model, "n_subjects", estimate = length(unique(d$participant_id)))
  )
  do.call(rbind, out)
}

contrast_weights <- function(grid, arm_levels, visit_levels, ref, base) {
  cell <- function(a, v) as.numeric(grid$arm == a & grid$visit == v)
  others <- setdiff(arm_levels, ref)
  W <- list(); lab <- list()
  for (v in visit_levels) for (a in others) {
    W[[length(W) + 1]] <- cell(a, v) - cell(ref, v)
    lab[[length(lab) + 1]] <- c("contrast", a, v)
  }
  for (v in setdiff(visit_levels, base)) for (a in others) {
    W[[length(W) + 1]] <- cell(a, v) - cell(a, base) - cell(ref, v) + cell(ref, base)
    lab[[length(lab) + 1]] <- c("change_contrast", a, v)
  }
  list(W = do.call(rbind, W), lab = do.call(rbind, lab))
}

fit_gls_un <- function(d, dataset, covs, arm_levels, visit_levels, ref, base, reml = TRUE) {
  f <- as.formula(paste("y ~", paste(c("arm * visit", covs), collapse = " + ")))
  method <- if (reml) "REML" else "ML"
  # emmeans' Satterthwaite for gls re-evaluates call$data; keep the data in a global variable.
  assign(".ref_data", d, envir = globalenv())
  fit <- eval(bquote(nlme::gls(.(f), data = .ref_data,
                               correlation = corSymm(form = ~ visit_index | participant_id),
                               weights = varIdent(form = ~ 1 | visit), method = .(method),
                               control = glsControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10,
                                                    msTol = 1e-10, natural = FALSE))),
              envir = globalenv())
  model <- if (reml) "gls_un_reml_emm" else "gls_un_ml_emm"
  X <- model.matrix(f, d)
  ld <- as.numeric(determinant(crossprod(X), logarithm = TRUE)$modulus)
  ll <- as.numeric(logLik(fit))
  # covariance matrix from a participant observed at every visit
  full <- names(which(table(d$participant_id) == length(visit_levels)))[1]
  V <- getVarCov(fit, individual = full)
  vis <- as.character(d$visit[d$participant_id == full])
  V <- V[match(visit_levels, vis), match(visit_levels, vis)]
  k <- length(visit_levels)
  tt <- summary(fit)$tTable
  coefs <- coef_via_emmeans(fit, dataset, model, numeric_covariates(d, covs), d, mode = "satterthwaite")
  stopifnot(max(abs(coefs$se - tt[, "Std.Error"])) < 1e-8)
  out <- list(
    coefs,
    emm_tables(emmeans(fit, ~ arm * visit, mode = "satterthwaite", data = d), dataset, model,
               arm_levels, visit_levels, ref, base),
    rows(dataset, model, "covariance", visit = rep(visit_levels, times = k),
         term = rep(visit_levels, each = k), estimate = as.vector(V)),
    rows(dataset, model, "loglik", estimate = ll),
    rows(dataset, model, "half_logdet_XtX", estimate = 0.5 * ld),
    rows(dataset, model, "n_obs", estimate = nrow(d)),
    rows(dataset, model, "n_subjects", estimate = length(unique(d$participant_id)))
  )
  own <- un_polished(d, f, fit, V, dataset, arm_levels, visit_levels, ref, base, reml)
  rbind(do.call(rbind, out), own)
}

write_ref <- function(tab, dataset) {
  for (col in c("estimate", "se", "df")) tab[[col]] <- fmt(tab[[col]])
  tab[is.na(tab)] <- ""
  path <- file.path(outdir, paste0("ref_", dataset, ".csv"))
  write.csv(tab, path, row.names = FALSE, quote = TRUE)
  cat("wrote", path, nrow(tab), "rows\n")
}

# ---------------------------------------------------------------- simulated datasets
manifest <- read.csv(file.path(here, "datasets.csv"), stringsAsFactors = FALSE)
if (!is.null(only)) manifest <- manifest[manifest$dataset %in% strsplit(only, ",")[[1]], ]
for (i in seq_len(nrow(manifest))) {
  m <- manifest[i, ]
  arm_levels <- strsplit(m$arm_levels, ";")[[1]]
  visit_levels <- strsplit(m$visit_levels, ";")[[1]]
  covs <- strsplit(m$covariates, ";")[[1]]
  raw <- read.csv(file.path(here, m$file), stringsAsFactors = FALSE)
  d <- prep(raw, m$outcome, arm_levels, visit_levels, covs)
  args_common <- list(d, m$dataset, covs, arm_levels, visit_levels, m$reference_arm, m$baseline_visit)
  tab <- do.call(fit_lmer, args_common)
  if (!lmer_only) tab <- rbind(tab, do.call(fit_gls_un, args_common))
  if (isTRUE(as.logical(m$ml))) {
    tab <- rbind(tab, do.call(fit_lmer, c(args_common, list(reml = FALSE, kr = FALSE))))
    if (!lmer_only) tab <- rbind(tab, do.call(fit_gls_un, c(args_common, list(reml = FALSE))))
  }
  write_ref(tab, m$dataset)
}

# ---------------------------------------------------------------- real data (Ashar et al. 2022)
# Read from the shared folder at generation time; the data are never copied into the repo.
# Rows: is_patient == 1 with a group (151 participants), times 1 (pre) and 2 (post).
# group 1 = PRT (reference), 2 = placebo, 3 = usual care.  gender 1 = male, 2 = female, coded as
# a factor (levels female, male: reference female) so that marginal means average the two sexes
# with equal weight (emmeans default).  Contrasts do not depend on this choice (no interaction).
ashar_file <- file.path(shared, "ashar2022_prt_backpain", "Ashar2022_outcomes_demographics.csv")
if (do_real && file.exists(ashar_file)) {
  a <- read.csv(ashar_file, na.strings = c("<undefined>", "NaN", "NA", ""))
  a <- a[a$is_patient == 1 & !is.na(a$group), ]
  a$participant_id <- sprintf("S%04d", a$id)
  a$arm <- c("prt", "placebo", "usual_care")[a$group]
  a$visit <- c("pre", "post")[a$time]
  a$gender <- c("male", "female")[a$gender]
  arm_levels <- c("prt", "placebo", "usual_care")
  visit_levels <- c("pre", "post")
  d <- prep(a, "pain_avg", arm_levels, visit_levels, c("age", "gender"))
  args_common <- list(d, "ashar_pain_avg", c("age", "gender"), arm_levels, visit_levels, "prt", "pre")
  write_ref(rbind(do.call(fit_lmer, args_common), do.call(fit_gls_un, args_common)), "ashar_pain_avg")
  d <- prep(a, "bpi_intensity", arm_levels, visit_levels, character(0))
  write_ref(fit_gls_un(d, "ashar_bpi_intensity", character(0), arm_levels, visit_levels, "prt", "pre"),
            "ashar_bpi_intensity")
} else if (do_real) {
  cat("shared data not found at", shared, "- real-data references skipped\n")
}

# mmrm's fev_data (SAS PROC MIXED reference in its PROVENANCE.md): FEV1 ~ RACE + SEX + ARMCD*AVISIT,
# unstructured REML.  Stored so that the polished unstructured code above can be checked against
# SAS (Satterthwaite df 146 / 145 / 131 / 133 for TRT - PBO), and the engine against both.
fev_file <- file.path(shared, "mmrm_fev_data", "fev_data.csv")
if (do_real && file.exists(fev_file)) {
  fv <- read.csv(fev_file, stringsAsFactors = FALSE)
  fv$participant_id <- fv$USUBJID
  fv$arm <- fv$ARMCD
  fv$visit <- fv$AVISIT
  arm_levels <- c("PBO", "TRT")
  visit_levels <- c("VIS1", "VIS2", "VIS3", "VIS4")
  d <- prep(fv, "FEV1", arm_levels, visit_levels, c("RACE", "SEX"))
  write_ref(fit_gls_un(d, "fev_data", c("RACE", "SEX"), arm_levels, visit_levels, "PBO", "VIS1"), "fev_data")
}

# ---------------------------------------------------------------- versions
pk <- c("lme4", "lmerTest", "emmeans", "nlme", "pbkrtest", "numDeriv", "MASS", "Matrix")
writeLines(c(R.version.string, paste(pk, vapply(pk, function(p) as.character(packageVersion(p)), ""))),
           file.path(outdir, "r_versions.txt"))
