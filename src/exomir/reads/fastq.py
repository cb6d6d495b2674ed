r"""Validated, fast FASTQ(.gz) reading for small-RNA libraries.

Design and details: docs/reads.md ("FASTQ input").
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice, repeat, tee
from operator import attrgetter, getitem, itemgetter
from pathlib import Path
from typing import cast

import dnaio
from cutadapt.qualtrim import quality_trim_index
from isal import isal_zlib
from xopen import xopen

__all__ = [
    "FastqFormatError",
    "FastqScan",
    "check_quality_encoding",
    "iter_fastq",
    "locate_record",
    "read_head",
    "scan_fastq",
    "sniff_fastq",
]

log = logging.getLogger(__name__)

#: ISA-L's decompression error (its stub types it as an instance, not a class).
_ISAL_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]

#: Decompression and gzip-layer exceptions that mean "the file is damaged".
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    _ISAL_ERROR,
)
#: What ends counting the readable records of a damaged plain file.
_COUNT_ERRORS: tuple[type[BaseException], ...] = (
    dnaio.FileFormatError,
    *_STREAM_ERRORS,
)
_INVALID_BASE = re.compile(r"[^ACGTN]").search
_HEAD_SEP = itemgetter(0, 1)
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 65536

#: Highest quality character a Phred+33 Illumina file contains (Q42).
PHRED33_MAX = "K"
#: Lowest character Phred+64 / Solexa qualities can contain (Solexa Q-5).
PHRED64_MIN = ";"


class FastqFormatError(ValueError):
    """A FASTQ file that cannot be read correctly.

    Parameters
    ----------
    path
        The file.
    record
        1-based number of the record that could not be read (the first record
        for problems of the whole file, e.g. an empty or non-gzip file).
    problem
        What is wrong, in words.

    Attributes
    ----------
    path : str
        The file.
    record : int
        1-based record number.
    problem : str
        Description of the problem.
    """

    def __init__(self, path: str | os.PathLike[str], record: int, problem: str):
        self.path = str(path)
        self.record = int(record)
        self.problem = problem
        super().__init__(f"{self.path}: record {self.record}: {problem}")

    def __reduce__(self):  # keep picklable (multiprocessing, Snakemake)
        """Return the constructor arguments for pickling."""
        return (type(self), (self.path, self.record, self.problem))


def _is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith((".gz", ".gzip"))


def sniff_fastq(path: str | os.PathLike[str]) -> None:
    """Check the start of a FASTQ(.gz) file before streaming it.

    Parameters
    ----------
    path
        Plain or gzip-compressed FASTQ. A ``.gz`` name requires gzip content.

    Raises
    ------
    FastqFormatError
        Missing, empty, not gzip despite a ``.gz`` name, no reads after
        decompression, FASTA instead of FASTQ, not starting with ``@`` or with
        Windows (CRLF) line ends.
    """
    p = Path(path)
    if not p.is_file():
        raise FastqFormatError(p, 1, "file does not exist or is not a file")
    if p.stat().st_size == 0:
        raise FastqFormatError(p, 1, "file is empty (0 bytes), no reads")
    with open(p, "rb") as fh:
        magic = fh.read(2)
    gz = magic == _GZIP_MAGIC
    if _is_gzip_name(p) and not gz:
        raise FastqFormatError(
            p,
            1,
            f"file name ends in .gz but the content is not gzip (starts {magic!r})",
        )
    try:
        with xopen(p, "rb", threads=0) as fh:
            head = fh.read(_SNIFF_BYTES)
    except _STREAM_ERRORS as exc:
        raise FastqFormatError(
            p, 1, f"cannot decompress the start of the file ({exc})"
        ) from exc
    if not head.strip():
        raise FastqFormatError(
            p, 1, "file contains no reads (empty after decompression)"
        )
    first = head[:1]
    if first == b">":
        raise FastqFormatError(
            p, 1, "this is a FASTA file ('>' header), FASTQ with qualities is required"
        )
    if first != b"@":
        raise FastqFormatError(
            p, 1, f"not a FASTQ file: first byte is {first!r}, expected '@'"
        )
    cr = head.find(b"\r")
    if cr >= 0:
        line = head.count(b"\n", 0, cr)
        raise FastqFormatError(
            p,
            line // 4 + 1,
            "Windows (CRLF) line ends; convert the file with dos2unix first",
        )


def check_quality_encoding(
    path: str | os.PathLike[str], qualities: list[str], first_record: int = 1
) -> tuple[str, str]:
    """Check that qualities are Phred+33 (Sanger / Illumina 1.8+).

    The rule, applied to the characters of the given quality strings:

    * any character below ``!`` is invalid;
    * a character above ``K`` (Phred+33 Q42, higher than any Illumina
      instrument writes) together with *no* character below ``;`` (the lowest
      Phred+64 / Solexa value, Q-5) means Phred+64 (Illumina 1.3-1.7) and is
      rejected;
    * everything else is accepted as Phred+33. A Phred+33 file whose bases are
      all of high quality (e.g. binned ``F``/``:``/``,`` NovaSeq values) stays
      inside ``;``..``K`` and is therefore never mistaken for Phred+64, and a
      high-range Phred+33 file (e.g. long-read ``~``) still has low values
      below ``;``.

    Parameters
    ----------
    path
        File name (for the message).
    qualities
        Quality strings of consecutive records.
    first_record
        1-based record number of ``qualities[0]``.

    Returns
    -------
    tuple of str
        Lowest and highest quality character seen.

    Raises
    ------
    FastqFormatError
        Phred+64 qualities or characters below ``!``.
    """
    quals = [q for q in qualities if q]
    if not quals:
        return ("", "")
    lo = min(map(min, quals))
    hi = max(map(max, quals))
    if lo < "!":
        rec = next(i for i, q in enumerate(qualities) if q and min(q) < "!")
        raise FastqFormatError(
            path,
            first_record + rec,
            f"invalid quality character {min(qualities[rec])!r} (below '!')",
        )
    if hi > PHRED33_MAX and lo >= PHRED64_MIN:
        rec = next(i for i, q in enumerate(qualities) if q and max(q) > PHRED33_MAX)
        raise FastqFormatError(
            path,
            first_record + rec,
            f"qualities look like Phred+64 (Illumina 1.3-1.7): characters range "
            f"{lo!r}..{hi!r} over the first {len(qualities)} reads, no value below "
            f"{PHRED64_MIN!r} and values above {PHRED33_MAX!r}; convert to Phred+33 "
            "(e.g. seqtk seq -Q64 -V)",
        )
    return (lo, hi)


def _open_reader(path: Path, threads: int):
    # threads >= 2: ISA-L decompression in a background thread (releases the
    # GIL, so it runs on the second core); otherwise in the calling thread.
    return dnaio.open(path, fileformat="fastq", open_threads=1 if threads >= 2 else 0)


def _readable_gzip_records(path: Path) -> int:
    """Count complete records in the decompressible prefix of a gzip file.

    The parser may stop short of the damage (the decompressor fails while it
    still holds decoded data), so the prefix is decoded here by hand, member
    by member, and its lines are counted (dnaio has checked the record
    structure up to there).
    """
    newlines = 0
    decomp = isal_zlib.decompressobj(wbits=31)
    with open(path, "rb") as fh:
        try:
            while chunk := fh.read(1 << 20):
                while chunk:
                    newlines += decomp.decompress(chunk).count(b"\n")
                    chunk = b""
                    if decomp.eof:  # next gzip member, if any
                        chunk = decomp.unused_data
                        decomp = isal_zlib.decompressobj(wbits=31)
        except _ISAL_ERROR:
            pass
    return newlines // 4


def _damage_record(path: Path, exc: BaseException) -> tuple[int, str]:
    """Locate the record at which a damaged gzip file becomes unreadable."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == _GZIP_MAGIC
    if not gz:  # an I/O error on a plain file: count what can be read
        n = 0
        try:
            with dnaio.open(path, fileformat="fastq", open_threads=0) as reader:
                for _ in reader:
                    n += 1
        except _COUNT_ERRORS:
            pass
        return n + 1, f"read error ({exc})"
    complete = _readable_gzip_records(path)
    return (
        complete + 1,
        f"gzip data truncated or corrupt after {complete} complete records ({exc})",
    )


