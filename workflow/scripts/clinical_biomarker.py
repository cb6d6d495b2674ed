"""Snakemake shim for rule ``clinical_biomarker`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.stage.biomarker_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.stage import biomarker_from_files
from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        biomarker_from_files(
            smk.config,
            smk.input.dataset,
            smk.input.h5ad,
            smk.output.association,
            smk.output.baseline,
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.clinical").exception(
            "the biomarker association or baseline table failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
