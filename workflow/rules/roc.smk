# ROC of the baseline primary miRNA against the endothelial-dysfunction
# reference (exomir.clinical.roc), analysis_spec.md section 3.3. Settings from
# config `roc` (and the primary miRNA's from primary.smk), built at parse time.

from exomir.clinical.roc import roc_settings

ROC_SETTINGS = roc_settings(CFG)

# Every target of this file (for `rule all`).
ROC_OUTPUTS = [
    "results/clinical/roc.tsv",
    "results/clinical/roc_curve.tsv",
    "results/clinical/roc.png",
]


# ROC of the baseline primary miRNA against ed_reference (never the arm), with
# DeLong and bootstrap CIs, Youden cut, Wilson CIs and optimism correction.
rule clinical_roc:
    input:
        h5ad="results/de/mirna.h5ad",
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/clinical/roc.tsv",
            caption="../report/roc.rst",
            category="Biomarker ROC",
        ),
        curve=report(
            "results/clinical/roc_curve.tsv",
            caption="../report/roc.rst",
            category="Biomarker ROC",
        ),
        plot=report(
            "results/clinical/roc.png",
            caption="../report/roc_plot.rst",
            category="Biomarker ROC",
        ),
    log:
        "logs/clinical_roc/clinical_roc.log",
    benchmark:
        "benchmarks/clinical_roc/clinical_roc.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        settings=ROC_SETTINGS,
        primary=PRIMARY_SETTINGS,
    script:
        "../scripts/clinical_roc.py"
