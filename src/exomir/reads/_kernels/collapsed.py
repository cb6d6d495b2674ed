"""Annotation kernels: collapsed blocks, hairpin candidates, duplicates, k-mers."""

from __future__ import annotations

import numpy as np

from exomir.reads._kernels.base import _BASE2, _MIX1, _MIX2, _SH, njit

# ---------------------------------------------------------------- annotation

_ACGTN = np.zeros(256, dtype=np.bool_)
for _b in b"ACGTN":
    _ACGTN[_b] = True


@njit(nogil=True, cache=True)
def parse_collapsed_block(
    buf: np.ndarray,
    final: bool,
    seqs: np.ndarray,
    counts: np.ndarray,
    lengths: np.ndarray,
    has_n: np.ndarray,
) -> tuple[int, int, int, int]:
    """Parse ``>name_x<count>`` / sequence line pairs of a collapsed FASTA.

    Sequences (``ACGTN`` only, non-empty) are copied newline-terminated to
    ``seqs``, counts to ``counts``, their lengths to ``lengths`` and whether
    they hold an ``N`` to ``has_n``. Returns ``(ok, records, seq bytes,
    consumed)``; ``ok`` is 0 at anything else (lower case, ``U``, white
    space, a header without a count >= 1, a wrapped sequence, CR), for the
    general reader to handle. Stops before an incomplete pair unless
    ``final`` (the text then must end with a newline).
    """
    n = len(buf)
    pos = 0
    rec = 0
    out = 0
    while pos < n:
        if buf[pos] != 62:  # '>'
            return 0, rec, out, pos
        e1 = pos + 1
        word_end = -1
        while e1 < n and buf[e1] != 10:
            c = buf[e1]
            if word_end < 0 and (c == 32 or c == 9 or c == 13):
                word_end = e1
            e1 += 1
        if e1 >= n:
            if final:
                return 0, rec, out, pos
            break
        if word_end < 0:
            word_end = e1
        s = e1 + 1
        e2 = s
        while e2 < n and buf[e2] != 10:
            e2 += 1
        if e2 >= n:
            if final:
                return 0, rec, out, pos
            break
        if e2 == s:
            return 0, rec, out, pos
        # count: digits at the end of the first word, after "_x"
        j = word_end - 1
        value = 0
        scale = 1
        while j > pos and 48 <= buf[j] <= 57:
            value += (buf[j] - 48) * scale
            scale *= 10
            j -= 1
            if scale > 10**17:
                return 0, rec, out, pos
        if j == word_end - 1 or value < 1 or j < pos + 2:
            return 0, rec, out, pos
        if buf[j] != 120 or buf[j - 1] != 95:  # "_x"
            return 0, rec, out, pos
        n_base = False
        for k in range(s, e2):
            c = buf[k]
            if not _ACGTN[c]:
                return 0, rec, out, pos
            n_base |= c == 78
            seqs[out] = c
            out += 1
        seqs[out] = 10
        out += 1
        counts[rec] = value
        lengths[rec] = e2 - s
        has_n[rec] = n_base
        rec += 1
        pos = e2 + 1
    return 1, rec, out, pos


@njit(nogil=True, cache=True)
def hairpin_candidates(
    buffer: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    k: int,
    low_bits: int,
    b0_values: np.ndarray,
    b0_start: np.ndarray,
    b0_count: np.ndarray,
    b1_values: np.ndarray,
    b1_start: np.ndarray,
    b1_count: np.ndarray,
    mismatches: int,
) -> np.ndarray:
    """Return, per read in ``rows``, whether its prefix can hit a hairpin.

    That is: its ``k``-base prefix is within ``mismatches`` (0 or 1) of a
    hairpin ``k``-mer. The k-mers are bucketed by their low half (``b0``: bucket = low bits,
    values = high bits) and by their high half (``b1``); a read is compared
    with the k-mers of its two buckets (see ``_HairpinFilter``).
    """
    out = np.zeros(len(rows), dtype=np.bool_)
    low_mask = np.uint32((1 << low_bits) - 1)
    lb = np.uint32(low_bits)
    odd = np.uint32(0x55555555)
    for r in range(len(rows)):
        s = starts[rows[r]]
        key = np.uint32(0)
        for j in range(k):
            key = (key << np.uint32(2)) | np.uint32(_BASE2[buffer[s + j]] & 3)
        low = key & low_mask
        high = key >> lb
        found = False
        for side in range(2):
            if side == 0:
                b = low
                v = high
                values, st, cnt = b0_values, b0_start, b0_count
            else:
                b = high
                v = low
                values, st, cnt = b1_values, b1_start, b1_count
            for i in range(st[b], st[b] + cnt[b]):
                d = np.uint32(v ^ values[i])
                d = (d | (d >> np.uint32(1))) & odd
                if d == 0 or (mismatches and (d & (d - np.uint32(1))) == 0):
                    found = True
                    break
            if found:
                break
        out[r] = found
    return out


