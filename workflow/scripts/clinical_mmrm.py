"""Snakemake shim for rule ``clinical_mmrm`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.longitudinal.mmrm_from_files`.
"""

from typing import Any

from exomir.clinical.longitudinal import mmrm_from_files
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: mmrm_from_files(
            participants=smk.input.participants,
            clinical_measurements=smk.input.clinical_measurements,
            conversions=smk.input.conversions,
            populations=smk.input.populations,
            table=smk.output.table,
            figure=smk.output.figure,
            settings=smk.params.settings,
            longitudinal=smk.params.longitudinal,
        ),
        logger="exomir.clinical.longitudinal",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
