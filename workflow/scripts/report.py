"""Snakemake shim for rule ``report_html`` (see workflow/rules/report.smk).

All logic is in :func:`exomir.report.builder.build_report`; the rule's results
inputs are the only results files the report reads. The provenance of both
builds goes to ``results/report/provenance.json``.
"""

import json
import logging
from typing import Any

from exomir.atomic import atomic_open
from exomir.report.builder import build_report
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    available = [str(p) for p in smk.input.results]
    records: dict[str, dict] = {"open": {}, "closed": {}}
    try:
        for audience in ("open", "closed"):
            build_report(
                ".",
                smk.params.config,
                audience,
                getattr(smk.output, audience),
                available,
                provenance=records[audience],
            )
    except Exception:
        logging.getLogger("exomir.report").exception("the report failed")
        raise
    reports = {
        "open": {"report": str(smk.output.open), **records["open"]},
        "closed": {"report": str(smk.output.closed), **records["closed"]},
    }
    with atomic_open(smk.output.provenance, "w") as fh:
        json.dump({"reports": reports}, fh, indent=2, sort_keys=True)
        fh.write("\n")


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
