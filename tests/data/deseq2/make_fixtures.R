#!/usr/bin/env Rscript
# Reference results of R DESeq2 for the pydeseq2 agreement test
# (tests/unit/test_de.py::test_agreement_with_r_deseq2).
#
# Run from the repository root:
#     Rscript tests/data/deseq2/make_fixtures.R
#
# It simulates a small paired trial with negative-binomial counts (fixed seed),
# writes the counts and sample table, applies the feature filter and picks the
# size-factor control miRNAs by the rules of exomir.de (see README.md), and
# fits the three design types of analysis_spec.md section 1.2 with DESeq2:
#   A  treatment_effect  ~ participant + timepoint + treated_followup  (paired)
#   B  time_exosome      ~ participant + timepoint   (paired, exosome arm only)
#   C  arms_week1        ~ library_batch + arm       (all week-1 libraries)
# Every output is a TSV beside this script; versions.tsv records R and DESeq2.

suppressPackageStartupMessages(library(DESeq2))

here <- "tests/data/deseq2"
set.seed(20261126)

# ---- miRNAs -----------------------------------------------------------------
rbc <- c("hsa-miR-486-5p", "hsa-miR-451a", "hsa-miR-92a-3p", "hsa-miR-16-5p",
         "hsa-miR-144-3p", "hsa-miR-25-3p")
platelet <- c("hsa-miR-223-3p", "hsa-miR-126-3p", "hsa-miR-126-5p",
              "hsa-miR-197-3p", "hsa-miR-24-3p", "hsa-miR-21-5p")
c19mc <- c("hsa-miR-517a-3p", "hsa-miR-518b", "hsa-miR-520c-3p",
           "hsa-miR-526b-5p", "hsa-miR-519d-3p", "hsa-miR-515-5p")
common <- c("hsa-miR-23a-3p", "hsa-let-7a-5p", "hsa-let-7b-5p", "hsa-let-7f-5p",
            "hsa-let-7g-5p", "hsa-let-7i-5p", "hsa-miR-22-3p", "hsa-miR-423-5p",
            "hsa-miR-191-5p", "hsa-miR-181a-5p", "hsa-miR-10a-5p",
            "hsa-miR-10b-5p", "hsa-miR-320a-3p", "hsa-miR-142-3p",
            "hsa-miR-150-5p", "hsa-miR-103a-3p")
n_mirna <- 150
tail_names <- sprintf("hsa-miR-s%03d-%sp", seq_len(n_mirna - 34),
                      rep(c("5", "3"), length.out = n_mirna - 34))
mirnas <- c(rbc, platelet, c19mc, common, tail_names)
stopifnot(length(mirnas) == n_mirna, !anyDuplicated(mirnas))

# Baseline mean counts at size factor 1 (about 1 M miRNA reads per library):
# large for blood-cell miRNAs, and a wide log-normal tail whose low end fails
# the RPM filter.
base_mu <- c(exp(rnorm(length(rbc), log(1e5), 0.8)),
             exp(rnorm(length(platelet), log(15000), 0.6)),
             exp(rnorm(length(c19mc), log(1500), 0.5)),
             exp(rnorm(length(common), log(7500), 0.8)),
             exp(rnorm(length(tail_names), log(40), 1.8)))
names(base_mu) <- mirnas

# ---- participants and samples ---------------------------------------------------
n_part <- 22
part <- sprintf("P%02d", seq_len(n_part))
arm <- rep(c("placebo", "exosome"), length.out = n_part)
batch <- ifelse(seq_len(n_part) <= 14, "B1", "B2")
coldata <- data.frame(
  sample_id = c(paste0(part, "_BL"), paste0(part, "_W1")),
  participant_id = rep(part, 2),
  arm = rep(arm, 2),
  timepoint = rep(c("baseline", "week1"), each = n_part),
  library_batch = rep(batch, 2),
  stringsAsFactors = FALSE
)
# P22 has no baseline library (unpaired: only in the between-arm design).
coldata <- coldata[coldata$sample_id != "P22_BL", ]
coldata <- coldata[order(coldata$sample_id), ]
rownames(coldata) <- coldata$sample_id
n_s <- nrow(coldata)

# ---- effects (natural log scale) ---------------------------------------------
interaction <- setNames(rep(0, n_mirna), mirnas)
hit <- tail_names[c(3, 8, 15, 22, 30, 41, 55, 63, 77, 90)]
interaction[hit] <- log(2) * c(1.5, -1.5, 1.2, -1.2, 1.8, -1.0, 2.0, -2.0, 1.4, 1.6)
interaction["hsa-miR-126-3p"] <- log(2) * 0.58
time_eff <- setNames(rep(0, n_mirna), mirnas)
time_eff[c19mc] <- log(2) * -3
time_eff[tail_names[c(5, 12, 18)]] <- log(2) * c(1, -1, 1)
batch_eff <- matrix(rnorm(n_mirna * 2, 0, 0.15), n_mirna, 2,
                    dimnames = list(mirnas, c("B1", "B2")))
part_eff <- matrix(rnorm(n_mirna * n_part, 0, 0.3), n_mirna, n_part,
                   dimnames = list(mirnas, part))
