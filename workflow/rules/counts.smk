# Cohort count tables: per-library miRNA and isomiR counts merged in constant
# memory, and the AnnData object (see exomir.reads.merge); with EV sheets, the
# lot table goes into its `uns` and each participant's dose into `obs`.
# The merge writes mirna_raw.h5ad; once read QC has judged the libraries,
# normalise_counts adds the layers counts / normed_counts / vst_counts (the one
# normalisation, exomir.de.normalise: median-of-ratios over control miRNAs,
# QC-passed libraries only) and writes the final results/counts/mirna.h5ad.

from exomir.de.settings import de_settings

# DE settings (exomir.de.settings), built and checked once here, when the
# workflow is parsed: normalise_counts and the DE rules get them as params.
try:
    DE_SETTINGS = de_settings(CFG) if TRIAL else None
except ValidationError as exc:
    raise SystemExit(f"exomir: the DE settings are not valid.\n{exc}")


rule merge_counts:
    input:
        mirna=expand("results/annotate/{sample}.mirna.tsv", sample=SAMPLES),
        isomir=expand("results/annotate/{sample}.isomir.tsv", sample=SAMPLES),
        # sizes and checksums of the two files above (checked before use)
        annotation=expand("results/annotate/{sample}.json", sample=SAMPLES),
        samples=get_sheet("samples"),
        participants=get_sheets("participants"),
        ev=get_ev_tables(),
    output:
        mirna=report(
            "results/counts/mirna_counts.tsv",
            caption="../report/mirna_counts.rst",
            category="Counts",
        ),
        isomir="results/counts/isomir_counts.tsv",
        h5ad="results/counts/mirna_raw.h5ad",
    log:
        "logs/merge_counts/merge_counts.log",
    benchmark:
        "benchmarks/merge_counts/merge_counts.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    params:
        samples=SAMPLES,
    script:
        "../scripts/merge_counts.py"


rule normalise_counts:
    input:
        h5ad="results/counts/mirna_raw.h5ad",
        qc="results/qc/library_qc.tsv",
        samples=get_sheet("samples"),
        # a QC-only study has no participants sheet (and never runs this rule)
        participants=get_sheet("participants") if TRIAL else [],
    output:
        h5ad="results/counts/mirna.h5ad",
    log:
        "logs/normalise_counts/normalise_counts.log",
    benchmark:
        "benchmarks/normalise_counts/normalise_counts.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    params:
        # None in a QC-only study, which never asks for mirna.h5ad
        settings=DE_SETTINGS,
    script:
        "../scripts/normalise_counts.py"
