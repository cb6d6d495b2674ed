"""Per-library preprocessing: FASTQ.gz -> collapsed unique inserts + stats.

Design and details: docs/reads.md ("Preprocessing design").
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from isal import igzip

from exomir.atomic import atomic_open, atomic_path
from exomir.reads import fastscan, kit
from exomir.reads.classifier import CATEGORIES, ReadClassifier
from exomir.reads.fastq import FastqScan, scan_fastq
from exomir.reads.fastscan import FastCollapse
from exomir.reads.protocols import (
    AdapterDetection,
    Protocol,
    TrimSettings,
    detect_adapter,
)
from exomir.reads.readsample import ReadSample
from exomir.reads.settings import TOP_INSERTS

__all__ = [
    "CATEGORIES",
    "PROBE_LENGTH",
    "AdapterNotFoundError",
    "CollapseExtras",
    "PreprocessStats",
    "adapter_probe",
    "collapse_library",
    "preprocess_library",
    "sample_name",
    "write_collapsed",
]

log = logging.getLogger(__name__)

#: Adapter bases that must match exactly for the fast path (see module doc).
PROBE_LENGTH = 12

#: Cut reads at the probe before counting only if that saves at least this
#: many distinct keys per read in the first reads (a speed choice only: the
#: results are the same either way).
CUT_MIN_GAIN = 0.15

#: Use the compiled scan (:mod:`exomir.reads.fastscan`) where it applies;
#: False forces the dnaio path (same results, slower; for tests).
FAST_SCAN = True


class AdapterNotFoundError(ValueError):
    """The configured 3' adapter is missing from too many reads.

    Parameters
    ----------
    message
        Full message (names the file and suggests a preset).
    path
        The FASTQ file.
    fraction
        Fraction of reads with the adapter.
    detection
        What the reads appear to contain.

    Attributes
    ----------
    path : str
        The FASTQ file.
    fraction : float
        Fraction of reads with the adapter.
    detection : AdapterDetection
        What the reads appear to contain.
    """

    def __init__(
        self, message: str, path: str, fraction: float, detection: AdapterDetection
    ):
        super().__init__(message)
        self.path = path
        self.fraction = fraction
        self.detection = detection

    def __reduce__(self):
        """Return the constructor arguments for pickling."""
        return (type(self), (self.args[0], self.path, self.fraction, self.detection))


@dataclass
class PreprocessStats:
    """Read accounting of one library (written as the stats JSON).

    Attributes
    ----------
    sample : str
        Sample name used in the FASTA record names.
    fastq : str
        Input file.
    protocol : str
        Protocol name.
    adapter : str
        3' adapter trimmed.
    protocol_settings : dict
        All protocol fields.
    trim_settings : dict
        All trimming settings.
    raw_reads : int
        Reads in the file.
    adapter_found : int
        Reads with the adapter (all categories but ``no_adapter``).
    adapter_fraction : float
        ``adapter_found / raw_reads``.
    adapter_dimer, too_short, too_long, no_adapter, no_umi : int
        Reads per discard category (see the module docstring).
    passed_reads : int
        Reads whose insert passed all filters.
    umi_duplicates : int
        Passed reads that repeat an (insert, UMI) pair already seen; 0 without
        UMIs.
    molecules : int
        Sum of the counts in the collapsed FASTA (= passed_reads without UMIs).
    unique_inserts : int
        Records in the collapsed FASTA.
    unique_raw_sequences : int
        Per-unique work items: distinct (quality-trimmed) reads summed over
        batches (dnaio path), or distinct passed inserts (with UMIs: distinct
        (insert, UMI) pairs) plus distinct reads without the exact probe
        (compiled scan). The only field that differs between the paths.
    max_read_length : int
        Longest read.
    no_adapter_short : int
        Reads without the adapter shorter than ``min_length`` after clips
        and quality trimming (part of ``no_adapter``; not annotated).
    long_reads : int
        Reads of the long inserts (see the module docstring): the other
        ``no_adapter`` reads plus ``too_long``; annotated, never counted.
    long_unique_inserts : int
        Distinct long inserts.
    top_inserts_total : int or None
        Sum of the counts of the :data:`~exomir.reads.settings.TOP_INSERTS` most abundant records of
        the collapsed FASTA (its first records), so that the QC's
        ``top10_fraction`` needs no second pass over the FASTA; None when
        not recorded (libraries preprocessed by older versions).
    length_hist : dict
        Category -> list of read counts by insert length 0..max_read_length
        (reads, also for UMI protocols).
    detection : dict
        :class:`~exomir.reads.protocols.AdapterDetection` of the first reads.
    detected_adapter : str or None
        Best known adapter in those reads (label), if any.
    suggestion : str
        Another protocol the reads fit, when the evidence is clear
        (:func:`exomir.reads.kit.suggest_protocol`); empty otherwise.
    quality_range : list of str
        Lowest and highest quality character in the checked reads.
    kit_detection : dict
        :class:`~exomir.reads.kit.KitDetection` of the first reads: shares
        per candidate adapter, miRNA 5' offsets, chosen kit and reason
        (``protocol: auto``: the detection that chose the protocol).
    failed_reason : str
        Non-empty if the library was stopped (``protocol: auto`` and the kit
        could not be determined); nothing was trimmed or counted then.
    """

    sample: str
    fastq: str
    protocol: str
    adapter: str
    protocol_settings: dict[str, Any]
    trim_settings: dict[str, Any]
    raw_reads: int = 0
    adapter_found: int = 0
    adapter_fraction: float = 0.0
    adapter_dimer: int = 0
    too_short: int = 0
    too_long: int = 0
    no_adapter: int = 0
    no_umi: int = 0
    passed_reads: int = 0
    umi_duplicates: int = 0
    molecules: int = 0
    unique_inserts: int = 0
    unique_raw_sequences: int = 0
    max_read_length: int = 0
    no_adapter_short: int = 0
    long_reads: int = 0
    long_unique_inserts: int = 0
    top_inserts_total: int | None = None
    length_hist: dict[str, list[int]] = field(default_factory=dict)
    detection: dict[str, Any] = field(default_factory=dict)
    detected_adapter: str | None = None
    suggestion: str = ""
    quality_range: list[str] = field(default_factory=list)
    kit_detection: dict[str, Any] = field(default_factory=dict)
    failed_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the stats as a JSON-ready dict."""
        return asdict(self)


