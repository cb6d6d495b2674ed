"""Snakemake shim for rule ``integrate`` (see workflow/rules/integration.smk).

All logic is in :func:`exomir.proteins.integration.integrate_from_files`.
"""

from typing import Any

from exomir.proteins.integration import integrate_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: integrate_from_files(
            concentrations=smk.input.concentrations,
            populations=smk.input.populations,
            mirna=smk.input.mirna,
            dataset=smk.input.dataset,
            pathway_scores=optional_input(smk.input.pathways),
            h5mu=smk.output.h5mu,
            summary=smk.output.summary,
            association=smk.output.association,
            factors=smk.output.factors,
            factor_values=smk.output.factor_values,
            loadings=smk.output.loadings,
            variance=smk.output.variance,
            loadings_png=smk.output.loadings_png,
            settings=smk.params.settings,
        ),
        logger="exomir.proteins.integration",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
