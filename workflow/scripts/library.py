"""Snakemake shim: one library FASTQ.gz -> collapsed inserts, stats and counts.

Expects (``script:`` directive)::

    input:   fastq=...,                          # FASTQ(.gz)
             reference="results/reference/reference.json"
    output:  collapsed=".../{sample}.fa.gz", stats=".../{sample}.json",
             mirna=".../{sample}.mirna.tsv", isomir=".../{sample}.isomir.tsv",
             json=".../{sample}.json", gff=".../{sample}.gff"
    params:  protocol={...}, trim={...}, annotation={...}
             sample="S01"                        # optional; default wildcards.sample
             tmpdir=None                         # optional scratch directory
    log:     ".../{sample}.log"
    threads: 2

``params.protocol``: ``{"preset": "qiaseq"}`` (plus optional overrides) or
explicit ``adapter_3p``, ``clip_5p``, ``clip_3p``, ``umi`` ("none" or
"qiaseq12"), optional ``name`` and ``description``; or ``{"name": "auto",
"presets": {...}}`` to detect the kit from the reads (``params.kit``: the
config ``kit_detection`` settings; see :mod:`exomir.reads.kit`). ``params.trim``: any of
``min_length``, ``max_length``, ``min_adapter_overlap``, ``max_error_rate``,
``quality_cutoff``, ``min_adapter_fraction``, ``umi_dedup``.
``params.annotation``: :class:`exomir.reads.annotate.AnnotationParams` overrides.

All logic lives in :mod:`exomir.reads.library`.
"""

import logging
from typing import Any

from exomir.reads.annotate import AnnotationParams
from exomir.reads.kit import protocol_from_spec
from exomir.reads.library import LibraryOutputs, process_library
from exomir.reads.protocols import TrimSettings
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    logger = logging.getLogger("exomir.library")
    params = dict(smk.params.items())
    try:
        protocol = protocol_from_spec(dict(params["protocol"]), params.get("kit"))
        settings = TrimSettings.from_dict(dict(params.get("trim") or {}))
        overrides = dict(params.get("annotation") or {})
        sample = params.get("sample") or getattr(smk.wildcards, "sample", None)
        logger.info("protocol %s, settings %s", protocol, settings)
        out = smk.output
        result = process_library(
            smk.input.fastq,
            smk.input.reference,
            LibraryOutputs(
                out.collapsed, out.stats, out.mirna, out.isomir, out.json, out.gff
            ),
            protocol,
            settings,
            AnnotationParams(**overrides),
            threads=int(smk.threads),
            sample=sample,
            tmpdir=params.get("tmpdir"),
        )
        stats = result.stats
        logger.info(
            "%s: %d raw reads, %d passed, %d unique inserts, %d molecules",
            stats.sample,
            stats.raw_reads,
            stats.passed_reads,
            stats.unique_inserts,
            stats.molecules,
        )
    except Exception:
        logger.exception("library failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # type: ignore[name-defined]  # noqa: F821
