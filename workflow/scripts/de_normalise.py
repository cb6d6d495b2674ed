"""Snakemake shim for rule ``de_normalise`` (workflow/rules/de.smk).

Writes the DE AnnData, the miRNA filter, library and PCA tables from the
counts AnnData's layers. All logic is in :func:`exomir.de.stage.normalise_step`.
"""

from typing import Any

from exomir.de.stage import normalise_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: normalise_step(
            counts=smk.input.counts,
            counts_h5ad=smk.input.counts_h5ad,
            qc=smk.input.qc,
            samples=smk.input.samples,
            participants=smk.input.participants,
            h5ad=smk.output.h5ad,
            mirnas=smk.output.mirnas,
            libraries=smk.output.libraries,
            pca=smk.output.pca,
            pca_plot=smk.output.pca_plot,
            settings=smk.params.settings,
        ),
        logger="exomir.de",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
