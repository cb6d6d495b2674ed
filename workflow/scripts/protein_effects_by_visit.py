"""Snakemake shim for rule ``protein_effects_by_visit`` (workflow/rules/integration.smk).

All logic is in :func:`exomir.proteins.analysis.effects_by_visit_from_files`.
"""

from typing import Any

from exomir.proteins.analysis import effects_by_visit_from_files
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: effects_by_visit_from_files(
            concentrations=smk.input.concentrations,
            populations=smk.input.populations,
            participants=smk.input.participants,
            by_visit=smk.output.by_visit,
            settings=smk.params.settings,
        ),
        logger="exomir.proteins.analysis",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