size_f <- exp(rnorm(n_s, 0, 0.35))

counts <- matrix(0L, n_mirna, n_s, dimnames = list(mirnas, coldata$sample_id))
for (j in seq_len(n_s)) {
  s <- coldata[j, ]
  wk1 <- s$timepoint == "week1"
  eta <- log(base_mu) + part_eff[, s$participant_id] + batch_eff[, s$library_batch] +
    wk1 * time_eff + (wk1 && s$arm == "exosome") * interaction
  mu <- size_f[j] * exp(eta)
  disp <- 0.12 + 2 / mu
  counts[, j] <- rnbinom(n_mirna, size = 1 / disp, mu = mu)
}
# Planted outliers (Cook's distance): week-1 libraries in the B1 x arm cells,
# which have >= 7 replicates in design C, and one baseline library.
counts[tail_names[40], "P03_W1"] <- counts[tail_names[40], "P03_W1"] * 25L + 200L
counts[tail_names[70], "P06_W1"] <- counts[tail_names[70], "P06_W1"] * 25L + 200L
counts[tail_names[100], "P05_BL"] <- counts[tail_names[100], "P05_BL"] * 25L + 200L

# ---- feature filter and control miRNAs (rules of exomir.de) ------------------
# Filter: RPM (miRNA reads as denominator) >= 5 in at least half of the
# libraries of at least one arm x timepoint cell.
rpm <- t(t(counts) / colSums(counts)) * 1e6
cell <- paste(coldata$arm, coldata$timepoint, sep = "|")
frac <- sapply(split(seq_len(n_s), cell), function(j) rowMeans(rpm[, j, drop = FALSE] >= 5))
kept <- mirnas[apply(frac, 1, max) >= 0.5]
# Controls: not blood-cell, C19MC or the primary miRNA; count > 0 in every
# library; mean normalised count >= 50, normalised with median-of-ratios size
# factors over all filtered miRNAs.
excluded <- c(rbc, platelet, c19mc, "hsa-miR-486-3p", "hsa-miR-144-5p")
dds_all <- DESeqDataSetFromMatrix(counts[kept, ], coldata, design = ~ 1)
dds_all <- estimateSizeFactors(dds_all)
base_mean_all <- rowMeans(counts(dds_all, normalized = TRUE))
control <- kept[!(kept %in% excluded) & apply(counts[kept, ] > 0, 1, all) &
                base_mean_all >= 50]

write_tsv <- function(df, file) {
  write.table(df, file.path(here, file), sep = "\t", quote = FALSE,
              row.names = FALSE, na = "")
}
write_tsv(data.frame(mirna = mirnas, counts, check.names = FALSE), "counts.tsv")
write_tsv(coldata, "coldata.tsv")
write_tsv(data.frame(mirna = mirnas, kept = tolower(mirnas %in% kept),
                     control = tolower(mirnas %in% control)), "mirnas.tsv")

# ---- the three designs -----------------------------------------------------------
fit <- function(cd, design, ...) {
  cd$participant_id <- factor(cd$participant_id)
  cd$arm <- factor(cd$arm, levels = c("placebo", "exosome"))
  cd$timepoint <- factor(cd$timepoint, levels = c("baseline", "week1"))
  cd$library_batch <- factor(cd$library_batch)
  dds <- DESeqDataSetFromMatrix(counts[kept, cd$sample_id], cd, design = design)
  dds <- estimateSizeFactors(dds, controlGenes = which(kept %in% control))
  dds <- DESeq(dds, quiet = TRUE, minReplicatesForReplace = 7)
  res <- results(dds, alpha = 0.05, ...)
  list(dds = dds, res = res)
}
out <- function(r, name) {
  res <- r$res
  write_tsv(data.frame(mirna = rownames(res), baseMean = res$baseMean,
                       log2FoldChange = res$log2FoldChange, lfcSE = res$lfcSE,
                       stat = res$stat, pvalue = res$pvalue, padj = res$padj),
            paste0("r_", name, ".tsv"))
  write_tsv(data.frame(sample_id = colnames(r$dds),
                       size_factor = sizeFactors(r$dds)),
            paste0("r_", name, "_size_factors.tsv"))
}

paired <- names(which(table(coldata$participant_id) == 2))
cd_a <- coldata[coldata$participant_id %in% paired, ]
cd_a$treated_followup <- as.numeric(cd_a$arm == "exosome" & cd_a$timepoint == "week1")
out(fit(cd_a, ~ participant_id + timepoint + treated_followup,
        name = "treated_followup"), "treatment_effect")

cd_b <- cd_a[cd_a$arm == "exosome", ]
out(fit(cd_b, ~ participant_id + timepoint,
        contrast = c("timepoint", "week1", "baseline")), "time_exosome")

cd_c <- coldata[coldata$timepoint == "week1", ]
out(fit(cd_c, ~ library_batch + arm, contrast = c("arm", "exosome", "placebo")),
    "arms_week1")

write_tsv(data.frame(
  software = c("R", "DESeq2"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("DESeq2")))
), "versions.tsv")
