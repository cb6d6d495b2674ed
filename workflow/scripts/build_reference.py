"""Snakemake shim of rule ``build_reference``: the small-RNA reference directory.

Calls :func:`exomir.reads.reference.build_reference_step`; the rule is in
workflow/rules/reference.smk.
"""

from exomir.reads.reference import build_reference_step
from exomir.rulelog import run_rule


def main(smk):
    run_rule(
        smk,
        lambda: build_reference_step(
            mature=smk.input.mature,
            hairpin=smk.input.hairpin,
            contaminants=list(smk.input.contaminants),
            manifest=smk.output.manifest,
            threads=smk.threads,
            settings=smk.params.settings,
        ),
        logger="exomir.reads.reference",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
