"""Fast collapsing of a FASTQ(.gz) library with compiled kernels.

Design and details: docs/reads.md ("The compiled scan").
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
from xopen import xopen

from exomir.reads.fastq import (
    _STREAM_ERRORS,
    FastqFormatError,
    FastqScan,
    _alphabet_problem,
    _damage_record,
    read_head,
)

log = logging.getLogger(__name__)

try:  # numba is optional: without it the dnaio path is used
    from exomir.reads import _kernels as K
except ImportError:  # pragma: no cover - numba is installed with exomir
    K = None  # type: ignore[assignment]

__all__ = ["FastCollapse", "available", "fast_collapse"]

#: Decompressed bytes scanned per kernel call.
BLOCK_BYTES = 8 << 20
#: Bytes of reads without the exact probe buffered before Python handles them.
SLOW_BYTES = 32 << 20
#: Longest read supported (length histogram size).
MAX_READ_LENGTH = 1 << 16
#: Room before each block for the incomplete record ending the previous one.
CARRY_BYTES = 1 << 16
#: Blocks shorter than this are not shared between the two scanning parts.
MIN_CUT_BYTES = 256
_INITIAL_SLOTS = 1 << 16
#: UMI protocols: (insert, UMI) codes (8 bytes, one per read) buffered by
#: each scanning part before they are sorted and merged into its counts.
CODE_BYTES = 32 << 20
_MAX_INITIAL_SLOTS = 1 << 23
#: Leading reads parsed by dnaio (adapter detection sample, quality encoding).
SAMPLE_READS = 50_000
QUALITY_CHECK_READS = 10_000

_ERRORS = {
    10: "line expected to start with '@' (FASTQ record header)",
    11: "line expected to start with '+' (third line of a FASTQ record)",
    12: "sequence and quality have different lengths",
    14: "premature end of file: the last record is incomplete",
    15: "invalid quality character (below '!')",
    16: "Windows (CRLF) line ends; convert the file with dos2unix first",
    17: "the name on the '+' line differs from the record header",
    18: f"read longer than {MAX_READ_LENGTH - 1} bases",
}


def available() -> bool:
    """Return whether the compiled kernels can be used (numba importable)."""
    return K is not None and K.NUMBA


@dataclass
class FastCollapse:
    """Result of :func:`fast_collapse`.

    Attributes
    ----------
    scan : FastqScan
        Read count, sample of the first reads, quality range, max length.
    keys : numpy.ndarray
        Packed passed inserts (rows), in no particular order.
    counts : numpy.ndarray
        Reads per insert, in the same order.
    order : numpy.ndarray
        Output order (count descending, then sequence): indices into
        ``keys`` and ``counts``.
    hist : numpy.ndarray
        Reads by category (rows: passed, adapter_dimer, too_short, too_long,
        no_adapter, no_umi) and insert length (columns).
    long : dict
        Long inserts (reads without the adapter, at least ``min_length``
        long, and too-long inserts) -> reads, from the Python classifier.
    reads : numpy.ndarray
        Reads per insert, in the order of ``keys`` (= ``counts`` without
        UMIs).
    """

    scan: FastqScan
    keys: np.ndarray
    counts: np.ndarray
    order: np.ndarray
    hist: np.ndarray
    long: dict[str, int]
    reads: np.ndarray

    def fasta_array(self, sample: str) -> np.ndarray:
        """Return the collapsed FASTA text as a uint8 array.

        Records ``>{sample}_{rank}_x{count}``, written straight from the
        packed keys in output order.
        """
        prefix = np.frombuffer((sample + "_").encode("utf-8"), dtype=np.uint8)
        size = K.fasta_size(self.keys, self.counts, len(prefix))
        out = np.empty(size, dtype=np.uint8)
        end = K.format_fasta(self.keys, self.counts, self.order, prefix, out)
        assert end == size
        return out

    def fasta(self, sample: str) -> bytes:
        """Return the collapsed FASTA text ``>{sample}_{rank}_x{count}``."""
        return self.fasta_array(sample).tobytes()

    def records(self) -> list[tuple[str, int]]:
        """Return ``(insert, count)`` pairs in output order."""
        lines = self.fasta("").decode("ascii").split("\n")
        return list(zip(lines[1::2], self.counts[self.order].tolist(), strict=True))


class _Table:
    """Growable hash table of packed inserts (see :mod:`exomir.reads._kernels`).

    One row per slot: the key words, then the count (0: empty), so that a
    lookup touches one cache line.
    """

    def __init__(self, nw: int, slots: int = _INITIAL_SLOTS):
        self.nw = nw
        self._alloc(slots)

    def _alloc(self, slots: int) -> None:
        self.rows = np.zeros((slots, self.nw + 1), dtype=np.uint64)
        self.keys = self.rows[:, : self.nw]
        self.count = self.rows[:, self.nw]

    def grow(self) -> None:
        old_keys, old_count = self.keys, self.count
        self._alloc(2 * len(old_count))
        K.rehash(old_keys, old_count, self.keys, self.count)

    def reserve(self, entries: int) -> None:
        """Grow until ``entries`` keys fit below the load limit."""
        while entries * 10 > 6 * len(self.count):
            self.grow()

    def add_beside(self, inserts: dict[str, int], other: _Table) -> int:
        """Add string inserts with counts; return the keys new to both tables.

        Inserts that ``other`` holds are counted there, the others here.
        """
        if not inserts:
            return 0
        while (np.count_nonzero(self.count) + len(inserts)) * 10 > 6 * len(self.count):
            self.grow()
        text = np.frombuffer(
            ("\n".join(inserts) + "\n").encode("ascii"), dtype=np.uint8
        )
        counts = np.fromiter(inserts.values(), dtype=np.int64, count=len(inserts))
        return int(
            K.add_lines_two(
                text, counts, self.nw, self.keys, self.count, other.keys, other.count
            )
        )


def _initial_slots(path: Path) -> int:
    """Return the initial hash table slots of each of the two scanning parts.

    Room for about one insert per 200 gzip bytes in each (a 75-nt read
    takes ~60; each part sees half of the reads), so that large diverse
    libraries need no rehash, while no more memory is touched than needed
    (first use of fresh memory is slow on virtual machines).
    """
    size = path.stat().st_size
    if not path.name.lower().endswith((".gz", ".gzip")):
        size //= 4
    slots = _INITIAL_SLOTS
    while slots < size // 200 and slots < _MAX_INITIAL_SLOTS:
        slots *= 2
    return slots


def fast_collapse(
    path: str | os.PathLike[str],
    probe: str,
    slow_batch,
    *,
    clip_5p: int,
    clip_3p: int,
    min_length: int,
    max_length: int,
    quality_cutoff: int = 0,
    umi_length: int = 0,
    umi_dedup: str = "directional",
    sample_reads: int | None = None,
    quality_check_reads: int | None = None,
    threads: int = 1,
) -> FastCollapse:
    """Scan a FASTQ(.gz) file and collapse passed inserts (reads or molecules).

    Parameters
    ----------
    path
        FASTQ(.gz) file.
    probe
        Adapter prefix (``ACGT`` only, at most 32 bases) whose first exact
        occurrence starts the adapter; with UMIs, the whole adapter.
    slow_batch
        Called with ``{read: count}`` for reads without the probe, in
        batches (and for too-long inserts: the scan hands them over to keep
        their sequence); returns ``(hist, inserts, long)``: reads by category
        and length (same layout as :attr:`FastCollapse.hist`, any width),
        passed inserts with counts and long inserts with reads. With UMIs
        ``inserts`` is ``(names, codes, reads)``: the passed inserts (list,
        index = id), the distinct ``id << 2 * umi_length | 2-bit UMI`` codes
        and their reads.
    clip_5p, clip_3p
        Bases clipped from the insert ends.
    min_length, max_length
        Passed insert lengths.
    quality_cutoff
        3' quality trimming cutoff (0: off), as ``cutadapt -q``.
    umi_length
        Bases of the UMI right after the adapter (0: no UMI).
    umi_dedup
        With UMIs, molecules per insert: ``"directional"`` (UMI-tools'
        directional clusters) or ``"exact"`` (distinct UMIs).
    sample_reads, quality_check_reads
        Leading reads kept for adapter detection / checked for the quality
        encoding (default :data:`SAMPLE_READS`, :data:`QUALITY_CHECK_READS`).
    threads
        2 or more scans the two halves of every block at the same time (the
        result does not depend on it).

    Returns
    -------
    FastCollapse
        Sorted packed inserts, counts (reads, or molecules with UMIs),
        histogram and scan summary.

    Raises
    ------
    FastqFormatError
        Any problem of the file, with the 1-based record number.
    """
    if not available():  # pragma: no cover
        raise RuntimeError("numba is not available")
    if not probe or probe.strip("ACGT") or len(probe) > 32:
        raise ValueError(f"probe must be 1-32 ACGT bases, got {probe!r}")
    p = Path(path)
    scan = read_head(
        p,
        SAMPLE_READS if sample_reads is None else sample_reads,
        QUALITY_CHECK_READS if quality_check_reads is None else quality_check_reads,
    )
    nw = max(1, -(-max_length // K.BASES_PER_WORD))
    code = 0
    for base in probe:
        code = code << 2 | "ACGT".index(base)
    if umi_length and umi_dedup not in ("directional", "exact"):
        raise ValueError(f"unknown umi_dedup {umi_dedup!r}")
    slots = _initial_slots(p)  # with UMIs: inserts (their ids)
    parts = [_Part(nw, slots, slow_batch, umi_length) for _ in range(2)]
    args = K.ScanSettings(
        np.uint64(code),
        len(probe),
        clip_5p,
        clip_3p,
        min_length,
        max_length,
        nw,
        quality_cutoff,
        umi_length,
    )
    pool = ThreadPoolExecutor(1) if threads > 1 else None
    try:
        _scan_file(p, parts, args, pool)
        if umi_length:
            return _merge_umi(p, scan, parts, pool, umi_dedup)
        return _merge(p, scan, parts, pool)
    finally:
        if pool is not None:
            pool.shutdown()


def _finish_parts(p: Path, scan: FastqScan, parts: list[_Part]) -> np.ndarray:
    """Count both parts' reads and drain their no-probe reads; sum the histograms.

    Raises
    ------
    FastqFormatError
        If the file holds no reads.
    """
    a, b = parts
    scan.reads = a.records + b.records
    if scan.reads == 0:
        raise FastqFormatError(p, 1, "file contains no reads")
    for part in parts:
        part.finish()
    return a.hist + b.hist


def _merge(p: Path, scan: FastqScan, parts: list[_Part], pool) -> FastCollapse:
    """Merge the two parts' tables and sort the inserts into output order."""
    a, b = parts
    hist = _finish_parts(p, scan, parts)
    extra = a.extra
    extra.update(b.extra)
    long = a.long + b.long
    # inserts of reads without the probe: counted in b if b has them, else in a
    new_extra = a.table.add_beside(dict(extra), b.table)
    # counts add, so the merged counts do not depend on which part saw a read:
    # keys of b that a holds are counted in a, then the two tables hold
    # disjoint keys (their union is the merged table; nothing needs rehashing)
    left = K.merge_tables(a.table.keys, a.table.count, b.table.keys, b.table.count)
    kernel_keys = int(a.state[K.S_USED]) + left
    slow_keys = a.slow_keys + b.slow_keys
    scan.unique_keys = kernel_keys + slow_keys
    scan.max_read_length = max(
        scan.max_read_length, int(a.state[K.S_MAXLEN]), int(b.state[K.S_MAXLEN])
    )
    scan.batches = 1
    for part in parts:  # free the buffers before the sort allocates
        part.free_buffers()
    keys, counts = _union(a.table, b.table)
    a.drop_table()
    b.drop_table()
    order = _sort_order(keys, counts, pool)
    log.info(
        "%s: %d reads, %d distinct inserts (%d from reads without the exact "
        "probe), %d distinct reads without it",
        p,
        scan.reads,
        len(counts),
        new_extra,
        slow_keys,
    )
    return FastCollapse(
        scan,
        keys,
        counts,
        order,
        hist[:, : scan.max_read_length + 1],
        dict(long),
        counts,
    )


