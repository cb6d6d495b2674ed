"""One library from FASTQ.gz to counts in one process.

The workflow's per-library job (rule ``library``): preprocessing
(:func:`exomir.reads.preprocess.collapse_to_fasta`: validation, UMI
extraction, trimming, collapsing) and annotation
(:func:`exomir.reads.annotate.annotate_sample`: miRNAs, isomiRs,
contaminants) back to back, the collapsed inserts handed over in memory.
The outputs are the files of the two stages, byte for byte what
:func:`~exomir.reads.preprocess.preprocess_library` and
:func:`~exomir.reads.annotate.annotate_sample` +
:func:`~exomir.reads.annotate.write_annotation` write (tested), and nothing
is written unless both stages succeed: a bad FASTQ or a failed alignment
leaves no output of that library. One deliberate exception: a
``protocol: auto`` library whose kit cannot be determined
(:mod:`exomir.reads.kit`) is *stopped*: its files are written with
``failed_reason`` in the stats and no inserts or counts, so that the read QC
excludes it with its evidence and the rest of the run goes on.

Why one process: a second process and reading the collapsed file back cost
about 12 % of the library's time (``docs/performance.md``), and a workflow
schedules one job per library instead of two.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from exomir.atomic import atomic_path
from exomir.reads import kit
from exomir.reads.annotate import (
    AnnotationParams,
    AnnotationResult,
    annotate_sample,
    collapsed_from_fasta,
    write_annotation,
)
from exomir.reads.integrity import record_outputs
from exomir.reads.kit import AutoProtocol, protocol_from_spec
from exomir.reads.preprocess import (
    CollapseExtras,
    PreprocessStats,
    collapse_to_fasta,
    gzip_bytes,
    write_stats,
)
from exomir.reads.protocols import Protocol, TrimSettings
from exomir.reads.reference import Reference
from exomir.reads.settings import LibrarySettings, library_settings

log = logging.getLogger(__name__)

__all__ = [
    "LibraryOutputs",
    "LibraryResult",
    "LibrarySettings",
    "library_settings",
    "library_step",
    "process_library",
]


@dataclass(frozen=True)
class LibraryOutputs:
    """Output paths of one library (``docs/CONTRACTS.md``)."""

    collapsed: str | os.PathLike[str]
    stats: str | os.PathLike[str]
    mirna: str | os.PathLike[str]
    isomir: str | os.PathLike[str]
    annotation: str | os.PathLike[str]
    gff: str | os.PathLike[str]

    def sibling_files(self) -> dict[str, str | os.PathLike[str]]:
        """Role -> path of the files recorded in the annotation JSON."""
        return {
            "collapsed": self.collapsed,
            "stats": self.stats,
            "mirna": self.mirna,
            "isomir": self.isomir,
            "gff": self.gff,
        }


def library_step(
    *,
    fastq: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    outputs: LibraryOutputs,
    protocol: Mapping[str, Any],
    settings: LibrarySettings,
    threads: int,
    sample: str,
) -> LibraryResult:
    """Run rule ``library`` for one library: build its protocol, process it.

    ``protocol`` is the library's protocol as the workflow passes it (a
    preset's fields with the sample sheet's overrides, or ``{"name": "auto",
    "presets": ...}``; :func:`exomir.reads.kit.protocol_from_spec`).
    """
    proto = protocol_from_spec(dict(protocol), settings.kit_detection)
    log.info("protocol %s, settings %s", proto, settings.trim)
    result = process_library(
        fastq,
        reference,
        outputs,
        proto,
        settings.trim,
        settings.annotation,
        threads=threads,
        sample=sample,
    )
    stats = result.stats
    log.info(
        "%s: %d raw reads, %d passed, %d unique inserts, %d molecules",
        stats.sample,
        stats.raw_reads,
        stats.passed_reads,
        stats.unique_inserts,
        stats.molecules,
    )
    return result


@dataclass
class LibraryResult:
    """What :func:`process_library` did, with the time of each stage."""

    stats: PreprocessStats
    annotation: AnnotationResult
    preprocess_seconds: float
    annotate_seconds: float
    write_seconds: float


def process_library(
    fastq: str | os.PathLike[str],
    reference: str | os.PathLike[str] | Reference,
    outputs: LibraryOutputs,
    protocol: Protocol | AutoProtocol,
    settings: TrimSettings,
    params: AnnotationParams | None = None,
    threads: int = 2,
    sample: str | None = None,
    tmpdir: str | os.PathLike[str] | None = None,
) -> LibraryResult:
    """Preprocess and annotate one library; write all its outputs.

    Parameters
    ----------
    fastq
        Input FASTQ(.gz).
    reference
        Reference directory or loaded reference.
    outputs
        Where the six files go.
    protocol, settings
        Library protocol and trimming settings. An
        :class:`~exomir.reads.kit.AutoProtocol` (``protocol: auto``) detects
        the kit from the first reads (:func:`exomir.reads.kit.detect_kit`)
        and uses the preset it chooses; the evidence goes to the stats JSON
        (``kit_detection``). If no kit can be determined, the library is
        *stopped*, not the run: all six files are written, the stats with
        ``failed_reason`` (candidates and their shares), every read counted
        as ``no_adapter``, and empty inserts and counts, so the read QC fails
        the library with that reason and the statistics leave it out.
    params
        Annotation tolerances (defaults if ``None``).
    threads
        Cores for both stages.
    sample
        Sample name (default: the FASTQ file name without extensions).
    tmpdir
        Scratch directory for bowtie files.

    Returns
    -------
    LibraryResult
        Stats, annotation and stage times.

    Raises
    ------
    exomir.reads.fastq.FastqFormatError
        Malformed input (file, record number, problem); nothing is written.
    exomir.reads.preprocess.AdapterNotFoundError
        Adapter of a configured protocol in too few reads; nothing is written.
    """
    t0 = time.perf_counter()
    detection = None
    if isinstance(protocol, AutoProtocol):
        detection = kit.detect_kit_in_file(fastq, protocol.thresholds, protocol.presets)
        if detection.chosen is None:
            text, stats = kit.failed_library(
                fastq, detection, settings, threads, sample
            )
            extras = CollapseExtras(long_inserts=[], passed_reads=np.zeros(0, np.int64))
            log.warning("%s: library stopped: %s", stats.sample, stats.failed_reason)
        else:
            protocol = protocol.presets[detection.chosen]
            log.info("%s: kit detected: %s", fastq, detection.reason)
    if detection is None or detection.chosen is not None:
        assert not isinstance(protocol, AutoProtocol)  # the detected preset
        text, stats, extras = collapse_to_fasta(
            fastq, protocol, settings, threads, sample
        )
        if detection is not None:  # protocol: auto; keep the evidence that chose it
            detection.suggestion = ""
            stats.kit_detection = detection.to_dict()
    t1 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        # gzip the collapsed text (ISA-L, no GIL) while the annotation runs
        packed = pool.submit(gzip_bytes, text)
        reads = collapsed_from_fasta(text, check_duplicates=False)
        result = annotate_sample(
            reads,
            reference,
            stats.sample,
            params,
            threads=threads,
            tmpdir=tmpdir,
            long_inserts=extras.long_inserts,
            read_counts=extras.passed_reads,
        )
        collapsed_gz = packed.result()
    t2 = time.perf_counter()
    # every output only now that both stages have succeeded
    _write_bytes(collapsed_gz, outputs.collapsed)
    write_stats(stats, outputs.stats)
    write_annotation(
        result, outputs.mirna, outputs.isomir, outputs.annotation, outputs.gff
    )
    # size and checksum of every sibling file, checked by each reader
    record_outputs(outputs.annotation, outputs.sibling_files())
    t3 = time.perf_counter()
    log.info(
        "%s: preprocessed in %.2f s, annotated in %.2f s, written in %.2f s",
        stats.sample,
        t1 - t0,
        t2 - t1,
        t3 - t2,
    )
    return LibraryResult(stats, result, t1 - t0, t2 - t1, t3 - t2)


def _write_bytes(data: bytes, path: str | os.PathLike[str]) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
