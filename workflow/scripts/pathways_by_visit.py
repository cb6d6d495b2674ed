"""Snakemake shim for rule ``pathways_by_visit`` (workflow/rules/pathways.smk).

All logic is in :func:`exomir.pathways.visits.by_visit_step`.
"""

from typing import Any

from exomir.pathways.visits import by_visit_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: by_visit_step(
            scores=smk.input.scores,
            participants=smk.input.participants,
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.pathways",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
