# Recruiting sites as an analysis factor (exomir.sites, docs/sites.md): the
# site-by-arm sensitivity analysis of the primary miRNA ANCOVA and of the
# continuous clinical endpoints, and sequencing batch confounded with site.
# Runs only when config design.sites names at least two sites; otherwise no
# rule here is a target and every other table is unchanged.

from exomir.clinical.stage import clinical_stage_settings
from exomir.primary import primary_settings
from exomir.sites import sites_active
from exomir.sites.stage import site_settings

SITE_SETTINGS = site_settings(CFG)

# Every target of this file (for `rule all`).
SITES_OUTPUTS = []
if sites_active(CFG):
    SITES_OUTPUTS = [
        "results/primary/site_by_arm.tsv",
        "results/primary/site_by_arm.png",
        "results/qc/batch_site.tsv",
        "results/clinical/sites_closed.tsv",
        "results/clinical/sites_open.tsv",
    ]
    if has_clinical_sheets():
        SITES_OUTPUTS += [
            "results/clinical/site_by_arm.tsv",
            "results/clinical/site_by_arm.png",
        ]


localrules:
    sites_batch,
    sites_tables,


# Arm effect per site and the site x arm interaction (Wald F, HC3) of the
# primary ANCOVA.
rule sites_primary_site_by_arm:
    input:
        source="results/primary/mir126_values.tsv",
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/primary/site_by_arm.tsv",
            caption="../report/site_by_arm.rst",
            category="Sites",
        ),
        plot=report(
            "results/primary/site_by_arm.png",
            caption="../report/site_by_arm.rst",
            category="Sites",
        ),
    log:
        "logs/sites_primary_site_by_arm/sites_primary_site_by_arm.log",
    benchmark:
        "benchmarks/sites_primary_site_by_arm/sites_primary_site_by_arm.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="primary",
        settings=SITE_SETTINGS,
        model_settings=primary_settings(CFG),
    script:
        "../scripts/sites_site_by_arm.py"


if has_clinical_sheets():

    # The same for every continuous (ANCOVA) clinical endpoint, mITT.
    rule sites_clinical_site_by_arm:
        input:
            source="results/clinical/analysis_dataset.tsv",
            participants=get_sheet("participants"),
        output:
            table=report(
                "results/clinical/site_by_arm.tsv",
                caption="../report/site_by_arm.rst",
                category="Sites",
            ),
            plot=report(
                "results/clinical/site_by_arm.png",
                caption="../report/site_by_arm.rst",
                category="Sites",
            ),
        log:
            "logs/sites_clinical_site_by_arm/sites_clinical_site_by_arm.log",
        benchmark:
            "benchmarks/sites_clinical_site_by_arm/sites_clinical_site_by_arm.tsv"
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            kind="clinical",
            settings=SITE_SETTINGS,
            model_settings=clinical_stage_settings(CFG).clinical,
        script:
            "../scripts/sites_site_by_arm.py"


# Library batches cross-tabulated against site; Cramer's V and the
# "each batch from one site" rule (warning in the log and the report).
rule sites_batch:
    input:
        samples=get_sheet("samples"),
        participants=get_sheet("participants"),
    output:
        table="results/qc/batch_site.tsv",
    log:
        "logs/sites_batch/sites_batch.log",
    benchmark:
        "benchmarks/sites_batch/sites_batch.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        settings=SITE_SETTINGS,
    script:
        "../scripts/sites_batch.py"


# DSMB tables by site: enrolment, completeness per visit, read-QC failures and
# AEs by site and arm (closed), and the pooled-over-arms copy without AEs (open).
rule sites_tables:
    input:
        participants=get_sheet("participants"),
        samples=get_sheet("samples"),
        library_qc="results/qc/library_qc.tsv",
        clinical_measurements=get_sheets("clinical_measurements"),
        adverse_events=get_sheets("adverse_events"),
        disposition=get_sheets("disposition"),
    output:
        closed="results/clinical/sites_closed.tsv",
        opened="results/clinical/sites_open.tsv",
    log:
        "logs/sites_tables/sites_tables.log",
    benchmark:
        "benchmarks/sites_tables/sites_tables.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings={
            "cfg_sites": SITE_SETTINGS.sites,
            "arms": list(CFG["design"]["arms"]),
            "visits": list(CFG["design"].get("visits") or CFG["design"]["timepoints"]),
            "timepoints": list(CFG["design"]["timepoints"]),
            "related": list(CFG["safety"]["related_levels"]),
        },
    script:
        "../scripts/sites_tables.py"
