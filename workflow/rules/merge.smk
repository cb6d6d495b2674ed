# Trial merge (exomir.clinical.merge): one participant-level table and one
# AnnData with miRNA, clinical, EV-dose and pathway data under matching
# identifiers. The EV dose and the pathway scores are optional inputs: they
# are used when their stages are part of the workflow (see the input
# functions get_ev_dose_table and get_pathway_scores in common.smk). The
# settings are the clinical stage's (clinical.smk).

# Every target of this file (for `rule all`).
MERGE_OUTPUTS = [
    "results/merged/participants.tsv",
    "results/merged/trial.h5ad",
]


rule merge_trial:
    input:
        dataset="results/clinical/analysis_dataset.tsv",
        populations="results/clinical/populations.tsv",
        h5ad="results/de/mirna.h5ad",
        participants=get_sheet("participants"),
        dose=get_ev_dose_table,
        pathways=get_pathway_scores,
    output:
        participants=report(
            "results/merged/participants.tsv",
            caption="../report/merged.rst",
            category="Merged trial data",
        ),
        h5ad=report(
            "results/merged/trial.h5ad",
            caption="../report/merged.rst",
            category="Merged trial data",
        ),
    log:
        "logs/merge_trial/merge_trial.log",
    benchmark:
        "benchmarks/merge_trial/merge_trial.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        settings=CLINICAL_SETTINGS,
    script:
        "../scripts/merge_trial.py"
