"""Snakemake shim for rule ``pathways_interactions`` (workflow/rules/pathways.smk).

All logic is in :func:`exomir.pathways.run.interactions_step`.
"""

from typing import Any

from exomir.pathways.run import interactions_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: interactions_step(
            sources=list(smk.input.sources),
            mature=smk.input.mature,
            interactions=smk.output.interactions,
            mapping=smk.output.mapping,
            settings=smk.params.settings,
        ),
        logger="exomir.pathways",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
