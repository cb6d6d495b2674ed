# DSMB interim analysis (exomir.clinical.interim), analysis_spec.md section
# 3.5. Settings from config `interim` (and `safety.related_levels`), built at
# parse time.

from exomir.clinical.interim import interim_settings

INTERIM_SETTINGS = interim_settings(CFG)

# Every target of this file (for `rule all`).
INTERIM_OUTPUTS = [
    "results/clinical/interim.tsv",
    "results/clinical/interim_boundaries.png",
    "results/clinical/interim_open.tsv",
]
# interim.look_timing: information_time places the look where the planned
# fraction was reached (exomir.clinical.interim_timing) and writes the planned
# versus actual look.
INTERIM_TIMED = INTERIM_SETTINGS.look_timing == "information_time"
INTERIM_LOOKS = {"looks": "results/clinical/interim_looks.tsv"} if INTERIM_TIMED else {}
INTERIM_OUTPUTS += list(INTERIM_LOOKS.values())


localrules:
    clinical_interim,


# DSMB interim: Lan-DeMets boundaries at the actual information fraction,
# observed z of the primary ANCOVA, conditional power (closed report, by arm),
# and the pooled open report (recruitment, completeness, QC, pooled safety).
rule clinical_interim:
    input:
        ancova="results/primary/mir126_ancova.tsv",
        values="results/primary/mir126_values.tsv",
        qc="results/qc/library_qc.tsv",
        disposition=get_sheets("disposition"),
        adverse_events=get_sheets("adverse_events"),
        samples=get_sheets("samples") if INTERIM_TIMED else [],
    output:
        **INTERIM_LOOKS,
        table=report(
            "results/clinical/interim.tsv",
            caption="../report/interim.rst",
            category="DSMB interim",
        ),
        plot=report(
            "results/clinical/interim_boundaries.png",
            caption="../report/interim.rst",
            category="DSMB interim",
        ),
        pooled=report(
            "results/clinical/interim_open.tsv",
            caption="../report/interim_open.rst",
            category="DSMB interim",
        ),
    log:
        "logs/clinical_interim/clinical_interim.log",
    benchmark:
        "benchmarks/clinical_interim/clinical_interim.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=INTERIM_SETTINGS,
        primary=PRIMARY_SETTINGS if INTERIM_TIMED else None,
        data_cut=CFG["trial"].get("data_cut") or None,
    script:
        "../scripts/clinical_interim.py"