def _format_error_record(exc: dnaio.FileFormatError, n_read: int) -> int:
    return exc.line // 4 + 1 if exc.line is not None else n_read + 1


def locate_record(
    path: str | os.PathLike[str], predicate: Callable[[dnaio.SequenceRecord], bool]
) -> int | None:
    """Return the 1-based number of the first record matching ``predicate``.

    Used on error paths only (a second pass over the file).

    Parameters
    ----------
    path
        FASTQ(.gz) file.
    predicate
        Test applied to each record.

    Returns
    -------
    int or None
        Record number, or None if no record matches.
    """
    with dnaio.open(Path(path), fileformat="fastq", open_threads=0) as reader:
        for i, rec in enumerate(reader, start=1):
            if predicate(rec):
                return i
    return None


def iter_fastq(
    path: str | os.PathLike[str], threads: int = 1
) -> Iterator[dnaio.SequenceRecord]:
    """Yield the records of a FASTQ(.gz) file, converting errors.

    A convenience for other stages; :func:`scan_fastq` is the fast path.

    Parameters
    ----------
    path
        FASTQ(.gz) file.
    threads
        2 or more decompresses in a background thread.

    Yields
    ------
    dnaio.SequenceRecord
        The records.

    Raises
    ------
    FastqFormatError
        On any format, alphabet or gzip problem, with the record number.
    """
    p = Path(path)
    sniff_fastq(p)
    n = 0
    try:
        with _open_reader(p, threads) as reader:
            for rec in reader:
                n += 1
                if _INVALID_BASE(rec.sequence):
                    raise FastqFormatError(p, n, _alphabet_problem(rec.sequence))
                yield rec
    except dnaio.FileFormatError as exc:
        raise FastqFormatError(p, _format_error_record(exc, n), exc.message) from exc
    except _STREAM_ERRORS as exc:
        record, problem = _damage_record(p, exc)
        raise FastqFormatError(p, record, problem) from exc


