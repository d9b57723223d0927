# Reference for tests/test_models_inference_methods.py: sandwich covariances of the GLS fit
# FEV1 ~ ARMCD, unstructured over AVISIT (REML), on mmrm's fev_data, by clubSandwich.
#   Rscript tests/references/models/inference/empirical_clubsandwich.R <fev_data.csv> <out.csv>
# CR0 = SAS EMPIRICAL / mmrm "Empirical", CR2 = mmrm "Empirical-Bias-Reduced" (Bell & McCaffrey),
# CR3 = mmrm "Empirical-Jackknife"; df: clubSandwich's Satterthwaite (Pustejovsky & Tipton 2018,
# working model as target), which is mmrm's empirical df.
suppressPackageStartupMessages({
  library(nlme)
  library(clubSandwich)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d <- d[!is.na(d$FEV1), ]
d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
d$AVISIT <- factor(d$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
d$USUBJID <- factor(d$USUBJID)
d$vis <- as.integer(d$AVISIT)
d <- d[order(d$USUBJID, d$vis), ]
fit <- gls(FEV1 ~ ARMCD,
  data = d, method = "REML",
  correlation = corSymm(form = ~ vis | USUBJID), weights = varIdent(form = ~ 1 | AVISIT),
  control = glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 500, msMaxIter = 500)
)
out <- NULL
for (type in c("CR0", "CR2", "CR3")) {
  vc <- vcovCR(fit, cluster = d$USUBJID, type = type)
  V <- as.matrix(vc)
  ct <- coef_test(fit, vcov = vc, test = "Satterthwaite")
  out <- rbind(out, data.frame(
    type = type, term = c("(Intercept)", "ARMCD[TRT]"), estimate = coef(fit),
    v_intercept = V[, 1], v_trt = V[, 2], df = ct$df_Satt
  ))
}
out$loglik <- as.numeric(logLik(fit))
write.csv(out, args[2], row.names = FALSE)
cat(R.version.string, "nlme", format(packageVersion("nlme")), "clubSandwich",
    format(packageVersion("clubSandwich")), "\n")
