# CONSORT flow, adverse events, safety labs and the DSMB listings
# (analysis_spec.md sections 3.4-3.5; package exomir.clinical). Tables that need
# an optional sheet (disposition, adverse_events, clinical_measurements) are
# built only when the config names that sheet. Each job reads the sheets it
# declares; its settings (exomir.clinical.safety_settings) are built here, once.

from exomir.clinical.safety_settings import safety_stage_settings

try:
    SAFETY_SETTINGS = safety_stage_settings(CFG)
except ValidationError as exc:
    raise SystemExit(f"exomir: the safety settings are not valid.\n{exc}")

# Every target of this file (for `rule all`).
SAFETY_OUTPUTS = []
if has_sheet("disposition"):
    SAFETY_OUTPUTS += ["results/clinical/consort.tsv"]
if has_sheet("adverse_events"):
    SAFETY_OUTPUTS += [
        "results/clinical/adverse_events.tsv",
        "results/clinical/safety_triggers.tsv",
    ]
if has_sheet("clinical_measurements"):
    SAFETY_OUTPUTS += ["results/clinical/lab_shifts.tsv"]
# DSMB listings (exomir.clinical.dsmb): enrolment and batch balance always.
SAFETY_OUTPUTS += [
    "results/clinical/enrolment.tsv",
    "results/clinical/batch_balance.tsv",
]
if has_sheet("adverse_events"):
    SAFETY_OUTPUTS += ["results/clinical/ae_listing.tsv"]
if has_sheet("disposition"):
    SAFETY_OUTPUTS += ["results/clinical/deviations.tsv"]


localrules:
    clinical_consort,
    clinical_adverse_events,
    clinical_lab_shifts,
    clinical_dsmb_ae_listing,
    clinical_dsmb_enrolment,
    clinical_dsmb_deviations,
    clinical_dsmb_batch_balance,


# CONSORT 2010 flow counts with reasons, plus the sequencing-QC boxes.
rule clinical_consort:
    input:
        qc="results/qc/library_qc.tsv",
        disposition=get_sheets("disposition"),
        participants=get_sheet("participants"),
        samples=get_sheet("samples"),
    output:
        table=report(
            "results/clinical/consort.tsv",
            caption="../report/consort.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_consort/clinical_consort.log",
    benchmark:
        "benchmarks/clinical_consort/clinical_consort.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_consort.py"


# Adverse events by arm (overview, AESI, SOC/PT, SAE listing, Newcombe risk
# differences) and the configured safety stopping rules.
rule clinical_adverse_events:
    input:
        adverse_events=get_sheets("adverse_events"),
        participants=get_sheet("participants"),
        disposition=get_sheets("disposition"),
    output:
        table=report(
            "results/clinical/adverse_events.tsv",
            caption="../report/adverse_events.rst",
            category="Safety and CONSORT",
        ),
        triggers=report(
            "results/clinical/safety_triggers.tsv",
            caption="../report/safety_triggers.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_adverse_events/clinical_adverse_events.log",
    benchmark:
        "benchmarks/clinical_adverse_events/clinical_adverse_events.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_adverse_events.py"


# Safety-lab shift tables (low/normal/high vs reference range), by arm.
rule clinical_lab_shifts:
    input:
        clinical_measurements=get_sheets("clinical_measurements"),
        participants=get_sheet("participants"),
        disposition=get_sheets("disposition"),
    output:
        table=report(
            "results/clinical/lab_shifts.tsv",
            caption="../report/lab_shifts.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_lab_shifts/clinical_lab_shifts.log",
    benchmark:
        "benchmarks/clinical_lab_shifts/clinical_lab_shifts.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_lab_shifts.py"


# Participant-level listing of every adverse event (arm, SOC/PT, onset,
# grade, seriousness, relatedness, action with the product, outcome).
rule clinical_dsmb_ae_listing:
    input:
        adverse_events=get_sheets("adverse_events"),
        participants=get_sheet("participants"),
        disposition=get_sheets("disposition"),
    output:
        table=report(
            "results/clinical/ae_listing.tsv",
            caption="../report/dsmb_listings.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_dsmb_ae_listing/clinical_dsmb_ae_listing.log",
    benchmark:
        "benchmarks/clinical_dsmb_ae_listing/clinical_dsmb_ae_listing.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_dsmb_ae_listing.py"


# Randomisations per month (cumulative, vs the enrolment plan) and per site.
rule clinical_dsmb_enrolment:
    input:
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/clinical/enrolment.tsv",
            caption="../report/dsmb_listings.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_dsmb_enrolment/clinical_dsmb_enrolment.log",
    benchmark:
        "benchmarks/clinical_dsmb_enrolment/clinical_dsmb_enrolment.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_dsmb_enrolment.py"


# Protocol deviations with their consistency checks against the sheets.
rule clinical_dsmb_deviations:
    input:
        disposition=get_sheets("disposition"),
        participants=get_sheet("participants"),
        samples=get_sheet("samples"),
        clinical_measurements=get_sheets("clinical_measurements"),
        adverse_events=get_sheets("adverse_events"),
    output:
        table=report(
            "results/clinical/deviations.tsv",
            caption="../report/dsmb_listings.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_dsmb_deviations/clinical_dsmb_deviations.log",
    benchmark:
        "benchmarks/clinical_dsmb_deviations/clinical_dsmb_deviations.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_dsmb_deviations.py"


# Libraries per extraction/library/sequencing batch and arm.
rule clinical_dsmb_batch_balance:
    input:
        samples=get_sheet("samples"),
        participants=get_sheet("participants"),
    output:
        table=report(
            "results/clinical/batch_balance.tsv",
            caption="../report/dsmb_listings.rst",
            category="Safety and CONSORT",
        ),
    log:
        "logs/clinical_dsmb_batch_balance/clinical_dsmb_batch_balance.log",
    benchmark:
        "benchmarks/clinical_dsmb_batch_balance/clinical_dsmb_batch_balance.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=SAFETY_SETTINGS,
    script:
        "../scripts/clinical_dsmb_batch_balance.py"
