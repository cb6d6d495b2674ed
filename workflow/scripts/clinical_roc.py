"""Snakemake shim for rule ``clinical_roc`` (see workflow/rules/roc.smk).

All logic is in :func:`exomir.clinical.roc.roc_step`.
"""

from typing import Any

from exomir.clinical.roc import roc_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: roc_step(
            h5ad=smk.input.h5ad,
            participants=smk.input.participants,
            table=smk.output.table,
            curve=smk.output.curve,
            plot=smk.output.plot,
            settings=smk.params.settings,
            primary=smk.params.primary,
        ),
        logger="exomir.clinical.roc",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
