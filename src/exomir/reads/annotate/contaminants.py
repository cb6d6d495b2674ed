"""Contaminant categories (compiled search or bowtie) and the artifact rules."""

from __future__ import annotations

import logging
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import dnaio
import numpy as np

from exomir.reads import _kernels
from exomir.reads.contaminant_search import ContaminantSearch
from exomir.reads.contaminant_search import K as SEARCH_K

if TYPE_CHECKING:
    pass

from exomir.reads.annotate.bowtie import _Bowtie, _first_category, _int_table
from exomir.reads.annotate.collapsed import _Layout
from exomir.reads.annotate.model import AnnotationParams
from exomir.reads.reference import (
    Reference,
    build_combined_contaminants,
    iter_fasta,
)

logger = logging.getLogger(__name__)

#: Decide the contaminant categories with the compiled search where it can
#: (with <= 1 mismatch; the same results as bowtie, see :class:`_Contaminants`).
CONTAMINANT_SEARCH = True

ARTIFACT = "artifact"
"""Contaminant category that the artifact rules add to (case-insensitive)."""

ARTIFACT_K = 18
"""Window of the adapter-derived rule: an exact ``ARTIFACT_K``-mer of the
artifact reference, either strand, anywhere in the insert."""

LOW_COMPLEXITY_SHARE = 0.9
"""Low complexity: one base makes up more than this share of the insert..."""

LOW_COMPLEXITY_RUN = 0.5
"""... or repeats in a run longer than this share of its length."""

_ARTIFACT_KMERS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _artifact_category(reference: Reference) -> int:
    """Position of the ``artifact`` category (case-insensitive), or -1."""
    for k, c in enumerate(reference.contaminants):
        if c.category.lower() == ARTIFACT:
            return k
    return -1


