"""Snakemake shim: merge per-library miRNA / isomiR counts into cohort tables.

Calls :func:`exomir.reads.merge.merge_counts`. Rule interface::

    input:
        mirna=expand("results/annotate/{sample}.mirna.tsv", sample=SAMPLES),
        isomir=expand("results/annotate/{sample}.isomir.tsv", sample=SAMPLES),
        annotation=expand("results/annotate/{sample}.json", sample=SAMPLES),
        samples=config["sheets"]["samples"],
        participants=config["sheets"]["participants"],
    output:
        mirna="results/counts/mirna_counts.tsv",
        isomir="results/counts/isomir_counts.tsv",
        h5ad="results/counts/mirna_raw.h5ad",  # layers: rule normalise_counts
    log:
        "logs/merge_counts/merge_counts.log",
    params:
        samples=SAMPLES,  # sample ids, same order as the input lists

Columns follow the sample sheet order whatever the order of ``SAMPLES``.
"""

from typing import Any

import pandas as pd

from exomir.ev.lots import add_lots_to_anndata
from exomir.reads.integrity import verify_samples
from exomir.reads.merge import merge_counts
from exomir.rulelog import setup_rule_logging
from exomir.tables import read_table


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    samples = [str(s) for s in smk.params.samples]
    mirna = dict(zip(samples, smk.input.mirna, strict=True))
    isomir = dict(zip(samples, smk.input.isomir, strict=True))
    manifests = list(getattr(smk.input, "annotation", []) or [])
    if manifests:  # sizes and checksums recorded by the library job
        verify_samples(
            dict(zip(samples, manifests, strict=True)),
            {"mirna": mirna, "isomir": isomir},
        )
    extend = None
    parts = getattr(smk.input, "participants", []) or []
    parts = [parts] if isinstance(parts, str) else list(parts)
    ev = list(getattr(smk.input, "ev", []) or [])
    if ev:  # [lot_summary.tsv, dose_per_participant.tsv] when EV sheets exist
        lots = pd.read_csv(ev[0], sep="\t")
        dose = pd.read_csv(ev[1], sep="\t")

        def extend(adata: Any) -> None:
            add_lots_to_anndata(adata, lots, dose)

    merge_counts(
        mirna,
        isomir,
        read_table(smk.input.samples, "samples"),
        # None for a QC-only study (no participants sheet)
        read_table(parts[0], "participants") if parts else None,
        smk.output.mirna,
        smk.output.isomir,
        smk.output.h5ad,
        extend=extend,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
