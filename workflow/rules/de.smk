# Differential expression of miRNAs (exomir.de), analysis_spec.md section 1. Contrasts come from config
# `de.contrasts` (or are derived from `design:`); they are checked here, when
# the workflow is parsed, so an unknown arm or timepoint stops the run at once.

import re

# DE_SETTINGS (exomir.de.settings.de_settings) is built in counts.smk.
DE_CONTRASTS = list(DE_SETTINGS.contrasts)


# Wildcard constraint matching exactly the configured contrast names.
DE_CONTRAST_PATTERN = "|".join(re.escape(c) for c in DE_CONTRASTS)

# Sheets the DE analyses read (only those configured).
DE_SHEETS = [
    get_sheet(k)
    for k in ("samples", "participants", "clinical_measurements", "disposition")
    if k in CFG["sheets"]
]

# Every target of this file (for `rule all`).
DE_OUTPUTS = [
    "results/de/mirna.h5ad",
    "results/de/plots/pca.svg",
    *expand("results/de/{contrast}.tsv", contrast=DE_CONTRASTS),
    *expand("results/de/{contrast}.samples.tsv", contrast=DE_CONTRASTS),
    *expand("results/de/plots/{contrast}.volcano.svg", contrast=DE_CONTRASTS),
    *expand("results/de/plots/{contrast}.ma.svg", contrast=DE_CONTRASTS),
]

# The likelihood-ratio test of the arm x time terms across visits (de.lrt; on
# by default with at least two post-dose timepoints): exomir.de.lrt.
DE_LRT = DE_SETTINGS.lrt is not None
if DE_LRT:
    DE_OUTPUTS += [
        "results/de/lrt_arm_by_time.tsv",
        "results/de/lrt_arm_by_time.samples.tsv",
    ]


# Normalised counts (median-of-ratios over control miRNAs), VST and PCA of all
# usable libraries; the per-miRNA filter/control table and the library table.
# The normalised values and VST are taken from results/counts/mirna.h5ad (one
# normalisation); each contrast's fit (rule de) re-estimates its size factors.
rule de_normalise:
    input:
        counts="results/counts/mirna_counts.tsv",
        counts_h5ad="results/counts/mirna.h5ad",
        qc="results/qc/library_qc.tsv",
        samples=get_sheet("samples"),
        participants=get_sheet("participants"),
    output:
        h5ad="results/de/mirna.h5ad",
        mirnas="results/de/mirna_filter.tsv",
        libraries="results/de/libraries.tsv",
        pca="results/de/pca.tsv",
        pca_plot=report(
            "results/de/plots/pca.svg",
            caption="../report/de_pca.rst",
            category="miRNAome",
        ),
    log:
        "logs/de_normalise/de_normalise.log",
    benchmark:
        "benchmarks/de_normalise/de_normalise.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    params:
        settings=DE_SETTINGS,
    script:
        "../scripts/de_normalise.py"


# One pydeseq2 fit per contrast: results table, included/excluded libraries
# with reasons, volcano and MA plots.
rule de:
    input:
        counts="results/counts/mirna_counts.tsv",
        qc="results/qc/library_qc.tsv",
        samples=get_sheet("samples"),
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/de/{contrast}.tsv",
            caption="../report/de_table.rst",
            category="miRNAome",
            subcategory="{contrast}",
        ),
        samples="results/de/{contrast}.samples.tsv",
        volcano=report(
            "results/de/plots/{contrast}.volcano.svg",
            caption="../report/de_volcano.rst",
            category="miRNAome",
            subcategory="{contrast}",
        ),
        ma=report(
            "results/de/plots/{contrast}.ma.svg",
            caption="../report/de_ma.rst",
            category="miRNAome",
            subcategory="{contrast}",
        ),
    log:
        "logs/de/{contrast}.log",
    benchmark:
        "benchmarks/de/{contrast}.tsv"
    wildcard_constraints:
        contrast=DE_CONTRAST_PATTERN,
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    params:
        settings=DE_SETTINGS,
    script:
        "../scripts/de.py"


# Likelihood-ratio test of the arm x time terms across visits: full model
# ~ participant + timepoint + arm:timepoint against ~ participant + timepoint,
# dispersions of the full pydeseq2 fit (as DESeq2's nbinomLRT).
rule de_lrt:
    input:
        counts="results/counts/mirna_counts.tsv",
        qc="results/qc/library_qc.tsv",
        samples=get_sheet("samples"),
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/de/lrt_arm_by_time.tsv",
            caption="../report/de_lrt.rst",
            category="miRNAome",
        ),
        samples="results/de/lrt_arm_by_time.samples.tsv",
    log:
        "logs/de_lrt/de_lrt.log",
    benchmark:
        "benchmarks/de_lrt/de_lrt.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    params:
        settings=DE_SETTINGS,
    script:
        "../scripts/de_lrt.py"
