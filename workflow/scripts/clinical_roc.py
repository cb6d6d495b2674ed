"""Snakemake shim for rule ``clinical_roc`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.roc.roc_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.roc import roc_from_files
from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        roc_from_files(
            smk.config,
            smk.input.h5ad,
            smk.output.table,
            smk.output.curve,
            smk.output.plot,
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.clinical.roc").exception("rule clinical_roc failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
