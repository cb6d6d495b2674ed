"""Snakemake shim for rule ``de`` (workflow/rules/de.smk): fit one contrast.

All logic is in :func:`exomir.de.stage.contrast_step`.
"""

from typing import Any

from exomir.de.stage import contrast_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: contrast_step(
            contrast=smk.wildcards.contrast,
            counts=smk.input.counts,
            qc=smk.input.qc,
            samples=smk.input.samples,
            participants=smk.input.participants,
            table=smk.output.table,
            contrast_samples=smk.output.samples,
            volcano=smk.output.volcano,
            ma=smk.output.ma,
            settings=smk.params.settings,
            threads=int(smk.threads),
        ),
        logger="exomir.de",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
