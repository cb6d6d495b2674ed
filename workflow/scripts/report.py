"""Snakemake shim for rules ``report_open`` and ``report_closed`` (report.smk).

The logic is in :func:`exomir.report.builder.report_step`; the rule's results
inputs are the only results files the report reads.
"""

from typing import Any

from exomir.report.builder import report_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: report_step(
            html=smk.output.html,
            provenance=smk.output.provenance,
            results=smk.input.results,
            settings=smk.params.settings,
        ),
        logger="exomir.report",
        not_computed=False,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
