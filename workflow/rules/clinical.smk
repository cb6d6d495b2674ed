# Clinical endpoints (exomir.clinical), analysis_spec.md section 3: the wide
# analysis dataset and populations from the long clinical table, the endpoint
# models with the forest plot, the change in the primary miRNA against the
# change in each endpoint, and the baseline table. Endpoints, their models and
# covariates come from config `clinical_parameters` and `clinical`; they are
# checked here, when the workflow is parsed, and handed to each job as
# `params.settings` (exomir.clinical.stage.clinical_stage_settings). Each job
# reads the sheets it declares.

from exomir.clinical.stage import clinical_stage_settings

try:
    CLINICAL_SETTINGS = clinical_stage_settings(CFG)
except ValidationError as exc:
    raise SystemExit(f"exomir: the clinical settings are not valid.\n{exc}")


# Every target of this file (for `rule all`).
CLINICAL_OUTPUTS = [
    "results/clinical/analysis_dataset.tsv",
    "results/clinical/populations.tsv",
    "results/clinical/data_flags.tsv",
    "results/clinical/plausibility.tsv",
    "results/clinical/endpoints.tsv",
    "results/clinical/forest.png",
    "results/clinical/association.tsv",
    "results/clinical/baseline_table.tsv",
]


localrules:
    clinical_dataset,


# Wide analysis dataset (baseline, follow-up, change per participant and
# parameter; values in configured units; implausible values flagged and listed) and
# the mITT / PP populations.
rule clinical_dataset:
    input:
        participants=get_sheet("participants"),
        clinical_measurements=get_sheet("clinical_measurements"),
        conversions=get_unit_conversions(),
        disposition=get_sheets("disposition"),
    output:
        dataset=report(
            "results/clinical/analysis_dataset.tsv",
            caption="../report/clinical_dataset.rst",
            category="Clinical endpoints",
        ),
        populations=report(
            "results/clinical/populations.tsv",
            caption="../report/clinical_populations.rst",
            category="Clinical endpoints",
        ),
        flags=report(
            "results/clinical/data_flags.tsv",
            caption="../report/clinical_flags.rst",
            category="Clinical endpoints",
        ),
        plausibility=report(
            "results/clinical/plausibility.tsv",
            caption="../report/clinical_plausibility.rst",
            category="Clinical endpoints",
        ),
    log:
        "logs/clinical_dataset/clinical_dataset.log",
    benchmark:
        "benchmarks/clinical_dataset/clinical_dataset.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=CLINICAL_SETTINGS,
    script:
        "../scripts/clinical_dataset.py"


# ANCOVA / logistic / proportional-odds models per endpoint and population,
# cLDA mixed-model sensitivity, and the forest plot.
rule clinical_endpoints:
    input:
        dataset="results/clinical/analysis_dataset.tsv",
        participants=get_sheet("participants"),
        clinical_measurements=get_sheet("clinical_measurements"),
        conversions=get_unit_conversions(),
        disposition=get_sheets("disposition"),
    output:
        endpoints=report(
            "results/clinical/endpoints.tsv",
            caption="../report/clinical_endpoints.rst",
            category="Clinical endpoints",
        ),
        forest=report(
            "results/clinical/forest.png",
            caption="../report/clinical_forest.rst",
            category="Clinical endpoints",
        ),
    log:
        "logs/clinical_endpoints/clinical_endpoints.log",
    benchmark:
        "benchmarks/clinical_endpoints/clinical_endpoints.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=20,
    params:
        settings=CLINICAL_SETTINGS,
    script:
        "../scripts/clinical_endpoints.py"


# Change in the primary miRNA (VST) against change in each continuous
# endpoint (OLS HC3 slope, Spearman with bootstrap CI, BH), and the baseline
# table by arm.
rule clinical_biomarker:
    input:
        dataset="results/clinical/analysis_dataset.tsv",
        h5ad="results/de/mirna.h5ad",
        participants=get_sheet("participants"),
    output:
        association=report(
            "results/clinical/association.tsv",
            caption="../report/clinical_association.rst",
            category="Clinical endpoints",
        ),
        baseline=report(
            "results/clinical/baseline_table.tsv",
            caption="../report/clinical_baseline.rst",
            category="Clinical endpoints",
        ),
    log:
        "logs/clinical_biomarker/clinical_biomarker.log",
    benchmark:
        "benchmarks/clinical_biomarker/clinical_biomarker.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=20,
    params:
        settings=CLINICAL_SETTINGS,
    script:
        "../scripts/clinical_biomarker.py"


# Repeated measures (exomir.clinical.longitudinal): MMRM of every continuous
# endpoint over the scheduled post-dose visits (design.schedule). Only with at
# least two post-dose visits; a trial without a schedule has no such outputs.
from exomir.stats.mmrm_table import longitudinal_settings

CLINICAL_MMRM_SETTINGS = longitudinal_settings(CFG)
if CLINICAL_MMRM_SETTINGS.clinical:
    CLINICAL_OUTPUTS += [
        "results/clinical/mmrm.tsv",
        "results/clinical/mmrm.png",
    ]


rule clinical_mmrm:
    input:
        participants=get_sheet("participants"),
        clinical_measurements=get_sheet("clinical_measurements"),
        conversions=get_unit_conversions(),
        populations="results/clinical/populations.tsv",
    output:
        table=report(
            "results/clinical/mmrm.tsv",
            caption="../report/clinical_mmrm.rst",
            category="Clinical endpoints",
        ),
        figure=report(
            "results/clinical/mmrm.png",
            caption="../report/clinical_mmrm.rst",
            category="Clinical endpoints",
        ),
    log:
        "logs/clinical_mmrm/clinical_mmrm.log",
    benchmark:
        "benchmarks/clinical_mmrm/clinical_mmrm.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    params:
        settings=CLINICAL_SETTINGS,
        longitudinal=CLINICAL_MMRM_SETTINGS,
    script:
        "../scripts/clinical_mmrm.py"
