# Reference standard-curve fits for tests/unit/test_protein_curves.py.
#
# drc (LL.4 / LL.5) is not installable offline, so the same model,
#   y = c + (d - c) / (1 + exp(b * (log(x) - log(e))))^f    (f = 1 for LL.4),
# is fitted here with base R nls (algorithm "port") and the same fixed weights
# (nls minimises sum(w * (y - f(x))^2), as drm does for continuous data with
# weights). The least-squares optimum does not depend on the software, so these
# are the values drc's drm(y ~ x, weights = w, fct = LL.4()/LL.5()) reaches.
# The data are simulated here, in R, so that the Python fit sees data it did not make.
#
# Run from this directory:  Rscript make_fixtures.R
set.seed(20261207)

ll5 <- function(x, b, c, d, e, f) c + (d - c) / (1 + exp(b * (log(x) - log(e))))^f

# Weights as exomir.proteins.curves.standard_weights: per standard level the mean
# |response|, floored at floor x the largest level mean; 1/m^2 or 1/m; scaled to mean 1.
level_weights <- function(x, y, scheme, floor = 0.01) {
  if (scheme == "none") return(rep(1, length(y)))
  m <- ave(abs(y), x, FUN = mean)
  m <- pmax(m, max(m) * floor)
  w <- if (scheme == "1/y^2") 1 / m^2 else 1 / m
  w / mean(w)
}

make <- function(name, conc, reps, truth, cv, scheme) {
  x <- rep(conc, each = reps)
  mu <- do.call(ll5, c(list(x = x), truth))
  y <- mu * exp(rnorm(length(x), 0, cv)) + rnorm(length(x), 0, 0.005)
  data.frame(dataset = name, x = x, y = round(y, 5), scheme = scheme)
}

series <- function(top, n, step = 2) top / step^(0:(n - 1))
datasets <- rbind(
  make("rising_8x2", series(2000, 8), 2, list(b = -1.1, c = 0.06, d = 3.1, e = 280, f = 1), 0.04, "1/y^2"),
  make("asym_zero_10x2", c(series(5000, 9), 0), 2, list(b = -1.8, c = 0.03, d = 2.9, e = 900, f = 0.35), 0.03, "1/y^2"),
  make("falling_8x3", series(400, 8), 3, list(b = 1.3, c = 0.15, d = 2.4, e = 25, f = 1.6), 0.04, "1/y"),
  make("unweighted_7x2", series(1000, 7), 2, list(b = -0.9, c = 0.1, d = 2.2, e = 120, f = 1), 0.05, "none")
)
datasets$weight <- NA_real_
for (nm in unique(datasets$dataset)) {
  i <- datasets$dataset == nm
  datasets$weight[i] <- level_weights(datasets$x[i], datasets$y[i], datasets$scheme[i][1])
}

start4 <- function(x, y) {
  span <- diff(range(y))
  rising <- mean(y[x == max(x)]) > mean(y[x == min(x[x > 0])])
  c0 <- if (rising) min(y) - 0.05 * span else max(y) + 0.05 * span
  d0 <- if (rising) max(y) + 0.05 * span else min(y) - 0.05 * span
  p <- x > 0
  z <- log((d0 - y[p]) / (y[p] - c0))
  cf <- coef(lm(z ~ log(x[p])))
  list(b = unname(cf[2]), c = c0, d = d0, e = exp(-unname(cf[1]) / unname(cf[2])))
}

ctl <- nls.control(maxiter = 1000, tol = 1e-8, scaleOffset = 1, warnOnly = FALSE)
port_ctl <- list(eval.max = 5000, iter.max = 2000)
fits <- list()
for (nm in unique(datasets$dataset)) {
  d <- datasets[datasets$dataset == nm, ]
  s4 <- start4(d$x, d$y)
  m4 <- nls(y ~ c + (d - c) / (1 + exp(b * (log(x) - log(e)))), data = d, weights = weight,
            start = s4, algorithm = "port", control = c(ctl, port_ctl))
  p4 <- as.list(coef(m4))
  # LL.4 is unchanged by (b, c, d) -> (-b, d, c): report drc's form, c = lower limit.
  flip <- function(p) list(b = -p$b, c = p$d, d = p$c, e = p$e)
  if (p4$c > p4$d) p4 <- flip(p4)
  # LL.5 is not: start from both forms and keep the smaller residual sum of squares.
  best5 <- NULL
  for (st in list(c(p4, f = 1), c(p4, f = 0.5), c(p4, f = 2), c(flip(p4), f = 1),
                  c(flip(p4), f = 0.5), c(flip(p4), f = 2))) {
    m5 <- try(nls(y ~ c + (d - c) / (1 + exp(b * (log(x) - log(e))))^f, data = d, weights = weight,
                  start = st, algorithm = "port", lower = c(-Inf, -Inf, -Inf, 1e-12, 1e-6),
                  control = c(ctl, port_ctl)), silent = TRUE)
    if (!inherits(m5, "try-error") && (is.null(best5) || deviance(m5) < deviance(best5))) best5 <- m5
  }
  # A 5PL that nls cannot fit (asymmetry not identifiable from the data) is left out.
  models <- list(list("4pl", m4))
  if (!is.null(best5)) models[[2]] <- list("5pl", best5)
  for (m in models) {
    cf <- as.list(coef(m[[2]]))
    if (is.null(cf$f)) cf <- c(p4, f = 1)
    fits[[length(fits) + 1]] <- data.frame(
      dataset = nm, model = m[[1]], b = cf$b, c = cf$c, d = cf$d, e = cf$e, f = cf$f,
      rss = deviance(m[[2]]), converged = m[[2]]$convInfo$isConv)
  }
}
fits <- do.call(rbind, fits)
fmt <- function(df) { for (k in names(df)) if (is.double(df[[k]])) df[[k]] <- sprintf("%.10g", df[[k]]); df }
write.table(fmt(datasets[, c("dataset", "x", "y", "scheme", "weight")]), "curve_data.tsv",
            sep = "\t", quote = FALSE, row.names = FALSE)
write.table(fmt(fits), "curve_fits_R.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(R.version.string, paste("stats", packageVersion("stats"))), "R_versions.txt")
print(fits)