def _merge_umi(
    p: Path, scan: FastqScan, parts: list[_Part], pool, umi_dedup: str
) -> FastCollapse:
    """Merge the two parts' (insert, UMI) counts; count molecules per insert.

    The inserts of the two parts are numbered together (the first part's
    ids kept), the second part's codes renumbered and sorted, and the two
    sorted runs merged (reads of a pair seen by both add). Molecules per
    insert are then counted as in the dnaio path
    (:meth:`exomir.reads.classifier.ReadClassifier.molecules_per_insert`).
    """
    a, b = parts
    hist = _finish_parts(p, scan, parts)
    for part in parts:
        part.slow = _NO_BYTES
    # the dnaio path counts the lengths of the trimmed reads
    scan.max_read_length = max(
        scan.max_read_length, int(a.state[K.S_MAXTRIM]), int(b.state[K.S_MAXTRIM])
    )
    scan.batches = 1
    shift = 2 * a.umi_len
    keys, remap = K.union_ids(
        a.table.keys,
        a.table.count,
        int(a.state[K.S_IDS]),
        b.table.keys,
        b.table.count,
        int(b.state[K.S_IDS]),
    )
    a.drop_table()
    b.drop_table()
    b_codes, b_reads = b.store
    b.store = _NO_PAIRS
    K.remap_ids(b_codes, remap, shift)
    K.sort_pairs(b_codes, b_reads)
    a_codes, a_reads = a.store
    a.store = _NO_PAIRS
    codes, reads = K.merge_runs(a_codes, a_reads, b_codes, b_reads)
    del a_codes, a_reads, b_codes, b_reads
    if umi_dedup == "directional":
        molecules = K.directional_molecules(codes, reads, a.umi_len, len(keys))
    else:
        molecules = np.bincount(codes >> shift, minlength=len(keys))
    if len(molecules) and molecules.min() < 1:  # pragma: no cover - invariant
        raise RuntimeError("an insert without molecules")
    # float64 sums of integer reads are exact below 2**53
    reads_per = np.rint(
        np.bincount(codes >> shift, weights=reads, minlength=len(keys))
    ).astype(np.int64)
    long = a.long + b.long
    scan.unique_keys = len(codes) + a.slow_keys + b.slow_keys
    order = _sort_order(keys, molecules, pool)
    log.info(
        "%s: %d reads, %d distinct (insert, UMI) pairs, %d inserts, %d molecules; "
        "%d distinct reads without the exact adapter",
        p,
        scan.reads,
        len(codes),
        len(keys),
        int(molecules.sum()),
        a.slow_keys + b.slow_keys,
    )
    return FastCollapse(
        scan,
        keys,
        molecules,
        order,
        hist[:, : scan.max_read_length + 1],
        dict(long),
        reads_per,
    )


