"""Snakemake shim for rule ``clinical_endpoints`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.stage.endpoints_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.stage import endpoints_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        endpoints_from_files(
            smk.config, smk.input.dataset, smk.output.endpoints, smk.output.forest
        )
    except Exception:
        logging.getLogger("exomir.clinical").exception("the endpoint models failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
