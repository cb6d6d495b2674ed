"""Snakemake shim for rule ``clinical_interim`` (see workflow/rules/interim.smk).

All logic is in :func:`exomir.clinical.interim.interim_step`. The optional
sheets are given as lists holding zero or one path.
"""

from typing import Any

from exomir.clinical.interim import interim_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: interim_step(
            ancova=smk.input.ancova,
            values=smk.input.values,
            qc=smk.input.qc,
            disposition=next(iter(smk.input.disposition), None),
            adverse_events=next(iter(smk.input.adverse_events), None),
            table=smk.output.table,
            plot=smk.output.plot,
            pooled=smk.output.pooled,
            settings=smk.params.settings,
            samples=next(iter(smk.input.samples), None),
            looks=getattr(smk.output, "looks", None),
            primary=smk.params.primary,
            data_cut=smk.params.data_cut,
        ),
        logger="exomir.clinical.interim",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
