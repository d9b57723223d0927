# Reference values for tests/test_imputation.py from rbmi's own R functions, run live.
#
# Usage: Rscript make_rbmi_reference.R [OUT.csv]   (default: rbmi_reference.csv beside this file)
#
# Sources rbmi_functions.R (verbatim copies of rbmi's functions, see vendor_rbmi.py) and evaluates
# them on random inputs drawn here (set.seed below). Each output row is case,kind,field,value:
# numbers are written with 17 significant digits, space-separated, matrices row by row.
# Needs base R and the assertthat package (rbmi's only dependency in these functions).

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
out_path <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(out_path)) out_path[1] else file.path(here, "rbmi_reference.csv")

suppressPackageStartupMessages(library(assertthat))
source(file.path(here, "rbmi_functions.R"))

rows <- list()
case_id <- 0L
num <- function(x) {
    x <- if (is.matrix(x)) as.vector(t(x)) else as.vector(x)
    paste(ifelse(is.na(x), "NA", sprintf("%.17g", as.numeric(x))), collapse = " ")
}
emit <- function(kind, ...) {
    case_id <<- case_id + 1L
    fields <- list(...)
    for (f in names(fields)) {
        v <- fields[[f]]
        value <- if (is.character(v)) v else if (is.logical(v) && !all(is.na(v))) paste(v, collapse = " ") else num(v)
        rows[[length(rows) + 1L]] <<- data.frame(case = case_id, kind = kind, field = f, value = value)
    }
}
rand_sigma <- function(J) {
    A <- matrix(rnorm(J * J), J, J)
    round(crossprod(A) + diag(J) * runif(1, 0.5, 2), 3) # short inputs, full-precision outputs
}

set.seed(20261202)

# 1. Strategies (R/strategies.R): every strategy, every kind of ICE position, J = 3..5.
strategies <- list(MAR = strategy_MAR, JR = strategy_JR, CR = strategy_CR, CIR = strategy_CIR, LMCF = strategy_LMCF)
for (J in 3:5) {
    for (n_mar in 0:J) {
        for (s in names(strategies)) {
            if (s == "LMCF" && n_mar == 0) next
            if (J != 4 && !(n_mar %in% c(1, J - 1))) next
            g <- list(mu = round(rnorm(J, 0, 3), 3), sigma = rand_sigma(J))
            r <- list(mu = round(rnorm(J, 0, 3), 3), sigma = rand_sigma(J))
            index_mar <- seq_len(J) <= n_mar
            res <- strategies[[s]](g, r, index_mar)
            # And the imputation rbmi's impute_data_individual makes from them: the conditional
            # mean of the missing visits (every post-ICE visit, and one more at random).
            y <- round(rnorm(J, 0, 3), 3)
            y[!index_mar | seq_len(J) == sample(J, 1)] <- NA
            cond <- get_conditional_parameters(res, y)
            emit("strategy", strategy = s, mu_group = g$mu, sigma_group = g$sigma, mu_ref = r$mu,
                 sigma_ref = r$sigma, index_mar = index_mar, mu = res$mu, sigma = res$sigma,
                 y = y, cond_mu = cond$mu)
        }
    }
}

# 2. Conditional parameters (R/impute.R) and one draw (R/utilities.R) with the normals recorded.
for (k in 1:12) {
    J <- sample(2:5, 1)
    pars <- list(mu = round(rnorm(J, 0, 2), 3), sigma = rand_sigma(J))
    y <- round(rnorm(J, 0, 2), 3)
    y[sample(J, sample(1:J, 1))] <- NA
    cp <- get_conditional_parameters(pars, y)
    m <- sum(is.na(y))
    seed <- sample.int(1e6, 1)
    set.seed(seed)
    z <- rnorm(m)
    set.seed(seed)
    draw <- sample_mvnorm(cp$mu, cp$sigma)
    emit("conditional", mu = pars$mu, sigma = pars$sigma, y = y, cond_mu = cp$mu, cond_sigma = cp$sigma,
         z = z, draw = draw)
}

# 3. Delta (R/delta.R): d_lagscale for every ICE position.
for (k in 1:8) {
    J <- sample(3:6, 1)
    delta <- round(rnorm(J, 2, 2), 3)
    dlag <- round(runif(J, 0, 3), 3)
    ice <- sample(0:J, 1) # 0 = no ICE
    is_post_ice <- if (ice == 0) rep(FALSE, J) else seq_len(J) >= ice
    emit("delta", delta = delta, dlag = dlag, is_post_ice = is_post_ice,
         result = d_lagscale(delta, dlag, is_post_ice))
}

