"""Snakemake shim for rule ``report_blind``: copies without the arm for the open report.

The logic is in :func:`exomir.report.firewall.blind_step`.
"""

from typing import Any

from exomir.report.firewall import blind_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: blind_step(
            results=smk.input.results,
            blinded=smk.output.results,
            sheets=smk.input.sheets,
            blinded_sheets=smk.output.sheets,
            kinds=smk.params.kinds,
        ),
        logger="exomir.report",
        not_computed=False,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
