"""Snakemake shim for rule ``clinical_adverse_events`` (see workflow/rules/safety.smk).

All logic is in :func:`exomir.clinical.adverse_events.adverse_events_from_files`.
"""

from typing import Any

from exomir.clinical.adverse_events import adverse_events_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: adverse_events_from_files(
            adverse_events=optional_input(smk.input.adverse_events),
            participants=smk.input.participants,
            disposition=optional_input(smk.input.disposition),
            table=smk.output.table,
            triggers=smk.output.triggers,
            settings=smk.params.settings,
        ),
        logger="exomir.clinical.adverse_events",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
