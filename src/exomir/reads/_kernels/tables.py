"""Hash-table kernels: add string inserts, grow, merge the two parts' tables."""

from __future__ import annotations

import numpy as np

from exomir.reads._kernels.base import _add, _encode, _hash, njit
from exomir.reads._kernels.scan import _insert_id


@njit(nogil=True, cache=True)
def add_lines(
    text: np.ndarray, counts: np.ndarray, nw: int, tkeys: np.ndarray, tcount: np.ndarray
) -> int:
    """Add newline-terminated inserts in ``text`` with ``counts``; return new keys."""
    words = np.zeros(max(nw, 1), dtype=np.uint64)
    start = 0
    i = 0
    new = 0
    for e in range(len(text)):
        if text[e] == 10:
            _encode(text, start, e - start, words, nw)
            new += _add(tkeys, tcount, words, nw, counts[i])
            i += 1
            start = e + 1
    return new


@njit(nogil=True, cache=True)
def rehash(
    tkeys: np.ndarray, tcount: np.ndarray, nkeys: np.ndarray, ncount: np.ndarray
) -> None:
    """Move every entry of one table into a larger, empty one."""
    nw = tkeys.shape[1]
    for i in range(len(tcount)):
        if tcount[i]:
            _add(nkeys, ncount, tkeys[i], nw, tcount[i])


@njit(inline="always")
def _find(
    tkeys: np.ndarray, tcount: np.ndarray, words: np.ndarray, nw: int
) -> int | np.int64:
    """Return the slot of ``words`` in a table, or -1."""
    mask = np.uint64(len(tcount) - 1)
    h = _hash(words, nw) & mask
    while True:
        if tcount[h] == 0:
            return -1
        same = True
        for w in range(nw):
            if tkeys[h, w] != words[w]:
                same = False
                break
        if same:
            return np.int64(h)
        h = (h + np.uint64(1)) & mask


@njit(nogil=True, cache=True)
def merge_tables(
    akeys: np.ndarray, acount: np.ndarray, bkeys: np.ndarray, bcount: np.ndarray
) -> int:
    """Move the counts of keys of table b that table a holds into a.

    Their slots in b are emptied, so that the two tables hold disjoint keys
    afterwards (their union is the merged table; nothing is inserted into a,
    which therefore needs no room). Returns the entries left in b. Keys
    can no longer be looked up in b afterwards (emptied slots end probe
    sequences).
    """
    nw = akeys.shape[1]
    left = 0
    for i in range(len(bcount)):
        c = bcount[i]
        if c:
            h = _find(akeys, acount, bkeys[i], nw)
            if h >= 0:
                acount[h] += c
                bcount[i] = 0
            else:
                left += 1
    return left


@njit(nogil=True, cache=True)
def add_lines_two(
    text: np.ndarray,
    counts: np.ndarray,
    nw: int,
    tkeys: np.ndarray,
    tcount: np.ndarray,
    okeys: np.ndarray,
    ocount: np.ndarray,
) -> int:
    """As :func:`add_lines`, but keys held by a second table are counted there.

    New keys go to the first table (which must have room); returns their
    number.
    """
    words = np.zeros(max(nw, 1), dtype=np.uint64)
    start = 0
    i = 0
    new = 0
    for e in range(len(text)):
        if text[e] == 10:
            _encode(text, start, e - start, words, nw)
            h = _find(okeys, ocount, words, nw)
            if h >= 0:
                ocount[h] += np.uint64(counts[i])
            else:
                new += _add(tkeys, tcount, words, nw, counts[i])
            i += 1
            start = e + 1
    return new


@njit(nogil=True, cache=True)
def gather_used(rows: np.ndarray, out: np.ndarray, start: int) -> int:
    """Copy the occupied rows of a table (last column: count) to ``out[start:]``.

    ``out`` may be ``rows`` itself (compaction in place: rows only move
    forward). Returns the end of the copied rows in ``out``.
    """
    ncol = rows.shape[1]
    c = ncol - 1
    o = start
    for i in range(rows.shape[0]):
        if rows[i, c]:
            for w in range(ncol):
                out[o, w] = rows[i, w]
            o += 1
    return o


@njit(nogil=True, cache=True)
def add_lines_ids(
    text: np.ndarray, nw: int, tkeys: np.ndarray, tcount: np.ndarray, state
) -> np.ndarray:
    """Return the ids of newline-terminated inserts, numbering new ones.

    UMI protocols: as the scan numbers inserts (see :func:`scan_chunk`); the
    table must have room for all of them.
    """
    words = np.zeros(nw + 1, dtype=np.uint64)
    lines = 0
    for e in range(len(text)):
        lines += text[e] == 10
    ids = np.empty(lines, dtype=np.int64)
    start = 0
    i = 0
    for e in range(len(text)):
        if text[e] == 10:
            _encode(text, start, e - start, words, nw)
            ids[i] = _insert_id(tkeys, tcount, words, nw, state)
            i += 1
            start = e + 1
    return ids
