# Live R reference for tests/test_models_reference_btheb.py: the HSAUR3 book model (Everitt &
# Hothorn, "Analyzing Longitudinal Data I", BtheB_lmer1), ML random intercept, lme4.
#   Rscript btheb_lmer.R <out_long.csv> <out_ref.csv>
# The long data are built exactly as the book's chunk ALDI-long-BtheB does (HSAUR3
# doc/Ch_analysing_longitudinal_dataI.R): bdi.2m, bdi.3m, bdi.5m, bdi.8m at time 2, 3, 5, 8 months,
# rows with a missing bdi dropped (na.omit in the book's lmer call).
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data("BtheB", package = "HSAUR3")
BtheB$subject <- factor(rownames(BtheB))
nobs <- nrow(BtheB)
BtheB_long <- reshape(BtheB, idvar = "subject",
    varying = c("bdi.2m", "bdi.3m", "bdi.5m", "bdi.8m"),
    direction = "long")
BtheB_long$time <- rep(c(2, 3, 5, 8), rep(nobs, 4))
fit <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject), data = BtheB_long,
            REML = FALSE, na.action = na.omit,
            control = lmerControl(optimizer = "nloptwrap", optCtrl = list(ftol_abs = 1e-14, xtol_abs = 1e-12)))
long <- BtheB_long[!is.na(BtheB_long$bdi),
                   c("subject", "time", "bdi", "bdi.pre", "treatment", "drug", "length")]
write.csv(long, args[1], row.names = FALSE)
co <- summary(fit)$coefficients
vc <- as.data.frame(VarCorr(fit))
out <- rbind(
  data.frame(quantity = "loglik", term = "ML", estimate = as.numeric(logLik(fit)), se = NA),
  data.frame(quantity = "variance", term = vc$grp, estimate = vc$vcov, se = NA),
  data.frame(quantity = "coef", term = rownames(co), estimate = co[, "Estimate"], se = co[, "Std. Error"])
)
write.csv(out, args[2], row.names = FALSE)
writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")), paste("HSAUR3", packageVersion("HSAUR3"))),
           sub("\\.csv$", "_versions.txt", args[2]))
