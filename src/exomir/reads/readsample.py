"""A sample of raw reads, searched for exact probes with numpy instead of per read.

The adapter and kit checks (:func:`exomir.reads.protocols.credit_first_probe`,
:func:`exomir.reads.kit.detect_kit`) look up a handful of 12-nt probes and the
mature miRNA prefixes in the first 50,000-100,000 reads of every library.
Done read by read in Python (``str.find`` per read and probe) that cost about
0.4 s per library, whatever its depth. :class:`ReadSample` joins the sampled
sequences once into one byte buffer and answers the same questions with a few
vectorised passes over it (about 0.1 s for both checks), with the same answers: the first
position of a probe in each read (``str.find``), and the first read offset at
which a window is one of a set of sequences.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

__all__ = ["ReadSample"]

_BLOCK = 1 << 16  # reads per block of the anchor search (under 100 MB a block)

_CODE2 = np.full(256, 255, dtype=np.uint8)  # 2-bit code of ACGT, 255 for the rest
for _i, _b in enumerate(b"ACGT"):
    _CODE2[_b] = _i


class ReadSample(Mapping[str, int]):
    """Read sequence -> count (the mapping it wraps), plus vectorised searches.

    It is the wrapped mapping for every other purpose (same keys, order and
    counts), so it can be passed wherever a ``Mapping[str, int]`` sample is
    expected. Build it once per sample (:meth:`of`) and share it: the probe
    positions are cached.

    Parameters
    ----------
    sample
        Raw read sequence -> count.
    """

    def __init__(self, sample: Mapping[str, int]) -> None:
        self._sample = sample
        self.sequences = list(sample)
        self.counts = np.fromiter(sample.values(), dtype=np.int64, count=len(sample))
        self.lengths = np.fromiter(
            map(len, self.sequences), dtype=np.int64, count=len(self.sequences)
        )
        self.starts = np.zeros(len(self.sequences), dtype=np.int64)
        if len(self.sequences) > 1:
            np.cumsum(self.lengths[:-1] + 1, out=self.starts[1:])
        text = "\n".join(self.sequences)
        self.buffer: np.ndarray | None
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:  # a non-ASCII read: searched read by read
            self.buffer = None
        else:
            self.buffer = np.frombuffer(raw, dtype=np.uint8)
            if raw.count(b"\n") != max(len(self.sequences) - 1, 0):
                self.buffer = None  # a read containing a newline (not FASTQ)
        self._first: dict[str, np.ndarray] = {}
        self._quad_cache: np.ndarray | None = None

    @classmethod
    def of(cls, sample: Mapping[str, int]) -> ReadSample:
        """Return ``sample`` itself if it is a :class:`ReadSample`, else wrap it."""
        return sample if isinstance(sample, ReadSample) else cls(sample)

    def __getitem__(self, seq: str) -> int:
        return self._sample[seq]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sample)

    def __len__(self) -> int:
        return len(self._sample)

    @property
    def total(self) -> int:
        """All reads of the sample (the sum of the counts)."""
        return int(self.counts.sum())

    def first_positions(self, probe: str) -> np.ndarray:
        """Position of ``probe``'s first exact occurrence in each read, -1 if none.

        The same as ``[seq.find(probe) for seq in sample]``, as ``int64``.
        """
        found = self._first.get(probe)
        if found is None:
            found = self._find_first(probe)
            self._first[probe] = found
        return found

    def _find_first(self, probe: str) -> np.ndarray:
        pattern = probe.encode("ascii", "replace") if probe.isascii() else b""
        if self.buffer is None or not pattern or b"\n" in pattern:
            return np.fromiter(
                (s.find(probe) for s in self.sequences),
                dtype=np.int64,
                count=len(self.sequences),
            )
        out = np.full(len(self.sequences), -1, dtype=np.int64)
        buf = self.buffer
        k = len(pattern)
        if len(buf) < k:
            return out
        if k >= 4:
            # candidates matching the first 4 bytes (one uint32 compare), then
            # the rest checked 4 bytes (or the last ones) at a time
            quads = self._quads()
            hits = np.flatnonzero(quads[: len(buf) - k + 1] == _quad(pattern, 0))
            for j in range(4, k, 4):
                j = min(j, k - 4)
                hits = hits[quads[hits + j] == _quad(pattern, j)]
        else:
            hits = np.flatnonzero(buf[: len(buf) - k + 1] == pattern[0])
            for j in range(1, k):
                hits = hits[buf[hits + j] == pattern[j]]
        if not len(hits):
            return out
        read = np.searchsorted(self.starts, hits, side="right") - 1
        first = np.ones(len(hits), dtype=bool)  # hits ascend: a read's first hit
        first[1:] = read[1:] != read[:-1]
        out[read[first]] = hits[first] - self.starts[read[first]]
        return out

    def _quads(self) -> np.ndarray:
        """Return the 4 bytes at every buffer position as one ``uint32`` (a view)."""
        if self._quad_cache is None:
            assert self.buffer is not None
            padded = np.zeros(len(self.buffer) + 3, dtype=np.uint8)
            padded[: len(self.buffer)] = self.buffer
            self._quad_cache = np.ndarray(
                (len(self.buffer),), dtype="<u4", buffer=padded.data, strides=(1,)
            )
        return self._quad_cache

    def first_window_in(
        self, windows: frozenset[str], k: int, max_offset: int
    ) -> np.ndarray | None:
        """First read offset ``o`` in ``0..max_offset`` with ``seq[o:o+k]`` in ``windows``.

        Per read, -1 if none (offsets only where the window lies inside the
        read). Compares 2-bit packed windows; returns ``None`` (the caller
        searches read by read) if a ``k``-long entry of ``windows`` is not
        all ``ACGT``, ``k`` is over 32 or the sample is not ASCII.
        """
        keys = [w for w in windows if len(w) == k]
        if self.buffer is None or not 1 <= k <= 32:
            return None
        if not set("".join(keys)) <= set("ACGT"):
            return None
        n = len(self.sequences)
        out = np.full(n, -1, dtype=np.int64)
        if not keys or not n:
            return out
        packed = np.unique(_pack_strings(keys, k))
        offsets = max_offset + 1
        if offsets <= 0 or not len(self.buffer):
            return out
        for lo in range(0, n, _BLOCK):  # bounded memory for large samples
            hi = min(lo + _BLOCK, n)
            out[lo:hi] = self._first_window_block(packed, k, offsets, lo, hi)
        return out

    def _first_window_block(
        self, packed: np.ndarray, k: int, offsets: int, lo: int, hi: int
    ) -> np.ndarray:
        """:meth:`first_window_in` for reads ``lo..hi-1``."""
        assert self.buffer is not None
        starts, lengths = self.starts[lo:hi], self.lengths[lo:hi]
        # every read's first offsets + k - 1 bases as 2-bit codes (255: not
        # ACGT or past the read's end)
        span = np.arange(offsets + k - 1, dtype=np.int64)
        pos = np.minimum(starts[:, None] + span, len(self.buffer) - 1)
        grid = _CODE2[self.buffer[pos]]
        grid[span >= lengths[:, None]] = 255
        bad = grid == 255
        vals = np.where(bad, 0, grid).astype(np.uint64)
        # the packed window at each offset, and whether it is all ACGT
        key = np.zeros((len(grid), offsets), dtype=np.uint64)
        n_bad = np.zeros((len(grid), offsets), dtype=np.int64)
        for j in range(k):
            key <<= np.uint64(2)
            key |= vals[:, j : j + offsets]
            n_bad += bad[:, j : j + offsets]
        at = np.minimum(np.searchsorted(packed, key), len(packed) - 1)
        hit = (packed[at] == key) & (n_bad == 0)
        found = hit.any(axis=1)
        out = np.full(len(grid), -1, dtype=np.int64)
        out[found] = np.argmax(hit[found], axis=1)
        return out


def _quad(pattern: bytes, j: int) -> np.uint32:
    """Bytes ``j..j+3`` of ``pattern`` as the little-endian ``uint32`` of :meth:`_quads`."""
    return np.uint32(int.from_bytes(pattern[j : j + 4], "little"))


def _pack_strings(seqs: list[str], k: int) -> np.ndarray:
    """2-bit pack ``k``-long ``ACGT`` strings into ``uint64`` (A=0 ... T=3)."""
    raw = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8)
    codes = _CODE2[raw].reshape(len(seqs), k).astype(np.uint64)
    key = np.zeros(len(seqs), dtype=np.uint64)
    for j in range(k):
        key = (key << np.uint64(2)) | codes[:, j]
    return key
