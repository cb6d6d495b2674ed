"""Read the collapsed unique inserts (``>{sample}_{rank}_x{count}`` records)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

import dnaio
import numpy as np
from xopen import xopen

from exomir.reads import _kernels

if TYPE_CHECKING:
    pass

from exomir.reads.annotate.bowtie import _int_table
from exomir.reads.annotate.model import _BASE_CODE, _NOT_ACGT_TABLE

_COUNT_RE = re.compile(r"_x(\d+)$")

_HEADER_COUNT_RE = re.compile(rb">\S*_x([0-9]+)(?=\s)")
"""The count in each of a block of header lines (each ends with a newline; a
``>`` inside a header makes the match count differ: read record by record)."""


@dataclass
class CollapsedReads:
    """Unique inserts of one library.

    Attributes
    ----------
    sequences
        Unique sequences (upper case).
    counts
        Reads (or molecules) per sequence, int64.
    """

    sequences: Sequence[str]
    counts: np.ndarray

    @property
    def total(self) -> int:
        """Total reads (sum of counts)."""
        return int(self.counts.sum())


class _BufferSequences(Sequence[str]):
    """Sequences held in one byte buffer, decoded one at a time on access.

    What the compiled reader of the collapsed FASTA gives: the annotation
    works on the buffer (:class:`_Layout`) and needs strings only for the
    few reads it aligns or reports, so 1.5 M Python strings are never made.
    """

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self._data = layout.buffer.tobytes()

    def has_duplicates(self) -> bool:
        """Return whether a sequence occurs twice (compiled hash; no GIL)."""
        lay = self.layout
        return bool(_kernels.has_duplicates(lay.buffer, lay.starts, lay.lengths))

    def merge_duplicates(
        self, counts: np.ndarray, check: bool = True
    ) -> CollapsedReads | None:
        """Return the reads with duplicates merged (counts added), or ``None``.

        ``None`` if no sequence occurs twice (``check=False``: known to be so).
        """
        if check and not self.has_duplicates():
            return None
        merged: dict[str, int] = {}
        for seq, c in zip(self, counts.tolist(), strict=True):
            merged[seq] = merged.get(seq, 0) + c
        return CollapsedReads(
            list(merged),
            np.fromiter(merged.values(), dtype=np.int64, count=len(merged)),
        )

    def __len__(self) -> int:
        return len(self.layout.starts)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        s = int(self.layout.starts[i])
        return self._data[s : s + int(self.layout.lengths[i])].decode("ascii")

    def __iter__(self):
        text = self._data.decode("ascii")
        return iter(text.split("\n")[:-1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def parse_count(name: str) -> int:
    """Return the count encoded in a collapsed record name.

    Parameters
    ----------
    name
        Record name ``{sample}_{rank}_x{count}``.

    Returns
    -------
    int
        The count.

    Raises
    ------
    ValueError
        If the name does not end with ``_x<count>`` or the count is 0.
    """
    m = _COUNT_RE.search(name.split(maxsplit=1)[0] if name else "")
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"collapsed record {name!r} does not end with _x<count>")
    return int(m.group(1))


def read_collapsed(path: str | os.PathLike[str]) -> CollapsedReads:
    """Read a collapsed FASTA(.gz) of unique inserts.

    Duplicate sequences (not expected) are merged by adding their counts.
    Sequences are upper-cased and U is written as T.

    Parameters
    ----------
    path
        ``results/collapsed/{sample}.fa.gz``.

    Returns
    -------
    CollapsedReads
        Sequences in file order and their counts.
    """
    fast = _read_two_line_fasta(path)
    if fast is not None:
        if isinstance(fast.sequences, _BufferSequences):
            return fast.sequences.merge_duplicates(fast.counts) or fast
        return fast
    index: dict[str, int] = {}
    seqs: list[str] = []
    counts: list[int] = []
    with dnaio.open(os.fspath(path), fileformat="fasta") as reader:
        for rec in reader:
            seq = rec.sequence.upper().replace("U", "T")
            n = parse_count(rec.name)
            k = index.get(seq)
            if k is None:
                index[seq] = len(seqs)
                seqs.append(seq)
                counts.append(n)
            else:
                counts[k] += n
    return CollapsedReads(seqs, np.asarray(counts, dtype=np.int64))


def _read_two_line_fasta(path: str | os.PathLike[str]) -> CollapsedReads | None:
    """Read a FASTA of one-line records in blocks (the collapsed files).

    The file is decompressed in blocks of 16 MB; headers and sequences of a
    block are joined and handled as one byte string each (counts with one
    regular expression, upper-casing in one call): 0.28 s instead of 0.75 s
    for 354,000 records, and at most one block of line objects in memory.
    The result is ``None`` if the file is not strictly ``>name`` / sequence
    line pairs or not ASCII, for :func:`read_collapsed` to parse it record by
    record.
    """
    if _kernels.NUMBA:
        return _read_collapsed_compiled(path)
    return _read_two_line_fasta_numpy(path)


def _read_collapsed_compiled(path: str | os.PathLike[str]) -> CollapsedReads | None:
    """Read the collapsed FASTA with one compiled loop per 16-MB block.

    The sequences stay in one byte buffer (:class:`_BufferSequences`);
    duplicates are not looked for here (:meth:`_BufferSequences.has_duplicates`).
    Falls back to the numpy reader for anything but ``>name_x<count>`` /
    one ``ACGTN`` line per record (lower case, ``U``, CR, wrapped lines).
    """
    with xopen(os.fspath(path), "rb", threads=1) as fh:
        reads = _parse_collapsed(iter(lambda: fh.read(1 << 24), b""))
    return reads if reads is not None else _read_two_line_fasta_numpy(path)


def collapsed_from_fasta(
    text: bytes | np.ndarray, check_duplicates: bool = True
) -> CollapsedReads:
    """Return the unique inserts of an in-memory collapsed FASTA text.

    The same as :func:`read_collapsed` on a file holding ``text``
    (uncompressed), without the file: for a caller that has just collapsed
    a library (:mod:`exomir.reads.library`). ``check_duplicates=False``
    leaves duplicate sequences to :func:`annotate_sample`, which looks for
    them (and merges them) beside its own work.
    """
    data = text.tobytes() if isinstance(text, np.ndarray) else bytes(text)
    reads = _parse_collapsed(iter([data])) if _kernels.NUMBA else None
    if reads is None:
        with tempfile.TemporaryDirectory(prefix="exomir-collapsed-") as tdir:
            path = Path(tdir) / "collapsed.fa"
            path.write_bytes(data)
            return read_collapsed(path)
    assert isinstance(reads.sequences, _BufferSequences)
    if not check_duplicates:
        return reads
    return reads.sequences.merge_duplicates(reads.counts) or reads


def _parse_collapsed(chunks: Iterator[bytes]) -> CollapsedReads | None:
    """Parse collapsed FASTA text given in chunks (compiled); ``None`` if unusual."""
    blocks: list[tuple[np.ndarray, ...]] = []
    rest = b""
    while True:
        chunk = next(chunks, b"")
        final = not chunk
        data = rest + chunk if rest else chunk
        if final and data and not data.endswith(b"\n"):
            data += b"\n"
        buf = np.frombuffer(data, np.uint8)
        seqs = np.empty(len(buf), np.uint8)
        most = len(buf) // 4 + 1  # a record takes at least 4 bytes
        counts = np.empty(most, np.int64)
        lengths = np.empty(most, np.int64)
        has_n = np.empty(most, np.bool_)
        ok, n, used, pos = _kernels.parse_collapsed_block(
            buf, final, seqs, counts, lengths, has_n
        )
        if not ok:
            return None
        blocks.append((seqs[:used], counts[:n], lengths[:n], has_n[:n]))
        rest = data[pos:]
        if final:
            break
    buffer, all_counts, all_lengths, all_n = (
        np.concatenate(parts) for parts in zip(*blocks, strict=True)
    )
    del blocks
    starts = np.zeros(len(all_lengths), dtype=np.int64)
    np.cumsum(all_lengths[:-1] + 1, out=starts[1:])
    layout = _Layout(
        buffer, starts, all_lengths, ~all_n, np.ones(len(starts), dtype=bool)
    )
    return CollapsedReads(_BufferSequences(layout), all_counts)


def _read_two_line_fasta_numpy(path: str | os.PathLike[str]) -> CollapsedReads | None:
    """Read the collapsed FASTA with numpy (the reader without numba)."""
    seq_blocks: list[bytes] = []
    counts_blocks: list[np.ndarray] = []
    rest = b""
    with xopen(os.fspath(path), "rb", threads=0) as fh:
        while True:
            chunk = fh.read(1 << 24)
            data = rest + chunk if rest else chunk
            if not chunk:
                if not data:
                    break
                if not data.endswith(b"\n"):  # the file's last line
                    data += b"\n"
            lines = data.split(b"\n")
            del data
            rest = lines.pop()  # an incomplete line (b"" at a line end)
            if len(lines) % 2:  # keep pairs together
                rest = lines.pop() + b"\n" + rest
            if not chunk and rest:  # a header without a sequence line
                return None
            if not lines:
                if chunk:
                    continue
                break
            heads = b"\n".join(lines[0::2]) + b"\n"
            body = b"\n".join(lines[1::2]) + b"\n"
            n = len(lines) // 2
            del lines
            if b"\r" in heads or b"\r" in body:
                heads = heads.replace(b"\r\n", b"\n")
                body = body.replace(b"\r\n", b"\n")
            if (
                not heads.startswith(b">")
                or heads.count(b"\n>") != n - 1
                or body.startswith(b">")
                or b"\n>" in body
            ):
                return None
            # The first word of every header ends with _x<count> (parse_count).
            found = _HEADER_COUNT_RE.findall(heads)
            if len(found) != n:
                counts = np.zeros(0, dtype=np.int64)
            else:
                counts = _int_table(b"\n".join(found) + b"\n", 1)[:, 0]
            if len(counts) != n or (counts < 1).any():
                for line in heads.split(b"\n")[:-1]:
                    parse_count(line[1:].decode("ascii", "replace"))  # raises
                return None  # pragma: no cover - parse_count accepted them all
            seq_blocks.append(body)
            counts_blocks.append(counts)
            if not chunk:
                break
    try:
        text = b"".join(seq_blocks).upper().replace(b"U", b"T").decode("ascii")
    except UnicodeDecodeError:
        return None
    del seq_blocks
    seqs = text.split("\n")[:-1]
    del text
    counts = np.concatenate(counts_blocks) if counts_blocks else np.zeros(0, np.int64)
    if len(set(seqs)) != len(seqs):
        merged: dict[str, int] = {}
        for seq, c in zip(seqs, counts.tolist(), strict=True):
            merged[seq] = merged.get(seq, 0) + c
        seqs = list(merged)
        counts = np.fromiter(merged.values(), dtype=np.int64, count=len(seqs))
    return CollapsedReads(seqs, counts)


@dataclass
class _Layout:
    """All unique inserts in one byte buffer, for vectorised checks.

    Attributes
    ----------
    buffer
        The sequences, each followed by a newline (ASCII; other characters
        as ``?``).
    starts, lengths
        Offset and length of each sequence in ``buffer``.
    acgt
        The sequence has only A, C, G, T (empty included).
    clean
        The sequence has no white space (it can be written as a bowtie read).
    """

    buffer: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    acgt: np.ndarray
    clean: np.ndarray

    @classmethod
    def of(cls, seqs: Sequence[str]) -> _Layout:
        """Lay out ``seqs``."""
        if isinstance(seqs, _BufferSequences):
            return seqs.layout
        n = len(seqs)
        data = ("\n".join(seqs) + "\n").encode("ascii", "replace") if n else b""
        # writable, like the buffers of exomir's own collapsed files: the
        # kernels then run with the signatures already loaded in the job
        buffer = np.frombuffer(bytearray(data), np.uint8)
        ends = np.flatnonzero(buffer == 10)
        clean = np.ones(n, dtype=bool)
        if len(ends) != n or any(c in data for c in (b" ", b"\t", b"\r", b"\v", b"\f")):
            # white space inside a sequence: it is never aligned
            clean = np.fromiter(
                (re.search(r"\s", s) is None for s in seqs), dtype=bool, count=n
            )
            layout = cls.of(
                [s if ok else "" for s, ok in zip(seqs, clean, strict=True)]
            )
            layout.clean = clean
            layout.acgt &= clean
            return layout
        starts = np.zeros(n, dtype=np.int64)
        if n > 1:
            starts[1:] = ends[:-1] + 1
        acgt = np.ones(n, dtype=bool)
        if n:
            # 1 for every byte but A, C, G, T and the newlines
            bad = np.frombuffer(data.translate(_NOT_ACGT_TABLE), dtype=bool)
            acgt = ~np.logical_or.reduceat(bad, starts)
        return cls(buffer, starts, ends - starts, acgt, clean)

    def texts(self, rows: np.ndarray) -> list[str]:
        """Return the sequences of ``rows`` as strings."""
        buf = self.buffer
        return [
            buf[s : s + n].tobytes().decode("ascii", "replace")
            for s, n in zip(
                self.starts[rows].tolist(), self.lengths[rows].tolist(), strict=True
            )
        ]

    def prefix_keys(self, rows: np.ndarray, k: int) -> np.ndarray:
        """2-bit codes of the first ``k`` bases of ``rows`` (ACGT, length >= k)."""
        windows = np.lib.stride_tricks.sliding_window_view(self.buffer, k)
        return _pack(_BASE_CODE[windows[self.starts[rows]]])


def _pack(codes: np.ndarray) -> np.ndarray:
    """2-bit pack the rows of a (n, k) array of base codes, k <= 16."""
    keys = np.zeros(len(codes), dtype=np.uint32)
    for j in range(codes.shape[1]):
        keys = (keys << np.uint32(2)) | codes[:, j]
    return keys
