# Per-library annotation of the collapsed inserts: miRNAs and isomiRs on the
# miRBase hairpins first, then the contaminant categories in config order (see
# exomir.reads.annotate).


rule annotate:
    input:
        collapsed="results/collapsed/{sample}.fa.gz",
        reference="results/reference/reference.json",
    output:
        mirna="results/annotate/{sample}.mirna.tsv",
        isomir="results/annotate/{sample}.isomir.tsv",
        json="results/annotate/{sample}.json",
        gff="results/isomirs/{sample}.gff",
    log:
        "logs/annotate/{sample}.log",
    benchmark:
        "benchmarks/annotate/{sample}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        annotation=CFG.get("annotation", {}),
    script:
        "../scripts/annotate.py"
