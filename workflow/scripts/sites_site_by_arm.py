"""Snakemake shim for rules ``sites_*_site_by_arm`` (see workflow/rules/sites.smk).

All logic is in :func:`exomir.sites.stage.site_by_arm_step`.
"""

from typing import Any

from exomir.rulelog import run_rule
from exomir.sites.stage import site_by_arm_step


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: site_by_arm_step(
            kind=smk.params.kind,
            source=smk.input.source,
            participants=smk.input.participants,
            table=smk.output.table,
            plot=smk.output.plot,
            settings=smk.params.settings,
            model_settings=smk.params.model_settings,
        ),
        logger="exomir.sites",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
