# Reference indexes built once per scenario from the configured miRBase and
# contaminant FASTAs (see exomir.reads.reference). Species notes (contaminant
# classes annotated with a human reference for another species, exomir.species)
# go to the log and to reference.json. Exports REFERENCE_OUTPUTS.

from exomir.reads.reference import reference_settings

REFERENCE_SETTINGS = reference_settings(CFG)


rule build_reference:
    input:
        mature=ref_path(CFG["reference"]["mature"]),
        hairpin=ref_path(CFG["reference"]["hairpin"]),
        contaminants=get_contaminant_files(),
    output:
        manifest="results/reference/reference.json",
    log:
        "logs/build_reference/build_reference.log",
    benchmark:
        "benchmarks/build_reference/build_reference.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    params:
        settings=REFERENCE_SETTINGS,
    script:
        "../scripts/build_reference.py"


REFERENCE_OUTPUTS = ["results/reference/reference.json"]
