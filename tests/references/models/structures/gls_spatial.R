# nlme::gls references for the engine's spatial_exponential structure (mmrm sp_exp, SAS SP(EXP)).
# Usage (from the repository root):
#   Rscript tests/references/models/structures/gls_spatial.R \
#     tests/references/models/structures/sim_spatial_unequal.csv \
#     ../shared/data/rbmi_antidepressant/antidepressant_chapter15.csv \
#     tests/references/models/structures/ref_gls_spatial.csv
# The second file is optional ("-" skips it). corExp without nugget: corr = exp(-d / range).
suppressMessages(library(nlme))
args <- commandArgs(TRUE)
ctl <- glsControl(msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)
one <- function(name, m) {
  data.frame(
    model = name,
    term = c(names(coef(m)), "loglik", "range", "sigma2"),
    est = c(coef(m), logLik(m), coef(m$modelStruct$corStruct, unconstrained = FALSE), m$sigma^2),
    se = c(sqrt(diag(vcov(m))), NA, NA, NA)
  )
}
s <- read.csv(args[1])
s$arm <- factor(s$arm, levels = c("usual_care", "prt"))
s$visit <- factor(s$time)
s <- s[order(s$participant_id, s$time), ]
f <- y ~ arm * visit
out <- list(
  one("sim_reml", gls(f, s, correlation = corExp(form = ~ time | participant_id), control = ctl)),
  one("sim_ml", gls(f, s, correlation = corExp(form = ~ time | participant_id), control = ctl, method = "ML"))
)
if (length(args) >= 3 && args[2] != "-" && file.exists(args[2])) {
  a <- read.csv(args[2])
  a$THERAPY <- factor(a$THERAPY, levels = c("PLACEBO", "DRUG"))
  a$VISIT <- factor(a$VISIT)
  a <- a[order(a$PATIENT, a$RELDAYS), ]
  m <- gls(change ~ basval + THERAPY * VISIT, a, correlation = corExp(form = ~ RELDAYS | PATIENT), control = ctl)
  out[[length(out) + 1]] <- one("antidepressant_reml", m)
}
write.csv(do.call(rbind, out), args[length(args)], row.names = FALSE)
