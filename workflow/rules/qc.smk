# Read-level QC: the read funnel, length distributions, per-library verdicts
# against the configured gates, and the MultiQC report (see exomir.reads.qc and
# exomir.reads.multiqc). Exports QC_OUTPUTS.

from exomir.reads.multiqc import multiqc_settings
from exomir.reads.qc import read_qc_settings

READ_QC_SETTINGS = read_qc_settings(CFG, SAMPLES)
MULTIQC_SETTINGS = multiqc_settings(CFG)


rule read_qc:
    input:
        preprocess=expand("results/preprocess/{sample}.json", sample=SAMPLES),
        annotation=expand("results/annotate/{sample}.json", sample=SAMPLES),
        collapsed=expand("results/collapsed/{sample}.fa.gz", sample=SAMPLES),
        counts="results/counts/mirna_counts.tsv",
        samples=get_sheet("samples"),
    output:
        funnel=report(
            "results/qc/read_funnel.tsv",
            caption="../report/read_funnel.rst",
            category="Sequencing QC",
        ),
        funnel_pct="results/qc/read_funnel_pct.tsv",
        library_qc=report(
            "results/qc/library_qc.tsv",
            caption="../report/library_qc.rst",
            category="Sequencing QC",
        ),
        passed="results/qc/passed_samples.txt",
        lengths=report(
            "results/qc/length_distribution.tsv",
            caption="../report/length_distribution.rst",
            category="Sequencing QC",
        ),
        mirtrace="results/qc/mirtrace_view.tsv",
    log:
        "logs/read_qc/read_qc.log",
    benchmark:
        "benchmarks/read_qc/read_qc.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    params:
        settings=READ_QC_SETTINGS,
    script:
        "../scripts/read_qc.py"


rule multiqc:
    input:
        funnel="results/qc/read_funnel.tsv",
        lengths="results/qc/length_distribution.tsv",
        library_qc="results/qc/library_qc.tsv",
    output:
        html=report(
            "results/multiqc/multiqc_report.html",
            caption="../report/multiqc.rst",
            category="Sequencing QC",
        ),
        # MultiQC's data tables, beside the report
        data=directory("results/multiqc/multiqc_report_data"),
        # the custom-content files MultiQC reads (exomir.reads.multiqc)
        content=directory("results/multiqc/custom_content"),
    log:
        "logs/multiqc/multiqc.log",
    benchmark:
        "benchmarks/multiqc/multiqc.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=MULTIQC_SETTINGS,
    script:
        "../scripts/multiqc_content.py"


QC_OUTPUTS = [
    "results/qc/read_funnel.tsv",
    "results/qc/read_funnel_pct.tsv",
    "results/qc/library_qc.tsv",
    "results/qc/passed_samples.txt",
    "results/qc/length_distribution.tsv",
    "results/qc/mirtrace_view.tsv",
    "results/multiqc/multiqc_report.html",
]
