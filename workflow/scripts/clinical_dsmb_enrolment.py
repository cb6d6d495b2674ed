"""Snakemake shim for rule ``clinical_dsmb_enrolment`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.dsmb.enrolment_from_files`.
"""

from typing import Any

from exomir.clinical.dsmb import enrolment_from_files
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: enrolment_from_files(
            participants=smk.input.participants,
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.dsmb",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
