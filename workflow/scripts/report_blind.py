"""Snakemake shim for rule ``report_blind``: copies without the arm for the open report.

The logic is in :mod:`exomir.report.firewall`.
"""

import logging
from typing import Any

from exomir.report.firewall import BLINDED, blind_sheet, blind_table
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    log = logging.getLogger("exomir.report")
    for src, dest in zip(smk.input.results, smk.output.results, strict=True):
        if str(src) not in BLINDED:
            raise KeyError(f"{src}: not a file the firewall can blind")
        blind_table(str(src), src, dest)
        log.info("blinded %s -> %s", src, dest)
    for kind, src, dest in zip(
        smk.params.kinds, smk.input.sheets, smk.output.sheets, strict=True
    ):
        blind_sheet(kind, src, dest)
        log.info("blinded sheet %s (%s) -> %s", kind, src, dest)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
