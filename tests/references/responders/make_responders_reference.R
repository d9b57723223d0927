#!/usr/bin/env Rscript
# Independent reference values for prt_outcomes.proportions, written with base R only.
#
# For each 2x2 table (x1 responders of n1 in the compared arm, x0 of n0 in the reference arm):
#   * Wilson score interval: hand-coded formula, cross-checked against prop.test(correct = FALSE)
#   * risk difference x1/n1 - x0/n0 with Newcombe's hybrid score interval (method 10 of
#     Newcombe 1998), hand-coded from the Wilson limits
#   * odds ratio with the Woolf logit interval; 0.5 added to every cell when any cell is 0
#     (Haldane-Anscombe), hand-coded
#   * NNT = 1/RD with bounds 1/rd_high and 1/rd_low (Bender 2001), Inf where RD bound is 0
#   * p: fisher.test (two-sided) when any expected count < 5, else chisq.test(correct = FALSE);
#     both p values are written so either can be checked
#
# Run from the repository root:
#   Rscript tests/references/responders/make_responders_reference.R
# Output: tests/references/responders/proportions_reference.csv (17 significant digits).

alpha <- 0.05
z <- qnorm(1 - alpha / 2)

wilson <- function(x, n) {
  p <- x / n
  centre <- (p + z^2 / (2 * n)) / (1 + z^2 / n)
  half <- z * sqrt(p * (1 - p) / n + z^2 / (4 * n^2)) / (1 + z^2 / n)
  lims <- c(max(0, centre - half), min(1, centre + half))
  pt <- suppressWarnings(prop.test(x, n, correct = FALSE, conf.level = 1 - alpha))$conf.int
  stopifnot(max(abs(pt - lims)) < 1e-12)
  lims
}

tables <- read.table(header = TRUE, text = "
case                 x1  n1  x0  n0
ashar_painfree_prt   33  50   5  50
ashar_painfree_plc   10  51   5  50
ashar_50pct_prt      35  50   8  50
ashar_50pct_plc      15  51   8  50
ashar_30pct_prt      37  50  13  50
ashar_30pct_plc      22  51  13  50
small_harm            3  10   8  10
zero_cell_arm         0  12   5  12
full_arm             12  12   6  12
both_zero             0  10   0  10
both_full            10  10  10  10
tiny                  1   5   4   6
equal                20  40  20  40
harm_moderate         7  25  15  30
large               45 200  30 210
one_each              0   1   1   1
")

rows <- lapply(seq_len(nrow(tables)), function(i) {
  t <- tables[i, ]
  x1 <- t$x1; n1 <- t$n1; x0 <- t$x0; n0 <- t$n0
  p1 <- x1 / n1; p0 <- x0 / n0
  w1 <- wilson(x1, n1); w0 <- wilson(x0, n0)
  rd <- p1 - p0
  rd_low <- rd - sqrt((p1 - w1[1])^2 + (w0[2] - p0)^2)
  rd_high <- rd + sqrt((w1[2] - p1)^2 + (p0 - w0[1])^2)
  cells <- c(x1, n1 - x1, x0, n0 - x0)
  corrected <- any(cells == 0)
  if (corrected) cells <- cells + 0.5
  or <- (cells[1] * cells[4]) / (cells[2] * cells[3])
  se <- sqrt(sum(1 / cells))
  or_low <- exp(log(or) - z * se); or_high <- exp(log(or) + z * se)
  m <- matrix(c(x1, n1 - x1, x0, n0 - x0), nrow = 2, byrow = TRUE)
  expected <- outer(rowSums(m), colSums(m)) / sum(m)
  p_fisher <- fisher.test(m, alternative = "two.sided")$p.value
  p_chi2 <- suppressWarnings(chisq.test(m, correct = FALSE)$p.value)
  test <- if (any(expected < 5)) "fisher" else "chi2"
  data.frame(
    case = t$case, x1 = x1, n1 = n1, x0 = x0, n0 = n0,
    percent = 100 * p1, percent_ci_low = 100 * w1[1], percent_ci_high = 100 * w1[2],
    risk_difference = rd, rd_ci_low = rd_low, rd_ci_high = rd_high,
    odds_ratio = or, or_ci_low = or_low, or_ci_high = or_high, or_corrected = corrected,
    nnt = 1 / rd, nnt_ci_low = 1 / rd_high, nnt_ci_high = 1 / rd_low,
    p_fisher = p_fisher, p_chi2 = p_chi2, test = test,
    p = if (test == "fisher") p_fisher else p_chi2
  )
})
out <- do.call(rbind, rows)

args <- commandArgs(trailingOnly = TRUE)
path <- if (length(args)) args[1] else "tests/references/responders/proportions_reference.csv"
num <- vapply(out, is.numeric, logical(1))
out[num] <- lapply(out[num], function(v) sprintf("%.17g", v))
writeLines(paste("#", R.version.string), path)
suppressWarnings(write.table(out, path, sep = ",", row.names = FALSE, quote = FALSE, append = TRUE))
cat("wrote", path, "\n")
