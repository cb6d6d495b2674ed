# The HTML reports (exomir.report): the open report (pooled data, no arm-level
# efficacy) and the closed DSMB report (by arm), each one offline file. Their
# inputs come from get_report_inputs() in common.smk, which lists the results of
# the stages that are part of this run; absent stages show as "not run".

# Every target of this file (for `rule all`).
REPORT_OUTPUTS = [
    "results/report/exomir_report.html",
    "results/report/dsmb_closed.html",
]


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
