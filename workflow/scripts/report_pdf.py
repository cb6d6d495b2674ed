"""Snakemake shim for rule ``report_pdf``: print one HTML report to PDF.

The logic is in :func:`exomir.report.pdf.html_to_pdf`.
"""

import logging
from typing import Any

from exomir.report.pdf import html_to_pdf
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        html_to_pdf(smk.input.html, smk.output.pdf)
    except Exception:
        logging.getLogger("exomir.report").exception("the PDF failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
