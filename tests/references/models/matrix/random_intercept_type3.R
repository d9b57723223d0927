# Live R reference for tests/test_models_reference_matrix.py: random-intercept REML fits, type-3
# F tests, emmeans differences and coefficients, on mmrm's fev_data and the antidepressant trial.
#   Rscript random_intercept_type3.R <fev_data.csv> <antidepressant_chapter15.csv> <out.csv>
# Models (R formula; the engine fits the same string through po.mmrm):
#   fev: FEV1 ~ RACE + SEX + ARMCD * AVISIT + (1 | USUBJID)
#   ad:  change ~ basval * VISIT + THERAPY * VISIT + (1 | PATIENT)      (VISIT a factor)
# Sources of each number (column `source`):
#   lmerTest::anova(type = 3, ddf = "Satterthwaite" / "Kenward-Roger"): lmerTest builds its type-3
#     contrasts from the design (SAS's definition), whatever contrasts the factors carry.
#   car::Anova(type = 3, test.statistic = "F"): KR via pbkrtest. car tests "coefficients of the
#     term's columns = 0", which is SAS's type-3 hypothesis only under sum-to-zero coding, so this
#     fit uses options(contrasts = c("contr.sum", "contr.poly")) (same likelihood, other columns).
#   emmeans (lmer.df = "satterthwaite" / "kenward-roger"): arm differences by visit.
#   lmerTest summary: coefficients (treatment contrasts), SE, Satterthwaite df; REML logLik.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(pbkrtest)
  library(car)
})
args <- commandArgs(trailingOnly = TRUE)
ctrl <- lmerControl(optimizer = "nloptwrap", optCtrl = list(ftol_abs = 1e-14, xtol_abs = 1e-12, maxeval = 1e5))
emm_options(lmerTest.limit = 1e5, pbkrtest.limit = 1e5)

fev <- read.csv(args[1])
fev <- fev[!is.na(fev$FEV1), ]
fev$RACE <- factor(fev$RACE)
fev$SEX <- factor(fev$SEX)
fev$ARMCD <- factor(fev$ARMCD)
fev$AVISIT <- factor(fev$AVISIT)
ad <- read.csv(args[2])
ad$VISIT <- factor(ad$VISIT)
ad$THERAPY <- factor(ad$THERAPY)

cases <- list(
  fev = list(data = fev, formula = FEV1 ~ RACE + SEX + ARMCD * AVISIT + (1 | USUBJID),
             arm = "ARMCD", visit = "AVISIT"),
  antidepressant = list(data = ad, formula = change ~ basval * VISIT + THERAPY * VISIT + (1 | PATIENT),
                        arm = "THERAPY", visit = "VISIT")
)
out <- NULL
add <- function(...) out <<- rbind(out, data.frame(...))
for (name in names(cases)) {
  cs <- cases[[name]]
  options(contrasts = c("contr.treatment", "contr.poly"))
  fit <- lmerTest::lmer(cs$formula, data = cs$data, REML = TRUE, control = ctrl)
  add(dataset = name, source = "lme4::logLik", quantity = "loglik", term = "REML", by = "",
      estimate = as.numeric(logLik(fit)), se = NA, num_df = NA, den_df = NA, F = NA)
  vc <- as.data.frame(VarCorr(fit))
  add(dataset = name, source = "lme4::VarCorr", quantity = "variance", term = vc$grp, by = "",
      estimate = vc$vcov, se = NA, num_df = NA, den_df = NA, F = NA)
  co <- summary(fit, ddf = "Satterthwaite")$coefficients
  add(dataset = name, source = "lmerTest::summary(ddf='Satterthwaite')", quantity = "coef",
      term = rownames(co), by = "", estimate = co[, "Estimate"], se = co[, "Std. Error"],
      num_df = NA, den_df = co[, "df"], F = NA)
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    a <- anova(fit, type = 3, ddf = ddf)
    add(dataset = name, source = sprintf("lmerTest::anova(type=3, ddf='%s')", ddf),
        quantity = paste0("type3_", tolower(ddf)), term = rownames(a), by = "", estimate = NA, se = NA,
        num_df = a$NumDF, den_df = a$DenDF, F = a[["F value"]])
    lmer_df <- tolower(ddf)
    e <- emmeans(fit, as.formula(paste("~", cs$arm, "|", cs$visit)), lmer.df = lmer_df)
    p <- as.data.frame(pairs(e))
    add(dataset = name, source = sprintf("emmeans pairs(lmer.df='%s')", lmer_df),
        quantity = paste0("emmeans_diff_", lmer_df), term = as.character(p$contrast),
        by = as.character(p[[cs$visit]]), estimate = p$estimate, se = p$SE, num_df = NA, den_df = p$df,
        F = NA)
  }
  options(contrasts = c("contr.sum", "contr.poly"))
  fit_sum <- lme4::lmer(cs$formula, data = cs$data, REML = TRUE, control = ctrl)
  a <- car::Anova(fit_sum, type = 3, test.statistic = "F")
  add(dataset = name, source = "car::Anova(type=3, test.statistic='F'), contr.sum",
      quantity = "type3_car_kr", term = rownames(a), by = "", estimate = NA, se = NA,
      num_df = a$Df, den_df = a$Df.res, F = a$F)
}
write.csv(out, args[3], row.names = FALSE)
writeLines(c(R.version.string, sapply(c("lme4", "lmerTest", "emmeans", "pbkrtest", "car"),
  function(p) paste(p, packageVersion(p)))), sub("\\.csv$", "_versions.txt", args[3]))