# 4. Rubin's rules (R/pool.R): pool_internal.rubin over v_com, M, level and alternative,
#    including B = 0 (all estimates equal) and v_com = NA.
alts <- c("two.sided", "less", "greater")
for (v_com in c(Inf, NA, 3, 25.5, 1000)) {
    for (M in c(2, 5, 20)) {
        for (equal in c(FALSE, TRUE)) {
            est <- round(if (equal) rep(rnorm(1, 0.5, 1), M) else rnorm(M, rnorm(1, 0.5, 1), runif(1, 0.05, 1)), 4)
            se <- round(runif(M, 0.2, 1.5), 4)
            alt <- sample(alts, 1)
            level <- sample(c(0.8, 0.9, 0.95), 1)
            res <- pool_internal.rubin(list(est = est, se = se, df = rep(v_com, M)), level, alt)
            rr <- rubin_rules(est, se, v_com)
            emit("rubin", est = est, se = se, v_com = v_com, alternative = alt, conf_level = level,
                 out_est = res$est, out_se = res$se, out_ci = res$ci, out_p = res$pvalue, out_df = rr$df)
        }
    }
}

# 5. Jackknife (pool_internal.jackknife).
for (k in 1:6) {
    n <- sample(c(3, 10, 40), 1)
    est <- round(rnorm(n + 1, rnorm(1, 0, 0.3), 0.1), 5)
    alt <- alts[(k - 1) %% 3 + 1]
    level <- sample(c(0.8, 0.9, 0.95), 1)
    res <- pool_internal.jackknife(list(est = est), level, alt)
    emit("jackknife", est = est, alternative = alt, conf_level = level,
         out_est = res$est, out_se = res$se, out_ci = res$ci, out_p = res$pvalue)
}

# 6. Bootstrap (pool_internal.bootstrap): normal and percentile; for the percentile also with
#    uniroot's tolerance tightened (pval_percentile calls uniroot with its default tol, about
#    1.2e-4), to compare with the exact root at rounding level.
boot_cases <- list()
for (k in 1:9) {
    n <- sample(c(5, 20, 60), 1)
    boot_cases[[k]] <- round(rnorm(n + 1, rnorm(1, 0, 0.1), 0.3), 5)
}
boot_cases[[10]] <- c(0.3, 0, 0, 1, 2, -1, 0.5)   # ties at zero
boot_cases[[11]] <- c(0.3, 1, 2, 3)               # all > 0
boot_cases[[12]] <- c(-0.3, -1, -2, -3)           # all < 0
boot_cases[[13]] <- c(1, -1, -2, 3, 2, 1, -4, -3, 2) # rbmi's two-sided p capped at 1
boot_cases[[14]] <- c(1, 3)                       # one bootstrap estimate
for (k in seq_along(boot_cases)) {
    est <- boot_cases[[k]]
    alt <- alts[(k - 1) %% 3 + 1]
    level <- sample(c(0.8, 0.9, 0.95), 1)
    nrm <- pool_internal.bootstrap(list(est = est), level, alt, type = "normal")
    pct <- pool_internal.bootstrap(list(est = est), level, alt, type = "percentile")
    pv <- if (length(est) > 1) pval_percentile(est[-1]) else c(NA, NA)
    uniroot <- function(...) stats::uniroot(..., tol = 1e-15, maxiter = 10000)
    pct_tight <- pool_internal.bootstrap(list(est = est), level, alt, type = "percentile")
    pv_tight <- if (length(est) > 1) pval_percentile(est[-1]) else c(NA, NA)
    rm(uniroot)
    emit("bootstrap", est = est, alternative = alt, conf_level = level,
         normal_se = nrm$se, normal_ci = nrm$ci, normal_p = nrm$pvalue,
         pct_ci = pct$ci, pct_p = pct$pvalue, pct_p_tight = pct_tight$pvalue,
         pval_percentile = pv, pval_percentile_tight = pv_tight)
}

# 7. Type-6 quantiles (stats::quantile, as pool_bootstrap_percentile calls it), incl. whole
#    indices k / (n + 1) and the ends.
for (k in 1:6) {
    n <- sample(c(1, 2, 7, 19, 40), 1)
    x <- round(rnorm(n), 5)
    probs <- sort(c(0, 1, runif(5), (1:n) / (n + 1), 0.025, 0.975))
    emit("quantile6", x = x, probs = probs, q = quantile(x, probs, type = 6, names = FALSE))
}

# 8. The inputs of rbmi's tests/testthat/test-pool.R "Rubin's rules" (expected values there come
#    from mice, tests/testthat/helper-mice.R), regenerated with that test's seed.
set.seed(101)
ests <- rnorm(100)
ses <- rnorm(100, mean = 10, sd = 1)
emit("mice_inputs", est = ests, se = ses)

out <- do.call(rbind, rows)
write.csv(out, out_path, row.names = FALSE)
cat(sprintf("wrote %s (%d cases) with %s\n", out_path, case_id, R.version.string))
