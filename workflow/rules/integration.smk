# Protein endpoints and multi-omics integration (exomir.proteins.analysis,
# exomir.proteins.integration; docs/proteins_analysis.md, docs/integration.md).
# Input: results/proteins/concentrations.tsv from the quantification stage
# (rule protein_quant); the populations, analysis dataset and miRNA matrix of
# the clinical and DE stages; the pathway scores when that stage runs. The
# settings (config proteins.panel, ratios, analysis; design) are checked here,
# when the workflow is parsed, and handed to each job as `params.settings`.

from exomir.proteins.settings_analysis import protein_analysis_settings

try:
    PROTEIN_ANALYSIS_SETTINGS = protein_analysis_settings(CFG)
except ValidationError as exc:
    raise SystemExit(f"exomir: the protein settings are not valid.\n{exc}")

PROTEIN_BY_VISIT = len(PROTEIN_ANALYSIS_SETTINGS.post_dose_visits) > 1

# Every target of this file (for `rule all` and the report); empty without a panel.
PROTEIN_EFFECT_OUTPUTS = []
INTEGRATION_OUTPUTS = []
if PROTEIN_ANALYSIS_SETTINGS.panel:
    PROTEIN_EFFECT_OUTPUTS = [
        "results/proteins/effects.tsv",
        "results/proteins/volcano.png",
        "results/proteins/flag_summary.tsv",
    ]
    if PROTEIN_BY_VISIT:
        PROTEIN_EFFECT_OUTPUTS.append("results/proteins/effects_by_visit.tsv")
    INTEGRATION_OUTPUTS = [
        "results/merged/trial.h5mu",
        "results/merged/views_summary.tsv",
        "results/merged/mirna_protein_association.tsv",
        "results/merged/mofa_factors.tsv",
        "results/merged/mofa_factor_values.tsv",
        "results/merged/mofa_loadings.tsv",
        "results/merged/mofa_variance.tsv",
        "results/merged/mofa_loadings.png",
    ]


# ANCOVA of every panel analyte and ratio at the primary visit (HC3, ratio of
# geometric means, BH across the panel), the censored-value sensitivity, the
# volcano plot and the pooled flag counts.
rule protein_effects:
    input:
        concentrations="results/proteins/concentrations.tsv",
        populations="results/clinical/populations.tsv",
        participants=get_sheet("participants"),
    output:
        effects="results/proteins/effects.tsv",
        volcano="results/proteins/volcano.png",
        flags="results/proteins/flag_summary.tsv",
    log:
        "logs/protein_effects/protein_effects.log",
    benchmark:
        "benchmarks/protein_effects/protein_effects.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        settings=PROTEIN_ANALYSIS_SETTINGS,
    script:
        "../scripts/protein_effects.py"


# One ANCOVA per post-dose visit (designs with two or more post-dose visits).
rule protein_effects_by_visit:
    input:
        concentrations="results/proteins/concentrations.tsv",
        populations="results/clinical/populations.tsv",
        participants=get_sheet("participants"),
    output:
        by_visit="results/proteins/effects_by_visit.tsv",
    log:
        "logs/protein_effects_by_visit/protein_effects_by_visit.log",
    benchmark:
        "benchmarks/protein_effects_by_visit/protein_effects_by_visit.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        settings=PROTEIN_ANALYSIS_SETTINGS,
    script:
        "../scripts/protein_effects_by_visit.py"


# Participant x (miRNA, protein, clinical) MuData of change scores, the
# association of the primary miRNA and pathway-score changes with each
# protein's change, and the MOFA+ factor model with arm tests (exploratory).
rule integrate:
    input:
        concentrations="results/proteins/concentrations.tsv",
        populations="results/clinical/populations.tsv",
        dataset="results/clinical/analysis_dataset.tsv",
        mirna="results/de/mirna.h5ad",
        pathways=get_pathway_scores,
    output:
        h5mu="results/merged/trial.h5mu",
        summary="results/merged/views_summary.tsv",
        association="results/merged/mirna_protein_association.tsv",
        factors="results/merged/mofa_factors.tsv",
        factor_values="results/merged/mofa_factor_values.tsv",
        loadings="results/merged/mofa_loadings.tsv",
        variance="results/merged/mofa_variance.tsv",
        loadings_png="results/merged/mofa_loadings.png",
    log:
        "logs/integrate/integrate.log",
    benchmark:
        "benchmarks/integrate/integrate.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=20,
    params:
        settings=PROTEIN_ANALYSIS_SETTINGS,
    script:
        "../scripts/integrate.py"