def _alphabet_problem(seq: str) -> str:
    m = _INVALID_BASE(seq)
    assert m is not None
    return (
        f"invalid character {m.group()!r} in the sequence at position "
        f"{m.start() + 1} (only A, C, G, T, N are allowed)"
    )


@dataclass
class FastqScan:
    """Summary of one streamed FASTQ file.

    Attributes
    ----------
    path : str
        The file.
    reads : int
        Number of records.
    unique_keys : int
        Sum over batches of distinct keys (the number of per-unique work items).
    batches : int
        Number of batches handed to the callback.
    max_read_length : int
        Longest read among the sampled reads and the keys (with ``cut_at``,
        reads cut at the adapter only count up to the cut).
    sample : Counter
        Raw read sequences of the first ``sample_reads`` records with counts
        (for adapter detection).
    sample_reads : int
        Number of records in ``sample``.
    quality_range : tuple of str
        Lowest and highest quality character in the quality-check sample.
    cut : bool
        Whether keys are ``(head, sep)`` pairs cut at ``cut_at``.
    """

    path: str
    reads: int = 0
    unique_keys: int = 0
    batches: int = 0
    max_read_length: int = 0
    sample: Counter[str] = field(default_factory=Counter)
    sample_reads: int = 0
    quality_range: tuple[str, str] = ("", "")
    cut: bool = False


