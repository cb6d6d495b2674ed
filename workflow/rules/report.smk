# The HTML reports (exomir.report): the open report (pooled data, no arm-level
# efficacy) and the closed DSMB report (by arm), each one offline file. Their
# inputs come from get_report_inputs() in common.smk, which lists the results of
# the stages that are part of this run; absent stages show as "not run".

# Every target of this file (for `rule all`): both reports, their provenance
# and, unless config `report.pdf` is false, a PDF of each (headless Chromium).
REPORT_NAMES = ["exomir_report", "dsmb_closed"]
REPORT_OUTPUTS = [
    *[f"results/report/{name}.html" for name in REPORT_NAMES],
    "results/report/provenance.json",
]
if CFG["report"]["pdf"]:
    REPORT_OUTPUTS += [f"results/report/{name}.pdf" for name in REPORT_NAMES]


rule report_html:
    input:
        unpack(get_report_inputs),
    output:
        open=report(
            "results/report/exomir_report.html",
            caption="../report/exomir_report.rst",
            category="Report",
        ),
        closed=report(
            "results/report/dsmb_closed.html",
            caption="../report/dsmb_closed.rst",
            category="Report",
        ),
        provenance="results/report/provenance.json",
    log:
        "logs/report_html/report_html.log",
    benchmark:
        "benchmarks/report_html/report_html.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=20,
    params:
        config=CFG,
    script:
        "../scripts/report.py"


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
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=20,
    script:
        "../scripts/report_pdf.py"
