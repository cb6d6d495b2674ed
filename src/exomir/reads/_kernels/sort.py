"""Radix sort of packed inserts into output order (count desc., then sequence)."""

from __future__ import annotations

import numpy as np

from exomir.reads._kernels.base import njit

#: Bits of one radix sort digit, and digits of a 64-bit word.
_DIGIT_BITS = 11
_DIGITS = 6
#: Runs of entries with the same count and first key word up to this long
#: are ordered by insertion sort, longer ones by another radix sort.
_SMALL_RUN = 24


@njit(nogil=True, cache=True)
def _radix(
    keys: np.ndarray,
    counts: np.ndarray,
    idx: np.ndarray,
    w0: int,
    w1: int,
    by_count: bool,
) -> np.ndarray:
    """Return ``idx`` by count descending (if ``by_count``), then key words.

    Words ``w0:w1`` of the keys compare; a stable LSD radix sort (11-bit
    digits; digits that are the same for every entry are skipped).
    """
    m = len(idx)
    order = idx.copy()
    if m < 2:
        return order
    order2 = np.empty(m, dtype=np.int64)
    col = np.empty(m, dtype=np.uint64)
    col2 = np.empty(m, dtype=np.uint64)
    nb = 1 << _DIGIT_BITS
    hist = np.zeros((_DIGITS, nb), dtype=np.int64)
    dmask = np.uint64(nb - 1)
    cmax = np.uint64(0)
    if by_count:
        for i in range(m):
            if counts[idx[i]] > cmax:
                cmax = np.uint64(counts[idx[i]])
    stages = w1 - w0 + (1 if by_count else 0)
    for stage in range(stages):  # last word first, the count last
        hist[:] = 0
        for i in range(m):
            j = order[i]
            if stage == w1 - w0:
                v = cmax - np.uint64(counts[j])
            else:
                v = keys[j, w1 - 1 - stage]
            col[i] = v
            for d in range(_DIGITS):
                hist[d, (v >> np.uint64(d * _DIGIT_BITS)) & dmask] += 1
        for d in range(_DIGITS):
            sh = np.uint64(d * _DIGIT_BITS)
            if hist[d, (col[0] >> sh) & dmask] == m:
                continue  # the same digit everywhere
            total = 0
            for b in range(nb):
                c = hist[d, b]
                hist[d, b] = total
                total += c
            for i in range(m):
                b = (col[i] >> sh) & dmask
                k = hist[d, b]
                col2[k] = col[i]
                order2[k] = order[i]
                hist[d, b] = k + 1
            col, col2 = col2, col
            order, order2 = order2, order
    return order


@njit(inline="always")
def _key_less(keys: np.ndarray, a: int, b: int, w0: int, nw: int) -> bool:
    for w in range(w0, nw):
        x = keys[a, w]
        y = keys[b, w]
        if x != y:
            return x < y
    return False


@njit(nogil=True, cache=True)
def sort_subset(keys: np.ndarray, counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Return the entries ``idx`` by count descending, then key.

    As :func:`sort_order`, for a subset of the entries.
    """
    nw = keys.shape[1]
    order = _radix(keys, counts, idx, 0, min(1, nw), True)
    if nw < 2:
        return order
    m = len(order)
    lo = 0
    while lo < m:  # order the runs tied on count and first word
        i = order[lo]
        hi = lo + 1
        while (
            hi < m
            and keys[order[hi], 0] == keys[i, 0]
            and counts[order[hi]] == counts[i]
        ):
            hi += 1
        if hi - lo > _SMALL_RUN:
            order[lo:hi] = _radix(keys, counts, order[lo:hi], 1, nw, False)
        elif hi - lo > 1:
            for a in range(lo + 1, hi):
                x = order[a]
                b = a - 1
                while b >= lo and _key_less(keys, x, order[b], 1, nw):
                    order[b + 1] = order[b]
                    b -= 1
                order[b + 1] = x
        lo = hi
    return order


@njit(nogil=True, cache=True)
def sort_order(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return the order of table entries by count descending, then key.

    The keys' words compare as the sequences (see :mod:`exomir.reads._kernels`), and
    every key occurs once. A least-significant-digit radix sort (stable,
    11-bit digits) by the first word, then by the count (as
    ``max - count``); entries tied on both (inserts longer than one word
    sharing its bases) are then ordered by the other words, by insertion
    sort or, in long runs, another radix sort. The same order as
    ``numpy.lexsort`` over the words and the negated counts.
    """
    return sort_subset(keys, counts, np.arange(len(counts)))


@njit(nogil=True, cache=True)
def split_for_sort(
    keys: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split the entries into two halves of the output order.

    Every entry of the first set comes before every entry of the second in
    the output order, and the sets are about equally large. The split is at a count (the median's) and, among the entries with that
    count, at a digit of the first key word. Sorting each set (in two
    threads) and concatenating gives the order of :func:`sort_order`.
    """
    m = len(counts)
    cap = 1 << 16
    ch = np.zeros(cap + 1, dtype=np.int64)
    for i in range(m):
        c = np.int64(counts[i])
        ch[c if c < cap else cap] += 1
    # the count where the descending cumulative count reaches half
    half = m // 2
    acc: int | np.int64 = 0
    cstar = 0
    for k in range(cap, -1, -1):
        if acc + ch[k] > half:
            cstar = k
            break
        acc += ch[k]
    nb = 1 << _DIGIT_BITS
    sh = np.uint64(63 - _DIGIT_BITS)
    dh = np.zeros(nb, dtype=np.int64)
    if cstar < cap:
        for i in range(m):
            if np.int64(counts[i]) == cstar:
                dh[np.int64(keys[i, 0] >> sh)] += 1
    dstar = nb  # entries with count cstar and top digit < dstar go first
    for d in range(nb):
        if acc >= half:
            dstar = d
            break
        acc += dh[d]
    if cstar >= cap:
        dstar = 0
    first = np.empty(m, dtype=np.int64)
    second = np.empty(m, dtype=np.int64)
    n1 = 0
    n2 = 0
    for i in range(m):
        c = np.int64(counts[i])
        if c > cstar or (
            c == cstar and cstar < cap and np.int64(keys[i, 0] >> sh) < dstar
        ):
            first[n1] = i
            n1 += 1
        else:
            second[n2] = i
            n2 += 1
    return first[:n1], second[:n2]
