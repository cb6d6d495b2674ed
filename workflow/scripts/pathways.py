"""Snakemake shim for rule ``pathways`` (workflow/rules/pathways.smk).

All logic is in :func:`exomir.pathways.run.pathways_step`.
"""

from typing import Any

from exomir.pathways.run import pathways_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    settings = smk.params.settings
    run_rule(
        smk,
        lambda: pathways_step(
            h5ad=smk.input.h5ad,
            interactions=smk.input.interactions,
            gmts=list(smk.input.gmts),
            roles=next(iter(smk.input.roles), None),
            de_tables=dict(zip(settings.contrasts, smk.input.de, strict=True)),
            network=smk.output.network,
            scores=smk.output.scores,
            tests=smk.output.tests,
            plot=smk.output.plot,
            summary=smk.output.summary,
            settings=settings,
        ),
        logger="exomir.pathways",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
