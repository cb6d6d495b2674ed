"""Snakemake shim for rule ``time_to_event`` (see workflow/rules/events.smk).

All logic is in :func:`exomir.survival.stage.time_to_event_step`. The clinical
measurements sheet (last-contact fallback) is a list of zero or one path.
"""

from typing import Any

from exomir.rulelog import optional_input, run_rule
from exomir.survival.stage import time_to_event_step


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: time_to_event_step(
            participants=smk.input.participants,
            events=smk.input.events,
            clinical=optional_input(smk.input.clinical),
            outputs={
                k: getattr(smk.output, k)
                for k in ("summary", "km", "at_risk", "cox", "pooled")
            },
            figures=list(smk.output.figures),
            settings=smk.params.settings,
        ),
        logger="exomir.survival",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
