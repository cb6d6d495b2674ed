"""Snakemake shim for rule ``clinical_dataset`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.stage.dataset_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.stage import dataset_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        dataset_from_files(
            smk.config,
            smk.output.dataset,
            smk.output.populations,
            smk.output.flags,
            plausibility_path=smk.output.plausibility,
        )
    except Exception:
        logging.getLogger("exomir.clinical").exception(
            "building the clinical analysis dataset failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
