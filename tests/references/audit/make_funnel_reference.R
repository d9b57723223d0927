# Funnel-plot reference numbers: FunnelPlotR's formulas, restated in base R.
#
# FunnelPlotR is not installed here (CRAN is not reachable), so this script restates the
# formulas of FunnelPlotR 0.6.0 (github.com/nhs-r-community/FunnelPlotR, commit
# 9020d4972873d863e10b8a16555975f0e322adfc) in a few lines of base R:
#   R/od_adjustment.R   transformed_zscore (PR: arcsine; SR "SHMI": log), winsorisation,
#                       truncation, phi_func, tau_func
#   R/calculate_limits.R  PR limits sin(asin(sqrt(target)) +- z sqrt(s^2 + tau2))^2 clipped to
#                       [0, 1]; SR exact Poisson limits qchisq(., 2E) / 2 / E; SR SHMI adjusted
#                       limits exp(+- z sqrt(1/E + tau2))
#   R/funnel_plot.R     target = sum(numerator) / sum(denominator) for PR, 1 for SR
# FunnelPlotR uses z = 1.959964 and 3.090232; so does this script.
# Run: Rscript tests/references/audit/make_funnel_reference.R  (writes funnel_reference.csv)

z95 <- 1.959964
z998 <- 3.090232

winsorise <- function(z, trim = 0.1) {
  lz <- quantile(z, trim, na.rm = TRUE)
  uz <- quantile(z, 1 - trim, na.rm = TRUE)
  pmin(pmax(z, lz), uz)
}

truncate_ranks <- function(z, trim = 0.1) {
  k <- 1 / trim
  band <- floor(rank(z, ties.method = "average") * k / (length(z) + 1))
  ifelse(band > 0 & band < k - 1, z, NA)
}

phi_tau2 <- function(zt, s) {
  keep <- !is.na(zt)
  n <- sum(keep)
  phi <- sum(zt[keep]^2) / n
  w <- 1 / s[keep]^2
  tau2 <- if (n * phi < n - 1) 0 else max(0, (n * phi - (n - 1)) / (sum(w) - sum(w^2) / sum(w)))
  c(phi = phi, tau2 = tau2)
}

rows <- list()

# Proportion (data_type = "PR"): arcsine scale, winsorised at 10%.
num <- c(12, 30, 45, 8, 60, 25, 90, 15, 5, 70)
den <- c(40, 80, 150, 50, 160, 60, 300, 30, 25, 140)
target <- sum(num) / sum(den)
s <- 1 / (2 * sqrt(den))
z <- (asin(sqrt(num / den)) - asin(sqrt(target))) / s
od <- phi_tau2(winsorise(z), s)
pr_lim <- function(zq, tau2) {
  cbind(
    lo = pmax(0, sin(asin(sqrt(target)) - zq * sqrt(s^2 + tau2))^2),
    hi = pmin(1, sin(asin(sqrt(target)) + zq * sqrt(s^2 + tau2))^2)
  )
}
for (adj in c("none", "additive")) {
  tau2 <- if (adj == "none") 0 else od[["tau2"]]
  l95 <- pr_lim(z95, tau2)
  l998 <- pr_lim(z998, tau2)
  rows[[length(rows) + 1]] <- data.frame(
    case = "proportion_arcsine", adjustment = adj, group = seq_along(num), numerator = num,
    denominator = den, target = target, z = z, phi = od[["phi"]], tau2 = od[["tau2"]],
    ll95 = l95[, "lo"], ul95 = l95[, "hi"], ll998 = l998[, "lo"], ul998 = l998[, "hi"]
  )
}

# Standardised ratio (data_type = "SR", sr_method = "SHMI"): log scale, truncated at 10%.
obs <- c(100, 150, 180, 80, 120, 225, 60, 310, 45, 140)
expd <- c(108, 112, 165, 95, 100, 220, 70, 280, 52, 150)
s <- 1 / sqrt(expd)
z <- sqrt(expd) * log(obs / expd)
od <- phi_tau2(truncate_ranks(z), s)
rows[[length(rows) + 1]] <- data.frame(
  case = "ratio_shmi", adjustment = "none", group = seq_along(obs), numerator = obs,
  denominator = expd, target = 1, z = z, phi = od[["phi"]], tau2 = od[["tau2"]],
  ll95 = qchisq(0.975, 2 * expd, lower.tail = FALSE) / 2 / expd,
  ul95 = qchisq(0.025, 2 * (expd + 1), lower.tail = FALSE) / 2 / expd,
  ll998 = qchisq(0.999, 2 * expd, lower.tail = FALSE) / 2 / expd,
  ul998 = qchisq(0.001, 2 * (expd + 1), lower.tail = FALSE) / 2 / expd
)
rows[[length(rows) + 1]] <- data.frame(
  case = "ratio_shmi", adjustment = "additive", group = seq_along(obs), numerator = obs,
  denominator = expd, target = 1, z = z, phi = od[["phi"]], tau2 = od[["tau2"]],
  ll95 = exp(-z95 * sqrt(1 / expd + od[["tau2"]])), ul95 = exp(z95 * sqrt(1 / expd + od[["tau2"]])),
  ll998 = exp(-z998 * sqrt(1 / expd + od[["tau2"]])), ul998 = exp(z998 * sqrt(1 / expd + od[["tau2"]]))
)

out <- do.call(rbind, rows)
here <- tryCatch(dirname(sys.frame(1)$ofile), error = function(e) NULL)
if (is.null(here)) {
  args <- commandArgs(trailingOnly = FALSE)
  file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
  here <- if (length(file_arg)) dirname(file_arg) else "."
}
target_file <- Sys.getenv("FUNNEL_REFERENCE_OUT", file.path(here, "funnel_reference.csv"))
write.csv(out, target_file, row.names = FALSE)
cat("wrote", target_file, "\n")
