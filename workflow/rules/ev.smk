# EV product characterisation (analysis_spec §4): NanoSight / ZetaView exports ->
# per-run and per-lot results, lot certificate, MISEV2023 checklist, dose per
# participant and figures (see exomir.ev.lots). Include only when the config
# names the ev_lots and ev_nta_runs sheets.


rule ev_qc:
    input:
        lots=get_sheet("ev_lots"),
        runs=get_sheet("ev_nta_runs"),
        participants=get_sheet("participants"),
        nta=get_nta_files(),
    output:
        lot_qc="results/ev/lot_qc.tsv",
        lot_summary="results/ev/lot_summary.tsv",
        nta_runs="results/ev/nta_runs.tsv",
        distributions="results/ev/nta_distributions.tsv",
        misev="results/ev/misev_checklist.tsv",
        dose="results/ev/dose_per_participant.tsv",
        fig_sizes="results/ev/size_distributions.png",
        fig_lots="results/ev/lot_metrics.png",
    log:
        "logs/ev_qc/ev_qc.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        ev=CFG["ev"],
    script:
        "../scripts/ev_qc.py"
