# Per-library work, FASTQ.gz to counts in one job (see exomir.reads.library):
# validate the FASTQ, extract UMIs, trim adapters, collapse to unique inserts,
# then annotate the inserts (miRNAs and isomiRs on the miRBase hairpins, then
# the contaminant categories in config order). Nothing is written unless
# both steps succeed. `protocol: auto` detects the kit from the first reads
# (exomir.reads.kit); a library whose kit cannot be determined is stopped,
# not the run: its files mark it failed (failed_reason in the preprocess
# JSON) and the read QC excludes it with that reason.
# Settings shared by every library are built once, here, from the validated
# config (exomir.reads.settings.LibrarySettings, a light module: parsing the
# workflow does not import the read pipeline); the protocol is per library.

from exomir.reads.settings import library_settings

LIBRARY_SETTINGS = library_settings(CFG)


rule library:
    input:
        fastq=get_fastq,
        reference="results/reference/reference.json",
    output:
        collapsed="results/collapsed/{sample}.fa.gz",
        stats="results/preprocess/{sample}.json",
        mirna="results/annotate/{sample}.mirna.tsv",
        isomir="results/annotate/{sample}.isomir.tsv",
        json="results/annotate/{sample}.json",
        gff="results/isomirs/{sample}.gff",
    log:
        "logs/library/{sample}.log",
    benchmark:
        "benchmarks/library/{sample}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        protocol=get_protocol,
        settings=LIBRARY_SETTINGS,
    script:
        "../scripts/library.py"
