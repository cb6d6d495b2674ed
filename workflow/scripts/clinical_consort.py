"""Snakemake shim for rule ``clinical_consort`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.consort.consort_from_files`.
"""

from typing import Any

from exomir.clinical.consort import consort_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: consort_from_files(
            disposition=optional_input(smk.input.disposition),
            participants=smk.input.participants,
            samples=smk.input.samples,
            library_qc=smk.input.qc,
            table=smk.output.table,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.consort",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
