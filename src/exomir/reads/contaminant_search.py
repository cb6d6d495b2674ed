"""Contaminant categories without bowtie: all end-to-end hits with <= 1 mismatch.

The contaminant step of :mod:`exomir.reads.annotate` asks, for every unique
insert that is not a miRNA, which contaminant sequences it matches end to end
on either strand with the fewest mismatches (at most 0 or 1), and takes the
first category in config order among them: bowtie 1 with ``-v 1 -a --best
--strata`` on the combined contaminant index. With such small mismatch
budgets the same answer comes from a pigeonhole search that is cheaper than
starting bowtie and parsing its output: a read that matches a reference
window with at most one mismatch has the first or the second half of its
16-base prefix exactly in that window. The windows of the reference (both
strands, never across two records) are bucketed by each half of their first
16 bases; a read looks at the windows of its two buckets (about 7 each for the
default contaminant set of 243 kb), keeps those whose other half is within
the budget, and compares itself with each of them base by base.

What the search cannot decide the same way as bowtie goes to bowtie: reads
with letters other than ``ACGT``, reads shorter than 16 bases, and reads that
would touch an ambiguous reference base (``N`` and other IUPAC codes; bowtie
handles them its own way). Windows holding ambiguous bases are entered once
for each ``ACGT`` substitution (up to three such bases) so that such reads
are found, and flagged. On the simulated 5 M-read library of
``bench/bench_reads.py`` (1,567,507 unique inserts) the search gives the
category and mismatch count of every insert exactly as bowtie does
(``tests/unit/test_annotate.py`` checks the equality on simulated fragments
with substitutions, on both strands, and across the ``.``/``_`` joins that
bowtie-build makes).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from exomir.reads._kernels import njit

#: Bases of the read prefix that is bucketed (two halves of 8 bases).
K = 16
_HALF = K // 2
_HALF_BITS = 2 * _HALF
#: Ambiguous bases in a 16-base window that are still expanded (4**3 copies).
MAX_AMBIGUOUS = 3

_SEPARATOR = 5
_AMBIGUOUS = 4
_CODES = np.full(256, _AMBIGUOUS, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODES[_b] = _i
_READ_CODES = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _READ_CODES[_b] = _i

#: No hit (category) / more mismatches than allowed.
NONE = -1
#: Fewer reads than this per thread are searched in one thread.
_MIN_ROWS_PER_THREAD = 20_000


@dataclass
class _Buckets:
    """Windows grouped by one half of their first 16 bases."""

    start: np.ndarray  # int64, 2**16 + 1 offsets
    other: np.ndarray  # uint16, the other half of each window
    pos: np.ndarray  # int64, window start in the concatenated reference
    flag: np.ndarray  # bool, the window holds an ambiguous base

    @classmethod
    def of(
        cls, bucket: np.ndarray, other: np.ndarray, pos: np.ndarray, flag: np.ndarray
    ) -> _Buckets:
        order = np.argsort(bucket, kind="stable")
        counts = np.bincount(bucket, minlength=1 << _HALF_BITS)
        start = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        return cls(
            start,
            other[order].astype(np.uint16),
            pos[order].astype(np.int64),
            flag[order],
        )


class ContaminantSearch:
    """End-to-end search of reads against categorised reference sequences.

    Parameters
    ----------
    records
        ``(category, sequence)`` in index order; the category is the 0-based
        position in config order. Sequences as bowtie-build reads them
        (upper case, non-IUPAC characters removed); both strands are searched.
    mismatches
        0 or 1.
    """

    def __init__(self, records: Sequence[tuple[int, str]], mismatches: int) -> None:
        if mismatches not in (0, 1):
            raise ValueError(f"mismatches must be 0 or 1, got {mismatches}")
        self.mismatches = mismatches
        parts: list[np.ndarray] = []
        cats: list[np.ndarray] = []
        comp = str.maketrans("ACGTRYKMBDHV", "TGCAYRMKVHDB")
        for category, seq in records:
            for strand in (seq, seq.translate(comp)[::-1]):
                codes = _CODES[np.frombuffer(strand.encode("ascii"), np.uint8)]
                parts.append(np.append(codes, np.uint8(_SEPARATOR)))
                cats.append(np.full(len(codes) + 1, category, dtype=np.int32))
        self.ref = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        self.category = np.concatenate(cats) if cats else np.zeros(0, np.int32)
        self._index()

    def _index(self) -> None:
        ref = self.ref
        if len(ref) < K:
            windows = np.zeros((0, K), dtype=np.uint8)
        else:
            windows = np.lib.stride_tricks.sliding_window_view(ref, K)
        ambiguous = (windows == _AMBIGUOUS).sum(axis=1)
        usable = ~(windows == _SEPARATOR).any(axis=1)
        plain = np.flatnonzero(usable & (ambiguous == 0))
        keys = [_pack(windows[plain])]
        pos = [plain]
        flags = [np.zeros(len(plain), dtype=bool)]
        # windows with ambiguous bases: every ACGT substitution, flagged
        for p in np.flatnonzero(usable & (ambiguous > 0) & (ambiguous <= 3)).tolist():
            w = windows[p].copy()
            at = np.flatnonzero(w == _AMBIGUOUS)
            subs = np.array(list(itertools.product(range(4), repeat=len(at))))
            variants = np.repeat(w[None, :], len(subs), axis=0)
            variants[:, at] = subs
            keys.append(_pack(variants))
            pos.append(np.full(len(subs), p, dtype=np.int64))
            flags.append(np.ones(len(subs), dtype=bool))
        key = np.concatenate(keys)
        position = np.concatenate(pos).astype(np.int64)
        flag = np.concatenate(flags)
        low = key & np.uint32((1 << _HALF_BITS) - 1)
        high = key >> np.uint32(_HALF_BITS)
        self.by_low = _Buckets.of(low, high, position, flag)
        self.by_high = _Buckets.of(high, low, position, flag)
        # a window with more than MAX_AMBIGUOUS ambiguous bases is not
        # entered: reads that might align there are left to bowtie
        self.unexpanded = int((usable & (ambiguous > MAX_AMBIGUOUS)).sum())

    def search(
        self,
        buffer: np.ndarray,
        starts: np.ndarray,
        lengths: np.ndarray,
        rows: np.ndarray,
        threads: int = 1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search reads ``rows`` of a sequence buffer.

        Parameters
        ----------
        buffer
            ASCII sequences (uint8).
        starts, lengths
            Offset and length of every read in ``buffer``.
        rows
            Reads to search: ``ACGT`` only, at least 16 bases.
        threads
            2 or more: search the two halves of ``rows`` at the same time.

        Returns
        -------
        category : numpy.ndarray
            Per row, the first category among the hits with the fewest
            mismatches (:data:`NONE` if no hit).
        mismatches : numpy.ndarray
            Per row, mismatches of the best hits (:data:`NONE` if no hit).
        undecided : numpy.ndarray
            Per row, ``True`` where bowtie must decide (a candidate hit
            touches an ambiguous reference base, or the reference has
            windows too ambiguous to enter).
        """
        category = np.full(len(rows), NONE, dtype=np.int64)
        mism = np.full(len(rows), NONE, dtype=np.int64)
        undecided = np.zeros(len(rows), dtype=bool)
        if not len(rows):
            return category, mism, undecided
        if self.unexpanded:
            undecided[:] = True
            return category, mism, undecided
        a, b = self.by_low, self.by_high
        rows = np.asarray(rows, dtype=np.int64)

        def part(lo: int, hi: int) -> None:
            _search(
                buffer,
                starts,
                lengths,
                rows[lo:hi],
                _READ_CODES,
                self.ref,
                self.category,
                a.start,
                a.other,
                a.pos,
                a.flag,
                b.start,
                b.other,
                b.pos,
                b.flag,
                self.mismatches,
                category[lo:hi],
                mism[lo:hi],
                undecided[lo:hi],
            )

        # the compiled loop releases the GIL: the two halves run at once
        n = len(rows)
        if threads > 1 and n >= 2 * _MIN_ROWS_PER_THREAD:
            cut = n // 2
            with ThreadPoolExecutor(1) as pool:
                job = pool.submit(part, cut, n)
                part(0, cut)
                job.result()
        else:
            part(0, n)
        return category, mism, undecided


