"""Base qualities, sequencing errors and FASTQ records of simulated reads.

Everything here works on ``(n_reads, read_length)`` ``uint8`` arrays: no
Python loop runs per read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exomir.simulate.readmodel import ReadParams

__all__ = ["QualityPool", "place_umis", "random_bases", "write_records"]

_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
_CODE = np.zeros(256, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_N = ord("N")
_QUALITY_POOL = 4096  # quality tracks drawn per library


_RANDOM_BASE_TABLE = bytes(b"ACGT"[i & 3] for i in range(256))


def random_bases(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return ``n`` uniformly random bases (ASCII ``uint8``)."""
    raw = rng.bit_generator.random_raw((n + 7) // 8).tobytes()[:n]
    return np.frombuffer(raw.translate(_RANDOM_BASE_TABLE), dtype=np.uint8)


class QualityPool:
    """Per-library pool of Phred tracks with error thresholds and N calls.

    Each read takes one of ``_QUALITY_POOL`` tracks drawn from a
    position-dependent profile (high at the start, declining along the read,
    some reads with a low-quality tail). A base is substituted if a uint16
    draw falls below ``65536 * min(0.75, error_rate_scale * 10^(-Q/10))``;
    bases with Q <= ``n_call_max_q`` are called N instead (only if
    ``error_rate_scale > 0``).
    """

    def __init__(self, params: ReadParams, rng: np.random.Generator) -> None:
        length = params.read_length
        self.length = length
        pos = np.arange(length) / max(length - 1, 1)
        decline = (params.q_start - params.q_end) * pos**params.q_decline_power
        mean = params.q_start - decline
        q = (
            mean[None, :]
            + rng.normal(0.0, params.q_read_sd, size=(_QUALITY_POOL, 1))
            + rng.normal(0.0, params.q_base_sd, size=(_QUALITY_POOL, length))
        )
        has_tail = rng.random(_QUALITY_POOL) < params.low_q_tail_prob
        tail_start = rng.integers(length // 3, length, size=_QUALITY_POOL)
        lo, hi = params.low_q_tail_q_range
        tail_q = rng.uniform(lo, hi, size=(_QUALITY_POOL, length))
        cols = np.arange(length)[None, :]
        in_tail = has_tail[:, None] & (cols >= tail_start[:, None])
        q = np.where(in_tail, tail_q, q)
        phred = np.clip(np.rint(q), 2, params.q_max).astype(np.uint8)
        self.phred = phred
        self.ascii = phred + np.uint8(33)
        p_err = np.minimum(
            params.error_rate_scale * 10 ** (-phred.astype(float) / 10.0), 0.75
        )
        thr = np.rint(p_err * 65536).astype(np.uint16)
        if params.error_rate_scale > 0 and params.n_call_max_q >= 0:
            self.ncall: np.ndarray = phred <= params.n_call_max_q
        else:
            self.ncall = np.zeros_like(phred, dtype=bool)
        thr[self.ncall] = 0
        self.thr = thr
        self.has_n = np.asarray(self.ncall.any(axis=1))
        self.any_err = bool(thr.any())

    def apply(
        self, seq: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw qualities for ``seq`` and corrupt it in place.

        Returns the ASCII qualities and the rows/columns of every substituted
        or N-called base.
        """
        n, length = seq.shape
        track = np.asarray(rng.integers(0, _QUALITY_POOL, size=n))
        qual = self.ascii[track]
        rows_list: list[np.ndarray] = []
        cols_list: list[np.ndarray] = []
        if self.any_err and n:
            n_words = (n * length + 3) // 4
            u16 = rng.bit_generator.random_raw(n_words).view("<u2")[: n * length]
            flat = np.flatnonzero(u16 < self.thr[track].reshape(-1))
            if flat.size:
                flat_seq = seq.reshape(-1)
                codes = _CODE[flat_seq[flat]]
                new = (codes + rng.integers(1, 4, size=flat.size)) & 3
                flat_seq[flat] = _ACGT[new]
                rows_list.append(flat // length)
                cols_list.append(flat % length)
        n_rows = np.flatnonzero(self.has_n[track])
        if n_rows.size:
            mask = self.ncall[track[n_rows]]
            sub = seq[n_rows]
            sub[mask] = _N
            seq[n_rows] = sub
            r, c = np.nonzero(mask)
            rows_list.append(n_rows[r])
            cols_list.append(c)
        if rows_list:
            return qual, np.concatenate(rows_list), np.concatenate(cols_list)
        empty = np.zeros(0, dtype=np.int64)
        return qual, empty, empty


def place_umis(seq: np.ndarray, bases: np.ndarray, start_col: np.ndarray) -> None:
    """Write each read's UMI ``bases`` (n x umi_length) from ``start_col`` on."""
    n, length = seq.shape
    ul = bases.shape[1]
    flat = seq.reshape(-1)
    base_idx = np.arange(n, dtype=np.int64) * length + start_col
    full = start_col + ul <= length
    if full.all():
        flat[base_idx[:, None] + np.arange(ul)] = bases
        return
    flat[base_idx[full][:, None] + np.arange(ul)] = bases[full]
    for r in np.flatnonzero(~full & (start_col < length)):
        m = length - int(start_col[r])
        seq[r, length - m :] = bases[r, :m]


def write_records(
    gz: Any, head: bytes, first_index: int, seq: np.ndarray, qual: np.ndarray
) -> None:
    """Write fixed-width FASTQ records ``@{head}{index}`` for a chunk."""
    n, length = seq.shape
    hb = np.frombuffer(head, dtype=np.uint8)
    hl = hb.size
    i0 = 0
    while i0 < n:
        idx0 = first_index + i0
        ndig = len(str(idx0))
        hi = min(n, 10**ndig - first_index)
        g = hi - i0
        dtype = np.uint32 if idx0 + g < 2**32 else np.uint64
        ids = np.arange(idx0, idx0 + g, dtype=dtype)
        width = hl + ndig + 1 + length + 3 + length + 1
        rec = np.empty((g, width), dtype=np.uint8)
        rec[:, :hl] = hb
        for j in range(hl + ndig - 1, hl - 1, -1):
            quotient = ids // 10
            rec[:, j] = ids - quotient * 10 + 48
            ids = quotient
        c = hl + ndig
        rec[:, c] = 10
        c += 1
        rec[:, c : c + length] = seq[i0:hi]
        c += length
        rec[:, c : c + 3] = np.frombuffer(b"\n+\n", dtype=np.uint8)
        c += 3
        rec[:, c : c + length] = qual[i0:hi]
        rec[:, c + length] = 10
        gz.write(rec.data.cast("B"))
        i0 = hi
