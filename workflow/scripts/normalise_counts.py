"""Snakemake shim for rule ``normalise_counts`` (workflow/rules/counts.smk).

Adds the normalised layers to the merged count AnnData. All logic is in
:func:`exomir.de.stage.normalise_counts_step`.
"""

from typing import Any

from exomir.de.stage import normalise_counts_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: normalise_counts_step(
            raw_h5ad=smk.input.h5ad,
            qc=smk.input.qc,
            samples=smk.input.samples,
            participants=smk.input.participants,
            h5ad=smk.output.h5ad,
            settings=smk.params.settings,
        ),
        logger="exomir.de",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
