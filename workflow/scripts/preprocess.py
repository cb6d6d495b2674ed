"""Snakemake shim: one library FASTQ.gz -> collapsed FASTA.gz + stats JSON.

Expects (``script:`` directive)::

    input:   fastq=...                      # FASTQ(.gz)
    output:  collapsed=".../{sample}.fa.gz", stats=".../{sample}.json"
    params:  protocol={...}, trim={...}     # see below
             sample="S01"                   # optional; default wildcards.sample,
                                            # then the FASTQ file name stem
    log:     ".../{sample}.log"
    threads: 2                              # 2 = two scanning threads (plus decompression)

``params.protocol``: ``{"preset": "qiaseq"}`` (plus optional overrides) or
explicit ``adapter_3p``, ``clip_5p``, ``clip_3p``, ``umi`` ("none" or
"qiaseq12"), optional ``name`` and ``description``. A ``name`` that is a preset
without ``adapter_3p`` selects that preset.

``params.trim``: any of ``min_length``, ``max_length``, ``min_adapter_overlap``,
``max_error_rate``, ``quality_cutoff``, ``min_adapter_fraction``.

All logic lives in :mod:`exomir.reads.preprocess`.
"""

import logging
from typing import Any

from exomir.reads.preprocess import preprocess_library
from exomir.reads.protocols import Protocol, TrimSettings
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    logger = logging.getLogger("exomir.preprocess")
    try:
        protocol = Protocol.from_dict(dict(smk.params.protocol))
        settings = TrimSettings.from_dict(dict(getattr(smk.params, "trim", {}) or {}))
        sample = getattr(smk.params, "sample", None) or getattr(
            smk.wildcards, "sample", None
        )
        logger.info("protocol %s, settings %s", protocol, settings)
        stats = preprocess_library(
            smk.input.fastq,
            smk.output.collapsed,
            smk.output.stats,
            protocol,
            settings,
            threads=int(smk.threads),
            sample=sample,
        )
        logger.info(
            "%s: %d raw reads, %d passed, %d unique inserts, %d molecules",
            stats.sample,
            stats.raw_reads,
            stats.passed_reads,
            stats.unique_inserts,
            stats.molecules,
        )
    except Exception:
        logger.exception("preprocessing failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # type: ignore[name-defined]  # noqa: F821
