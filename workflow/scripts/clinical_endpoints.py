"""Snakemake shim for rule ``clinical_endpoints`` (see workflow/rules/clinical.smk).

All logic is in :func:`exomir.clinical.stage.endpoints_from_files`.
"""

from typing import Any

from exomir.clinical.stage import endpoints_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: endpoints_from_files(
            participants=smk.input.participants,
            clinical_measurements=smk.input.clinical_measurements,
            conversions=smk.input.conversions,
            disposition=optional_input(smk.input.disposition),
            dataset=smk.input.dataset,
            endpoints=smk.output.endpoints,
            forest=smk.output.forest,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.stage",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