def _artifact_kmers(reference: Reference, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted 2-bit codes of every ``ARTIFACT_K``-mer of the artifact reference.

    Both strands; from the category's FASTA in the reference directory
    (cached per file). Empty if the file is missing. With the pre-filter
    bit table of :func:`exomir.reads._kernels.kmer_bits`.
    """
    path = Path(f"{reference.contaminants[k].index}.fa")
    key = os.fspath(path)
    if key in _ARTIFACT_KMERS:
        return _ARTIFACT_KMERS[key]
    codes: set[int] = set()
    if path.is_file():
        comp = str.maketrans("ACGT", "TGCA")
        for _, seq in iter_fasta(path):
            seq = seq.upper().replace("U", "T")
            for strand in (seq, seq.translate(comp)[::-1]):
                for part in _AMBIGUOUS.split(strand):
                    for i in range(len(part) - ARTIFACT_K + 1):
                        code = 0
                        for base in part[i : i + ARTIFACT_K]:
                            code = code << 2 | "ACGT".index(base)
                        codes.add(code)
    out = np.array(sorted(codes), dtype=np.uint64)
    _ARTIFACT_KMERS[key] = (out, _kernels.kmer_bits(out))
    return _ARTIFACT_KMERS[key]


def low_complexity_flags(layout: _Layout) -> np.ndarray:
    """Flag the inserts of low complexity (rule in :func:`_artifact_rules`)."""
    return _kernels.low_complexity(
        layout.buffer,
        layout.starts,
        layout.lengths,
        LOW_COMPLEXITY_SHARE,
        LOW_COMPLEXITY_RUN,
    )


def _artifact_rules(
    layout: _Layout, reference: Reference, codes: np.ndarray, unassigned: int
) -> None:
    """Give the ``artifact`` category what miRTrace calls artifacts.

    Applied to the inserts that no other category took (``unassigned``),
    like miRTrace, which tests artifacts after miRNA, tRNA and rRNA:

    1. **low complexity**: one base makes up more than 90 % of the insert, or
       one base repeats in a run longer than half of it (homopolymers,
       poly-A tails, ``NNNN...`` reads);
    2. **adapter-derived**: the insert holds an exact 18-mer of the artifact
       reference (adapters, RT and PCR primers), either strand, anywhere:
       chimeras and concatemers of adapter pieces, and 5'-truncated adapters
       that the 3' adapter search missed.

    Inserts that match the artifact reference end to end (within the
    contaminant mismatches) are artifacts already (contaminant search).
    Nothing happens without an ``artifact`` category.
    """
    art = _artifact_category(reference)
    if art < 0:
        return
    rows = np.flatnonzero(codes == unassigned)
    if not len(rows):
        return
    low = low_complexity_flags(layout)
    codes[rows[low[rows]]] = art
    rows = rows[~low[rows] & (layout.lengths[rows] >= ARTIFACT_K)]
    kmers, bits = _artifact_kmers(reference, art)
    if len(rows) and len(kmers):
        hit = _kernels.has_kmer(
            layout.buffer,
            layout.starts,
            layout.lengths,
            rows,
            kmers,
            ARTIFACT_K,
            bits,
        )
        codes[rows[hit]] = art


def _contaminant_records(
    index: Path, reference: Reference
) -> list[tuple[int, str]] | None:
    """Return ``(category position, sequence)`` of the contaminant index.

    From the combined index's FASTA (record names start with the category
    position) or, for an older reference directory, from each category's
    FASTA; ``None`` if neither is found. Sequences are as bowtie-build reads
    them: characters that are not IUPAC letters ('.', '_', '-' in tRNA
    alignments) are skipped, joining their flanks; other IUPAC letters than
    ``ACGT`` are ambiguous (``N``).
    """
    combined = Path(f"{index}.fa")
    sources: list[tuple[int | None, Path]]
    if combined.is_file():
        sources = [(None, combined)]
    else:
        sources = [
            (k, Path(f"{c.index}.fa")) for k, c in enumerate(reference.contaminants)
        ]
        if not all(path.is_file() for _, path in sources):
            return None
    records: list[tuple[int, str]] = []
    for category, path in sources:
        with dnaio.open(os.fspath(path), fileformat="fasta") as reader:
            for rec in reader:
                if category is None:
                    first = rec.name.split(maxsplit=1)[0] if rec.name else ""
                    if not first.isdigit():
                        return None
                    k = int(first)
                else:
                    k = category
                seq = _NOT_IUPAC.sub("", rec.sequence.upper().replace("U", "T"))
                records.append((k, _AMBIGUOUS.sub("N", seq)))
    return records


_NOT_IUPAC = re.compile(r"[^ACGTRYSWKMBDHVN]")
_AMBIGUOUS = re.compile(r"[^ACGT]")


def _contaminant_search(
    index: Path, reference: Reference, mismatches: int
) -> ContaminantSearch | None:
    """Build the compiled search of the contaminant index, where it applies.

    ``None`` with more than one mismatch, without numba, with
    :data:`CONTAMINANT_SEARCH` off, or if the index's sequences are not found.
    """
    if mismatches > 1 or not CONTAMINANT_SEARCH or not _kernels.NUMBA:
        return None
    records = _contaminant_records(index, reference)
    return None if records is None else ContaminantSearch(records, mismatches)


class _Contaminants:
    """The contaminant search of one library, started on construction.

    With at most one mismatch (the default) the compiled search of
    :mod:`exomir.reads.contaminant_search` decides every read it can (``ACGT``,
    at least 16 bases, no ambiguous reference base in reach: all but a few
    reads of a library); bowtie aligns the rest in the background
    (``-v 0/1 -a --best --strata``, the same question). With 2 or 3
    mismatches bowtie does everything: one ``-k 1`` run finds the reads that
    align, a second run resolves the categories of those that are not miRNA
    (why: ``docs/performance.md``).

    Parameters
    ----------
    layout
        All unique inserts.
    index
        Combined contaminant index (category position as record name).
    reference, params, threads, work
        As for :func:`_classify`.
    search
        The compiled search of ``index``, if already built.
    """

    def __init__(
        self,
        layout: _Layout,
        index: Path,
        reference: Reference,
        params: AnnotationParams,
        threads: int,
        work: Path,
        search: ContaminantSearch | None = None,
    ) -> None:
        self.layout = layout
        self.index = index
        self.threads = threads
        self.work = work
        self.mismatches = params.contaminant_mismatches
        self.one_pass = self.mismatches <= 1
        n = len(layout.lengths)
        #: Reads decided by the compiled search, their category (-1: no hit)
        #: and the mismatches of their best hits.
        self.decided = np.zeros(n, dtype=bool)
        self.category = np.full(n, -1, dtype=np.int64)
        self.best = np.full(n, -1, dtype=np.int64)
        # every insert bowtie accepts (>= -v + 1 bases, no white space)
        rows = np.flatnonzero(layout.clean & (layout.lengths > self.mismatches))
        if search is None and self.one_pass:
            search = _contaminant_search(index, reference, self.mismatches)
        self.rows = rows
        self.run: _Bowtie | None = None
        self.n_aligned = 0
        self._pool: ThreadPoolExecutor | None = None
        self._started: Future[None] | None = None
        if search is None:
            self._bowtie()
        else:
            # one thread: the hairpin stage runs beside it on the other core
            self._pool = ThreadPoolExecutor(1)
            self._started = self._pool.submit(self._decide, search)

    def _decide(self, search: ContaminantSearch) -> None:
        """Run the compiled search, then bowtie on the reads it left."""
        t0 = time.perf_counter()
        layout, rows = self.layout, self.rows
        ok = layout.acgt[rows] & (layout.lengths[rows] >= SEARCH_K)
        testable = rows[ok]
        cat, best, undecided = search.search(
            layout.buffer, layout.starts, layout.lengths, testable, 1
        )
        done = ~undecided
        self.decided[testable[done]] = True
        self.category[testable[done]] = cat[done]
        self.best[testable[done]] = best[done]
        self.rows = rows[~self.decided[rows]]
        logger.debug(
            "contaminant search: %d reads decided (%d aligned), %d left "
            "to bowtie, %.2f s",
            int(done.sum()),
            int((cat[done] >= 0).sum()),
            len(self.rows),
            time.perf_counter() - t0,
        )
        self._bowtie()

    def _bowtie(self) -> None:
        """Start bowtie on the reads not decided (in the background)."""
        rows, layout = self.rows, self.layout
        self.run = _Bowtie(
            self.index,
            layout.buffer if len(rows) == len(layout.lengths) else layout.texts(rows),
            _contaminant_args(self.mismatches, self.one_pass),
            self.threads,
            self.work,
            "contaminants" if self.one_pass else "contaminant-search",
        )

    def _wait(self) -> _Bowtie:
        """Wait for the compiled search (its errors are raised here)."""
        if self._started is not None:
            self._started.result()
        assert self.run is not None
        return self.run

    def exact_category(self, rows: np.ndarray) -> np.ndarray:
        """First category with an exact end-to-end hit of each read (-1: none)."""
        self._wait()
        out = np.where(
            self.decided[rows] & (self.best[rows] == 0), self.category[rows], -1
        )
        layout = self.layout
        left = np.flatnonzero(
            ~self.decided[rows] & layout.clean[rows] & (layout.lengths[rows] > 0)
        )
        if len(left):
            exact = _Bowtie(
                self.index,
                layout.texts(rows[left]),
                ["-v", "0", "-a", "--suppress", "2,4,5,6,7,8"],
                self.threads,
                self.work,
                "exact-contaminant",
            )
            out[left] = _first_category(exact.output(), len(left))
        return out

    def categories(self, open_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the reads among ``open_`` (a mask) with a hit, and their category."""
        run = self._wait()
        found = np.flatnonzero(self.decided & (self.category >= 0))
        cats = self.category[found]
        if self.one_pass:
            first = _first_category(run.output(), len(self.rows))
            hit = first >= 0
            found = np.concatenate([found, self.rows[hit]])
            cats = np.concatenate([cats, first[hit]])
        else:
            aligned = np.unique(_int_table(run.output(), 1)[:, 0])
            rows = self.rows[aligned]
            self.n_aligned = len(rows)
            rows = rows[open_[rows]]
            best = _Bowtie(
                self.index,
                self.layout.texts(rows),
                _contaminant_args(self.mismatches, True),
                self.threads,
                self.work,
                "contaminant-categories",
            )
            first = _first_category(best.output(), len(rows))
            found, cats = rows[first >= 0], first[first >= 0]
        if self.one_pass:
            self.n_aligned = len(found)
        order = np.argsort(found, kind="stable")
        found, cats = found[order], cats[order]
        keep = open_[found]
        return found[keep], cats[keep]

    def stop(self) -> None:
        """Stop the background search and bowtie run, if any."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self.run is not None:
            self.run.stop()


def _contaminant_args(mismatches: int, all_best: bool) -> list[str]:
    """Return the bowtie arguments for the combined contaminant index.

    ``all_best``: every best-stratum hit, as ``read<TAB>category``; else
    whether a read aligns at all (``-k 1``), as ``read``.
    """
    if all_best:
        return [
            "-v",
            str(mismatches),
            "-a",
            "--best",
            "--strata",
            "--suppress",
            "2,4,5,6,7,8",
        ]
    return ["-v", str(mismatches), "-k", "1", "--suppress", "2,3,4,5,6,7,8"]


def _combined_index(reference: Reference, work: Path, threads: int) -> Path:
    """Build the combined contaminant index for an older reference directory."""
    logger.warning(
        "reference %s has no combined contaminant index; building it for this "
        "run (rebuild the reference to save this step)",
        reference.directory,
    )
    categories = []
    for cont in reference.contaminants:
        fasta = Path(f"{os.fspath(cont.index)}.fa")
        categories.append((cont.category, [r for r in iter_fasta(fasta) if r[1]]))
    prefix = work / "contaminants-combined"
    build_combined_contaminants(categories, prefix, threads)
    return prefix
