"""Snakemake shim for rule ``report_html`` (see workflow/rules/report.smk).

All logic is in :func:`exomir.report.builder.build_report`; the rule's results
inputs are the only results files the report reads.
"""

import logging
from typing import Any

from exomir.report.builder import build_report
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    available = [str(p) for p in smk.input.results]
    try:
        build_report(".", smk.params.config, "open", smk.output.open, available)
        build_report(".", smk.params.config, "closed", smk.output.closed, available)
    except Exception:
        logging.getLogger("exomir.report").exception("the report failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
