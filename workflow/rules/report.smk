# The reports (exomir.report): the open report (pooled data, no arm-level
# efficacy) and the closed DSMB report (by arm), each one offline HTML file with
# a PDF print. The closed report reads the results of every stage of this run
# (get_report_inputs in common.smk; absent stages show as "not run"). The open
# report reads no closed file (exomir.report.firewall): only open-safe results
# and the copies that rule report_blind writes with the arm removed.

from exomir.report.settings import report_settings

# Every target of this file (for `rule all`): both reports, their provenance
# and, unless config `report.pdf` is false, a PDF of each (headless Chromium).
REPORT_NAMES = ["exomir_report", "dsmb_closed"]
REPORT_OUTPUTS = [
    *[f"results/report/{name}.html" for name in REPORT_NAMES],
    "results/report/provenance.json",
]
if CFG["report"]["pdf"]:
    REPORT_OUTPUTS += [f"results/report/{name}.pdf" for name in REPORT_NAMES]

BLIND_FILES, BLIND_SHEETS = get_blind_sources()

# What each report job quotes from the config, built once here (the jobs never
# read or re-validate the config): audience, config sections, withheld files.
REPORT_OPEN_SETTINGS = report_settings(CFG, "open", get_withheld_files())
REPORT_CLOSED_SETTINGS = report_settings(CFG, "closed")


if BLIND_FILES or BLIND_SHEETS:

    rule report_blind:
        input:
            results=list(BLIND_FILES),
            sheets=list(BLIND_SHEETS.values()),
        output:
            results=list(BLIND_FILES.values()),
            sheets=[sheet_blinded_path(k) for k in BLIND_SHEETS],
        log:
            "logs/report_blind/report_blind.log",
        benchmark:
            "benchmarks/report_blind/report_blind.tsv"
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=10,
        params:
            kinds=list(BLIND_SHEETS),
        script:
            "../scripts/report_blind.py"


rule report_open:
    input:
        unpack(get_open_report_inputs),
        references=get_report_references(),
    output:
        html=report(
            "results/report/exomir_report.html",
            caption="../report/exomir_report.rst",
            category="Report",
        ),
        provenance="results/report/exomir_report.provenance.json",
    log:
        "logs/report_open/report_open.log",
    benchmark:
        "benchmarks/report_open/report_open.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=20,
    params:
        settings=REPORT_OPEN_SETTINGS,
    script:
        "../scripts/report.py"


rule report_closed:
    input:
        unpack(get_report_inputs),
        references=get_report_references(),
    output:
        html=report(
            "results/report/dsmb_closed.html",
            caption="../report/dsmb_closed.rst",
            category="Report",
        ),
        provenance="results/report/dsmb_closed.provenance.json",
    log:
        "logs/report_closed/report_closed.log",
    benchmark:
        "benchmarks/report_closed/report_closed.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=20,
    params:
        settings=REPORT_CLOSED_SETTINGS,
    script:
        "../scripts/report.py"


rule report_provenance:
    input:
        open="results/report/exomir_report.provenance.json",
        closed="results/report/dsmb_closed.provenance.json",
    output:
        provenance="results/report/provenance.json",
    log:
        "logs/report_provenance/report_provenance.log",
    benchmark:
        "benchmarks/report_provenance/report_provenance.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/report_provenance.py"


rule report_pdf:
    input:
        html="results/report/{name}.html",
    output:
        pdf="results/report/{name}.pdf",
    log:
        "logs/report_pdf/{name}.log",
    benchmark:
        "benchmarks/report_pdf/{name}.tsv"
    wildcard_constraints:
        name="|".join(REPORT_NAMES),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=20,
    script:
        "../scripts/report_pdf.py"