def scan_fastq(
    path: str | os.PathLike[str],
    on_batch: Callable[[Counter], None],
    *,
    quality_cutoff: int = 0,
    threads: int = 1,
    sample_reads: int = 50_000,
    quality_check_reads: int = 10_000,
    max_unique: int = 1_000_000,
    chunk_reads: int = 1_000_000,
    cut_at: str | None = None,
    cut_min_gain: float = 0.15,
) -> FastqScan:
    """Stream a FASTQ(.gz) file and hand over counts of identical sequences.

    Each read is reduced to a key, its sequence (3' quality-trimmed if
    ``quality_cutoff`` > 0, with cutadapt's BWA-style algorithm), and keys are
    counted. With ``cut_at`` the key is ``(head, sep)`` from
    ``sequence.partition(cut_at)``: whatever follows the first exact
    occurrence of ``cut_at`` (an adapter prefix) is dropped before counting,
    so reads that differ only after the adapter (read-through, sequencing
    errors there) collapse into one key. ``sep`` is ``cut_at`` or ``""`` when
    it does not occur (``head`` is then the whole sequence). Cutting costs
    ~0.2 us per read (a tuple per read), so it is only done when, in the
    sampled first reads, it removes at least ``cut_min_gain`` distinct keys
    per read (worth ~1 us of per-key work each); :attr:`FastqScan.cut` tells.

    When more than ``max_unique`` distinct keys have accumulated, the batch is
    passed to ``on_batch`` and a new one is started, so memory stays bounded
    whatever the library complexity. ``on_batch`` therefore sees each
    key once per batch, with the number of reads in that batch.

    Parameters
    ----------
    path
        FASTQ(.gz) file.
    on_batch
        Called with ``{key: reads}`` for every batch (at least once unless the
        file is invalid). Keys (heads) contain only ``ACGTN`` (checked here;
        with ``cut_at`` the dropped part of the read is not checked).
    quality_cutoff
        Phred cutoff for 3' quality trimming; 0 disables it.
    threads
        2 or more runs gzip decompression in a background thread.
    sample_reads
        Number of leading reads kept in :attr:`FastqScan.sample`.
    quality_check_reads
        Number of leading reads whose qualities are checked for the encoding.
    max_unique
        Distinct keys per batch before it is flushed.
    chunk_reads
        Reads counted between checks of the batch size.
    cut_at
        Drop everything from the first occurrence of this sequence on.
    cut_min_gain
        Minimum saving of distinct keys per sampled read for cutting.

    Returns
    -------
    FastqScan
        Read count, sample and other summary data.

    Raises
    ------
    FastqFormatError
        Any problem of the file, with the 1-based record number.
    """
    p = Path(path)
    sniff_fastq(p)
    scan = FastqScan(path=str(p))
    batch: Counter = Counter()  # str keys, or (head, sep) with cut_at
    reader = None
    try:
        with _open_reader(p, threads) as reader:
            head = _read_sample(
                p, reader, scan, sample_reads, quality_check_reads, cut_at, cut_min_gain
            )
            key_cut = cut_at if scan.cut else None
            batch.update(_keys(head, quality_cutoff, key_cut))
            del head
            keys = _keys(reader, quality_cutoff, key_cut)
            while True:
                before = reader.number_of_records
                batch.update(islice(keys, chunk_reads))
                if reader.number_of_records - before < chunk_reads:
                    break
                if len(batch) >= max_unique:
                    _flush_batch(p, scan, batch, on_batch)
                    batch = Counter()
            scan.reads = reader.number_of_records
    except FastqFormatError:
        raise
    except dnaio.FileFormatError as exc:
        n = reader.number_of_records if reader is not None else 0
        raise FastqFormatError(p, _format_error_record(exc, n), exc.message) from exc
    except _STREAM_ERRORS as exc:
        record, problem = _damage_record(p, exc)
        raise FastqFormatError(p, record, problem) from exc
    _flush_batch(p, scan, batch, on_batch)
    log.info(
        "%s: %d reads, %d distinct keys in %d batch(es)",
        p,
        scan.reads,
        scan.unique_keys,
        scan.batches,
    )
    return scan


def _read_sample(
    p: Path,
    reader: Iterator[dnaio.SequenceRecord],
    scan: FastqScan,
    sample_reads: int,
    quality_check_reads: int,
    cut_at: str | None,
    cut_min_gain: float,
) -> list[dnaio.SequenceRecord]:
    """Read the first records: quality encoding, sample, whether to cut keys.

    Fills ``scan`` (``quality_range``, ``sample``, ``sample_reads``,
    ``max_read_length``, ``cut``) and returns the records read.
    """
    head = list(islice(reader, max(sample_reads, quality_check_reads)))
    if not head:
        raise FastqFormatError(p, 1, "file contains no reads")
    # FASTQ records always have qualities (dnaio types them optional)
    qualities = cast("list[str]", [r.qualities for r in head[:quality_check_reads]])
    scan.quality_range = check_quality_encoding(p, qualities)
    sample = head[:sample_reads]
    scan.sample = Counter(map(attrgetter("sequence"), sample))
    scan.sample_reads = len(sample)
    scan.max_read_length = max(map(len, scan.sample), default=0)
    if cut_at is not None:
        cut_keys = {seq.partition(cut_at)[:2] for seq in scan.sample}
        gain = (len(scan.sample) - len(cut_keys)) / scan.sample_reads
        scan.cut = gain >= cut_min_gain
    return head


