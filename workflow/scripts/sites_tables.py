"""Snakemake shim for rule ``sites_tables`` (see workflow/rules/sites.smk).

All logic is in :func:`exomir.sites.tables.site_tables_step`. The optional
sheets are given as lists holding zero or one path.
"""

from typing import Any

from exomir.rulelog import run_rule
from exomir.sites.tables import site_tables_step


def main(smk: Any) -> None:
    def first(files: Any) -> Any:
        return next(iter(files), None)

    run_rule(
        smk,
        lambda: site_tables_step(
            participants=smk.input.participants,
            samples=smk.input.samples,
            library_qc=smk.input.library_qc,
            clinical=first(smk.input.clinical_measurements),
            adverse_events=first(smk.input.adverse_events),
            disposition=first(smk.input.disposition),
            closed=smk.output.closed,
            opened=smk.output.opened,
            **smk.params.settings,
        ),
        logger="exomir.sites",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
