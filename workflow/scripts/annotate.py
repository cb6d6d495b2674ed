"""Snakemake shim: annotate one library (miRNA/isomiR, contaminants, counts).

Expected rule::

    rule annotate:
        input:
            collapsed="results/collapsed/{sample}.fa.gz",
            reference="results/reference",   # directory from build_reference
        output:
            mirna="results/annotate/{sample}.mirna.tsv",
            isomir="results/annotate/{sample}.isomir.tsv",
            json="results/annotate/{sample}.json",
            gff="results/isomirs/{sample}.gff",
        params:
            annotation={},   # optional AnnotationParams overrides, e.g. {"max_nta": 2}
            tmpdir=None,     # optional scratch directory (default: system temp)
        threads: 2
        log: "logs/annotate/{sample}.log"
        script: "../scripts/annotate.py"

All logic is in :mod:`exomir.reads.annotate`.
"""

import logging
from typing import Any

from exomir.reads.annotate import AnnotationParams, annotate_sample, write_annotation
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    params = dict(smk.params.items())
    overrides = dict(params.get("annotation") or {})
    try:
        result = annotate_sample(
            collapsed=smk.input.collapsed,
            reference=smk.input.reference,
            sample=str(smk.wildcards.sample),
            params=AnnotationParams(**overrides),
            threads=smk.threads,
            tmpdir=params.get("tmpdir"),
        )
        write_annotation(
            result,
            mirna_tsv=smk.output.mirna,
            isomir_tsv=smk.output.isomir,
            json_path=smk.output.json,
            gff_path=smk.output.gff,
        )
    except Exception:
        logging.getLogger(__name__).exception("annotation failed")
        raise


if "snakemake" in globals():
    main(globals()["snakemake"])
