#!/usr/bin/env Rscript
# Independent Jacobson-Truax reference for prt_outcomes.clinical, written with base R only
# (the R package clinicalsignificance is not packaged for Debian, so the formulas are coded here
# from Jacobson & Truax 1991, J Consult Clin Psychol 59:12-19):
#   SE      = SD_pre * sqrt(1 - r_xx)            SD_pre: SD (n-1) of pre scores of complete pairs
#   S_diff  = sqrt(2 * SE^2)
#   RCI     = (post - pre) / S_diff              reliable if |RCI| > 1.96
#   cut-off c = (sd_c * m_f + sd_f * m_c) / (sd_c + sd_f); a = m_c - 2 sd_c; b = m_f + 2 sd_f
#               (BDI-II: lower is better)
#   recovered    = reliable improvement, pre on the dysfunctional side, post on the functional side
#   improved     = other reliable improvement;  unchanged = no reliable change
#   deteriorated = reliable worsening
#
# Data: claus_2020 (Claus, Scherbaum & Bonnet 2020), BDI-II, pre = time 1, post = time 4.
# Parameters as in the clinicalsignificance README example (github.com/benediktclaus/
# clinicalsignificance, README.md at commit 0b070e83ed7ee1da900520e7aefeab9155a4187c):
#   reliability = 0.801, m_functional = 7.69, sd_functional = 7.52, cutoff_type = "c".
# That README prints: N used 40 of 43, cutoff 21.02, M clinical 35.48, SD clinical 8.16,
#   Recovered 10 (25%), Improved 8 (20%), Unchanged 22 (55%), Deteriorated 0, Harmed 0.
#
# Run from the repository root (the data stay outside the repository):
#   Rscript tests/references/responders/make_clinical_reference.R ../shared/data/claus2020_clinicalsignificance/claus_2020.csv
# Output: clinical_reference_claus2020.csv (per participant: id, treatment, rci, category for
#   cut-offs a, b, c) and clinical_reference_claus2020_summary.csv, beside this script.

args <- commandArgs(trailingOnly = TRUE)
src <- if (length(args)) args[1] else "../shared/data/claus2020_clinicalsignificance/claus_2020.csv"
out_dir <- "tests/references/responders"
d <- read.csv(src)
pre <- d[d$time == 1, c("id", "treatment", "bdi")]
post <- d[d$time == 4, c("id", "bdi")]
names(pre)[3] <- "pre"; names(post)[2] <- "post"
w <- merge(pre, post, by = "id", all = TRUE)
w <- w[order(w$id), ]
complete <- !is.na(w$pre) & !is.na(w$post)

r_xx <- 0.801; m_f <- 7.69; sd_f <- 7.52; crit <- 1.96
m_c <- mean(w$pre[complete]); sd_c <- sd(w$pre[complete])
s_diff <- sqrt(2 * (sd_c * sqrt(1 - r_xx))^2)
rci <- (w$post - w$pre) / s_diff
cutoffs <- c(a = m_c - 2 * sd_c, b = m_f + 2 * sd_f, c = (sd_c * m_f + sd_f * m_c) / (sd_c + sd_f))

categorise <- function(cut) {
  improved <- rci < -crit          # lower BDI is better
  worse <- rci > crit
  clinical_pre <- w$pre > cut
  functional_post <- w$post < cut
  cat <- ifelse(improved & clinical_pre & functional_post, "recovered",
         ifelse(improved, "improved", ifelse(worse, "deteriorated", "unchanged")))
  cat[!complete] <- NA
  cat
}

per <- data.frame(id = w$id, treatment = w$treatment, rci = sprintf("%.17g", rci))
per$rci[!complete] <- "NA"
for (k in names(cutoffs)) per[[paste0("category_", k)]] <- categorise(cutoffs[[k]])
write.csv(per, file.path(out_dir, "clinical_reference_claus2020.csv"), row.names = FALSE, na = "")

summ <- do.call(rbind, lapply(names(cutoffs), function(k) {
  cats <- per[[paste0("category_", k)]]
  levels <- c("recovered", "improved", "unchanged", "deteriorated")
  data.frame(cutoff_type = k, cutoff = sprintf("%.17g", cutoffs[[k]]), category = levels,
             n = vapply(levels, function(l) sum(cats == l, na.rm = TRUE), numeric(1)),
             n_used = sum(complete), clinical_mean = sprintf("%.17g", m_c),
             clinical_sd = sprintf("%.17g", sd_c), s_diff = sprintf("%.17g", s_diff))
}))
con <- file(file.path(out_dir, "clinical_reference_claus2020_summary.csv"), "w")
writeLines(paste("#", R.version.string), con)
close(con)
suppressWarnings(write.table(summ, file.path(out_dir, "clinical_reference_claus2020_summary.csv"),
                             sep = ",", row.names = FALSE, quote = FALSE, append = TRUE))
print(summ)
