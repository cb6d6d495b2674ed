"""Snakemake shim of rule ``protein_quant``: protein sheets and plates -> results/proteins/.

All logic is in :func:`exomir.proteins.run.run_protein_quant`; plate file paths
in the sheet are relative to the working directory (the scenario), and the rule
declares every map and export as an input.
"""

from typing import Any

from exomir.proteins.run import MULTIPLEX_OUTPUT_NAMES, OUTPUT_NAMES, run_protein_quant
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: run_protein_quant(
            samples_path=smk.input.samples,
            plates_path=smk.input.plates,
            outputs={
                key: smk.output[key] for key in (*OUTPUT_NAMES, *MULTIPLEX_OUTPUT_NAMES)
            },
            figures_dir=smk.output.figures,
            settings=smk.params.settings,
            panel=smk.params.panel,
            base=".",
            luminex=smk.params.luminex,
            npx_settings=smk.params.npx,
        ),
        logger="exomir.proteins",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