def _pack(windows: np.ndarray) -> np.ndarray:
    """2-bit pack rows of 16 base codes (0-3) into uint32, first base high."""
    key = np.zeros(len(windows), dtype=np.uint32)
    for j in range(K):
        key = (key << np.uint32(2)) | windows[:, j].astype(np.uint32)
    return key


@njit(inline="always")
def _bases_differing(x: np.uint32) -> int:
    """0, 1 or 2 (= more than one): 2-bit groups of ``x`` that are not zero."""
    y = (x | (x >> np.uint32(1))) & np.uint32(0x5555)
    if y == 0:
        return 0
    if (y & (y - np.uint32(1))) == 0:
        return 1
    return 2


@njit(nogil=True, cache=True)
def _search(
    buffer,
    starts,
    lengths,
    rows,
    codes,
    ref,
    refcat,
    a_start,
    a_other,
    a_pos,
    a_flag,
    b_start,
    b_other,
    b_pos,
    b_flag,
    budget,
    out_cat,
    out_mm,
    out_undecided,
):
    n_ref = len(ref)
    half_mask = np.uint32((1 << _HALF_BITS) - 1)
    for r in range(len(rows)):
        s = starts[rows[r]]
        length = lengths[rows[r]]
        key = np.uint32(0)
        for j in range(K):
            key = (key << np.uint32(2)) | np.uint32(codes[buffer[s + j]])
        low = key & half_mask
        high = key >> np.uint32(_HALF_BITS)
        best = budget + 1
        best_cat = -1
        undecided = False
        for side in range(2):
            if side == 0:
                bucket, mine = low, high
                start, other, pos, flag = a_start, a_other, a_pos, a_flag
            else:
                bucket, mine = high, low
                start, other, pos, flag = b_start, b_other, b_pos, b_flag
            for i in range(start[bucket], start[bucket + 1]):
                if _bases_differing(mine ^ np.uint32(other[i])) > budget:
                    continue
                if flag[i]:
                    undecided = True
                    continue
                p = pos[i]
                if p + length > n_ref:
                    continue
                mm = 0
                for j in range(length):
                    c = ref[p + j]
                    if c == _SEPARATOR:  # past the end of the record
                        mm = budget + 1
                        break
                    if c == _AMBIGUOUS:
                        undecided = True
                        mm = budget + 1
                        break
                    if c != codes[buffer[s + j]]:
                        mm += 1
                        if mm > budget:
                            break
                if mm > budget:
                    continue
                if mm < best:
                    best = mm
                    best_cat = refcat[p]
                elif mm == best and refcat[p] < best_cat:
                    best_cat = refcat[p]
        out_undecided[r] = undecided
        if best <= budget:
            out_cat[r] = best_cat
            out_mm[r] = best
