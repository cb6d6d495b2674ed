"""Snakemake shim for rule ``primary`` (see workflow/rules/de.smk).

All logic is in :func:`exomir.primary.primary_from_files`.
"""

import logging
from typing import Any

from exomir.notcomputed import run_step
from exomir.primary import primary_from_files
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        primary_from_files(
            smk.config,
            smk.input.h5ad,
            smk.output.results,
            smk.output.data,
            tipping_path=getattr(smk.output, "tipping", None),
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.primary").exception("the primary analysis failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
