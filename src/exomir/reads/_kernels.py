"""Compiled (numba) kernels of the fast preprocessing path.

Used by :func:`exomir.reads.preprocess.collapse_library` for protocols
whose adapter starts with an exact ``ACGT`` probe (UMI protocols: whose whole
adapter is at most 32 ``ACGT`` bases), see :mod:`exomir.reads.fastscan`. Everything here works on
raw bytes of the decompressed FASTQ text and releases the GIL, so gzip
decompression (ISA-L, in its own thread) runs on the other core at the same
time.

Inserts are stored in an open-addressing hash table keyed by their bases,
3 bits a base (pad 0, ``A`` 1, ``C`` 2, ``G`` 3, ``N`` 4, ``T`` 5: the ASCII
order), 21 bases per 64-bit word, left-aligned. Comparing the words of two
inserts as unsigned integers therefore compares the sequences as strings,
which gives the output order (count descending, then sequence) with one
radix sort (:func:`sort_order`).
"""

from __future__ import annotations

import numpy as np


def _import_numba_without_blas() -> None:
    """Load numba's array lowering without its BLAS probe.

    The first call of any compiled (or cached) kernel makes numba import
    ``numba.np.arraymath``, which probes for BLAS by importing
    ``scipy.linalg``: 0.4 CPU-s per process, for ``np.dot`` and friends that
    these kernels do not use. Unless scipy's linear algebra is already
    loaded, the probe is answered "absent" here (only numba's own compiled
    linear algebra is affected; nothing in exomir compiles any) and the
    import system is left as it was.
    """
    import sys

    name = "scipy.linalg.cython_blas"
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    sys.modules[name] = None  # type: ignore[assignment]  # import raises
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]


try:
    import numba as nb

    _import_numba_without_blas()
    NUMBA = True
    njit = nb.njit
except ImportError:  # pragma: no cover - plain Python (slow) without numba
    NUMBA = False

    def njit(*args, **kwargs):
        """Return the function unchanged (numba is not installed)."""
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


#: Bases per 64-bit key word.
BASES_PER_WORD = 21

# status codes returned by scan_chunk
NEED_MORE = 0  # stopped at an incomplete record (more input needed)
DONE = 1  # all input consumed (final chunk)
TABLE_FULL = 2  # grow the hash table, then call again
SLOW_FULL = 3  # drain the no-probe buffer, then call again
CODES_FULL = 4  # UMI protocols: compact the (insert, UMI) code buffer, call again
ERR_HEADER = 10  # header line does not start with '@'
ERR_PLUS = 11  # third line does not start with '+'
ERR_LENGTH = 12  # sequence and quality lengths differ
ERR_BASE = 13  # character other than ACGTN in the sequence
ERR_TRUNCATED = 14  # input ends inside a record
ERR_QUALITY = 15  # quality character below '!'
ERR_CR = 16  # carriage return (Windows line ends)
ERR_NAME = 17  # '+' line repeats a different name
ERR_TOO_LONG = 18  # read longer than the histogram

# state vector indices
S_RECORDS = 0  # records scanned so far (whole file)
S_USED = 1  # occupied hash table slots
S_MAXLEN = 2  # longest read
S_SLOW_POS = 3  # bytes used in the no-probe buffer
S_ERR_POS = 4  # byte offset (in the chunk) of the offending line
S_NEW = 5  # table entries created by scanned reads
S_SINK = 6  # keeps the early slot loads from being optimised away
S_CODES = 7  # UMI protocols: codes used in the (insert, UMI) code buffer
S_MAXTRIM = 8  # longest read after 3' quality trimming
S_IDS = 9  # UMI protocols: inserts numbered so far (next insert id)
#: Length of the state vector.
STATE_SIZE = 10

_CODE = np.zeros(256, dtype=np.uint64)
for _i, _b in enumerate(b"ACGNT"):
    _CODE[_b] = _i + 1
_BASE2 = np.full(256, 255, dtype=np.uint8)  # 2-bit code for the probe search
for _i, _b in enumerate(b"ACGT"):
    _BASE2[_b] = _i
_LETTERS = np.frombuffer(b"\x00ACGNT\x00\x00", dtype=np.uint8).copy()

_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)
_SH = np.uint64(31)


