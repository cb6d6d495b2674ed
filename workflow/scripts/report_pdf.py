"""Snakemake shim for rule ``report_pdf``: print one HTML report to PDF.

The logic is in :func:`exomir.report.pdf.html_to_pdf`.
"""

from typing import Any

from exomir.report.pdf import html_to_pdf
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: html_to_pdf(html=smk.input.html, pdf=smk.output.pdf),
        logger="exomir.report",
        not_computed=False,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
