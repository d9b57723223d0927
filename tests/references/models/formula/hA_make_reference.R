# Reference values for the formula interface (prt_outcomes.mmrm / models.formula), computed in R
# without any code from prt_outcomes.  Run from the repository root:
#     Rscript tests/references/models/formula/hA_make_reference.R
# Writes (beside this script):
#   hA_small_frame.csv       a hand-made 10-row frame (no RNG)
#   hA_model_matrix.csv      model.matrix() column names and values of several formulas on it
#   hA_lmer_reference.csv    lme4 + lmerTest + emmeans on tests/references/models/sim2_two_arm_cs.csv
#   hA_r_versions.txt        package versions
# Option: --outdir DIR writes the outputs there instead (the tests regenerate them into a
# temporary folder and compare with the stored ones).
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(emmeans)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
inputs <- here
trailing <- commandArgs(trailingOnly = TRUE)
if (length(i <- which(trailing == "--outdir"))) here <- trailing[i + 1]  # inputs stay beside the script

# ---------------------------------------------------------------- model.matrix on a small frame
small <- data.frame(
  y = c(1.5, 2.0, 0.3, 4.1, 2.2, 3.3, 1.1, 0.7, 2.9, 3.8),
  a = c("p", "q", "r", "p", "q", "r", "p", "q", "r", "p"),
  b = c("u", "u", "u", "v", "v", "v", "u", "v", "u", "v"),
  x = c(0.5, 1.0, 2.0, 3.5, 1.5, 2.5, 4.0, 0.2, 1.2, 2.2),
  z = c(10, 12, 9, 11, 15, 8, 7, 13, 14, 6)
)
write.csv(small, file.path(here, "hA_small_frame.csv"), row.names = FALSE)
small$a <- factor(small$a); small$b <- factor(small$b)
formulas <- c(
  "y ~ a * b", "y ~ a:b", "y ~ a:b - 1", "y ~ x:a + b", "y ~ a + x:a", "y ~ (a + b) * x",
  "y ~ 0 + a + b", "y ~ b:a + x", "y ~ a * b * x - a:b:x", "y ~ x + z:x", "y ~ a / b",
  "y ~ x:b + a:b", "y ~ -1 + x:a", "y ~ b + a:x:b", "y ~ a:b + a", "y ~ x:a + x", "y ~ a * x - 1",
  "y ~ b * a - 1 + x", "y ~ a:b:x + a", "y ~ x - 1 + a:b"
)
rows <- list()
for (f in formulas) {
  X <- model.matrix(as.formula(f), small)
  for (j in seq_len(ncol(X))) {
    rows[[length(rows) + 1]] <- data.frame(formula = f, column = j, name = colnames(X)[j],
                                           row = seq_len(nrow(X)), value = X[, j])
  }
}
write.csv(do.call(rbind, rows), file.path(here, "hA_model_matrix.csv"), row.names = FALSE)

