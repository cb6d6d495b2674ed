#!/usr/bin/env Rscript
# Reference MMRM fits of R nlme::gls for the agreement test of exomir.stats.mmrm
# (tests/unit/test_mmrm.py).
#
# Run from the repository root:
#     Rscript tests/data/mmrm/make_fixtures.R
#
# It simulates one small two-arm trial with four post-dose visits (fixed seed),
# writes it in long form twice -- balanced (every visit observed) and
# unbalanced (visits missing, monotone dropout and intermittent gaps) -- and
# fits, for each, the model of exomir.stats.mmrm by REML:
#     y ~ 0 + visit + visit:treated + visit:baseline + stratum
# with four residual covariance structures within participant:
#   unstructured       corSymm(form = ~ vidx | id) + varIdent(form = ~ 1 | visit)
#   heterogeneous_cs   corCompSymm(form = ~ 1 | id) + varIdent(form = ~ 1 | visit)
#   heterogeneous_ar1  corAR1(form = ~ vidx | id)  + varIdent(form = ~ 1 | visit)
#   compound_symmetry  corCompSymm(form = ~ 1 | id)
# Outputs (TSV beside this script): the data, the per-visit arm effects
# (estimate, SE, df, t, p), the equal-weight overall effect, the REML
# log-likelihood and the fitted covariance matrix; versions.tsv.

suppressPackageStartupMessages(library(nlme))

here <- "tests/data/mmrm"
set.seed(20261207)

visits <- c("week1", "month1", "month3", "month6")
n_per_arm <- 24
n <- 2 * n_per_arm
id <- sprintf("P%03d", seq_len(n))
arm <- rep(c("placebo", "exosome"), each = n_per_arm)
stratum <- sample(c("A", "B", "C"), n, replace = TRUE, prob = c(0.5, 0.3, 0.2))
baseline <- rnorm(n, 140, 12)
# true model: visit means, arm effects growing then fading, baseline slopes
mu <- c(135, 132, 130, 131)
effect <- c(-2, -5, -6, -3)
slope <- c(0.8, 0.7, 0.6, 0.5)
sd <- c(6, 7, 8, 10)
corr <- matrix(c(1, .7, .5, .4,
                 .7, 1, .7, .5,
                 .5, .7, 1, .7,
                 .4, .5, .7, 1), 4, 4)
sigma <- corr * outer(sd, sd)
eps <- matrix(rnorm(n * 4), n, 4) %*% chol(sigma)
strat_eff <- c(A = 0, B = 2, C = -3)
long <- do.call(rbind, lapply(seq_len(n), function(i) {
  y <- mu + (arm[i] == "exosome") * effect + slope * (baseline[i] - 140) +
    strat_eff[stratum[i]] + eps[i, ]
  data.frame(participant_id = id[i], arm = arm[i], stratum = stratum[i],
             baseline = round(baseline[i], 2), visit = visits,
             value = round(y, 3), stringsAsFactors = FALSE)
}))
rownames(long) <- NULL
balanced <- long

# unbalanced: monotone dropout (about 1 in 6 after week 1 / month 1) and
# intermittent missing visits (about 8%), both arms
keep <- rep(TRUE, nrow(long))
drop_from <- sample(c(5, 5, 5, 5, 2, 3, 4), n, replace = TRUE)
vnum <- match(long$visit, visits)
pnum <- match(long$participant_id, id)
keep[vnum >= drop_from[pnum]] <- FALSE
keep[runif(nrow(long)) < 0.08 & vnum > 1] <- FALSE
unbalanced <- long[keep, ]

write.table(balanced, file.path(here, "balanced.tsv"), sep = "\t",
            quote = FALSE, row.names = FALSE)
write.table(unbalanced, file.path(here, "unbalanced.tsv"), sep = "\t",
            quote = FALSE, row.names = FALSE)

ctrl <- glsControl(maxIter = 500, msMaxIter = 1000, tolerance = 1e-10,
                   msTol = 1e-12, returnObject = FALSE)

fit_one <- function(d, structure) {
  d$visit <- factor(d$visit, levels = visits)
  d$vidx <- as.integer(d$visit)
  d$treated <- as.numeric(d$arm == "exosome")
  d$stratum <- factor(d$stratum)
  f <- value ~ 0 + visit + visit:treated + visit:baseline + stratum
  args <- list(model = f, data = d, method = "REML", control = ctrl)
  vi <- varIdent(form = ~ 1 | visit)
  if (structure == "unstructured") {
    args$correlation <- corSymm(form = ~ vidx | participant_id)
    args$weights <- vi
  } else if (structure == "heterogeneous_cs") {
    args$correlation <- corCompSymm(form = ~ 1 | participant_id)
    args$weights <- vi
  } else if (structure == "heterogeneous_ar1") {
    args$correlation <- corAR1(form = ~ vidx | participant_id)
    args$weights <- vi
  } else {
    args$correlation <- corCompSymm(form = ~ 1 | participant_id)
  }
  fit <- do.call(gls, args)
  b <- coef(fit)
  v <- vcov(fit)
  arm_terms <- paste0("visit", visits, ":treated")
  df <- fit$dims$N - fit$dims$p
  est <- b[arm_terms]
  se <- sqrt(diag(v)[arm_terms])
  tval <- est / se
  eff <- data.frame(structure = structure, visit = visits, estimate = est,
                    se = se, df = df, t = tval,
                    p_value = 2 * pt(-abs(tval), df))
  cvec <- setNames(rep(0, length(b)), names(b))
  cvec[arm_terms] <- 1 / length(visits)
  ov_est <- sum(cvec * b)
  ov_se <- sqrt(drop(t(cvec) %*% v %*% cvec))
  eff <- rbind(eff, data.frame(structure = structure, visit = "overall",
                               estimate = ov_est, se = ov_se, df = df,
                               t = ov_est / ov_se,
                               p_value = 2 * pt(-abs(ov_est / ov_se), df)))
  # full covariance across the four visits: a participant with every visit
  full <- names(which(table(d$participant_id) == length(visits)))[1]
  vc <- unclass(getVarCov(fit, individual = full))
  dimnames(vc) <- list(visits, visits)
  list(effects = eff,
       fit = data.frame(structure = structure, loglik = as.numeric(logLik(fit)),
                        n_obs = fit$dims$N, p = fit$dims$p),
       sigma = data.frame(structure = structure, visit = visits, vc,
                          check.names = FALSE))
}

for (nm in c("balanced", "unbalanced")) {
  d <- get(nm)
  res <- lapply(c("unstructured", "heterogeneous_cs", "heterogeneous_ar1",
                  "compound_symmetry"), function(s) fit_one(d, s))
  out <- function(part, suffix) {
    tab <- do.call(rbind, lapply(res, `[[`, part))
    rownames(tab) <- NULL
    num <- vapply(tab, is.numeric, TRUE)
    tab[num] <- lapply(tab[num], function(x) sprintf("%.10g", x))
    write.table(tab, file.path(here, sprintf("r_%s_%s.tsv", nm, suffix)),
                sep = "\t", quote = FALSE, row.names = FALSE)
  }
  out("effects", "effects")
  out("fit", "fit")
  out("sigma", "sigma")
}

writeLines(c("software\tversion",
             sprintf("R\t%s", paste(R.version$major, R.version$minor, sep = ".")),
             sprintf("nlme\t%s", as.character(packageVersion("nlme")))),
           file.path(here, "versions.tsv"))