def _union(a: _Table, b: _Table) -> tuple[np.ndarray, np.ndarray]:
    """Return the keys and counts of two tables with disjoint keys, in no order.

    They are compacted into the rows of ``a`` when they fit (no new memory).
    """
    used_a = int(np.count_nonzero(a.count))
    used_b = int(np.count_nonzero(b.count))
    m = used_a + used_b
    rows = a.rows if m <= len(a.rows) else np.empty((m, a.nw + 1), dtype=np.uint64)
    end = K.gather_used(a.rows, rows, 0)
    end = K.gather_used(b.rows, rows, end)
    assert end == m
    rows = rows[:m]
    return rows[:, : a.nw], rows[:, a.nw]


#: Entries from which the output order is sorted in two threads.
PARALLEL_SORT_MIN = 1 << 16


def _sort_order(keys: np.ndarray, counts: np.ndarray, pool) -> np.ndarray:
    """Return the output order (count descending, then sequence).

    With a thread ``pool``, the entries are split into those before and
    after about the median of the output order, and both sets are sorted
    at the same time.
    """
    if pool is None or len(counts) < PARALLEL_SORT_MIN:
        return K.sort_order(keys, counts)
    first, second = K.split_for_sort(keys, counts)
    job = pool.submit(K.sort_subset, keys, counts, second)
    head = K.sort_subset(keys, counts, first)
    return np.concatenate((head, job.result()))


