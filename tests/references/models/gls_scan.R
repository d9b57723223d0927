# nlme::gls REML fits of many small trials in one R process (the boundary scan of the
# correlation structures).  Usage: Rscript gls_scan.R trials.csv out.csv structure[,structure...]
# structures: compound_symmetry, ar1, heterogeneous_compound_symmetry, heterogeneous_ar1.
# trials.csv: dataset, participant_id, arm (control = reference), visit (v0 first), visit_index,
# y, x (empty when the trial has no covariate).  Model: y ~ arm * visit (+ x).
# Writes dataset, structure, term (R's column names, "loglik"), estimate, se; a fit that nlme
# cannot complete is written as one row with term "failed".
suppressMessages(library(nlme))
args <- commandArgs(TRUE)
all <- read.csv(args[1], stringsAsFactors = FALSE)
structures <- strsplit(args[3], ",")[[1]]
ctl <- glsControl(msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)
out <- list()
for (ds in unique(all$dataset)) {
  d <- all[all$dataset == ds, ]
  d$arm <- factor(d$arm, levels = c("control", "active"))
  d$visit <- factor(d$visit, levels = sort(unique(d$visit)))
  d <- d[order(d$participant_id, d$visit_index), ]
  f <- if (all(is.na(d$x))) y ~ arm * visit else y ~ arm * visit + x
  for (s in structures) {
    cs <- corCompSymm(form = ~ visit_index | participant_id)
    ar <- corAR1(form = ~ visit_index | participant_id)
    w <- varIdent(form = ~ 1 | visit)
    m <- tryCatch(switch(s,
      compound_symmetry = gls(f, d, correlation = cs, control = ctl),
      ar1 = gls(f, d, correlation = ar, control = ctl),
      heterogeneous_compound_symmetry = gls(f, d, correlation = cs, weights = w, control = ctl),
      heterogeneous_ar1 = gls(f, d, correlation = ar, weights = w, control = ctl)),
      error = function(e) NULL)
    key <- paste(ds, s)
    if (is.null(m)) {
      out[[key]] <- data.frame(dataset = ds, structure = s, term = "failed", estimate = NA, se = NA)
      next
    }
    cf <- coef(m); se <- sqrt(diag(vcov(m)))
    out[[key]] <- data.frame(dataset = ds, structure = s, term = c(names(cf), "loglik"),
                             estimate = c(unname(cf), as.numeric(logLik(m))), se = c(unname(se), NA))
  }
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
