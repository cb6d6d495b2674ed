"""Snakemake shim for rule ``clinical_adverse_events`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.adverse_events.adverse_events_from_files`.
"""

import logging
from typing import Any

from exomir.clinical.adverse_events import adverse_events_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        adverse_events_from_files(smk.config, smk.output.table, smk.output.triggers)
    except Exception:
        logging.getLogger("exomir.clinical.adverse_events").exception(
            "rule clinical_adverse_events failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