_NO_BYTES = np.zeros(0, dtype=np.uint8)
_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


class _Part:
    """Accumulators of one scanning thread: hash table, histogram, no-probe reads.

    Every decompressed block is cut at a record boundary near its middle; the
    first part scans the first halves, the second the second halves (in a
    thread when ``threads`` > 1, else after the first: the same cut, so the
    same result).
    """

    def __init__(self, nw: int, slots: int, slow_batch, umi_len: int = 0) -> None:
        self._table: _Table | None = _Table(nw, slots)
        self.hist = np.zeros((K.HIST_ROWS, MAX_READ_LENGTH), dtype=np.int64)
        self.slow = np.empty(SLOW_BYTES, dtype=np.uint8)
        self.state = np.zeros(K.STATE_SIZE, dtype=np.int64)
        self.extra: Counter[str] = Counter()
        self.long: Counter[str] = Counter()
        self.slow_keys = 0
        self.slow_batch = slow_batch
        # UMI protocols: one code per passed read (id << 2 * umi_len | UMI),
        # sorted and merged into ``store`` (distinct codes, reads) when full
        self.umi_len = umi_len
        self.codes = np.empty(CODE_BYTES // 8 if umi_len else 0, dtype=np.int64)
        self.store: tuple[np.ndarray, np.ndarray] = _NO_PAIRS

    @property
    def table(self) -> _Table:
        """The hash table (until :meth:`drop_table`)."""
        assert self._table is not None, "table already dropped"
        return self._table

    def drop_table(self) -> None:
        """Free the hash table (its keys have been merged)."""
        self._table = None

    def free_buffers(self) -> None:
        """Free the no-probe buffer and the histogram (both summed already)."""
        self.slow = _NO_BYTES
        self.hist = np.zeros((0, 0), dtype=np.int64)

    @property
    def records(self) -> int:
        return int(self.state[K.S_RECORDS])

    def drain(self) -> None:
        """Classify the buffered reads without the exact probe (Python)."""
        used = int(self.state[K.S_SLOW_POS])
        if not used:  # one read longer than the buffer
            self.slow = np.empty(2 * len(self.slow), dtype=np.uint8)
            return
        lines = self.slow[:used].tobytes().decode("ascii").split("\n")
        lines.pop()
        self.state[K.S_SLOW_POS] = 0
        batch = Counter(lines)
        self.slow_keys += len(batch)
        h, inserts, long = self.slow_batch(batch)
        self.hist[:, : h.shape[1]] += h
        self.long.update(long)
        if self.umi_len:
            self._add_pairs(*inserts)
        else:
            self.extra.update(inserts)

    def _add_pairs(self, names: list[str], codes: np.ndarray, reads: np.ndarray):
        """Count (insert, UMI) pairs of reads without the exact adapter."""
        if not names:
            return
        table = self.table
        while (int(self.state[K.S_USED]) + len(names)) * 10 > 6 * len(table.count):
            table.grow()
        text = np.frombuffer(("\n".join(names) + "\n").encode("ascii"), np.uint8)
        ids = K.add_lines_ids(text, table.nw, table.keys, table.count, self.state)
        codes = codes.copy()
        K.remap_ids(codes, ids, 2 * self.umi_len)
        reads = reads.copy()
        K.sort_pairs(codes, reads)
        self._merge(codes, reads)

    def _merge(self, codes: np.ndarray, reads: np.ndarray) -> None:
        old_codes, old_reads = self.store
        if len(old_codes):
            self.store = K.merge_runs(old_codes, old_reads, codes, reads)
        else:
            self.store = codes, reads

    def compact(self) -> None:
        """Sort the buffered (insert, UMI) codes and merge them into ``store``."""
        used = int(self.state[K.S_CODES])
        if used:
            buffered = self.codes[:used]
            buffered.sort()
            self._merge(*K.run_lengths(buffered))
        self.state[K.S_CODES] = 0

    def finish(self) -> None:
        if self.state[K.S_SLOW_POS]:
            self.drain()
        if self.umi_len:
            self.compact()
            self.codes = np.zeros(0, dtype=np.int64)

    def scan(self, buf: np.ndarray, pos: int, final: bool, args) -> tuple[int, int]:
        """Scan ``buf[pos:]``; return the first status other than a full buffer."""
        table = self.table
        while True:
            bufs = K.ScanBuffers(
                table.keys, table.count, self.hist, self.slow, self.codes, self.state
            )
            status, pos = K.scan_chunk(buf, pos, final, args, bufs)
            if status == K.TABLE_FULL:
                table.grow()
            elif status == K.SLOW_FULL:
                self.drain()
            elif status == K.CODES_FULL:
                self.compact()
            else:
                return status, pos


def _cut(buf: np.ndarray) -> int:
    """Return the end of the record ending first after the middle of ``buf``.

    ``buf`` starts at a record; records are 4 lines, so the cut follows the
    first newline whose number is a multiple of 4 past the middle (0: none,
    or too little text to share). If the records before it are not valid
    4-line records, the first part finds the first of them.
    """
    n = len(buf)
    if n < MIN_CUT_BYTES:
        return 0
    mid = n // 2
    lines = int(np.count_nonzero(buf[:mid] == 10))
    pos = mid
    for _ in range(4 - lines % 4):
        hits = np.flatnonzero(buf[pos : pos + 4096] == 10)
        if not len(hits):
            return 0
        pos += int(hits[0]) + 1
    return pos if pos < n else 0


def _scan_file(p: Path, parts: list[_Part], args, pool) -> None:
    """Decompress ``p`` block by block and scan each block with the two parts.

    With a thread ``pool``, the next block is read (from ISA-L's thread)
    while the current one is scanned. Blocks are read behind a reserve of
    :data:`CARRY_BYTES`, where the incomplete record ending the previous
    block is copied, so that a block is not copied again.
    """
    reserve = CARRY_BYTES
    bufs = [np.empty(reserve + BLOCK_BYTES, dtype=np.uint8) for _ in range(2)]
    reader = ThreadPoolExecutor(1) if pool is not None else None
    pending = None
    try:
        with xopen(p, "rb", threads=1) as fh:

            def fill(buf: np.ndarray) -> int:
                view = memoryview(buf.data)[reserve:]
                n = 0
                while n < len(view):
                    # xopen returns a binary stream with readinto (typed BinaryIO)
                    got = fh.readinto(view[n:])  # type: ignore[attr-defined]
                    if not got:
                        break
                    n += got
                return n

            try:
                carry = np.empty(0, dtype=np.uint8)  # incomplete last record
                k = 0
                if reader is not None:
                    pending = reader.submit(fill, bufs[0])
                while True:
                    buf = bufs[k % 2]
                    k += 1
                    if pending is not None:
                        got, pending = pending.result(), None
                    else:
                        got = fill(buf)
                    final = got == 0
                    if not final and reader is not None:
                        pending = reader.submit(fill, bufs[k % 2])
                    rest = len(carry)
                    if rest <= reserve:
                        buf[reserve - rest : reserve] = carry
                        data = buf[reserve - rest : reserve + got]
                    else:  # a record longer than the reserve
                        data = np.concatenate([carry, buf[reserve : reserve + got]])
                    pos = _scan_block(p, parts, data, final, args, pool)
                    if final:
                        break
                    carry = data[pos:].copy()
            finally:
                if pending is not None:  # the file closes after the last read
                    wait([pending])
    except FastqFormatError:
        raise
    except _STREAM_ERRORS as exc:
        record, problem = _damage_record(p, exc)
        raise FastqFormatError(p, record, problem) from exc
    finally:
        if reader is not None:
            reader.shutdown()


def _scan_block(
    p: Path, parts: list[_Part], data: np.ndarray, final: bool, args, pool
) -> int:
    """Scan one block (starting at a record); return where the scan stopped."""
    a, b = parts
    cut = _cut(data) if not final else 0
    if not cut:
        status, pos = a.scan(data, 0, final, args)
        if status not in (K.NEED_MORE, K.DONE):
            _raise(p, status, a.records + b.records + 1, data, a.state)
        return pos
    before_b = b.records
    first, second = data[:cut], data[cut:]
    job = pool.submit(b.scan, second, 0, final, args) if pool is not None else None
    status, pos = a.scan(first, 0, False, args)
    if status == K.NEED_MORE and pos < cut:
        # an incomplete record before the cut: a damaged one
        status, pos = a.scan(first, pos, True, args)
    if status not in (K.NEED_MORE, K.DONE):
        if job is not None:
            job.result()
        _raise(p, status, a.records + before_b + 1, first, a.state)
    status, pos = job.result() if job is not None else b.scan(second, 0, final, args)
    if status not in (K.NEED_MORE, K.DONE):
        _raise(p, status, a.records + b.records + 1, second, b.state)
    return cut + pos


def _raise(
    path: Path, status: int, record: int, data: np.ndarray, state: np.ndarray
) -> NoReturn:
    """Raise the :class:`FastqFormatError` of a scan ``status`` (record 1-based)."""
    if status == K.ERR_BASE:
        start = int(state[K.S_ERR_POS])
        line = data[start:].tobytes()
        end = line.find(b"\n")
        seq = line[: end if end >= 0 else len(line)].decode("latin-1")
        raise FastqFormatError(path, record, _alphabet_problem(seq))
    raise FastqFormatError(path, record, _ERRORS.get(status, f"error {status}"))
