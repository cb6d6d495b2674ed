"""Snakemake shim for rule ``normalise_counts`` (see workflow/rules/counts.smk).

Adds the ``counts``, ``normalised`` and ``vst`` layers to the merged count
AnnData. All logic is in :func:`exomir.de.normalise_counts_step`.
"""

import logging
from typing import Any

from exomir.de import normalise_counts_step
from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        normalise_counts_step(smk.config, smk.input.h5ad, smk.input.qc, smk.output.h5ad)

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.de").exception("the counts normalisation failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
