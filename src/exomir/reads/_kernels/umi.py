"""UMI kernels: (insert, UMI) code runs, merging, directional molecule counts."""

from __future__ import annotations

import numpy as np

from exomir.reads._kernels.base import njit
from exomir.reads._kernels.sort import _DIGIT_BITS
from exomir.reads._kernels.tables import _find


@njit(nogil=True, cache=True)
def run_lengths(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct values of sorted ``codes`` and how often each occurs."""
    m = len(codes)
    k = 0
    for i in range(m):
        k += i == 0 or codes[i] != codes[i - 1]
    out = np.empty(k, dtype=np.int64)
    reads = np.zeros(k, dtype=np.int64)
    j = -1
    for i in range(m):
        if i == 0 or codes[i] != codes[i - 1]:
            j += 1
            out[j] = codes[i]
        reads[j] += 1
    return out, reads


@njit(nogil=True, cache=True)
def merge_runs(
    c1: np.ndarray, r1: np.ndarray, c2: np.ndarray, r2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted runs of distinct codes with reads (reads of a code add)."""
    n1, n2 = len(c1), len(c2)
    i = j = k = 0
    while i < n1 and j < n2:  # count the merged codes first
        if c1[i] < c2[j]:
            i += 1
        elif c2[j] < c1[i]:
            j += 1
        else:
            i += 1
            j += 1
        k += 1
    k += n1 - i + n2 - j
    codes = np.empty(k, dtype=np.int64)
    reads = np.empty(k, dtype=np.int64)
    i = j = k = 0
    while i < n1 or j < n2:
        if j >= n2 or (i < n1 and c1[i] < c2[j]):
            codes[k] = c1[i]
            reads[k] = r1[i]
            i += 1
        elif i >= n1 or c2[j] < c1[i]:
            codes[k] = c2[j]
            reads[k] = r2[j]
            j += 1
        else:
            codes[k] = c1[i]
            reads[k] = r1[i] + r2[j]
            i += 1
            j += 1
        k += 1
    return codes, reads


@njit(nogil=True, cache=True)
def sort_pairs(codes: np.ndarray, reads: np.ndarray) -> None:
    """Sort non-negative ``codes`` in place, ``reads`` along (LSD radix sort)."""
    m = len(codes)
    if m < 2:
        return
    top = np.int64(0)
    for i in range(m):
        top |= codes[i]
    c1, r1 = codes, reads
    c2 = np.empty(m, dtype=np.int64)
    r2 = np.empty(m, dtype=np.int64)
    nb = 1 << _DIGIT_BITS
    count = np.zeros(nb, dtype=np.int64)
    sh = 0
    swapped = False
    while sh < 63 and (top >> sh) > 0:
        count[:] = 0
        for i in range(m):
            count[(c1[i] >> sh) & (nb - 1)] += 1
        total = 0
        for b in range(nb):
            c = count[b]
            count[b] = total
            total += c
        for i in range(m):
            b = (c1[i] >> sh) & (nb - 1)
            k = count[b]
            c2[k] = c1[i]
            r2[k] = r1[i]
            count[b] = k + 1
        c1, c2 = c2, c1
        r1, r2 = r2, r1
        swapped = not swapped
        sh += _DIGIT_BITS
    if swapped:
        codes[:] = c1
        reads[:] = r1


@njit(nogil=True, cache=True)
def union_ids(
    akeys: np.ndarray,
    acount: np.ndarray,
    na: int,
    bkeys: np.ndarray,
    bcount: np.ndarray,
    nb: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the inserts of two id tables (UMI protocols), numbered together.

    Table a keeps its ids ``0..na-1``; inserts of table b get a's id, or a
    new one from ``na`` on. Returns the inserts by id (rows of key words) and
    the new id of each of b's ids.
    """
    nw = akeys.shape[1]
    keys = np.empty((na + nb, nw), dtype=np.uint64)
    for i in range(len(acount)):
        if acount[i]:
            keys[np.int64(acount[i]) - 1] = akeys[i]
    remap = np.empty(nb, dtype=np.int64)
    n = na
    for i in range(len(bcount)):
        if bcount[i]:
            h = _find(akeys, acount, bkeys[i], nw)
            if h >= 0:
                remap[np.int64(bcount[i]) - 1] = np.int64(acount[h]) - 1
            else:
                remap[np.int64(bcount[i]) - 1] = n
                keys[n] = bkeys[i]
                n += 1
    return keys[:n], remap


@njit(nogil=True, cache=True)
def remap_ids(codes: np.ndarray, remap: np.ndarray, shift: int) -> None:
    """Replace the insert id of each code (``id << shift | UMI``) in place."""
    low = (np.int64(1) << shift) - 1
    for i in range(len(codes)):
        codes[i] = (remap[codes[i] >> shift] << shift) | (codes[i] & low)


_ODD_BITS = np.uint64(0x5555555555555555)


@njit(inline="always")
def _one_mismatch(x: np.uint64) -> bool:
    """Whether two 2-bit packed sequences whose XOR is ``x`` differ at one base."""
    y = (x | (x >> np.uint64(1))) & _ODD_BITS
    return y != 0 and (y & (y - np.uint64(1))) == 0


@njit(nogil=True, cache=True)
def directional_molecules(
    codes: np.ndarray, counts: np.ndarray, umi_len: int, n_inserts: int
) -> np.ndarray:
    """Molecules per insert with UMI-tools' directional rule.

    ``codes`` are the distinct (insert id, UMI) pairs, sorted, each
    ``id << 2 * umi_len | 2-bit UMI``; ``counts`` their reads. Within an
    insert, UMI ``a`` absorbs ``b`` when they differ at one base and
    ``count(a) >= 2 * count(b) - 1``; starting from the most frequent UMI not
    yet absorbed, everything reachable along such edges is one molecule
    (Smith et al. 2017, Genome Research 27:491). Pairs differing at one base
    share one half of the UMI, so they are found within groups of equal
    (insert, half), after one sort per half.
    """
    n = len(codes)
    out = np.zeros(n_inserts, dtype=np.int64)
    if n == 0:
        return out
    half = np.uint64(umi_len)  # bits of half a UMI (umi_len / 2 bases)
    hmask = (np.uint64(1) << half) - np.uint64(1)
    id_shift = np.uint64(2 * umi_len)
    ucodes = codes.view(np.uint64)
    src = []
    dst = []
    for side in range(2):
        if side == 0:  # same insert and first half: already contiguous
            order = np.arange(n)
            keys = ucodes >> half
        else:  # same insert and second half
            swapped = (
                ((ucodes >> id_shift) << id_shift)
                | ((ucodes & hmask) << half)
                | ((ucodes >> half) & hmask)
            )
            order = np.argsort(swapped, kind="mergesort")
            keys = swapped[order] >> half
        lo = 0
        while lo < n:
            hi = lo + 1
            while hi < n and keys[hi] == keys[lo]:
                hi += 1
            for a in range(lo, hi - 1):
                i = order[a]
                for b in range(a + 1, hi):
                    j = order[b]
                    if _one_mismatch(ucodes[i] ^ ucodes[j]):
                        if counts[i] >= 2 * counts[j] - 1:
                            src.append(i)
                            dst.append(j)
                        if counts[j] >= 2 * counts[i] - 1:
                            src.append(j)
                            dst.append(i)
            lo = hi
    # adjacency lists (CSR)
    m = len(src)
    start = np.zeros(n + 1, dtype=np.int64)
    for e in range(m):
        start[src[e] + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    fill = start[:-1].copy()
    adj = np.empty(m, dtype=np.int64)
    for e in range(m):
        adj[fill[src[e]]] = dst[e]
        fill[src[e]] += 1
    found = np.zeros(n, dtype=np.bool_)
    stamp = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    lo = 0
    while lo < n:
        iid = ucodes[lo] >> id_shift
        hi = lo + 1
        while hi < n and (ucodes[hi] >> id_shift) == iid:
            hi += 1
        if hi - lo == 1:
            out[iid] = 1
            lo = hi
            continue
        order = lo + np.argsort(-counts[lo:hi], kind="mergesort")
        clusters = 0
        for v0 in order:
            if found[v0]:
                continue
            clusters += 1
            top = 0
            stack[0] = v0
            stamp[v0] = v0
            while top >= 0:
                v = stack[top]
                top -= 1
                found[v] = True
                for e in range(start[v], start[v + 1]):
                    w = adj[e]
                    if stamp[w] != v0:
                        stamp[w] = v0
                        top += 1
                        stack[top] = w
        out[iid] = clusters
        lo = hi
    return out