# ---------------------------------------------------------------- lmerTest / emmeans, random intercept
d <- read.csv(file.path(inputs, "..", "sim2_two_arm_cs.csv"))
d <- d[!is.na(d$y), ]
d$arm <- factor(d$arm, levels = c("usual_care", "prt"))
d$visit <- factor(d$visit); d$site <- factor(d$site)
form <- y ~ arm * visit + site + age * visit + (1 | participant_id)
fit <- lmer(form, data = d, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12)))
emm_options(lmer.df = "satterthwaite")
out <- list()
add <- function(quantity, name, estimate, se = NA, df = NA, extra1 = NA, extra2 = NA) {
  out[[length(out) + 1]] <<- data.frame(quantity = quantity, name = name, estimate = estimate, se = se,
                                        df = df, extra1 = extra1, extra2 = extra2)
}
cf <- summary(fit)$coefficients
for (i in seq_len(nrow(cf))) add("coef", rownames(cf)[i], cf[i, "Estimate"], cf[i, "Std. Error"], cf[i, "df"])
add("loglik", "REML", as.numeric(logLik(fit)))
vc <- as.data.frame(VarCorr(fit))
add("varcomp", "subject", vc$vcov[1]); add("varcomp", "residual", vc$vcov[2])
for (w in c("equal", "proportional")) {
  e1 <- summary(emmeans(fit, ~ arm | visit, weights = w))
  for (i in seq_len(nrow(e1))) add(paste0("emm_arm_by_visit_", w), paste(e1$arm[i], e1$visit[i]),
                                   e1$emmean[i], e1$SE[i], e1$df[i], e1$lower.CL[i], e1$upper.CL[i])
  e2 <- summary(emmeans(fit, ~ arm, weights = w))
  for (i in seq_len(nrow(e2))) add(paste0("emm_arm_", w), as.character(e2$arm[i]),
                                   e2$emmean[i], e2$SE[i], e2$df[i], e2$lower.CL[i], e2$upper.CL[i])
  e3 <- summary(emmeans(fit, ~ site * arm, weights = w))
  for (i in seq_len(nrow(e3))) add(paste0("emm_site_arm_", w), paste(e3$site[i], e3$arm[i]),
                                   e3$emmean[i], e3$SE[i], e3$df[i])
}
pr <- summary(pairs(emmeans(fit, ~ arm | visit), adjust = "none"))
for (i in seq_len(nrow(pr))) add("pairs_arm_by_visit", paste(pr$contrast[i], pr$visit[i]),
                                 pr$estimate[i], pr$SE[i], pr$df[i], pr$t.ratio[i], pr$p.value[i])
pr2 <- summary(pairs(emmeans(fit, ~ site), adjust = "none"))
for (i in seq_len(nrow(pr2))) add("pairs_site", as.character(pr2$contrast[i]),
                                  pr2$estimate[i], pr2$SE[i], pr2$df[i], pr2$t.ratio[i], pr2$p.value[i])
a3 <- anova(fit, type = 3, ddf = "Satterthwaite")
for (i in seq_len(nrow(a3))) add("type3", rownames(a3)[i], a3[i, "F value"], NA, a3[i, "DenDF"],
                                 a3[i, "NumDF"], a3[i, "Pr(>F)"])

# Model 2: margins absent and an aliased column: arm:visit with an intercept codes both factors by
# full indicators (8 cells + intercept, rank 8 + ...); lme4 drops the last dependent column.
fit2 <- lmer(y ~ arm:visit + age:visit + site + (1 | participant_id), data = d, REML = TRUE,
             control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12)))
cf2 <- summary(fit2)$coefficients
for (i in seq_len(nrow(cf2))) add("m2_coef", rownames(cf2)[i], cf2[i, "Estimate"], cf2[i, "Std. Error"], cf2[i, "df"])
add("m2_loglik", "REML", as.numeric(logLik(fit2)))
e4 <- summary(emmeans(fit2, ~ arm | visit))
for (i in seq_len(nrow(e4))) add("m2_emm_arm_by_visit_equal", paste(e4$arm[i], e4$visit[i]),
                                 e4$emmean[i], e4$SE[i], e4$df[i])
# (emmeans detects "arm %in% visit" here and would give ~ arm per visit anyway)
e5 <- summary(emmeans(fit2, ~ arm | visit, weights = "proportional"))
for (i in seq_len(nrow(e5))) add("m2_emm_arm_by_visit_proportional", paste(e5$arm[i], e5$visit[i]),
                                 e5$emmean[i], e5$SE[i], e5$df[i])
a4 <- anova(fit2, type = 3, ddf = "Satterthwaite")
for (i in seq_len(nrow(a4))) add("m2_type3", rownames(a4)[i], a4[i, "F value"], NA, a4[i, "DenDF"],
                                 a4[i, "NumDF"], a4[i, "Pr(>F)"])
write.csv(do.call(rbind, out), file.path(here, "hA_lmer_reference.csv"), row.names = FALSE)
writeLines(c(R.version.string, sapply(c("lme4", "lmerTest", "emmeans", "Matrix"),
             function(p) paste(p, as.character(packageVersion(p))))), file.path(here, "hA_r_versions.txt"))
