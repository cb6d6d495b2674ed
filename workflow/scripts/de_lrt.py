"""Snakemake shim for rule ``de_lrt`` (workflow/rules/de.smk): LRT across visits.

All logic is in :func:`exomir.de.lrt.lrt_step`.
"""

from typing import Any

from exomir.de.lrt import lrt_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: lrt_step(
            counts=smk.input.counts,
            qc=smk.input.qc,
            samples=smk.input.samples,
            participants=smk.input.participants,
            table=smk.output.table,
            lrt_samples=smk.output.samples,
            settings=smk.params.settings,
            threads=int(smk.threads),
        ),
        logger="exomir.de",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
