"""Snakemake shim for rules ``clinical_dsmb_*`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.dsmb.dsmb_tables_from_files`; the rule's
``params.table_name`` names the table it writes.
"""

import logging
from typing import Any

from exomir.clinical.dsmb import dsmb_tables_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    name = str(smk.params.table_name)
    try:
        dsmb_tables_from_files(smk.config, {name: smk.output.table})
    except Exception:
        logging.getLogger("exomir.clinical.dsmb").exception(
            "rule clinical_dsmb_%s failed", name
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
