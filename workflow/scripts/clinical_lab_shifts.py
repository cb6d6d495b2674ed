"""Snakemake shim for rule ``clinical_lab_shifts`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.lab_shifts.lab_shifts_from_files`.
"""

from typing import Any

from exomir.clinical.lab_shifts import lab_shifts_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: lab_shifts_from_files(
            clinical_measurements=optional_input(smk.input.clinical_measurements),
            participants=smk.input.participants,
            disposition=optional_input(smk.input.disposition),
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.lab_shifts",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
