"""Snakemake shim for rule ``clinical_dsmb_deviations`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.dsmb.deviations_from_files`.
"""

from typing import Any

from exomir.clinical.dsmb import deviations_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: deviations_from_files(
            disposition=optional_input(smk.input.disposition),
            participants=smk.input.participants,
            samples=smk.input.samples,
            clinical_measurements=optional_input(smk.input.clinical_measurements),
            adverse_events=optional_input(smk.input.adverse_events),
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.dsmb",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
