# The primary biomarker analysis (exomir.primary), analysis_spec.md sections
# 1.2-1.3: ANCOVA of the primary miRNA with the sensitivity analyses and the
# delta-adjusted multiple imputation (tipping point). The settings are built
# and checked here, when the workflow is parsed.

from exomir.primary import primary_settings

try:
    PRIMARY_SETTINGS = primary_settings(CFG)
except ValidationError as exc:
    raise SystemExit(f"exomir: the primary-analysis settings are not valid.\n{exc}")


# Every target of this file (for `rule all`).
PRIMARY_OUTPUTS = [
    "results/primary/mir126_ancova.tsv",
    "results/primary/mir126_values.tsv",
    "results/primary/tipping_point.tsv",
]


# Primary ANCOVA of the primary miRNA with the sensitivity analyses, and the
# delta-adjusted multiple imputation (tipping point) for missing week-1 values.
rule primary:
    input:
        h5ad="results/de/mirna.h5ad",
        participants=get_sheet("participants"),
        clinical=get_sheets("clinical_measurements"),
        disposition=get_sheets("disposition"),
    output:
        results=report(
            "results/primary/mir126_ancova.tsv",
            caption="../report/primary.rst",
            category="Primary biomarker",
        ),
        data="results/primary/mir126_values.tsv",
        tipping="results/primary/tipping_point.tsv",
    log:
        "logs/primary/primary.log",
    benchmark:
        "benchmarks/primary/primary.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=PRIMARY_SETTINGS,
    script:
        "../scripts/primary.py"


# Repeated measures of the primary miRNA (exomir.primary.longitudinal): MMRM
# over the post-dose blood draws of design.timepoints; only with at least two
# post-dose draws (a two-timepoint trial has no such outputs).
from exomir.stats.mmrm_table import longitudinal_settings

PRIMARY_MMRM_SETTINGS = longitudinal_settings(CFG)
if PRIMARY_MMRM_SETTINGS.mirna:
    PRIMARY_OUTPUTS += [
        "results/primary/mmrm.tsv",
        "results/primary/mmrm.png",
    ]


rule primary_mmrm:
    input:
        h5ad="results/de/mirna.h5ad",
        participants=get_sheet("participants"),
        disposition=get_sheets("disposition"),
    output:
        table=report(
            "results/primary/mmrm.tsv",
            caption="../report/primary_mmrm.rst",
            category="Primary biomarker",
        ),
        figure=report(
            "results/primary/mmrm.png",
            caption="../report/primary_mmrm.rst",
            category="Primary biomarker",
        ),
    log:
        "logs/primary_mmrm/primary_mmrm.log",
    benchmark:
        "benchmarks/primary_mmrm/primary_mmrm.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        settings=PRIMARY_SETTINGS,
        longitudinal=PRIMARY_MMRM_SETTINGS,
    script:
        "../scripts/primary_mmrm.py"
