# Cohort count tables: per-library miRNA and isomiR counts merged in constant
# memory, and the AnnData object (see exomir.reads.merge); with EV sheets, the
# lot table goes into its `uns` and each participant's dose into `obs`.


rule merge_counts:
    input:
        mirna=expand("results/annotate/{sample}.mirna.tsv", sample=SAMPLES),
        isomir=expand("results/annotate/{sample}.isomir.tsv", sample=SAMPLES),
        samples=get_sheet("samples"),
        participants=get_sheet("participants"),
        ev=get_ev_tables(),
    output:
        mirna="results/counts/mirna_counts.tsv",
        isomir="results/counts/isomir_counts.tsv",
        h5ad="results/counts/mirna.h5ad",
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
