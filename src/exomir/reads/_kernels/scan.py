"""The FASTQ scan kernel (:func:`scan_chunk`) and its named state."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from exomir.reads._kernels.base import _BASE2, _CODE, _add, _encode, _hash, njit

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

# Named state of the FASTQ scan (:func:`scan_chunk`). The scan keeps its
# counters in one int64 vector, ``ScanBuffers.state``, so that numba updates
# them in place and Python reads them between calls (exomir.reads.fastscan);
# every slot is defined and documented here, next to the kernel, and read
# everywhere through these names.
S_RECORDS = 0  # records scanned so far (whole file)
S_USED = 1  # occupied hash table slots
S_MAXLEN = 2  # longest read
S_SLOW_POS = 3  # bytes used in the no-probe buffer ``slow``
S_ERR_POS = 4  # byte offset (in the chunk) of the offending line, on an error
S_NEW = 5  # table entries created by scanned reads
S_SINK = 6  # keeps the early slot loads from being optimised away
S_CODES = 7  # UMI protocols: codes used in the (insert, UMI) code buffer
S_MAXTRIM = 8  # longest read after 3' quality trimming
S_IDS = 9  # UMI protocols: inserts numbered so far (next insert id)
#: Length of the state vector.
STATE_SIZE = 10

# Rows of the scan's histogram ``ScanBuffers.hist`` (reads by category and
# insert length), in the order of exomir.reads.preprocess.CATEGORIES; the
# kernel fills the rows below, Python the others (too_long, no_adapter).
H_PASSED = 0  # insert of min_len..max_len bases
H_ADAPTER_DIMER = 1  # no insert (column 0)
H_TOO_SHORT = 2  # insert shorter than min_len
H_NO_UMI = 5  # UMI protocols: UMI missing or with an N
#: Rows of the histogram.
HIST_ROWS = 6


class ScanSettings(NamedTuple):
    """Per-library constants of :func:`scan_chunk`.

    Attributes
    ----------
    probe
        The probe (start of the 3' adapter; with UMIs the whole adapter),
        2 bits a base.
    probe_len
        Bases of the probe.
    clip5, clip3
        Bases clipped from the 5' end of the read and the 3' end of the insert.
    min_len, max_len
        Shortest and longest passed insert.
    nw
        64-bit words of a table key (:data:`BASES_PER_WORD` bases each).
    qcut
        3' quality cut-off (Phred), 0: no quality trimming.
    umi_len
        UMI bases after the adapter, 0: no UMIs.
    """

    probe: np.uint64
    probe_len: int
    clip5: int
    clip3: int
    min_len: int
    max_len: int
    nw: int
    qcut: int
    umi_len: int


class ScanBuffers(NamedTuple):
    """Arrays :func:`scan_chunk` updates in place (one scanning part's).

    Attributes
    ----------
    tkeys, tcount
        Hash table of inserts: keys (``nw`` words a row) and counts (UMI
        protocols: insert id + 1); 0 count is an empty slot.
    hist
        Reads by category (rows ``H_*``) and insert length.
    slow
        Newline-terminated reads left to Python (no probe, too-long inserts).
    codes
        UMI protocols: ``id << 2 * umi_len | UMI`` of each passed read.
    state
        Counters, slots ``S_*``.
    """

    tkeys: np.ndarray
    tcount: np.ndarray
    hist: np.ndarray
    slow: np.ndarray
    codes: np.ndarray
    state: np.ndarray


#: Passed inserts whose table slots are loaded before they are counted: the
#: independent loads overlap, instead of one cache miss after the other.
PENDING = 16


@njit(inline="always")
def _insert_id(
    tkeys: np.ndarray, tcount: np.ndarray, words: np.ndarray, nw: int, state
) -> int | np.int64:
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
    buf: np.ndarray, pos: int, final: bool, cfg: ScanSettings, bufs: ScanBuffers
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
    nw = cfg.nw
    pwords = np.zeros((PENDING, nw + 1), dtype=np.uint64)
    status, pos, npend, sink = _scan(buf, pos, final, cfg, bufs, pwords)
    tkeys, tcount, _, _, codes, state = bufs
    _flush(tkeys, tcount, pwords, npend, nw, state, cfg.umi_len, codes)
    state[S_SINK] = np.int64(sink & np.uint64(1))
    return status, pos


@njit(nogil=True)
def _scan(buf, pos, final, cfg, bufs, pwords):
    """Do the work of :func:`scan_chunk`; passed inserts wait in ``pwords``.

    Returns ``(status, pos, pending inserts, sink)``.
    """
    probe, probe_len, clip5, clip3, min_len, max_len, nw, qcut, umi_len = cfg
    tkeys, tcount, hist, slow, codes, state = bufs
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
                    hist[H_ADAPTER_DIMER, 0] += 1
                else:
                    hist[H_TOO_SHORT, ins] += 1
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
                        hist[H_NO_UMI, ins] += 1
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
                hist[H_PASSED, ins] += 1
        state[S_RECORDS] += 1
        pos = e4 + 1 if e4 < n else n
