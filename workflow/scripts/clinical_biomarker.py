"""Snakemake shim for rule ``clinical_biomarker`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.stage.biomarker_from_files`.
"""

from typing import Any

from exomir.clinical.stage import biomarker_from_files
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: biomarker_from_files(
            participants=smk.input.participants,
            dataset=smk.input.dataset,
            h5ad=smk.input.h5ad,
            association=smk.output.association,
            baseline=smk.output.baseline,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.stage",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
