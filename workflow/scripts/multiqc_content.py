"""Snakemake shim of rule ``multiqc``: MultiQC custom content, then MultiQC.

Calls :func:`exomir.reads.multiqc.multiqc_step`; the rule is in
workflow/rules/qc.smk.
"""

from exomir.reads.multiqc import multiqc_step
from exomir.rulelog import run_rule


def main(smk):
    run_rule(
        smk,
        lambda: multiqc_step(
            funnel=smk.input.funnel,
            lengths=smk.input.lengths,
            library_qc=smk.input.library_qc,
            content=smk.output.content,
            html=smk.output.html,
            data=smk.output.data,
            settings=smk.params.settings,
        ),
        logger="exomir.reads.multiqc",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
