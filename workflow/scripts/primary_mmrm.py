"""Snakemake shim for rule ``primary_mmrm`` (see workflow/rules/primary.smk).

All logic is in :func:`exomir.primary.longitudinal.primary_mmrm_step`. The
optional disposition sheet is given as a list holding zero or one path.
"""

from typing import Any

from exomir.primary.longitudinal import primary_mmrm_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: primary_mmrm_step(
            h5ad=smk.input.h5ad,
            participants=smk.input.participants,
            disposition=next(iter(smk.input.disposition), None),
            table=smk.output.table,
            figure=smk.output.figure,
            settings=smk.params.settings,
            longitudinal=smk.params.longitudinal,
        ),
        logger="exomir.primary",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