def _flush_batch(
    p: Path, scan: FastqScan, batch: Counter, on_batch: Callable[[Counter], None]
) -> None:
    """Check a batch's keys for letters other than ``ACGTN``, then hand it over."""
    if not batch and scan.batches:
        return
    heads = list(batch) if not scan.cut else list(map(itemgetter(0), batch))
    # C passes over the keys, 100k at a time (bounded extra memory):
    # delete the valid letters, see whether anything is left.
    if any(
        "".join(heads[i : i + 100_000]).encode("ascii").translate(None, b"ACGTN")
        for i in range(0, len(heads), 100_000)
    ):
        bad = next(filter(_INVALID_BASE, heads))
        record = locate_record(p, lambda r: _INVALID_BASE(r.sequence) is not None)
        raise FastqFormatError(p, record or 1, _alphabet_problem(bad))
    if batch:
        scan.max_read_length = max(scan.max_read_length, max(map(len, heads)))
    scan.unique_keys += len(batch)
    scan.batches += 1
    on_batch(batch)


def read_head(
    path: str | os.PathLike[str],
    sample_reads: int = 50_000,
    quality_check_reads: int = 10_000,
) -> FastqScan:
    """Check a file's start and sample its first reads (dnaio, single thread).

    Runs :func:`sniff_fastq`, parses the first records (format errors carry
    their record number), checks the quality encoding of the first
    ``quality_check_reads`` and keeps the first ``sample_reads`` sequences.

    Parameters
    ----------
    path
        FASTQ(.gz) file.
    sample_reads
        Leading reads kept in :attr:`FastqScan.sample`.
    quality_check_reads
        Leading reads whose qualities are checked.

    Returns
    -------
    FastqScan
        ``sample``, ``sample_reads``, ``quality_range`` and
        ``max_read_length`` (of the sample) filled in.

    Raises
    ------
    FastqFormatError
        Any problem in the first records.
    """
    p = Path(path)
    sniff_fastq(p)
    scan = FastqScan(path=str(p))
    reader = None
    try:
        with _open_reader(p, 1) as reader:
            head = list(islice(reader, max(sample_reads, quality_check_reads)))
    except dnaio.FileFormatError as exc:
        n = reader.number_of_records if reader is not None else 0
        raise FastqFormatError(p, _format_error_record(exc, n), exc.message) from exc
    except _STREAM_ERRORS as exc:
        record, problem = _damage_record(p, exc)
        raise FastqFormatError(p, record, problem) from exc
    if not head:
        raise FastqFormatError(p, 1, "file contains no reads")
    scan.quality_range = check_quality_encoding(
        p, [r.qualities for r in head[:quality_check_reads]]
    )
    scan.sample = Counter(map(attrgetter("sequence"), head[:sample_reads]))
    scan.sample_reads = min(len(head), sample_reads)
    scan.max_read_length = max(map(len, scan.sample), default=0)
    bad = next(filter(_INVALID_BASE, scan.sample), None)
    if bad is not None:
        record = next(i for i, r in enumerate(head, 1) if r.sequence == bad)
        raise FastqFormatError(p, record, _alphabet_problem(bad))
    return scan


def _keys(
    records: Iterable[dnaio.SequenceRecord], quality_cutoff: int, cut_at: str | None
) -> Iterator[str] | Iterator[tuple[str, str]]:
    """Map records to count keys without Python byte code per record."""
    if quality_cutoff <= 0:
        seqs = map(attrgetter("sequence"), records)
    else:
        r1, r2 = tee(records)
        stops = map(
            itemgetter(1),
            map(
                quality_trim_index,
                map(attrgetter("qualities"), r2),
                repeat(0),
                repeat(quality_cutoff),
                repeat(33),
            ),
        )
        seqs = map(getitem, map(attrgetter("sequence"), r1), map(slice, stops))
    if cut_at is None:
        return seqs
    return map(_HEAD_SEP, map(str.partition, seqs, repeat(cut_at)))
