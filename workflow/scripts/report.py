"""Snakemake shim for rules ``report_open`` and ``report_closed`` (report.smk).

All logic is in :func:`exomir.report.builder.build_report`; the rule's results
inputs are the only results files the report reads, and its provenance record
goes to ``output.provenance``.
"""

import json
import logging
from typing import Any

from exomir.atomic import atomic_open
from exomir.report.builder import build_report
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    record: dict = {}
    try:
        build_report(
            ".",
            smk.params.config,
            smk.params.audience,
            smk.output.html,
            [str(p) for p in smk.input.results],
            provenance=record,
            withheld=[str(p) for p in smk.params.withheld],
        )
    except Exception:
        logging.getLogger("exomir.report").exception("the report failed")
        raise
    with atomic_open(smk.output.provenance, "w") as fh:
        json.dump({"report": str(smk.output.html), **record}, fh, indent=2)
        fh.write("\n")


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
