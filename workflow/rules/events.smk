# Long-term time-to-event outcomes (exomir.survival, docs/survival.md): Kaplan-
# Meier by arm with numbers at risk, log-rank, Cox stratified by design.strata
# with the proportional-hazards check, competing deaths. Included only when the
# config names sheets.events; settings from config `time_to_event`, built at
# parse time.

from exomir.survival import survival_settings
from exomir.survival.stage import figure_name

EVENTS_SETTINGS = survival_settings(CFG)
EVENTS_FIGURES = [
    f"results/events/{figure_name(code)}" for code, _ in EVENTS_SETTINGS.endpoints
]

# Every target of this file (for `rule all` and the report).
EVENTS_OUTPUTS = [
    "results/events/summary.tsv",
    "results/events/km.tsv",
    "results/events/at_risk.tsv",
    "results/events/cox.tsv",
    "results/events/events_open.tsv",
    *EVENTS_FIGURES,
]


# Time to first event per endpoint from randomisation, censored at last contact,
# data cut and horizon; deaths compete (censored in KM/Cox, Aalen-Johansen).
rule time_to_event:
    input:
        participants=get_sheet("participants"),
        events=get_sheet("events"),
        clinical=get_sheets("clinical_measurements"),
    output:
        summary="results/events/summary.tsv",
        km="results/events/km.tsv",
        at_risk="results/events/at_risk.tsv",
        cox="results/events/cox.tsv",
        pooled="results/events/events_open.tsv",
        figures=EVENTS_FIGURES,
    log:
        "logs/time_to_event/time_to_event.log",
    benchmark:
        "benchmarks/time_to_event/time_to_event.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        settings=EVENTS_SETTINGS,
    script:
        "../scripts/time_to_event.py"
