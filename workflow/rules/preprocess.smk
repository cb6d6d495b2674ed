# Per-library preprocessing: validate the FASTQ, extract UMIs, trim adapters,
# collapse to unique inserts (see exomir.reads.preprocess).


rule preprocess:
    input:
        fastq=get_fastq,
    output:
        collapsed="results/collapsed/{sample}.fa.gz",
        stats="results/preprocess/{sample}.json",
    log:
        "logs/preprocess/{sample}.log",
    benchmark:
        "benchmarks/preprocess/{sample}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        protocol=get_protocol,
        trim=CFG["trimming"],
    script:
        "../scripts/preprocess.py"
