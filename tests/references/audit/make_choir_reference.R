# CHOIR registry audit numbers computed in base R, independently of prt_outcomes.
#
# Input: ../shared/data/choir_pain_registry/choir_pain_registry.csv (PROVENANCE.md there;
# sha256 3d403c98bd07aaf7f054de6dd61ad1797fa52ceaa6586981bb0d8661db8e0edd). Wide, one row per
# patient: PAIN_INTENSITY_AVERAGE at the first visit, PAIN_INTENSITY_AVERAGE.FOLLOW_UP at 3 months.
# Output: choir_reference.csv (quantity, value), compared by tests/test_audit.py.
# Methods: Wilson interval = prop.test(correct = FALSE)$conf.int; mean change CI =
# t.test(follow, base, paired = TRUE)$conf.int; responders by integer arithmetic on the 0-10
# scores; standardized differences by Austin (2009) and Yang & Dalton (2012).
# Run: Rscript tests/references/audit/make_choir_reference.R [path/to/choir_pain_registry.csv]

args <- commandArgs(trailingOnly = TRUE)
all_args <- commandArgs(trailingOnly = FALSE)
here <- dirname(sub("^--file=", "", all_args[grep("^--file=", all_args)]))
input <- if (length(args) >= 1) args[1] else
  file.path(here, "..", "..", "..", "..", "shared", "data", "choir_pain_registry", "choir_pain_registry.csv")
output <- if (length(args) >= 2) args[2] else file.path(here, "choir_reference.csv")

d <- read.csv(input, na.strings = "", check.names = FALSE, stringsAsFactors = FALSE)
b <- d[["PAIN_INTENSITY_AVERAGE"]]
f <- d[["PAIN_INTENSITY_AVERAGE.FOLLOW_UP"]]
eligible <- !is.na(b)
both <- eligible & !is.na(f)
out <- list()
put <- function(name, value) out[[name]] <<- value

wilson <- function(prefix, x, n) {
  ci <- prop.test(x, n, correct = FALSE)$conf.int
  put(paste0(prefix, "_x"), x)
  put(paste0(prefix, "_n"), n)
  put(paste0(prefix, "_ci_low"), 100 * ci[1])
  put(paste0(prefix, "_ci_high"), 100 * ci[2])
}

wilson("completion", sum(both), sum(eligible))

tt <- t.test(f[both], b[both], paired = TRUE)
put("change_n", sum(both))
put("change_mean_baseline", mean(b[both]))
put("change_mean_followup", mean(f[both]))
put("change_mean", unname(tt$estimate))
put("change_sd", sd(f[both] - b[both]))
put("change_ci_low", tt$conf.int[1])
put("change_ci_high", tt$conf.int[2])
put("change_effect_size_baseline_sd", unname(tt$estimate) / sd(b[both]))

bb <- b[both]
ff <- f[both]
rules <- list(
  pr30 = list(hit = bb > 0 & 10 * (bb - ff) >= 3 * bb, decided = sum(bb > 0)),
  pr50 = list(hit = bb > 0 & 2 * (bb - ff) >= bb, decided = sum(bb > 0)),
  red2 = list(hit = bb - ff >= 2, decided = length(bb))
)
for (name in names(rules)) {
  x <- sum(rules[[name]]$hit)
  wilson(paste0(name, "_observed"), x, rules[[name]]$decided)
  wilson(paste0(name, "_eligible"), x, sum(eligible))
}

followed <- both[eligible]
e <- d[eligible, ]
smd_numeric <- function(name, column) {
  a <- e[[column]][followed]
  l <- e[[column]][!followed]
  a <- a[!is.na(a)]
  l <- l[!is.na(l)]
  put(paste0("smd_", name), (mean(a) - mean(l)) / sqrt((var(a) + var(l)) / 2))
}
smd_numeric("pain", "PAIN_INTENSITY_AVERAGE")
smd_numeric("age", "AGE_AT_CONTACT")
smd_numeric("bmi", "BMI")

yang_dalton <- function(name, column) {
  a <- e[[column]][followed]
  l <- e[[column]][!followed]
  a <- a[!is.na(a)]
  l <- l[!is.na(l)]
  levels <- sort(unique(c(a, l)))
  pa <- sapply(levels, function(v) mean(a == v))
  pl <- sapply(levels, function(v) mean(l == v))
  if (length(levels) == 2) {
    p1 <- pa[2]
    p0 <- pl[2]
    put(paste0("smd_", name, "_", levels[2]), unname((p1 - p0) / sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)))
  } else {
    t1 <- pa[-1]
    c1 <- pl[-1]
    s <- -(outer(t1, t1) + outer(c1, c1)) / 2
    diag(s) <- (t1 * (1 - t1) + c1 * (1 - c1)) / 2
    put(paste0("smd_", name, "_overall"), sqrt(drop(t(t1 - c1) %*% solve(s, t1 - c1))))
  }
}
yang_dalton("sex", "PAT_SEX")
yang_dalton("medicaid", "MEDICAID_BIN")
yang_dalton("race", "PAT_RACE")

res <- data.frame(quantity = names(out), value = sprintf("%.15g", unlist(out)), row.names = NULL)
write.csv(res, output, row.names = FALSE, quote = FALSE)
cat("wrote", output, "\n")
