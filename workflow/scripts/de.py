"""Snakemake shim for rules ``de_normalise`` and ``de`` (see workflow/rules/de.smk).

With a ``contrast`` wildcard it fits that contrast; without, it writes the
normalised counts, filter table and PCA. All logic is in
:func:`exomir.de.workflow_step`.
"""

import logging
from typing import Any

from exomir.de import workflow_step
from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)

    def step() -> None:
        workflow_step(
            smk.config,
            smk.input.counts,
            smk.input.qc,
            dict(smk.output.items()),
            contrast=getattr(smk.wildcards, "contrast", None),
            threads=int(smk.threads),
            counts_h5ad=getattr(smk.input, "counts_h5ad", None),
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.de").exception("the DE step failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