@dataclass
class CollapseExtras:
    """What preprocessing keeps besides the collapsed inserts.

    Attributes
    ----------
    long_inserts : list of (str, int)
        Long inserts with their reads (reads without the adapter whose
        insert is at least ``min_length`` long, and too-long inserts), sorted
        by reads (descending), then sequence. Annotated (never as miRNA),
        never counted: see the module docstring.
    passed_reads : numpy.ndarray
        Reads of each collapsed record, in output order (= the counts without
        UMIs; with UMIs the reads before deduplication).
    """

    long_inserts: list[tuple[str, int]]
    passed_reads: np.ndarray


def adapter_probe(protocol: Protocol) -> str | None:
    """Return the adapter prefix at which reads are cut before counting.

    Parameters
    ----------
    protocol
        Library protocol.

    Returns
    -------
    str or None
        The first :data:`PROBE_LENGTH` adapter bases, or None (no cutting) for
        UMI protocols (the UMI lies after the adapter) and adapters with IUPAC
        wildcards in that prefix.
    """
    probe = protocol.adapter_3p[:PROBE_LENGTH]
    if protocol.umi_length or probe.strip("ACGT"):
        return None
    return probe


def sample_name(path: str | os.PathLike[str]) -> str:
    """Return the sample name of a FASTQ path (file name without extensions).

    Parameters
    ----------
    path
        E.g. ``data/fastq/S01.fastq.gz``.

    Returns
    -------
    str
        E.g. ``S01``.
    """
    name = Path(path).name
    for ext in (".gz", ".bz2", ".xz", ".zst"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    for ext in (".fastq", ".fq", ".txt"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return name


def collapse_library(
    fastq: str | os.PathLike[str],
    protocol: Protocol,
    settings: TrimSettings,
    threads: int = 1,
    sample: str | None = None,
    max_unique: int = 1_000_000,
) -> tuple[list[tuple[str, int]], PreprocessStats]:
    """Trim, filter, deduplicate and collapse one library, in memory.

    Parameters
    ----------
    fastq
        FASTQ(.gz) file.
    protocol
        Library protocol.
    settings
        Trimming settings.
    threads
        2 or more decompresses gzip in a background thread (the main thread
        parses and counts); more than 2 brings nothing.
    sample
        Sample name (default: file name without extensions).
    max_unique
        Distinct reads held before they are processed as a batch (bounds
        memory: ~200 bytes each, so ~200 MB by default).

    Returns
    -------
    records : list of (str, int)
        Unique inserts with counts (reads, or molecules for UMI protocols),
        sorted by count (descending) then sequence.
    stats : PreprocessStats
        Read accounting.

    Raises
    ------
    exomir.reads.fastq.FastqFormatError
        Malformed input (with file name and record number).
    AdapterNotFoundError
        Adapter in fewer than ``settings.min_adapter_fraction`` of the reads.
    """
    result, stats, _ = _collapse(fastq, protocol, settings, threads, sample, max_unique)
    if isinstance(result, FastCollapse):
        result = result.records()
    return result, stats


def _scan_probe(protocol: Protocol) -> str | None:
    """Return the exact probe of the compiled scan, or None if it does not apply.

    The adapter probe (:func:`adapter_probe`); with UMIs the whole adapter
    (the UMI follows it), if it has only ``ACGT`` and at most 32 bases.
    """
    if protocol.umi_length:
        adapter = protocol.adapter_3p
        return (
            adapter
            if adapter and not adapter.strip("ACGT") and len(adapter) <= 32
            else None
        )
    return adapter_probe(protocol)


def _use_fast_scan(protocol: Protocol, settings: TrimSettings) -> bool:
    """Whether the compiled scan applies (see :mod:`exomir.reads.fastscan`)."""
    return FAST_SCAN and fastscan.available() and _scan_probe(protocol) is not None


def _collapse(
    fastq: str | os.PathLike[str],
    protocol: Protocol,
    settings: TrimSettings,
    threads: int,
    sample: str | None,
    max_unique: int,
) -> tuple[list[tuple[str, int]] | FastCollapse, PreprocessStats, CollapseExtras]:
    """Collapse a library with the fast scan if it applies, else with dnaio."""
    path = Path(fastq)
    t0 = time.perf_counter()
    fast, classifier, scan, hist = _scan_library(
        path, protocol, settings, threads, max_unique
    )
    t1 = time.perf_counter()
    totals = {c: sum(hist[c]) for c in CATEGORIES}
    raw = scan.reads
    if sum(totals.values()) != raw:  # pragma: no cover - internal invariant
        raise RuntimeError(f"{path}: read accounting mismatch {totals} vs {raw}")
    adapter_found = raw - totals["no_adapter"]
    fraction = adapter_found / raw if raw else 0.0
    detection, kit_detection = _check_adapter(path, protocol, settings, scan, fraction)
    result, molecules, long, passed_reads = _collapsed_inserts(
        fast, classifier, protocol
    )
    n_unique = len(result.counts) if isinstance(result, FastCollapse) else len(result)
    extras = CollapseExtras(_sorted_records(long), passed_reads)
    no_adapter_short = sum(hist["no_adapter"][: settings.min_length])
    size = max(scan.max_read_length + 1, *(len(h) for h in hist.values()))
    stats = PreprocessStats(
        sample=sample or sample_name(path),
        fastq=str(path),
        protocol=protocol.name,
        adapter=protocol.adapter_3p,
        protocol_settings=protocol.to_dict(),
        trim_settings=settings.to_dict(),
        raw_reads=raw,
        adapter_found=adapter_found,
        adapter_fraction=round(fraction, 6),
        adapter_dimer=totals["adapter_dimer"],
        too_short=totals["too_short"],
        too_long=totals["too_long"],
        no_adapter=totals["no_adapter"],
        no_umi=totals["no_umi"],
        passed_reads=totals["passed"],
        umi_duplicates=totals["passed"] - molecules,
        molecules=molecules,
        unique_inserts=n_unique,
        unique_raw_sequences=scan.unique_keys,
        max_read_length=scan.max_read_length,
        no_adapter_short=no_adapter_short,
        long_reads=totals["no_adapter"] - no_adapter_short + totals["too_long"],
        long_unique_inserts=len(long),
        top_inserts_total=_top_inserts_total(result),
        length_hist={c: hist[c] + [0] * (size - len(hist[c])) for c in CATEGORIES},
        detection=detection.to_dict(),
        detected_adapter=detection.best,
        suggestion=detection.suggestion,
        quality_range=list(scan.quality_range),
        kit_detection=kit_detection.to_dict(),
    )
    log.info(
        "%s: %d reads (%d distinct) scanned in %.2fs (%.0f reads/s); %d passed, "
        "%d unique inserts, %d molecules; total %.2fs",
        path,
        raw,
        scan.unique_keys,
        t1 - t0,
        raw / max(t1 - t0, 1e-9),
        stats.passed_reads,
        stats.unique_inserts,
        molecules,
        time.perf_counter() - t0,
    )
    return result, stats, extras


def _scan_library(
    path: Path,
    protocol: Protocol,
    settings: TrimSettings,
    threads: int,
    max_unique: int,
) -> tuple[FastCollapse | None, ReadClassifier | None, FastqScan, dict[str, list[int]]]:
    """Scan and classify every read: the compiled scan if it applies, else dnaio.

    Returns the compiled scan's result (or ``None``), the dnaio path's
    classifier (or ``None``), the scan summary and reads by category and length.
    """
    cut_at = adapter_probe(protocol)
    if not _use_fast_scan(protocol, settings):
        classifier = ReadClassifier(protocol, settings, cut_at)
        scan = scan_fastq(
            path,
            classifier,
            quality_cutoff=settings.quality_cutoff,
            threads=threads,
            max_unique=max_unique,
            cut_at=cut_at,
            cut_min_gain=CUT_MIN_GAIN,
        )
        return None, classifier, scan, classifier.hist
    probe = _scan_probe(protocol)
    assert probe is not None

    def slow_batch(batch: dict[str, int]) -> tuple[np.ndarray, Any, Any]:
        part = ReadClassifier(protocol, settings, cut_at)
        part(batch)
        hist = np.array([part.hist[c] for c in CATEGORIES])
        if protocol.umi_length:  # (inserts by id, (insert, UMI) codes, reads)
            return hist, (list(part.insert_ids), *part.umi_reads()), part.long
        return hist, part.inserts, part.long

    fast = fastscan.fast_collapse(
        path,
        probe,
        slow_batch,
        clip_5p=protocol.clip_5p,
        clip_3p=protocol.clip_3p,
        min_length=settings.min_length,
        max_length=settings.max_length,
        quality_cutoff=settings.quality_cutoff,
        umi_length=protocol.umi_length,
        umi_dedup=settings.umi_dedup,
        threads=threads,
    )
    hist = {c: fast.hist[i].tolist() for i, c in enumerate(CATEGORIES)}
    return fast, None, fast.scan, hist


def _check_adapter(
    path: Path,
    protocol: Protocol,
    settings: TrimSettings,
    scan: FastqScan,
    fraction: float,
) -> tuple[AdapterDetection, kit.KitDetection]:
    """Check the configured adapter and kit against the reads.

    Raises
    ------
    AdapterNotFoundError
        The adapter is in fewer than ``min_adapter_fraction`` of the reads
        (with the detected adapter and a suggestion).
    """
    failed = fraction < settings.min_adapter_fraction
    sample = ReadSample(scan.sample)  # one packed sample for both checks
    detection = detect_adapter(
        sample, configured=protocol.adapter_3p, kmer_fallback=failed
    )
    kit_detection = kit.check_configured(
        sample, protocol, fraction, settings.min_adapter_fraction
    )
    if kit_detection.suggestion or not failed:
        detection.suggestion = kit_detection.suggestion
    else:
        detection.suggestion = kit.failure_hint(kit_detection, detection)
    if failed:
        raise AdapterNotFoundError(
            f"{path}: the 3' adapter {protocol.adapter_3p} of protocol "
            f"{protocol.name!r} was found in only {fraction:.1%} of {scan.reads:,} "
            f"reads (at least {settings.min_adapter_fraction:.0%} required); "
            f"{detection.suggestion}",
            str(path),
            fraction,
            detection,
        )
    if kit_detection.suggestion:
        log.warning(
            "%s: protocol %r but %s", path, protocol.name, kit_detection.suggestion
        )
    return detection, kit_detection


def _collapsed_inserts(
    fast: FastCollapse | None, classifier: ReadClassifier | None, protocol: Protocol
) -> tuple[list[tuple[str, int]] | FastCollapse, int, dict[str, int], np.ndarray]:
    """Return the sorted inserts, molecules, long inserts and passed reads per insert."""
    if fast is not None:
        return fast, int(fast.counts.sum()), fast.long, fast.reads[fast.order]
    assert classifier is not None
    if protocol.umi_length:
        counts = classifier.molecules_per_insert()
    else:
        counts = classifier.inserts
    records = _sorted_records(counts)
    molecules = sum(counts.values())
    if protocol.umi_length:
        per = classifier.reads_per_insert()
        passed_reads = np.array([per[s] for s, _ in records], dtype=np.int64)
    else:
        passed_reads = np.array([c for _, c in records], dtype=np.int64)
    return records, molecules, classifier.long, passed_reads


def _top_inserts_total(result: list[tuple[str, int]] | FastCollapse) -> int:
    """Sum the counts of the :data:`TOP_INSERTS` most abundant collapsed inserts."""
    if isinstance(result, FastCollapse):
        counts = result.counts
        if len(counts) > TOP_INSERTS:
            counts = np.partition(counts, len(counts) - TOP_INSERTS)[-TOP_INSERTS:]
        return int(counts.sum())
    return sum(heapq.nlargest(TOP_INSERTS, (count for _, count in result)))


def _sorted_records(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Return ``(sequence, count)`` sorted by count (descending), then sequence."""
    order = sorted(counts)  # by sequence (string sort: faster than on tuples)
    order.sort(key=counts.__getitem__, reverse=True)  # stable: ties keep sequence
    return list(zip(order, map(counts.__getitem__, order), strict=True))


def write_collapsed(
    records: list[tuple[str, int]],
    path: str | os.PathLike[str],
    sample: str,
    level: int = 2,
) -> None:
    """Write collapsed inserts as FASTA.gz, atomically and reproducibly.

    Parameters
    ----------
    records
        ``(sequence, count)`` in output order.
    path
        Destination ``.fa.gz``.
    sample
        Prefix of the record names ``>{sample}_{rank}_x{count}`` (rank from 1).
    level
        ISA-L gzip level (0-3); the header has no name and mtime 0.
    """
    _write_gzip(_fasta_text(records, sample), path, level)


def _fasta_text(records: list[tuple[str, int]], sample: str) -> bytes:
    """Return collapsed FASTA text ``>{sample}_{rank}_x{count}`` for ``records``."""
    seqs = map(itemgetter(0), records)
    counts = map(itemgetter(1), records)
    prefix = sample.replace("{", "{{").replace("}", "}}")
    template = ">" + prefix + "_{}_x{}\n{}\n"
    return "".join(map(template.format, itertools.count(1), counts, seqs)).encode(
        "ascii"
    )


def _write_gzip(
    data: bytes | np.ndarray, path: str | os.PathLike[str], level: int = 2
) -> None:
    """Write bytes gzip-compressed (ISA-L, no name, mtime 0), atomically.

    ``data`` may be a uint8 array (written without a copy).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        _gzip_into(raw, data, level)


def gzip_bytes(data: bytes | np.ndarray, level: int = 2) -> bytes:
    """Return ``data`` gzip-compressed as the collapsed files are written."""
    buf = io.BytesIO()
    _gzip_into(buf, data, level)
    return buf.getvalue()


def _gzip_into(raw: BinaryIO, data: bytes | np.ndarray, level: int) -> None:
    with igzip.IGzipFile(
        filename="", mode="wb", compresslevel=level, fileobj=raw, mtime=0
    ) as gz:
        gz.write(data)


def preprocess_library(
    fastq: str | os.PathLike[str],
    collapsed_out: str | os.PathLike[str],
    stats_out: str | os.PathLike[str],
    protocol: Protocol,
    settings: TrimSettings,
    threads: int = 1,
    sample: str | None = None,
    max_unique: int = 1_000_000,
    long_out: str | os.PathLike[str] | None = None,
) -> PreprocessStats:
    """Preprocess one library: FASTQ(.gz) -> collapsed FASTA.gz + stats JSON.

    Nothing is written unless the whole input was read and passed all checks;
    both outputs are written atomically (complete or absent).

    Parameters
    ----------
    fastq
        Input FASTQ(.gz).
    collapsed_out
        Output FASTA.gz, records ``>{sample}_{rank}_x{count}`` sorted by count
        (descending) then sequence.
    stats_out
        Output JSON (:class:`PreprocessStats` fields).
    protocol
        Library protocol (see :data:`exomir.reads.protocols.PRESETS`).
    settings
        Trimming settings.
    threads
        Cores to use (2 = parse + decompress in parallel).
    sample
        Sample name for the record names (default: file name stem).
    max_unique
        Distinct raw reads held in memory before processing a batch.
    long_out
        Optional FASTA.gz of the long inserts (records
        ``>{sample}_long_{rank}_x{reads}``, same order), for
        :func:`exomir.reads.annotate.annotate_sample` (``long_inserts``).

    Returns
    -------
    PreprocessStats
        What was written to ``stats_out``.

    Raises
    ------
    exomir.reads.fastq.FastqFormatError
        Malformed input (file name, record number, problem).
    AdapterNotFoundError
        Adapter in too few reads; the message suggests the fitting preset.
    """
    text, stats, extras = collapse_to_fasta(
        fastq, protocol, settings, threads, sample, max_unique
    )
    _write_gzip(text, collapsed_out)
    if long_out is not None:
        write_collapsed(extras.long_inserts, long_out, f"{stats.sample}_long")
    write_stats(stats, stats_out)
    return stats


def collapse_to_fasta(
    fastq: str | os.PathLike[str],
    protocol: Protocol,
    settings: TrimSettings,
    threads: int = 1,
    sample: str | None = None,
    max_unique: int = 1_000_000,
) -> tuple[np.ndarray, PreprocessStats, CollapseExtras]:
    """Preprocess one library in memory: the collapsed FASTA text and stats.

    What :func:`preprocess_library` writes (the text uncompressed), for a
    caller that goes on with the inserts in the same process
    (:mod:`exomir.reads.library`).

    Returns
    -------
    text : numpy.ndarray
        FASTA text (uint8), records ``>{sample}_{rank}_x{count}`` sorted by
        count (descending) then sequence.
    stats : PreprocessStats
        Read accounting.
    extras : CollapseExtras
        Long inserts and reads per collapsed record.
    """
    result, stats, extras = _collapse(
        fastq, protocol, settings, threads, sample, max_unique
    )
    if isinstance(result, FastCollapse):
        return result.fasta_array(stats.sample), stats, extras
    text = _fasta_text(result, stats.sample)
    return np.frombuffer(text, dtype=np.uint8), stats, extras


def write_stats(stats: PreprocessStats, path: str | os.PathLike[str]) -> None:
    """Write the preprocessing stats JSON atomically."""
    with atomic_open(path) as fh:
        json.dump(stats.to_dict(), fh, indent=1)
        fh.write("\n")
