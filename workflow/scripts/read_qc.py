"""Snakemake shim of rule ``read_qc``: read funnel, length tables and verdicts.

Calls :func:`exomir.reads.qc.read_qc_step`; the rule is in workflow/rules/qc.smk.
"""

from exomir.reads.qc import read_qc_step
from exomir.rulelog import run_rule


def main(smk):
    run_rule(
        smk,
        lambda: read_qc_step(
            preprocess=list(smk.input.preprocess),
            annotation=list(smk.input.annotation),
            collapsed=list(smk.input.collapsed),
            counts=smk.input.counts,
            samples_sheet=smk.input.samples,
            funnel=smk.output.funnel,
            funnel_pct=smk.output.funnel_pct,
            library_qc=smk.output.library_qc,
            passed=smk.output.passed,
            lengths=smk.output.lengths,
            mirtrace=smk.output.mirtrace,
            settings=smk.params.settings,
        ),
        logger="exomir.reads.qc",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
