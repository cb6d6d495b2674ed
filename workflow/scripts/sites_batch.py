"""Snakemake shim for rule ``sites_batch`` (see workflow/rules/sites.smk).

All logic is in :func:`exomir.sites.stage.batch_site_step`.
"""

from typing import Any

from exomir.rulelog import run_rule
from exomir.sites.stage import batch_site_step


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: batch_site_step(
            samples=smk.input.samples,
            participants=smk.input.participants,
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.sites",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
