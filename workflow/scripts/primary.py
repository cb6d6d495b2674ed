"""Snakemake shim for rule ``primary`` (see workflow/rules/primary.smk).

All logic is in :func:`exomir.primary.primary_step`. The optional sheets are
given as lists holding zero or one path.
"""

from typing import Any

from exomir.primary import primary_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: primary_step(
            h5ad=smk.input.h5ad,
            participants=smk.input.participants,
            clinical=next(iter(smk.input.clinical), None),
            disposition=next(iter(smk.input.disposition), None),
            results=smk.output.results,
            data=smk.output.data,
            tipping=smk.output.tipping,
            settings=smk.params.settings,
        ),
        logger="exomir.primary",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
