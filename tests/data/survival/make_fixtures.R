# Reference time-to-event results from R's survival package for exomir's
# lifelines-based analysis (tests/unit/test_survival.py).
# Run from the repository root:  Rscript tests/data/survival/make_fixtures.R
# Writes every other file of tests/data/survival/ (see README.md).
suppressPackageStartupMessages(library(survival))
out <- "tests/data/survival"
set.seed(20261207)

# 160 participants, two arms, two randomisation strata with different baseline
# hazards, true hazard ratio 0.6, integer days (ties), administrative
# censoring at 730 days, random loss to follow-up, and deaths competing.
n <- 160
arm <- rep(c("placebo", "exosome"), each = n / 2)
stratum <- sample(c("S1", "S2"), n, replace = TRUE)
rate <- ifelse(stratum == "S1", 1 / 700, 1 / 350) * ifelse(arm == "exosome", 0.6, 1)
t_event <- ceiling(rexp(n, rate))
t_death <- ceiling(rexp(n, 1 / 4000))
t_loss <- ceiling(runif(n, 120, 1500))
end <- pmin(t_loss, 730)
time <- pmin(t_event, t_death, end)
status <- ifelse(t_event <= pmin(t_death, end), 1L, ifelse(t_death <= end, 2L, 0L))
d <- data.frame(
  participant_id = sprintf("P%03d", seq_len(n)), arm = arm, stratum = stratum,
  time = time, status = status
)
write.table(d, file.path(out, "data.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
d$event <- as.integer(d$status == 1L)
d$treated <- as.integer(d$arm == "exosome")

# Kaplan-Meier by arm, log-log intervals (lifelines' exponential Greenwood).
km_rows <- list()
for (a in c("placebo", "exosome")) {
  f <- survfit(Surv(time, event) ~ 1, data = d[d$arm == a, ], conf.type = "log-log")
  km_rows[[a]] <- data.frame(
    arm = a, time_days = f$time, at_risk = f$n.risk, events = f$n.event,
    censored = f$n.censor, survival = f$surv, ci_low = f$lower, ci_high = f$upper
  )
}
write.table(do.call(rbind, km_rows), file.path(out, "r_km.tsv"), sep = "\t",
            quote = FALSE, row.names = FALSE)

# Numbers at risk at 0, 3, 6, 12, 18 and 24 months (days floor(m * 365 / 12)).
days <- floor(c(0, 3, 6, 12, 18, 24) * 365 / 12)
ar_rows <- list()
for (a in c("placebo", "exosome")) {
  f <- survfit(Surv(time, event) ~ 1, data = d[d$arm == a, ])
  s <- summary(f, times = days, extend = TRUE)
  ar_rows[[a]] <- data.frame(arm = a, time_days = days, at_risk = s$n.risk)
}
write.table(do.call(rbind, ar_rows), file.path(out, "r_at_risk.tsv"), sep = "\t",
            quote = FALSE, row.names = FALSE)

# Log-rank, unstratified and stratified.
lr <- survdiff(Surv(time, event) ~ treated, data = d)
lrs <- survdiff(Surv(time, event) ~ treated + strata(stratum), data = d)
write.table(
  data.frame(
    test = c("unstratified", "stratified"),
    chisq = c(lr$chisq, lrs$chisq),
    p_value = pchisq(c(lr$chisq, lrs$chisq), 1, lower.tail = FALSE)
  ),
  file.path(out, "r_logrank.tsv"), sep = "\t", quote = FALSE, row.names = FALSE
)

# Cox models (Efron ties, R's default and lifelines' method).
cox_row <- function(f, model) {
  s <- summary(f)
  data.frame(
    model = model, coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f)))),
    hazard_ratio = s$conf.int[1, "exp(coef)"], ci_low = s$conf.int[1, "lower .95"],
    ci_high = s$conf.int[1, "upper .95"], p_value = s$coefficients[1, "Pr(>|z|)"],
    n = f$n, events = f$nevent
  )
}
fs <- coxph(Surv(time, event) ~ treated + strata(stratum), data = d, ties = "efron")
fu <- coxph(Surv(time, event) ~ treated, data = d, ties = "efron")
write.table(rbind(cox_row(fs, "stratified"), cox_row(fu, "unstratified")),
            file.path(out, "r_cox.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

# Aalen-Johansen cumulative incidence of the event (deaths competing) at 12
# and 24 months, by arm.
cif_rows <- list()
for (a in c("placebo", "exosome")) {
  sub <- d[d$arm == a, ]
  f <- survfit(Surv(time, factor(status, 0:2)) ~ 1, data = sub)
  s <- summary(f, times = floor(c(12, 24) * 365 / 12), extend = TRUE)
  cif_rows[[a]] <- data.frame(arm = a, time_days = s$time, cif = s$pstate[, 2])
}
write.table(do.call(rbind, cif_rows), file.path(out, "r_cif.tsv"), sep = "\t",
            quote = FALSE, row.names = FALSE)

write.table(
  data.frame(
    software = c("R", "survival"),
    version = c(paste(R.version$major, R.version$minor, sep = "."),
                as.character(packageVersion("survival")))
  ),
  file.path(out, "versions.tsv"), sep = "\t", quote = FALSE, row.names = FALSE
)
