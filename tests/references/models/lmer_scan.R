# lme4 REML fits of many small trials in one R process (the random-intercept optimum scan of
# tests/test_models_boundary_scan.py).  Usage: Rscript lmer_scan.R trials.csv out.csv
# trials.csv: dataset, participant_id, arm (control = reference), visit (v0 first), y, x
# (x empty when the trial has no covariate).  Model: y ~ arm * visit (+ x) + (1 | participant_id),
# REML, built with lme4's modular functions (lFormula, mkLmerDevfun, mkMerMod).  The profiled
# deviance is minimised twice, by lme4's own optimizeLmer (bobyqa from theta = 1) and by a 1-d
# search over theta in [0, 20] (stats::optimize); the lower deviance is kept, so the reference is
# lme4's deviance at its best optimum.  Writes dataset, term (R's column names, "loglik",
# "theta"), estimate, se.
suppressMessages(library(lme4))
args <- commandArgs(TRUE)
all <- read.csv(args[1], stringsAsFactors = FALSE)
out <- list()
by_search <- 0
for (ds in unique(all$dataset)) {
  d <- all[all$dataset == ds, ]
  d$arm <- factor(d$arm, levels = c("control", "active"))
  d$visit <- factor(d$visit, levels = sort(unique(d$visit)))
  f <- if (all(is.na(d$x))) y ~ arm * visit + (1 | participant_id) else y ~ arm * visit + x + (1 | participant_id)
  lf <- lFormula(f, d, REML = TRUE)
  dev <- do.call(mkLmerDevfun, lf)
  opt <- optimizeLmer(dev, optimizer = "bobyqa", control = list(rhoend = 1e-12))
  search <- optimize(dev, c(0, 20), tol = 1e-12)
  if (search$objective < opt$fval) {
    opt <- list(par = search$minimum, fval = search$objective, conv = 0, message = "optimize")
    by_search <- by_search + 1
  }
  dev(opt$par)  # leave the deviance function's environment at the chosen optimum
  m <- mkMerMod(environment(dev), opt, lf$reTrms, fr = lf$fr)
  cf <- fixef(m); se <- sqrt(diag(as.matrix(vcov(m))))
  out[[ds]] <- data.frame(dataset = ds, term = c(names(cf), "loglik", "theta"),
                          estimate = c(unname(cf), as.numeric(logLik(m)), getME(m, "theta")),
                          se = c(unname(se), NA, NA))
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
message("lmer_scan: ", length(out), " fits, ", by_search, " improved by the 1-d search")
