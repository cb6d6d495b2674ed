"""Snakemake shim for rule ``clinical_dsmb_ae_listing`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.dsmb.ae_listing_from_files`.
"""

from typing import Any

from exomir.clinical.dsmb import ae_listing_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: ae_listing_from_files(
            adverse_events=optional_input(smk.input.adverse_events),
            participants=smk.input.participants,
            disposition=optional_input(smk.input.disposition),
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.dsmb",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
