# Clinical endpoints (exomir.clinical), analysis_spec.md section 3: the wide
# analysis dataset and populations from the long clinical table, the endpoint
# models with the forest plot, the change in the primary miRNA against the
# change in each endpoint, and the baseline table. Endpoints, their models and
# covariates come from config `clinical_parameters` and `clinical`; they are
# checked here, when the workflow is parsed.

from exomir.clinical.dataset import clinical_settings

try:
    CLINICAL_SETTINGS = clinical_settings(CFG)
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
        sheets=get_clinical_sheets(),
        conversions=get_unit_conversions(),
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
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/clinical_dataset.py"


# ANCOVA / logistic / proportional-odds models per endpoint and population,
# cLDA mixed-model sensitivity, and the forest plot.
rule clinical_endpoints:
    input:
        dataset="results/clinical/analysis_dataset.tsv",
        sheets=get_clinical_sheets(),
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
    script:
        "../scripts/clinical_endpoints.py"


# Change in the primary miRNA (VST) against change in each continuous
# endpoint (OLS HC3 slope, Spearman with bootstrap CI, BH), and the baseline
# table by arm.
rule clinical_biomarker:
    input:
        dataset="results/clinical/analysis_dataset.tsv",
        h5ad="results/de/mirna.h5ad",
        sheets=get_clinical_sheets(),
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
    script:
        "../scripts/clinical_biomarker.py"