@njit(nogil=True, cache=True)
def has_duplicates(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> bool:
    """Whether two of the sequences ``buffer[starts[i]:starts[i] + lengths[i]]`` are equal.

    An open-addressing hash table of sequence indices (load <= 1/2); equal
    hashes are compared byte by byte.
    """
    n = len(starts)
    size = 1
    while size < 2 * n + 2:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for i in range(n):
        s = starts[i]
        m = lengths[i]
        h = np.uint64(m) * _MIX1
        for j in range(m):
            h = (h ^ np.uint64(buffer[s + j])) * _MIX2
        h ^= h >> _SH
        slot = h & mask
        while True:
            k = table[slot]
            if k < 0:
                table[slot] = i
                break
            if lengths[k] == m:
                t = starts[k]
                same = True
                for j in range(m):
                    if buffer[t + j] != buffer[s + j]:
                        same = False
                        break
                if same:
                    return True
            slot = (slot + np.uint64(1)) & mask
    return False


# --------------------------------------------------------------------------- #
# Artifact rules of the annotation (exomir.reads.annotate)
# --------------------------------------------------------------------------- #


@njit(nogil=True, cache=True)
def low_complexity(
    buffer: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    max_share: float,
    max_run_share: float,
) -> np.ndarray:
    """Flag sequences of low complexity.

    A sequence (at least one base) is of low complexity if one base makes up
    more than ``max_share`` of it, or if one base repeats in a run longer
    than ``max_run_share`` of its length.
    """
    n = len(starts)
    out = np.zeros(n, dtype=np.bool_)
    counts = np.zeros(256, dtype=np.int64)
    for i in range(n):
        s = starts[i]
        m = lengths[i]
        if m <= 0:
            continue
        counts[:] = 0
        run = 0
        longest = 0
        prev = 0
        for j in range(m):
            c = buffer[s + j]
            counts[c] += 1
            if c == prev:
                run += 1
            else:
                run = 1
                prev = c
            if run > longest:
                longest = run
        top = 0
        for b in (65, 67, 71, 84):  # A C G T
            if counts[b] > top:
                top = counts[b]
        out[i] = top > max_share * m or longest > max_run_share * m
    return out


@njit(nogil=True, cache=True)
def has_kmer(
    buffer: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    rows: np.ndarray,
    kmers: np.ndarray,
    k: int,
    bits: np.ndarray,
) -> np.ndarray:
    """Flag the ``rows`` that contain one of the sorted 2-bit ``kmers`` exactly.

    ``k`` <= 32; windows with a base other than A, C, G, T never match.
    ``bits`` (:func:`kmer_bits`) rejects nearly every window before the
    binary search.
    """
    out = np.zeros(len(rows), dtype=np.bool_)
    mask = np.uint64((1 << (2 * k)) - 1) if k < 32 else np.uint64(-1)
    nk = len(kmers)
    if nk == 0:
        return out
    for q in range(len(rows)):
        r = rows[q]
        s = starts[r]
        m = lengths[r]
        h = np.uint64(0)
        run = 0
        for j in range(m):
            b2 = _BASE2[buffer[s + j]]
            if b2 == 255:
                run = 0
                h = np.uint64(0)
                continue
            h = ((h << np.uint64(2)) | np.uint64(b2)) & mask
            run += 1
            if run >= k:
                low = h & np.uint64(KMER_BITS_MASK)
                if not (bits[low >> np.uint64(3)] >> (low & np.uint64(7))) & 1:
                    continue
                lo = np.searchsorted(kmers, h)
                if lo < nk and kmers[lo] == h:
                    out[q] = True
                    break
    return out


#: Low bits of a k-mer code used by the :func:`has_kmer` pre-filter.
KMER_BITS_MASK = (1 << 25) - 1


def kmer_bits(kmers: np.ndarray) -> np.ndarray:
    """Bit table of the low 25 bits of ``kmers`` (4 MB) for :func:`has_kmer`."""
    bits = np.zeros((KMER_BITS_MASK + 1) >> 3, dtype=np.uint8)
    low = (kmers & np.uint64(KMER_BITS_MASK)).astype(np.int64)
    np.bitwise_or.at(bits, low >> 3, (1 << (low & 7)).astype(np.uint8))
    return bits
