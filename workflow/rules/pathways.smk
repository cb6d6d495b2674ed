# PI3K/AKT and MAPK target-pathway scoring of the miRNA changes (exomir.pathways,
# analysis_spec.md section 2). The stage needs a miRNA-target interaction table
# (pathways.interactions). miRTarBase is free for academic use only and is not
# shipped; when no table is configured or found, the stage is skipped with a
# message and PATHWAY_OUTPUTS is empty.

from exomir.pathways.run import interaction_sources_available
from exomir.pathways.settings import pathway_settings

PATHWAYS_AVAILABLE, PATHWAYS_SKIP_REASON = interaction_sources_available(CFG)
if not PATHWAYS_AVAILABLE:
    print(f"exomir: pathway stage skipped: {PATHWAYS_SKIP_REASON}", file=sys.stderr)

# DE contrasts scored at contrast level (config pathways.contrasts, default all).
PATHWAY_CONTRASTS = list(CFG["pathways"]["contrasts"] or DE_CONTRASTS)
_unknown = [c for c in PATHWAY_CONTRASTS if c not in DE_CONTRASTS]
if _unknown:
    raise SystemExit(
        f"exomir: config pathways.contrasts names unknown DE contrast(s) {_unknown}; "
        f"the DE contrasts are {DE_CONTRASTS}"
    )

# Typed settings of both rules (exomir.pathways.settings), built once here.
PATHWAY_SETTINGS = pathway_settings(CFG, PATHWAY_CONTRASTS)
PATHWAY_GMTS = [ref_path(str(g["gmt"])) for g in CFG["pathways"]["gene_sets"]]
PATHWAY_ROLES = (
    [ref_path(str(CFG["pathways"]["roles"]))] if CFG["pathways"].get("roles") else []
)

# Every target of this file (for `rule all`).
PATHWAY_OUTPUTS = (
    [
        "results/pathways/interactions.tsv",
        "results/pathways/mirna_mapping.tsv",
        "results/pathways/network.tsv",
        "results/pathways/scores.tsv",
        "results/pathways/tests.tsv",
        "results/pathways/scores_by_arm.png",
        "results/pathways/summary.json",
    ]
    if PATHWAYS_AVAILABLE
    else []
)

# Pathway-score ANCOVA at every post-dose timepoint (exomir.pathways.visits),
# only when design.timepoints has more than one post-dose entry.
if PATHWAYS_AVAILABLE and len(PATHWAY_SETTINGS.timepoints) > 2:
    PATHWAY_OUTPUTS += ["results/pathways/ancova_by_visit.tsv"]


# Interaction tables (user miRTarBase export and/or documented TSVs) in one
# layout, miRNA names mapped onto the configured miRBase mature names.
rule pathways_interactions:
    input:
        sources=get_pathway_interaction_files(),
        mature=ref_path(CFG["reference"]["mature"]),
    output:
        interactions="results/pathways/interactions.tsv",
        mapping="results/pathways/mirna_mapping.tsv",
    log:
        "logs/pathways_interactions/pathways_interactions.log",
    benchmark:
        "benchmarks/pathways_interactions/pathways_interactions.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        settings=PATHWAY_SETTINGS,
    script:
        "../scripts/pathways_interactions.py"


# Weighted network on the expressed miRNAs, per-sample decoupler scores,
# degree-preserving contrast enrichment, ANCOVA with Holm, and the plot.
rule pathways:
    input:
        h5ad="results/de/mirna.h5ad",
        interactions="results/pathways/interactions.tsv",
        gmts=PATHWAY_GMTS,
        roles=PATHWAY_ROLES,
        de=expand("results/de/{contrast}.tsv", contrast=PATHWAY_CONTRASTS),
    output:
        network=report(
            "results/pathways/network.tsv",
            caption="../report/pathway_network.rst",
            category="Pathways",
        ),
        scores=report(
            "results/pathways/scores.tsv",
            caption="../report/pathway_scores.rst",
            category="Pathways",
        ),
        tests=report(
            "results/pathways/tests.tsv",
            caption="../report/pathway_tests.rst",
            category="Pathways",
        ),
        plot=report(
            "results/pathways/scores_by_arm.png",
            caption="../report/pathway_scores.rst",
            category="Pathways",
        ),
        summary="results/pathways/summary.json",
    log:
        "logs/pathways/pathways.log",
    benchmark:
        "benchmarks/pathways/pathways.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=30,
    params:
        settings=PATHWAY_SETTINGS,
    script:
        "../scripts/pathways.py"


# The arm effect on each pathway score (ANCOVA on baseline and strata, with the
# permutation p-value) at every post-dose timepoint; Holm within visit.
rule pathways_by_visit:
    input:
        scores="results/pathways/scores.tsv",
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/pathways/ancova_by_visit.tsv",
            caption="../report/pathway_by_visit.rst",
            category="Pathways",
        ),
    log:
        "logs/pathways_by_visit/pathways_by_visit.log",
    benchmark:
        "benchmarks/pathways_by_visit/pathways_by_visit.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    params:
        settings=PATHWAY_SETTINGS,
    script:
        "../scripts/pathways_by_visit.py"
