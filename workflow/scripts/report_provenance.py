"""Snakemake shim for rule ``report_provenance``: both reports' provenance in one file.

The logic is in :func:`exomir.report.provenance.merge_provenance`.
"""

from typing import Any

from exomir.report.provenance import merge_provenance
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: merge_provenance(
            open_record=smk.input.open,
            closed_record=smk.input.closed,
            out=smk.output.provenance,
        ),
        logger="exomir.report",
        not_computed=False,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
