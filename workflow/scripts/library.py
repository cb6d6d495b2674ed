"""Snakemake shim of rule ``library``: one FASTQ.gz -> collapsed inserts, stats, counts.

Inputs ``fastq``, ``reference``; outputs ``collapsed``, ``stats``, ``mirna``,
``isomir``, ``json``, ``gff``; params ``protocol`` (this library's) and
``settings`` (:class:`exomir.reads.library.LibrarySettings`). All logic lives in
:func:`exomir.reads.library.library_step`.
"""

from typing import Any

from exomir.reads.library import LibraryOutputs, library_step
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    out = smk.output
    outputs = LibraryOutputs(
        out.collapsed, out.stats, out.mirna, out.isomir, out.json, out.gff
    )
    run_rule(
        smk,
        lambda: library_step(
            fastq=smk.input.fastq,
            reference=smk.input.reference,
            outputs=outputs,
            protocol=smk.params.protocol,
            settings=smk.params.settings,
            threads=int(smk.threads),
            sample=smk.wildcards.sample,
        ),
        logger="exomir.library",
    )


if "snakemake" in globals():
    main(snakemake)  # type: ignore[name-defined]  # noqa: F821