@njit(inline="always")
def _hash(words: np.ndarray, nw: int) -> np.uint64:
    h = np.uint64(0)
    for w in range(nw):
        h = (h ^ words[w]) * _MIX1
        h ^= h >> _SH
    h *= _MIX2
    h ^= h >> _SH
    return h


@njit(inline="always")
def _add(
    tkeys: np.ndarray, tcount: np.ndarray, words: np.ndarray, nw: int, n: int
) -> int:
    """Add ``n`` to the count of ``words``; return 1 if the key is new."""
    mask = np.uint64(len(tcount) - 1)
    h = _hash(words, nw) & mask
    while True:
        c = tcount[h]
        if c == 0:
            for w in range(nw):
                tkeys[h, w] = words[w]
            tcount[h] = np.uint64(n)
            return 1
        same = True
        for w in range(nw):
            if tkeys[h, w] != words[w]:
                same = False
                break
        if same:
            tcount[h] = c + np.uint64(n)
            return 0
        h = (h + np.uint64(1)) & mask


@njit(inline="always")
def _encode(buf, start: int, length: int, words: np.ndarray, nw: int) -> None:
    for w in range(nw):
        words[w] = np.uint64(0)
    for j in range(length):
        w = j // BASES_PER_WORD
        k = j - w * BASES_PER_WORD
        shift = np.uint64(3 * (BASES_PER_WORD - 1 - k))
        words[w] |= _CODE[buf[start + j]] << shift


#: Passed inserts whose table slots are loaded before they are counted: the
#: independent loads overlap, instead of one cache miss after the other.
PENDING = 16


@njit(inline="always")
def _insert_id(
    tkeys: np.ndarray, tcount: np.ndarray, words: np.ndarray, nw: int, state
) -> int:
    """Return the id of insert ``words``, numbering it if new (UMI protocols).

    The table's count column holds ``id + 1`` (0: empty slot), so that
    :func:`rehash` keeps the ids.
    """
    mask = np.uint64(len(tcount) - 1)
    h = _hash(words, nw) & mask
    while True:
        c = tcount[h]
        if c == 0:
            for w in range(nw):
                tkeys[h, w] = words[w]
            iid = state[S_IDS]
            state[S_IDS] = iid + 1
            state[S_USED] += 1
            state[S_NEW] += 1
            tcount[h] = np.uint64(iid + 1)
            return iid
        same = True
        for w in range(nw):
            if tkeys[h, w] != words[w]:
                same = False
                break
        if same:
            return np.int64(c) - 1
        h = (h + np.uint64(1)) & mask


@njit(nogil=True)
def _flush(tkeys, tcount, pwords, npend, nw, state, umi_len, codes) -> None:
    if umi_len > 0:  # append id << 2 * umi_len | UMI (column nw) per read
        shift = np.uint64(2 * umi_len)
        for i in range(npend):
            iid = _insert_id(tkeys, tcount, pwords[i], nw, state)
            k = state[S_CODES]
            codes[k] = np.int64((np.uint64(iid) << shift) | pwords[i, nw])
            state[S_CODES] = k + 1
        return
    for i in range(npend):
        new = _add(tkeys, tcount, pwords[i], nw, 1)
        state[S_USED] += new
        state[S_NEW] += new


@njit(nogil=True, cache=True)
def scan_chunk(
    buf: np.ndarray,
    pos: int,
    final: bool,
    probe: np.uint64,
    probe_len: int,
    clip5: int,
    clip3: int,
    min_len: int,
    max_len: int,
    nw: int,
    qcut: int,
    umi_len: int,
    tkeys: np.ndarray,
    tcount: np.ndarray,
    hist: np.ndarray,
    slow: np.ndarray,
    codes: np.ndarray,
    state: np.ndarray,
) -> tuple[int, int]:
    """Scan FASTQ records of ``buf[pos:]``; return ``(status, new pos)``.

    Per record: validate the layout, 3' quality-trim if ``qcut`` > 0
    (cutadapt's BWA rule, Phred+33), find the first exact probe, classify
    the insert (histogram by length) and count passed inserts in the table.
    Reads without the probe, and reads whose insert is longer than
    ``max_len`` (their sequence is annotated as a long insert), are copied,
    newline-terminated, to ``slow`` (classified in Python).

    With ``umi_len`` > 0 (UMI protocols) the probe is the whole adapter, and
    the UMI is the ``umi_len`` bases right after it in the trimmed read: if
    they are not all there or contain N, the read is ``no_umi``; otherwise
    the insert gets an id in the table (whose count column holds id + 1) and
    ``id << 2 * umi_len | 2-bit UMI`` is appended to ``codes`` (one per read;
    :data:`CODES_FULL` when it is full). Without UMIs ``codes`` is unused.
    On an error the position is the start of the failing record and
    ``state[S_ERR_POS]`` the offending line.
    """
    pwords = np.zeros((PENDING, nw + 1), dtype=np.uint64)
    status, pos, npend, sink = _scan(
        buf,
        pos,
        final,
        probe,
        probe_len,
        clip5,
        clip3,
        min_len,
        max_len,
        nw,
        qcut,
        umi_len,
        tkeys,
        tcount,
        hist,
        slow,
        codes,
        state,
        pwords,
    )
    _flush(tkeys, tcount, pwords, npend, nw, state, umi_len, codes)
    state[S_SINK] = np.int64(sink & np.uint64(1))
    return status, pos


