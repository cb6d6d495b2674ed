"""Snakemake shim for rule ``clinical_interim`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.interim.interim_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.interim import interim_from_files
from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        interim_from_files(
            smk.config,
            smk.input.ancova,
            smk.input.values,
            smk.output.table,
            smk.output.plot,
            open_path=smk.output.pooled,
            library_qc_path=smk.input.qc,
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.clinical.interim").exception(
            "rule clinical_interim failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
