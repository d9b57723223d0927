# Reference for tests/test_models_inference_methods.py (run live when Rscript is available):
# multi-df F tests of a random-intercept REML fit, y ~ arm * visit + age + (1 | participant_id),
# on tests/references/models/sim1_three_arm_un.csv.
#   Rscript f_tests_lmer.R <data.csv> <out.csv>
# hypotheses: "interaction" = every arm:visit coefficient 0; "arm" = the arm coefficients 0
# (arm differences at the reference visit). Kenward-Roger: pbkrtest::KRmodcomp (expected
# information); Satterthwaite: lmerTest::contestMD.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d <- d[!is.na(d$y), ]
d$arm <- factor(d$arm)
d$visit <- factor(d$visit)
fit <- lmer(y ~ arm * visit + age + (1 | participant_id), data = d, REML = TRUE,
            control = lmerControl(optCtrl = list(ftol_abs = 1e-12, xtol_abs = 1e-12)))
cn <- names(fixef(fit))
hyp <- list(
  interaction = which(grepl(":", cn)),
  arm = which(grepl("^arm", cn) & !grepl(":", cn))
)
out <- NULL
for (h in names(hyp)) {
  L <- matrix(0, length(hyp[[h]]), length(cn))
  L[cbind(seq_along(hyp[[h]]), hyp[[h]])] <- 1
  kr <- KRmodcomp(fit, L)$test
  sat <- contestMD(fit, L, ddf = "Satterthwaite")
  out <- rbind(out, data.frame(
    hypothesis = h, method = c("kenward_roger_expected", "satterthwaite"),
    num_df = c(kr["Ftest", "ndf"], sat$NumDF), den_df = c(kr["Ftest", "ddf"], sat$DenDF),
    F = c(kr["Ftest", "stat"], sat[["F value"]]), p = c(kr["Ftest", "p.value"], sat[["Pr(>F)"]]),
    scaling = c(kr["Ftest", "F.scaling"], 1)
  ))
}
write.csv(out, args[2], row.names = FALSE)