@njit(nogil=True)
def _scan(
    buf: np.ndarray,
    pos: int,
    final: bool,
    probe: np.uint64,
    probe_len: int,
    clip5: int,
    clip3: int,
    min_len: int,
    max_len: int,
    nw: int,
    qcut: int,
    umi_len: int,
    tkeys: np.ndarray,
    tcount: np.ndarray,
    hist: np.ndarray,
    slow: np.ndarray,
    codes: np.ndarray,
    state: np.ndarray,
    pwords: np.ndarray,
):
    """Do the work of :func:`scan_chunk`; passed inserts wait in ``pwords``."""
    npend = 0
    sink = np.uint64(0)
    mask = np.uint64(len(tcount) - 1)
    n = len(buf)
    clip = clip5 + clip3
    pmask = np.uint64((1 << (2 * probe_len)) - 1)
    limit = len(tcount) * 6 // 10
    hmax = hist.shape[1]
    while True:
        rec = pos
        if pos >= n:
            return (DONE if final else NEED_MORE), pos, npend, sink
        # header
        if buf[pos] != 64:  # '@'
            state[S_ERR_POS] = pos
            return ERR_HEADER, rec, npend, sink
        e1 = pos
        while e1 < n and buf[e1] != 10:
            e1 += 1
        if e1 >= n:
            return (ERR_TRUNCATED if final else NEED_MORE), rec, npend, sink
        # sequence
        s = e1 + 1
        e2 = s
        while e2 < n and buf[e2] != 10:
            e2 += 1
        if e2 >= n:
            return (ERR_TRUNCATED if final else NEED_MORE), rec, npend, sink
        length = e2 - s
        # plus line
        p = e2 + 1
        if p >= n:
            return (ERR_TRUNCATED if final else NEED_MORE), rec, npend, sink
        if buf[p] != 43:  # '+'
            state[S_ERR_POS] = p
            return ERR_PLUS, rec, npend, sink
        e3 = p + 1
        while e3 < n and buf[e3] != 10:
            e3 += 1
        if e3 >= n:
            return (ERR_TRUNCATED if final else NEED_MORE), rec, npend, sink
        # quality: exactly `length` characters, then a newline (or the end)
        q = e3 + 1
        e4 = q + length
        if e4 > n or (e4 == n and not final):
            # could still be a complete record once more input arrives
            if final:
                e = q
                while e < n and buf[e] != 10:
                    e += 1
                if e < n or e > q:  # a shorter quality line
                    state[S_ERR_POS] = q
                    return ERR_LENGTH, rec, npend, sink
                return ERR_TRUNCATED, rec, npend, sink
            return NEED_MORE, rec, npend, sink
        if e4 < n and buf[e4] != 10:
            state[S_ERR_POS] = q
            if buf[e4] == 13:
                return ERR_CR, rec, npend, sink
            return ERR_LENGTH, rec, npend, sink
        bad = 0
        for j in range(q, e4):
            bad |= buf[j] < 33
        if bad:
            state[S_ERR_POS] = q
            for j in range(q, e4):
                if buf[j] == 10:
                    return ERR_LENGTH, rec, npend, sink
                if buf[j] == 13:
                    return ERR_CR, rec, npend, sink
            return ERR_QUALITY, rec, npend, sink
        # a name repeated on the '+' line must be the header's
        if e3 > p + 1:
            if e3 - p != e1 - pos:
                state[S_ERR_POS] = p
                return ERR_NAME, rec, npend, sink
            for j in range(1, e3 - p):
                if buf[p + j] != buf[pos + j]:
                    state[S_ERR_POS] = p
                    return ERR_NAME, rec, npend, sink
        if length >= hmax:
            state[S_ERR_POS] = s
            return ERR_TOO_LONG, rec, npend, sink
        # alphabet + first exact probe (rolling 2-bit code, N resets it)
        h = np.uint64(0)
        run = 0
        hit = -1
        for j in range(length):
            c = buf[s + j]
            b2 = _BASE2[c]
            if b2 == 255:
                if _CODE[c] == 0:
                    state[S_ERR_POS] = s
                    if c == 13:
                        return ERR_CR, rec, npend, sink
                    return ERR_BASE, rec, npend, sink
                run = 0
                h = np.uint64(0)
                continue
            h = ((h << np.uint64(2)) | np.uint64(b2)) & pmask
            run += 1
            if hit < 0 and run >= probe_len and h == probe:
                hit = j - probe_len + 1
        if length > state[S_MAXLEN]:
            state[S_MAXLEN] = length
        if qcut > 0:  # as cutadapt.qualtrim.quality_trim_index(q, 0, qcut, 33)
            stop = length
            best = 0
            acc = 0
            for j in range(length - 1, -1, -1):
                acc += qcut - (np.int64(buf[q + j]) - 33)
                if acc < 0:
                    break
                if acc > best:
                    best = acc
                    stop = j
            if stop < length:
                length = stop
                if hit + probe_len > length:
                    hit = -1  # the first probe does not fit: none does
        if length > state[S_MAXTRIM]:
            state[S_MAXTRIM] = length
        # reads without the probe, and too-long inserts (whose sequence is
        # kept for the annotation of long inserts), go to Python
        if hit < 0 or hit - clip > max_len:
            sp = state[S_SLOW_POS]
            if sp + length + 1 > len(slow):
                return SLOW_FULL, rec, npend, sink
            for j in range(length):
                slow[sp + j] = buf[s + j]
            slow[sp + length] = 10
            state[S_SLOW_POS] = sp + length + 1
        else:
            ins = hit - clip
            if ins < min_len:
                if ins <= 0:
                    hist[1, 0] += 1
                else:
                    hist[2, ins] += 1
            else:
                umi = np.uint64(0)
                if umi_len > 0:  # the UMI follows the whole adapter
                    u = hit + probe_len
                    ok = u + umi_len <= length
                    if ok:
                        for j in range(s + u, s + u + umi_len):
                            b2 = _BASE2[buf[j]]
                            if b2 == 255:  # N
                                ok = False
                                break
                            umi = (umi << np.uint64(2)) | np.uint64(b2)
                    if not ok:
                        hist[5, ins] += 1
                        state[S_RECORDS] += 1
                        pos = e4 + 1 if e4 < n else n
                        continue
                    if state[S_CODES] + npend >= len(codes):
                        _flush(tkeys, tcount, pwords, npend, nw, state, umi_len, codes)
                        npend = 0
                        if state[S_CODES] >= len(codes):
                            return CODES_FULL, rec, npend, sink
                if state[S_USED] + npend >= limit:
                    _flush(tkeys, tcount, pwords, npend, nw, state, umi_len, codes)
                    npend = 0
                    if state[S_USED] >= limit:
                        return TABLE_FULL, rec, npend, sink
                words = pwords[npend]
                _encode(buf, s + clip5, ins, words, nw)
                words[nw] = umi
                sink ^= tcount[_hash(words, nw) & mask]  # start the load
                npend += 1
                if npend == PENDING:
                    _flush(tkeys, tcount, pwords, npend, nw, state, umi_len, codes)
                    npend = 0
                hist[0, ins] += 1
        state[S_RECORDS] += 1
        pos = e4 + 1 if e4 < n else n


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
def _find(tkeys: np.ndarray, tcount: np.ndarray, words: np.ndarray, nw: int) -> int:
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

    The keys' words compare as the sequences (see the module docstring), and
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
    acc = 0
    cstar = 0
    for c in range(cap, -1, -1):
        if acc + ch[c] > half:
            cstar = c
            break
        acc += ch[c]
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


@njit(nogil=True, cache=True)
def _digits(x: int) -> int:
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
