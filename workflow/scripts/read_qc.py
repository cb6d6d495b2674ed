"""Snakemake shim: cohort read funnel, length distributions and QC verdicts.

Calls :func:`exomir.reads.qc.run_read_qc`. Rule interface::

    input:
        preprocess=expand("results/preprocess/{sample}.json", sample=SAMPLES),
        annotation=expand("results/annotate/{sample}.json", sample=SAMPLES),
        collapsed=expand("results/collapsed/{sample}.fa.gz", sample=SAMPLES),
        counts="results/counts/mirna_counts.tsv",
        samples=config["sheets"]["samples"],
    output:
        funnel="results/qc/read_funnel.tsv",
        funnel_pct="results/qc/read_funnel_pct.tsv",
        library_qc="results/qc/library_qc.tsv",
        passed="results/qc/passed_samples.txt",
        lengths="results/qc/length_distribution.tsv",
        mirtrace="results/qc/mirtrace_view.tsv",  # optional
    log:
        "logs/read_qc/read_qc.log",
    params:
        samples=SAMPLES,  # same order as the input lists
        qc=config["qc"],
        contaminants=list(config["contaminants"]),
        species=config["reference"]["species"],

``collapsed`` is optional (it adds the top-10 insert share).
"""

from typing import Any

from exomir.reads.integrity import verify_samples
from exomir.reads.qc import run_read_qc
from exomir.rulelog import setup_rule_logging
from exomir.tables import read_table


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    samples = [str(s) for s in smk.params.samples]
    collapsed = list(getattr(smk.input, "collapsed", []) or [])
    species = str(getattr(smk.params, "species", "hsa") or "hsa")
    files = {"stats": dict(zip(samples, smk.input.preprocess, strict=True))}
    if collapsed:
        files["collapsed"] = dict(zip(samples, collapsed, strict=True))
    # sizes and checksums recorded by the library job, before anything is read
    verify_samples(dict(zip(samples, smk.input.annotation, strict=True)), files)
    run_read_qc(
        dict(zip(samples, smk.input.preprocess, strict=True)),
        dict(zip(samples, smk.input.annotation, strict=True)),
        smk.input.counts,
        read_table(smk.input.samples, "samples"),
        gates=dict(smk.params.qc or {}),
        contaminants=list(smk.params.contaminants),
        funnel_out=smk.output.funnel,
        funnel_pct_out=smk.output.funnel_pct,
        library_qc_out=smk.output.library_qc,
        passed_out=smk.output.passed,
        lengths_out=smk.output.lengths,
        collapsed_files=dict(zip(samples, collapsed, strict=True))
        if collapsed
        else None,
        hemolysis_pair=(f"{species}-miR-451a", f"{species}-miR-23a-3p"),
        mirtrace_out=getattr(smk.output, "mirtrace", None),
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
