"""Snakemake shim for rule ``clinical_consort`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.consort.consort_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.consort import consort_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        consort_from_files(smk.config, smk.input.qc, smk.output.table)
    except Exception:
        logging.getLogger("exomir.clinical.consort").exception(
            "rule clinical_consort failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
