"""Snakemake shim of rule ``merge_counts``: cohort miRNA / isomiR count tables.

Calls :func:`exomir.reads.merge.merge_counts_step`; the rule is in
workflow/rules/counts.smk.
"""

from exomir.reads.merge import merge_counts_step
from exomir.rulelog import run_rule


def main(smk):
    run_rule(
        smk,
        lambda: merge_counts_step(
            mirna=list(smk.input.mirna),
            isomir=list(smk.input.isomir),
            annotation=list(smk.input.annotation),
            samples_sheet=smk.input.samples,
            participants=list(smk.input.participants),
            ev=list(smk.input.ev),
            mirna_out=smk.output.mirna,
            isomir_out=smk.output.isomir,
            h5ad_out=smk.output.h5ad,
            samples=smk.params.samples,
        ),
        logger="exomir.reads.merge",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
