"""Snakemake shim for rule ``clinical_lab_shifts`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.lab_shifts.lab_shifts_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.lab_shifts import lab_shifts_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        lab_shifts_from_files(smk.config, smk.output.table)
    except Exception:
        logging.getLogger("exomir.clinical.lab_shifts").exception(
            "rule clinical_lab_shifts failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
