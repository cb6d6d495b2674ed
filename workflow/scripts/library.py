"""Snakemake shim of rule ``library``: one FASTQ.gz -> collapsed inserts, stats, counts.

Inputs ``fastq``, ``reference``; outputs ``collapsed``, ``stats``, ``mirna``,
``isomir``, ``json``, ``gff``; params ``protocol`` (this library's) and
``settings`` (:class:`exomir.reads.library.LibrarySettings`). All logic lives in
:func:`exomir.reads.library.library_step`.
"""

import os
from typing import Any

# The job uses no BLAS: one OpenBLAS thread instead of one per core, which
# numpy would start (and allocate buffers for) when it is first imported, just
# below (the pickled settings do not import it: exomir.reads.settings).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
