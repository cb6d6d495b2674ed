# EV product characterisation (analysis_spec §4): NanoSight / ZetaView exports ->
# per-run and per-lot results, lot certificate, MISEV2023 checklist, dose per
# participant and figures (see exomir.ev.lots). Include only when the config
# names the ev_lots and ev_nta_runs sheets.

from exomir.ev.settings import ev_settings

EV_SETTINGS = ev_settings(CFG)
EV_OUTPUTS = [
    "results/ev/lot_qc.tsv",
    "results/ev/lot_summary.tsv",
    "results/ev/misev_checklist.tsv",
    "results/ev/dose_per_participant.tsv",
    "results/ev/size_distributions.png",
    "results/ev/lot_metrics.png",
]


rule ev_qc:
    input:
        lots=get_sheet("ev_lots"),
        runs=get_sheet("ev_nta_runs"),
        participants=get_sheet("participants"),
        nta=get_nta_files(),
    output:
        lot_qc=report(
            "results/ev/lot_qc.tsv",
            caption="../report/ev_lot_qc.rst",
            category="EV product",
        ),
        lot_summary=report(
            "results/ev/lot_summary.tsv",
            caption="../report/ev_lot_summary.rst",
            category="EV product",
        ),
        nta_runs="results/ev/nta_runs.tsv",
        distributions="results/ev/nta_distributions.tsv",
        misev=report(
            "results/ev/misev_checklist.tsv",
            caption="../report/ev_misev.rst",
            category="EV product",
        ),
        dose=report(
            "results/ev/dose_per_participant.tsv",
            caption="../report/ev_dose.rst",
            category="EV product",
        ),
        fig_sizes=report(
            "results/ev/size_distributions.png",
            caption="../report/ev_sizes.rst",
            category="EV product",
        ),
        fig_lots=report(
            "results/ev/lot_metrics.png",
            caption="../report/ev_lot_metrics.rst",
            category="EV product",
        ),
    log:
        "logs/ev_qc/ev_qc.log",
    benchmark:
        "benchmarks/ev_qc/ev_qc.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        settings=EV_SETTINGS,
    script:
        "../scripts/ev_qc.py"
