# Reference indexes built once per scenario from the configured miRBase and
# contaminant FASTAs (see exomir.reads.reference). Species notes (contaminant
# classes annotated with a human reference for another species, exomir.species)
# go to the log and to reference.json.

from exomir.species import contaminant_sources, reference_notes


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
        species=CFG["reference"]["species"],
        mirbase_version=CFG["reference"].get("mirbase_version", "22"),
        contaminants=get_contaminant_fastas(),
        contaminant_species={
            s.category: s.reference_species for s in contaminant_sources(CFG)
        },
        species_notes=reference_notes(CFG),
    script:
        "../scripts/build_reference.py"
