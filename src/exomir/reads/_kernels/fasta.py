"""Write the collapsed FASTA text straight from packed keys."""

from __future__ import annotations

import numpy as np

from exomir.reads._kernels.base import _LETTERS, BASES_PER_WORD, njit


@njit(nogil=True, cache=True)
def _digits(x: int | np.int64) -> int:
    d = 1
    while x >= 10:
        x //= 10
        d += 1
    return d


@njit(nogil=True, cache=True)
def _put_int(out: np.ndarray, o: int, x: int) -> int:
    d = _digits(x)
    for k in range(d - 1, -1, -1):
        out[o + k] = 48 + x % 10
        x //= 10
    return o + d


@njit(nogil=True, cache=True)
def fasta_size(keys: np.ndarray, counts: np.ndarray, prefix_len: int) -> int:
    """Return the bytes of :func:`format_fasta`'s text (any entry order)."""
    m, nw = keys.shape
    size = 0
    for i in range(m):
        for w in range(nw):
            word = keys[i, w]
            for k in range(BASES_PER_WORD):
                if (word >> np.uint64(3 * (BASES_PER_WORD - 1 - k))) & np.uint64(7):
                    size += 1
        size += 1 + prefix_len + _digits(i + 1) + 2 + _digits(np.int64(counts[i])) + 2
    return size


#: Entries gathered (in output order) at a time by :func:`format_fasta`.
_GATHER = 512


@njit(nogil=True, cache=True)
def format_fasta(
    keys: np.ndarray,
    counts: np.ndarray,
    order: np.ndarray,
    prefix: np.ndarray,
    out: np.ndarray,
) -> int:
    """Write one FASTA record per entry to ``out``; return the bytes written.

    Records ``>{prefix}{rank}_x{count}`` in ``order``; ``out`` must hold :func:`fasta_size` bytes. Entries are first copied in
    small groups by a tight loop (whose cache misses overlap), then written.
    """
    nw = keys.shape[1]
    m = len(order)
    gk = np.empty((_GATHER, nw), dtype=np.uint64)
    gc = np.empty(_GATHER, dtype=np.int64)
    o = 0
    for g0 in range(0, m, _GATHER):
        g1 = min(m, g0 + _GATHER)
        for i in range(g0, g1):
            e = order[i]
            gc[i - g0] = np.int64(counts[e])
            for w in range(nw):
                gk[i - g0, w] = keys[e, w]
        for i in range(g0, g1):
            out[o] = 62  # '>'
            o += 1
            for j in range(len(prefix)):
                out[o + j] = prefix[j]
            o += len(prefix)
            o = _put_int(out, o, i + 1)
            out[o] = 95  # '_'
            out[o + 1] = 120  # 'x'
            o = _put_int(out, o + 2, gc[i - g0])
            out[o] = 10
            o += 1
            for w in range(nw):
                word = gk[i - g0, w]
                if word == 0:
                    break
                for k in range(BASES_PER_WORD):
                    code = (
                        word >> np.uint64(3 * (BASES_PER_WORD - 1 - k))
                    ) & np.uint64(7)
                    if code == 0:
                        break
                    out[o] = _LETTERS[code]
                    o += 1
            out[o] = 10
            o += 1
    return o
