"""Classify unique reads (adapter, clips, UMI, category) and aggregate inserts.

The per-unique-read work of the dnaio path of :mod:`exomir.reads.preprocess`
(and of the reads the compiled scan hands to Python): cutadapt's aligner
where the exact probe is missing, UMIs after the adapter, long inserts.
"""

from __future__ import annotations

import itertools
import logging
from array import array
from operator import itemgetter

import numpy as np
from cutadapt.adapters import BackAdapter

from exomir.reads import _kernels
from exomir.reads.protocols import (
    Protocol,
    TrimSettings,
)

log = logging.getLogger(__name__)

#: Read categories, in the order used in the stats.
CATEGORIES: tuple[str, ...] = (
    "passed",
    "adapter_dimer",
    "too_short",
    "too_long",
    "no_adapter",
    "no_umi",
)


class ReadClassifier:
    """Classify batches of unique reads and aggregate inserts.

    Called once per batch from :func:`exomir.reads.fastq.scan_fastq`.
    """

    def __init__(
        self, protocol: Protocol, settings: TrimSettings, cut_at: str | None = None
    ):
        self.cut_at = cut_at
        self.adapter = protocol.adapter_3p
        self.aligner = BackAdapter(
            protocol.adapter_3p,
            max_errors=settings.max_error_rate,
            min_overlap=settings.min_adapter_overlap,
        )
        self.clip_5p = protocol.clip_5p
        self.clip_3p = protocol.clip_3p
        self.umi_length = protocol.umi_length
        self.min_length = settings.min_length
        self.max_length = settings.max_length
        # insert -> reads (without UMI)
        self.inserts: dict[str, int] = {}
        # UMI protocols: insert -> id, and each molecule as one int64,
        # id << 2 * umi_length | 2-bit code of the UMI. Codes are appended
        # to an array (8 bytes each) and made unique per batch with NumPy, so
        # memory is ~8 bytes per distinct (insert, UMI) pair (a Python set
        # would take ~60, a set of strings ~110).
        self.insert_ids: dict[str, int] = {}
        self.umi_dedup = settings.umi_dedup
        self._codes: array[int] = array("q")
        self._code_reads: array[int] = array("q")
        self._molecule_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        half = self.umi_length // 2
        if self.umi_length % 2:  # pragma: no cover - all UMI schemes are even
            raise ValueError("UMI length must be even")
        self._half = half
        self._umi_half_code = {
            "".join(kmer): i
            for i, kmer in enumerate(itertools.product("ACGT", repeat=half))
        }
        # category -> reads by insert length (index)
        self.hist: dict[str, list[int]] = {c: [0] for c in CATEGORIES}
        # long inserts: reads without the adapter (insert at least min_length)
        # and too-long inserts, by insert, in reads (annotated, never counted)
        self.long: dict[str, int] = {}

    def _grow(self, size: int) -> None:
        for h in self.hist.values():
            if len(h) < size:
                h.extend([0] * (size - len(h)))

    def __call__(self, batch: dict) -> None:
        """Process one batch ``{read: count}`` or ``{(head, sep): count}``."""
        if not batch:
            return
        if isinstance(next(iter(batch)), tuple):
            self._heads(batch)
        else:
            self._reads(batch)

    def _heads(self, batch: dict[tuple[str, str], int]) -> None:
        """Classify reads cut at the adapter probe (``head`` = insert if ``sep``)."""
        self._grow(max(map(len, map(itemgetter(0), batch))) + 1)
        match_to = self.aligner.match_to
        clip_5p, clip_3p = self.clip_5p, self.clip_3p
        clip = clip_5p + clip_3p
        min_len, max_len = self.min_length, self.max_length
        inserts = self.inserts
        get = inserts.get
        h = self.hist
        h_pass, h_dimer, h_short = h["passed"], h["adapter_dimer"], h["too_short"]
        h_long, h_none = h["too_long"], h["no_adapter"]
        long = self.long
        long_get = long.get
        for (head, sep), n in batch.items():
            if sep:
                pos = len(head)
            else:
                m = match_to(head)
                if m is None:
                    length = len(head) - clip
                    h_none[length if length > 0 else 0] += n
                    if length >= min_len:
                        key = head[clip_5p : len(head) - clip_3p]
                        long[key] = long_get(key, 0) + n
                    continue
                pos = m.rstart
            length = pos - clip
            if length < min_len:
                if length <= 0:
                    h_dimer[0] += n
                else:
                    h_short[length] += n
                continue
            if length > max_len:
                h_long[length] += n
                key = head[clip_5p : pos - clip_3p]
                long[key] = long_get(key, 0) + n
                continue
            key = head[clip_5p : pos - clip_3p]
            inserts[key] = get(key, 0) + n
            h_pass[length] += n

    def _reads(self, batch: dict[str, int]) -> None:
        """Classify whole reads (UMI protocols: the UMI follows the adapter)."""
        self._grow(max(map(len, batch)) + 1)
        adapter = self.adapter
        alen = len(adapter)
        # Without UMI the exact search is for the probe, as in ``_heads``
        # (same results whichever key form the scan chose).
        search = self.cut_at or adapter
        match_to = self.aligner.match_to
        clip_5p, clip_3p = self.clip_5p, self.clip_3p
        clip = clip_5p + clip_3p
        umi_len = self.umi_length
        min_len, max_len = self.min_length, self.max_length
        inserts = self.inserts
        get = inserts.get
        add_molecule = self._codes.append
        add_reads = self._code_reads.append
        insert_ids = self.insert_ids
        id_get = insert_ids.get
        half = self._half
        code = self._umi_half_code
        id_shift, half_shift = 2 * umi_len, 2 * half
        h = self.hist
        h_pass, h_dimer, h_short = h["passed"], h["adapter_dimer"], h["too_short"]
        h_long, h_none, h_noumi = h["too_long"], h["no_adapter"], h["no_umi"]
        long = self.long
        long_get = long.get
        for seq, n in batch.items():
            pos = seq.find(search)
            if pos >= 0:
                adapter_end = pos + alen  # used with UMIs: search is the adapter
            else:
                m = match_to(seq)
                if m is None:
                    length = len(seq) - clip
                    h_none[length if length > 0 else 0] += n
                    if length >= min_len:
                        key = seq[clip_5p : len(seq) - clip_3p]
                        long[key] = long_get(key, 0) + n
                    continue
                pos = m.rstart
                # the UMI follows the adapter only if all of it aligned
                adapter_end = m.rstop if m.astop == alen else -1
            length = pos - clip
            if length < min_len:
                if length <= 0:
                    h_dimer[0] += n
                else:
                    h_short[length] += n
                continue
            if length > max_len:
                h_long[length] += n
                key = seq[clip_5p : pos - clip_3p]
                long[key] = long_get(key, 0) + n
                continue
            if umi_len:
                umi = (
                    seq[adapter_end : adapter_end + umi_len] if adapter_end > 0 else ""
                )
                if len(umi) < umi_len or "N" in umi:
                    h_noumi[length] += n
                    continue
                insert = seq[clip_5p : pos - clip_3p]
                iid = id_get(insert)
                if iid is None:
                    iid = insert_ids[insert] = len(insert_ids)
                add_molecule(
                    iid << id_shift | code[umi[:half]] << half_shift | code[umi[half:]]
                )
                add_reads(n)
            else:
                key = seq[clip_5p : pos - clip_3p]
                inserts[key] = get(key, 0) + n
            h_pass[length] += n
        if self._codes:
            self._molecule_chunks.append(
                _sum_by_code(
                    np.frombuffer(self._codes, dtype=np.int64),
                    np.frombuffer(self._code_reads, dtype=np.int64),
                )
            )
            self._codes = array("q")
            self._code_reads = array("q")

    def umi_reads(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the distinct (insert id, UMI) codes, sorted, and their reads."""
        if not self._molecule_chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        codes, reads = self._molecule_chunks[0]
        if len(self._molecule_chunks) > 1:
            codes, reads = _sum_by_code(
                np.concatenate([c for c, _ in self._molecule_chunks]),
                np.concatenate([r for _, r in self._molecule_chunks]),
            )
        self._molecule_chunks = [(codes, reads)]
        return codes, reads

    def reads_per_insert(self) -> dict[str, int]:
        """Return insert -> passed reads (UMI protocols; before deduplication)."""
        codes, reads = self.umi_reads()
        if not len(codes):
            return {}
        per_id = np.rint(
            np.bincount(
                codes >> (2 * self.umi_length),
                weights=reads,
                minlength=len(self.insert_ids),
            )
        ).astype(np.int64)
        return {insert: int(per_id[iid]) for insert, iid in self.insert_ids.items()}

    def molecules_per_insert(self) -> dict[str, int]:
        """Return insert -> molecules (UMI protocols).

        ``umi_dedup`` ``exact``: distinct UMIs; ``directional``: UMI-tools'
        directional clusters of UMIs one base apart (see
        :func:`exomir.reads._kernels.directional_molecules`).
        """
        codes, reads = self.umi_reads()
        if not len(codes):
            return {}
        if self.umi_dedup == "directional":
            per_id = _kernels.directional_molecules(
                codes, reads, self.umi_length, len(self.insert_ids)
            ).tolist()
        else:
            per_id = np.bincount(codes >> (2 * self.umi_length)).tolist()
        return {insert: per_id[iid] for insert, iid in self.insert_ids.items()}


def _sum_by_code(codes: np.ndarray, reads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct codes, sorted, with the reads of each summed."""
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    reads = reads[order]
    if len(codes) > 1:
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        codes = codes[starts]
        reads = np.add.reduceat(reads, starts)
    return codes, reads
