# cLDA reference for tests/test_analyses.py: nlme::gls with an unstructured covariance
# (corSymm + varIdent, REML) on the bundled example data, pain_avg at baseline, m3 and m12.
# The baseline mean is common to the arms: the arm effects are 0/1 columns for the
# post-baseline visits only (t_<arm>_<visit>), usual care the reference.
#   Rscript clda_gls.R ../../../data/example/outcomes_long.csv clda_gls.csv
# R 4.x, nlme (Debian r-cran-nlme).
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(nlme))
d <- read.csv(args[1], na.strings = c("", "NA"), stringsAsFactors = FALSE)
visits <- c("baseline", "m3", "m12")
d <- d[d$visit %in% visits & !is.na(d$pain_avg) & !is.na(d$age) & !is.na(d$sex), ]
d$visit <- factor(d$visit, levels = visits)
d$sex <- factor(d$sex, levels = c("female", "male"))
terms <- character(0)
for (a in c("prt", "placebo")) for (v in c("m3", "m12")) {
  name <- paste0("t_", a, "_", v)
  d[[name]] <- as.numeric(d$arm == a & d$visit == v)
  terms <- c(terms, name)
}
d <- d[order(d$participant_id, d$visit), ]
f <- as.formula(paste("pain_avg ~ visit +", paste(terms, collapse = " + "), "+ age + sex"))
fit <- gls(f, data = d, method = "REML",
           correlation = corSymm(form = ~ as.integer(visit) | participant_id),
           weights = varIdent(form = ~ 1 | visit),
           control = glsControl(maxIter = 200, msMaxIter = 500, tolerance = 1e-8, msTol = 1e-10))
tab <- summary(fit)$tTable
out <- data.frame(term = rownames(tab), estimate = tab[, 1], se = tab[, 2])
out <- rbind(out, data.frame(term = "loglik", estimate = as.numeric(logLik(fit)), se = NA))
write.csv(out, args[2], row.names = FALSE)
