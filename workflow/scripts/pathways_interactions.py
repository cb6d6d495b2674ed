"""Snakemake shim for rule ``pathways_interactions`` (workflow/rules/pathways.smk).

All logic is in :func:`exomir.pathways.run.interactions_step`.
"""

import logging
from typing import Any

from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        from exomir.config import validate_config
        from exomir.pathways.run import interactions_step

        cfg = validate_config(dict(smk.config))
        interactions_step(
            cfg, smk.input.mature, smk.output.interactions, smk.output.mapping
        )
    except Exception:
        logging.getLogger("exomir.pathways").exception(
            "building the interaction table failed"
        )
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
