"""Snakemake shim for rule ``clinical_dataset`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.stage.dataset_from_files`.
"""

from typing import Any

from exomir.clinical.stage import dataset_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: dataset_from_files(
            participants=smk.input.participants,
            clinical_measurements=smk.input.clinical_measurements,
            conversions=smk.input.conversions,
            disposition=optional_input(smk.input.disposition),
            dataset=smk.output.dataset,
            populations_out=smk.output.populations,
            flags=smk.output.flags,
            plausibility=smk.output.plausibility,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.stage",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
