#!/usr/bin/env Rscript
# Reference results of R DESeq2's likelihood-ratio test (nbinomLRT) for the
# test across visits of exomir.de.lrt (tests/unit/test_de_lrt.py).
#
# Run from the repository root:
#     Rscript tests/data/deseq2_lrt/make_fixtures.R
#
# It simulates a small paired trial with four blood draws (baseline, week1,
# month3, month12) and negative-binomial counts (fixed seed), applies the
# feature filter and picks the size-factor control miRNAs by the rules of
# exomir.de, and runs DESeq2 with
#   full    ~ participant_id + timepoint + tf_week1 + tf_month3 + tf_month12
#   reduced ~ participant_id + timepoint
# (tf_T = 1 for exosome libraries at timepoint T: the arm x time terms) on the
# libraries of participants with a baseline and at least one post-dose library.
# Every output is a TSV beside this script; versions.tsv records R and DESeq2.

suppressPackageStartupMessages(library(DESeq2))

here <- "tests/data/deseq2_lrt"
set.seed(20261207)

# ---- miRNAs -----------------------------------------------------------------
excluded <- c("hsa-miR-486-5p", "hsa-miR-451a", "hsa-miR-16-5p", "hsa-miR-92a-3p",
              "hsa-miR-223-3p", "hsa-miR-126-3p", "hsa-miR-24-3p")
n_mirna <- 120
tail_names <- sprintf("hsa-miR-t%03d-%sp", seq_len(n_mirna - length(excluded)),
                      rep(c("5", "3"), length.out = n_mirna - length(excluded)))
mirnas <- c(excluded, tail_names)
base_mu <- c(exp(rnorm(length(excluded), log(3e4), 0.8)),
             exp(rnorm(length(tail_names), log(150), 1.6)))
names(base_mu) <- mirnas

# ---- participants and samples ---------------------------------------------------
tps <- c("baseline", "week1", "month3", "month12")
n_part <- 24
part <- sprintf("P%02d", seq_len(n_part))
arm <- rep(c("placebo", "exosome"), length.out = n_part)
coldata <- expand.grid(tp = tps, p = part, stringsAsFactors = FALSE)
coldata <- data.frame(
  sample_id = paste0(coldata$p, "_", coldata$tp),
  participant_id = coldata$p,
  arm = arm[match(coldata$p, part)],
  timepoint = coldata$tp,
  stringsAsFactors = FALSE
)
# Missing draws: P24 has no baseline (left out of the test), P17 has only a
# baseline (left out), P05 misses month12 and P10 week1 (kept, unbalanced).
drop <- c("P24_baseline", "P17_week1", "P17_month3", "P17_month12",
          "P05_month12", "P10_week1")
coldata <- coldata[!(coldata$sample_id %in% drop), ]
coldata <- coldata[order(coldata$sample_id), ]
rownames(coldata) <- coldata$sample_id
n_s <- nrow(coldata)

# ---- effects (natural log scale) ---------------------------------------------
lfc <- function(v) log(2) * v
inter <- matrix(0, n_mirna, 3, dimnames = list(mirnas, tps[-1]))
hit3 <- tail_names[c(2, 9, 16, 25, 33, 47, 58, 71)]
inter[hit3, "month3"] <- lfc(c(1.5, -1.5, 1.2, -1.2, 1.8, -1.4, 2.0, -1.6))
inter[tail_names[c(4, 11)], "week1"] <- lfc(c(1.5, -1.5))
time_eff <- matrix(0, n_mirna, 3, dimnames = list(mirnas, tps[-1]))
time_eff[tail_names[c(6, 13, 20)], ] <- lfc(c(1, -1, 0.8))
part_eff <- matrix(rnorm(n_mirna * n_part, 0, 0.3), n_mirna, n_part,
                   dimnames = list(mirnas, part))
size_f <- exp(rnorm(n_s, 0, 0.3))

counts <- matrix(0L, n_mirna, n_s, dimnames = list(mirnas, coldata$sample_id))
for (j in seq_len(n_s)) {
  s <- coldata[j, ]
  eta <- log(base_mu) + part_eff[, s$participant_id]
  if (s$timepoint != "baseline") {
    eta <- eta + time_eff[, s$timepoint] +
      (s$arm == "exosome") * inter[, s$timepoint]
  }
  mu <- size_f[j] * exp(eta)
  disp <- 0.1 + 2 / mu
  counts[, j] <- rnbinom(n_mirna, size = 1 / disp, mu = mu)
}

# ---- feature filter and control miRNAs (rules of exomir.de) ------------------
rpm <- t(t(counts) / colSums(counts)) * 1e6
cell <- paste(coldata$arm, coldata$timepoint, sep = "|")
frac <- sapply(split(seq_len(n_s), cell), function(j) {
  rowMeans(rpm[, j, drop = FALSE] >= 5 & counts[, j, drop = FALSE] >= 10)
})
kept <- mirnas[apply(frac, 1, max) >= 0.5]
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
write_tsv(data.frame(mirna = mirnas, week1 = inter[, "week1"] / log(2),
                     month3 = inter[, "month3"] / log(2),
                     month12 = inter[, "month12"] / log(2)), "truth.tsv")

# ---- the likelihood-ratio test ---------------------------------------------------
has_bl <- unique(coldata$participant_id[coldata$timepoint == "baseline"])
has_post <- unique(coldata$participant_id[coldata$timepoint != "baseline"])
cd <- coldata[coldata$participant_id %in% intersect(has_bl, has_post), ]
cd$participant_id <- factor(cd$participant_id)
cd$timepoint <- factor(cd$timepoint, levels = tps)
for (t in tps[-1]) {
  cd[[paste0("tf_", t)]] <- as.numeric(cd$arm == "exosome" & cd$timepoint == t)
}
dds <- DESeqDataSetFromMatrix(
  counts[kept, cd$sample_id], cd,
  design = ~ participant_id + timepoint + tf_week1 + tf_month3 + tf_month12
)
dds <- estimateSizeFactors(dds, controlGenes = which(kept %in% control))
dds <- DESeq(dds, test = "LRT", reduced = ~ participant_id + timepoint,
             minReplicatesForReplace = 7, quiet = TRUE)
res <- results(dds, alpha = 0.05)
coefs <- coef(dds)
write_tsv(data.frame(mirna = rownames(res), baseMean = res$baseMean,
                     dispersion = dispersions(dds),
                     lfc_week1 = coefs[, "tf_week1"],
                     lfc_month3 = coefs[, "tf_month3"],
                     lfc_month12 = coefs[, "tf_month12"],
                     stat = res$stat, pvalue = res$pvalue, padj = res$padj),
          "r_lrt.tsv")
write_tsv(data.frame(sample_id = colnames(dds), size_factor = sizeFactors(dds)),
          "r_lrt_size_factors.tsv")

write_tsv(data.frame(
  software = c("R", "DESeq2"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("DESeq2")))
), "versions.tsv")
