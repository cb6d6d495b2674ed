"""Snakemake shim for rule ``pathways`` (workflow/rules/pathways.smk).

All logic is in :func:`exomir.pathways.run.pathways_step`.
"""

import logging
from typing import Any

from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        from exomir.config import validate_config
        from exomir.pathways.run import pathways_step

        cfg = validate_config(dict(smk.config))
        de = dict(zip(smk.params.contrasts, list(smk.input.de), strict=True))
        pathways_step(
            cfg,
            smk.input.h5ad,
            smk.input.interactions,
            de,
            dict(smk.output.items()),
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.pathways").exception("the pathway stage failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
