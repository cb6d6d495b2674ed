"""Annotate collapsed unique inserts: miRNAs and isomiRs first, then contaminants.

Input is ``results/collapsed/{sample}.fa.gz`` (records ``>{sample}_{rank}_x{count}``);
outputs are the per-sample files of ``docs/CONTRACTS.md``. Only unique inserts
are aligned, each weighted by its count.

Annotation order
----------------
1. **miRNA** (bowtie 1 against the species' miRBase hairpins, forward strand
   only, end-to-end, ``-v 1 -a --best --strata``). A hit counts as a miRNA
   only if its templated part lies on a mature locus within the isomiR
   tolerance: 5' end within ±3 nt of the mature 5' end (``max_shift_5p``) and
   templated 3' end within ±5 nt of the mature 3' end (``max_shift_3p``), with
   at least 16 templated nt (``min_templated``). Non-templated 3' additions
   (NTA) are found by re-aligning the still unassigned reads with 1, 2, 3
   bases clipped from the 3' end (as bowtie ``-3 k``); the clipped bases are
   ``iso_add3p``. Only reads whose first 16 bases are within one mismatch of
   a hairpin are aligned at all (an exact pre-filter, see Performance). A mismatch at the last aligned base is read as one more
   added base (NTA length at most ``max_nta`` = 3), so ``miR + A`` where the
   hairpin has no A is ``iso_add3p:1`` while a templated extra base is
   ``iso_3p:+1``. At most one other mismatch is allowed (``iso_snv*``).
   miRNA goes first so that a miRNA read is never lost to a contaminant
   reference that happens to contain a miRNA (miRBase hairpins derived from
   snoRNAs, tRNAs or rRNA); the arm tolerance, the 16-nt minimum and the
   single mismatch keep unrelated fragments out. One exception
   (``exact_contaminant_wins``): a read that is a miRNA only with a
   substitution or non-templated bases, but matches a contaminant sequence
   exactly end to end, is that contaminant, the first category in config
   order with an exact match (e.g. a tRNA fragment one mismatch away from a
   tRNA-derived miRBase entry). Measured on simulated libraries
   (tRNA fragments incl. CCA 3' ends, rRNA, snoRNA/snRNA fragments of 16-40
   nt and random inserts; with and without 1 % sequencing errors): 0.04 % of
   the non-miRNA inserts were counted as miRNA (0.15 % without the
   exception), 0.11 % in ``test_simulated_false_positive_rate`` whose tRNA
   fragments are mostly 5'/3' ends (target <= 0.5 %); the rest are fragments
   that are themselves miRBase entries (hsa-miR-12136, -4284, -7977 from
   tRNAs; -4488, -1268a from rRNA), the price of putting miRNA first. The
   exception lost 1-4 of 17,000 simulated miRNA inserts.
2. **Contaminants** (categories from config, e.g. artifact, rRNA, tRNA,
   snoRNA_snRNA, a user-added YRNA): every read that is not a miRNA (and not
   a tied miRNA multimapper) is aligned end-to-end with up to 1 mismatch
   (``contaminant_mismatches``) on both strands against all categories at
   once (one combined bowtie index, see :mod:`exomir.reads.reference`); of
   its hits with the fewest mismatches, the category that comes first in
   config order takes it (``-a --best --strata``). This includes reads that
   hit a hairpin outside the mature arms: a tRNA fragment that also lies in a
   tRNA-derived "hairpin" is counted as tRNA.

   Until exomir 0.1 every category was a bowtie pass of its own, with up to 2
   mismatches, and the first category with any hit took the read, even if a
   later one matched better. Measured on the simulated 1 M-read TruSeq
   library of ``bench/bench_reads.py`` (791,402 reads, 354,306 unique
   inserts): best hits first moves 106 reads (0.013 %) between contaminant
   categories (64 rRNA -> snoRNA_snRNA, 34 tRNA -> snoRNA_snRNA, 3 rRNA ->
   tRNA, 5 artifact -> others), each to a category it matches with fewer
   mismatches. 1 instead of 2 mismatches moves 98 reads (0.012 %) from
   contaminant categories to ``unassigned``: 71 are 18-20-nt inserts, about
   what random inserts explain (a random 18-mer matches the default
   contaminant set with <= 2 mismatches at a rate of 0.52 %, with <= 1 at
   0.015 %; 81 such reads are expected in this library), 27 are fragments of
   26-40 nt with two sequencing errors. Against the simulator's truth (this
   library and the four TruSeq libraries of ``exomir simulate --preset demo
   --participants 2``) the read funnel is within 0.28 pp of the truth before
   and after (the gap is the reads preprocessing discards); the contaminant
   categories of old and new rules differ by at most 0.017 pp. In exchange
   the contaminant search takes 0.5-0.95 s instead of 5.1-7.3 s (see
   Performance). miRNA, isomiR and GFF output do not change (identical
   files). ``contaminant_mismatches: 2`` restores the old mismatch budget
   (with best hits first) for 1 s more.
3. **hairpin_other**: aligned to a hairpin but not within the tolerance of a
   mature arm and to no contaminant.
4. **unassigned**: everything else, including inserts with non-ACGT letters
   that match no contaminant (they are not aligned to hairpins; mirGFF3
   cannot encode them) and inserts of at most ``contaminant_mismatches``
   bases (bowtie refuses them).

5. **Artifact rules** (:func:`_artifact_rules`, with an ``artifact``
   category): of the still unassigned inserts, those of low complexity and
   those holding an exact 18-mer of the artifact reference become
   ``artifact``.

The categories are exclusive; their counts add up to ``total``.

Long inserts (reads without the adapter, too-long inserts; see
:mod:`exomir.reads.preprocess`) are annotated the same way in a second pass,
with every hairpin hit as ``hairpin_other`` (a long insert is no mature
miRNA); their reads per category go to the JSON key ``long_inserts``, never to
the miRNA tables. The JSON key ``mirtrace_view`` counts both sets in
miRTrace's classes (:func:`mirtrace_view`; ``docs/reads.md``).

Choosing among hits and multimappers
------------------------------------
All best-stratum hits of a read are scored against every mature locus of
their hairpin that is within the tolerance; the candidates with the fewest
internal substitutions and then the smallest ``|5' shift| + |3' shift|`` win
(so a read identical to hsa-miR-1268a is not called a shortened
hsa-miR-1268b). If the winners are all the same feature (one mature on several
hairpins, e.g. hsa-miR-16-5p on mir-16-1 and mir-16-2, or one
identical-sequence group such as ``hsa-miR-517a-3p/hsa-miR-517b-3p``) the read
is counted once for that feature; its isomiR row and mirGFF3 line name the
first hairpin in sorted order as representative (GFF ``Parent``), the GFF
``Hits`` attribute gives the number of such loci and ``loci`` lists them.

If the winners are different features, the read is counted for no miRNA but
in ``multimapped_mirna`` (and is not in the isomiR table or the GFF).
Splitting it would need fractional counts; a joined ad-hoc name such as
``a|b`` would create features that differ between libraries and fragment the
count matrix; giving it to one of them would bias that one. Such ties are
rare: about 0.5 % of the miRNA inserts of a simulated library with a broad
isomiR spectrum, nearly all in families whose isomiRs coincide (miR-548,
C19MC miR-518/519/520, miR-320, miR-513); they are reported so that they can
be checked.

Coordinates and variants
------------------------
``start``/``end`` in the isomiR table and the GFF are 1-based, inclusive, on
the representative hairpin, and cover the whole read (NTA included).
``iso_5p`` = read start - mature start, ``iso_3p`` = templated read end -
mature end (mirtop's signs), ``iso_add3p`` = number of NTA bases, ``iso_snv``
= number of substitutions (0 or 1); ``variant`` is the mirGFF3 string (see
:mod:`exomir.reads.gff`). Against ``mirtop gff`` run on a bowtie BAM of the
same simulated reads, name and variant agree for all reads without NTA but
one; with NTA they differ where a 3' shift and an addition occur together,
because mirtop 0.4.30 measures the 3' shift from the untrimmed read end (it
calls ``miR[:-1] + U`` ``iso_add3p:1`` without ``iso_3p:-1``).

Performance
-----------
Only unique inserts are aligned, each weighted by its count, and only where
they can align. Measured side by side (three interleaved runs each, 2 shared
cores, ``threads=2``, load average about 2) on the simulated 1 M-read library
above (354,306 unique inserts):

=============================== ======================= =====================
step                            before (exomir 0.1)     now
=============================== ======================= =====================
read the collapsed FASTA.gz     0.71-0.78 s             0.27-0.28 s
hairpin pre-filter              (none)                  0.08-0.25 s
hairpins, ``-3`` 0 / 1 / 2 / 3  0.41 / 0.36 / 0.36 /    0.03 / 0.02 / 0.02 /
                                0.34 s, 354,286 -       0.02 s, 7,321 - 1,756
                                321,445 reads each      reads each
exact-contaminant check         4 x 0.1 s               0.01-0.05 s
contaminants                    1.1-1.4 + 1.2-1.9 +     0.50-0.95 s, in the
                                1.3-1.9 + 1.5-2.1 s     background during the
                                (4 passes, -v 2)        hairpin stage
whole annotation (wall)         8.2-10.4 s              0.91-1.36 s
CPU, Python + bowtie            11.4-13.2 s             1.7-1.8 s
peak RSS                        185 MB                  210 MB
=============================== ======================= =====================

With ``contaminant_mismatches: 2`` the whole annotation takes 2.0-2.2 s
(search 1.3-1.5 s, then 0.26-0.29 s for the categories). On the 5 M-read
library of ``bench/bench_reads.py`` (3.96 M passed reads, 1.56 M unique
inserts): 30.4 s before, 3.7 s now (1.3 s of it reading), 442 MB peak RSS
both.

What pays, and what did not:

* **Hairpin pre-filter** (:class:`_HairpinFilter`). Every hairpin pass needs
  the read's first ``min_templated`` (16) bases within one mismatch of a
  hairpin 16-mer. 2-bit packed 16-mers, bucketed by either half and compared
  in numpy, find the 7,321 of 354,286 reads (2.1 %) that qualify; by
  construction a superset of what bowtie can align (tested against brute
  force), so the output is the same file. The four passes then align 13,858
  instead of 1.36 M reads. Folding the clip passes into one bowtie run, the
  clipped copies as extra queries, was measured too: 28,600 queries and
  28,070 hit lines to parse instead of 8,125, slower (0.72 against 0.52 s for
  the stage) than four small runs once a bowtie run starts in 10 ms.
* **Compiled contaminant search** (:mod:`exomir.reads.contaminant_search`,
  with at most one contaminant mismatch and numba): bowtie's question (all
  end-to-end hits with the fewest mismatches, both strands) answered by a
  bucketed 16-mer pigeonhole search and a base-by-base check, on both cores.
  Only reads it cannot decide the same way (non-ACGT letters, shorter than
  16 bases, in reach of an ambiguous reference base: 705 of 1,567,507 on the
  5 M-read library of ``bench/bench_reads.py``) go to bowtie. Categories of
  all 1.57 M inserts are the same as bowtie's (checked on that library;
  ``test_contaminant_prefilter_changes_nothing`` checks it on simulated
  fragments, ``tests/unit/test_contaminant_search.py`` against a brute-force
  scan). Replaces an exact 16-mer pre-filter before bowtie (446,026 reads
  still aligned by bowtie, 0.97 s wall on 2 cores plus 1.13 M output lines
  to parse): 0.33 s for index and search, the index built while the
  collapsed file is read. The whole annotation of that library: 3.2-3.4 s
  before, 1.9-2.1 s wall now (including interpreter start).
* **Sequences stay in one buffer**: the compiled reader of the collapsed
  file keeps the sequences as newline-terminated bytes (what the pre-filter,
  the contaminant search and bowtie read); strings are made only for the
  reads aligned to hairpins or reported (:class:`_BufferSequences`). The
  check for duplicate sequences (a compiled hash; none in files written by
  exomir) runs on the other core during the annotation. The tables are
  written without pandas (0.2 s of imports).
* **bowtie start-up**: ``bowtie`` is a Python wrapper that costs 0.15-0.25 s a
  call before it execs ``bowtie-align-s``; calling the aligner directly takes
  0.01 s. That was about 0.1 s of each of the 12 runs before (the four
  exact-contaminant checks were nothing else).
* **One combined contaminant index** instead of a pass per category: one
  search over all reads instead of four, and new categories need no code (the
  category is the reference name). ``-v 2`` over the combined index: 1.3-1.5
  s, against 5.1-7.3 s for the four passes.
* **1 instead of 2 contaminant mismatches**: bowtie's cost is the exhaustive
  search for the 221,000 inserts that align nowhere (random inserts and reads
  with errors, 62 % of the unique inserts): 8.4 us each with ``-v 2``, 1.2 us
  with ``-v 1`` (0.7 us with ``-v 0``). With ``-v 1`` one run reporting all
  best-stratum hits (``-a --best --strata``) over all reads (0.86 CPU-s)
  beats ``-k 1`` first and then ``-a --best --strata`` on the aligned reads
  (0.55 + 0.53 CPU-s); with ``-v 2`` it is the other way round (5.1-5.4
  against 2.5 + 0.55 CPU-s), so both are implemented. No cheap exact
  pre-filter was found for 2 mismatches on 16-40-nt reads (aligning the two
  halves of each read with one mismatch costs 1.8 CPU-s and keeps 62 % of
  the reads).
* **Smaller combined index** (:func:`exomir.reads.reference.combined_contaminant_records`):
  leaving out sequences contained in others of the same or an earlier
  category (1,891 -> 1,699) removes 46 % of the hits bowtie enumerates
  (664,629 -> 359,713 best-stratum lines) and ``--offrate 0`` makes each
  cheaper: 1.15 -> 0.55 CPU-s for the category step. ``--ftabchars`` 8 (-5 %)
  or 12 (+40 %) did not help.
* **Overlap**: the contaminant search runs in the background (output to a
  file) while the hairpin stage runs; writing its 10 MB input file takes 3-16
  ms, so streaming to bowtie's stdin would gain nothing and would need a
  writer thread. ``-p threads`` for every run; on 2 busy cores ``-p 2`` and
  ``-p 1`` took the same wall time for the search.
* **Reading and parsing**: the collapsed file is decompressed in 16-MB blocks
  and parsed with byte operations; bowtie reads raw sequences (``-r``, named
  by their line number) and writes only integer columns (``--suppress``),
  parsed with numpy. ``--reorder`` is not needed: hits are aggregated per
  read, so the same input gives the same bytes whatever the thread
  interleaving.

Memory grows with the number of unique inserts (the sequences are held in
memory), not with reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

import dnaio
import numpy as np
from xopen import xopen

from exomir.atomic import atomic_open
from exomir.reads import _kernels
from exomir.reads.contaminant_search import ContaminantSearch
from exomir.reads.contaminant_search import K as SEARCH_K
from exomir.reads.gff import GffRecord, mirgff_cigar, variant_string, write_gff

if TYPE_CHECKING:
    import pandas as pd

from exomir.reads.reference import (
    Reference,
    build_combined_contaminants,
    iter_fasta,
    load_reference,
    normalise_sequence,
)

logger = logging.getLogger(__name__)

MIRNA = "mirna"
MULTIMAPPED = "multimapped_mirna"
HAIRPIN_OTHER = "hairpin_other"
UNASSIGNED = "unassigned"
TOTAL = "total"

ISOMIR_COLUMNS = [
    "sequence",
    "mirna",
    "hairpin",
    "start",
    "end",
    "iso_5p",
    "iso_3p",
    "iso_add3p",
    "iso_snv",
    "variant",
    "count",
]
"""Columns of ``{sample}.isomir.tsv`` (CONTRACTS.md)."""

_INT_COLUMNS = ("start", "end", "iso_5p", "iso_3p", "iso_add3p", "iso_snv", "count")

_COUNT_RE = re.compile(r"_x(\d+)$")
#: Decide the contaminant categories with the compiled search where it can
#: (with <= 1 mismatch; the same results as bowtie, see :class:`_Contaminants`).
CONTAMINANT_SEARCH = True

_HEADER_COUNT_RE = re.compile(rb">\S*_x([0-9]+)(?=\s)")
"""The count in each of a block of header lines (each ends with a newline; a
``>`` inside a header makes the match count differ: read record by record)."""

_BASE_CODE = np.full(256, 255, dtype=np.uint8)
for _code, _base in enumerate(b"ACGT"):
    _BASE_CODE[_base] = _code
"""2-bit code of each byte (255: not an upper-case A, C, G or T)."""

_NOT_ACGT_TABLE = bytes(0 if c in b"ACGT\n" else 1 for c in range(256))
"""``bytes.translate`` table: 1 for every byte but A, C, G, T and newline."""

_PREFILTER_MAX = 16
"""Longest read prefix the hairpin pre-filter looks at (2 bits a base, uint32)."""

_PREFILTER_MIN = 12
"""Below this ``min_templated`` the pre-filter would pass nearly every read: off."""

ARTIFACT = "artifact"
"""Contaminant category that the artifact rules add to (case-insensitive)."""

ARTIFACT_K = 18
"""Window of the adapter-derived rule: an exact ``ARTIFACT_K``-mer of the
artifact reference, either strand, anywhere in the insert."""

LOW_COMPLEXITY_SHARE = 0.9
"""Low complexity: one base makes up more than this share of the insert..."""

LOW_COMPLEXITY_RUN = 0.5
"""... or repeats in a run longer than this share of its length."""

MIRTRACE_MIN_LENGTH = 18
"""miRTrace's shortest insert: shorter ones are not typed."""

MIRTRACE_CLASSES = ("miRNA", "rRNA", "tRNA", "artifact", "unknown")
"""miRTrace's RNA classes (the columns of the miRTrace view)."""

MIRTRACE_EXCLUDED = ("low_complexity", "shorter_than_18")
"""Reads of the view outside the classes (miRTrace removes them first)."""

_ARTIFACT_KMERS: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_VIEW_SEARCH: dict[str, dict[str, ContaminantSearch]] = {}

_PRECURSOR_RRNA = re.compile(r"45S|47S|pre-?rRNA|pre-?ribosomal", re.IGNORECASE)
"""rRNA records that are precursors (with spacers), by name: not miRTrace's."""


@dataclass(frozen=True)
class AnnotationParams:
    """Tolerances of the annotation (defaults as documented in the module).

    Attributes
    ----------
    max_shift_5p
        Largest ``|read start - mature start|`` accepted as an isomiR.
    max_shift_3p
        Largest ``|templated end - mature end|`` accepted as an isomiR.
    max_nta
        Most non-templated 3' bases (hairpin passes with 1..``max_nta`` bases
        clipped).
    hairpin_mismatches
        bowtie ``-v`` against hairpins (0 or 1; with 1, a mismatch at the last
        aligned base is an added base, any other is ``iso_snv``).
    min_templated
        Fewest templated bases of a miRNA read.
    contaminant_mismatches
        bowtie ``-v`` against the contaminant categories (1; 2 until exomir
        0.1, see the module docstring for the trade-off).
    exact_contaminant_wins
        A read that is a miRNA only with a substitution or non-templated
        bases but matches a contaminant sequence exactly (end to end) goes
        to that contaminant category.
    """

    max_shift_5p: int = 3
    max_shift_3p: int = 5
    max_nta: int = 3
    hairpin_mismatches: int = 1
    min_templated: int = 16
    contaminant_mismatches: int = 1
    exact_contaminant_wins: bool = True

    def __post_init__(self) -> None:
        if self.hairpin_mismatches not in (0, 1):
            raise ValueError("hairpin_mismatches must be 0 or 1")
        if not 0 <= self.contaminant_mismatches <= 3:
            raise ValueError("contaminant_mismatches must be 0..3")
        for name in ("max_shift_5p", "max_shift_3p", "max_nta", "min_templated"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def describe(self) -> str:
        """Return the parameters as one ``key=value`` line."""
        return " ".join(f"{k}={v}" for k, v in self.__dict__.items())


@dataclass
class CollapsedReads:
    """Unique inserts of one library.

    Attributes
    ----------
    sequences
        Unique sequences (upper case).
    counts
        Reads (or molecules) per sequence, int64.
    """

    sequences: Sequence[str]
    counts: np.ndarray

    @property
    def total(self) -> int:
        """Total reads (sum of counts)."""
        return int(self.counts.sum())


class _BufferSequences(Sequence[str]):
    """Sequences held in one byte buffer, decoded one at a time on access.

    What the compiled reader of the collapsed FASTA gives: the annotation
    works on the buffer (:class:`_Layout`) and needs strings only for the
    few reads it aligns or reports, so 1.5 M Python strings are never made.
    """

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self._data = layout.buffer.tobytes()

    def has_duplicates(self) -> bool:
        """Return whether a sequence occurs twice (compiled hash; no GIL)."""
        lay = self.layout
        return bool(_kernels.has_duplicates(lay.buffer, lay.starts, lay.lengths))

    def merge_duplicates(
        self, counts: np.ndarray, check: bool = True
    ) -> CollapsedReads | None:
        """Return the reads with duplicates merged (counts added), or ``None``.

        ``None`` if no sequence occurs twice (``check=False``: known to be so).
        """
        if check and not self.has_duplicates():
            return None
        merged: dict[str, int] = {}
        for seq, c in zip(self, counts.tolist(), strict=True):
            merged[seq] = merged.get(seq, 0) + c
        return CollapsedReads(
            list(merged),
            np.fromiter(merged.values(), dtype=np.int64, count=len(merged)),
        )

    def __len__(self) -> int:
        return len(self.layout.starts)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        s = int(self.layout.starts[i])
        return self._data[s : s + int(self.layout.lengths[i])].decode("ascii")

    def __iter__(self):
        text = self._data.decode("ascii")
        return iter(text.split("\n")[:-1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Assignment:
    """A unique insert assigned to a miRNA feature.

    Attributes
    ----------
    feature
        Mature feature name.
    hairpins
        Hairpins of the winning loci, sorted; the first is the representative.
    offset
        0-based start on the representative hairpin.
    templated
        Number of templated bases.
    n_add
        Number of non-templated 3' bases.
    snv
        0-based read positions of substitutions.
    shift_5p, shift_3p
        Read start - mature start; templated end - mature end.
    """

    feature: str
    hairpins: tuple[str, ...]
    offset: int
    templated: int
    n_add: int
    snv: tuple[int, ...]
    shift_5p: int
    shift_3p: int


@dataclass
class AnnotationResult:
    """Everything the annotation of one library produced.

    Attributes
    ----------
    sample
        Sample name.
    categories
        Reads per category (contaminant categories in config order, then
        ``mirna``, ``multimapped_mirna``, ``hairpin_other``, ``unassigned``,
        ``total``).
    isomir_rows
        One tuple per assigned unique insert (``ISOMIR_COLUMNS``), sorted by
        miRNA, then sequence; as a DataFrame: :attr:`isomirs`.
    mirna_rows
        ``(mirna, count)`` per miRNA with reads, sorted by name; as a
        DataFrame: :attr:`mirna`.
    gff_records
        The isomiRs for the mirGFF3 file.
    read_categories
        Category of every unique insert, in input order.
    database
        Database name for the mirGFF3 source column.
    params
        Parameters used.
    seconds
        Wall time of the annotation.
    n_unique
        Number of unique inserts.
    long_categories
        Reads of the long inserts per category (same keys as
        ``categories``; ``mirna`` and ``multimapped_mirna`` always 0: a hairpin
        hit of a long insert is ``hairpin_other``).
    mirtrace_view
        Reads per miRTrace class (:data:`MIRTRACE_CLASSES`) and excluded
        group (:data:`MIRTRACE_EXCLUDED`), both pools together (see
        :func:`mirtrace_view`).
    """

    sample: str
    categories: dict[str, int]
    isomir_rows: list[tuple]
    mirna_rows: list[tuple[str, int]]
    gff_records: list[GffRecord]
    read_categories: list[str]
    database: str
    params: AnnotationParams
    seconds: float = 0.0
    n_unique: int = 0
    long_categories: dict[str, int] | None = None
    mirtrace_view: dict[str, int] | None = None

    @property
    def isomirs(self) -> pd.DataFrame:
        """The isomiR table (``ISOMIR_COLUMNS``)."""
        import pandas as pd

        return pd.DataFrame(self.isomir_rows, columns=ISOMIR_COLUMNS).astype(
            {c: "int64" for c in ISOMIR_COLUMNS if c in _INT_COLUMNS}
        )

    @property
    def mirna(self) -> pd.DataFrame:
        """Reads per miRNA (columns ``mirna``, ``count``)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "mirna": pd.Series([m for m, _ in self.mirna_rows], dtype=object),
                "count": pd.Series([c for _, c in self.mirna_rows], dtype="int64"),
            }
        )


def parse_count(name: str) -> int:
    """Return the count encoded in a collapsed record name.

    Parameters
    ----------
    name
        Record name ``{sample}_{rank}_x{count}``.

    Returns
    -------
    int
        The count.

    Raises
    ------
    ValueError
        If the name does not end with ``_x<count>`` or the count is 0.
    """
    m = _COUNT_RE.search(name.split(maxsplit=1)[0] if name else "")
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"collapsed record {name!r} does not end with _x<count>")
    return int(m.group(1))


def read_collapsed(path: str | os.PathLike[str]) -> CollapsedReads:
    """Read a collapsed FASTA(.gz) of unique inserts.

    Duplicate sequences (not expected) are merged by adding their counts.
    Sequences are upper-cased and U is written as T.

    Parameters
    ----------
    path
        ``results/collapsed/{sample}.fa.gz``.

    Returns
    -------
    CollapsedReads
        Sequences in file order and their counts.
    """
    fast = _read_two_line_fasta(path)
    if fast is not None:
        if isinstance(fast.sequences, _BufferSequences):
            return fast.sequences.merge_duplicates(fast.counts) or fast
        return fast
    index: dict[str, int] = {}
    seqs: list[str] = []
    counts: list[int] = []
    with dnaio.open(os.fspath(path), fileformat="fasta") as reader:
        for rec in reader:
            seq = rec.sequence.upper().replace("U", "T")
            n = parse_count(rec.name)
            k = index.get(seq)
            if k is None:
                index[seq] = len(seqs)
                seqs.append(seq)
                counts.append(n)
            else:
                counts[k] += n
    return CollapsedReads(seqs, np.asarray(counts, dtype=np.int64))


def _read_two_line_fasta(path: str | os.PathLike[str]) -> CollapsedReads | None:
    """Read a FASTA of one-line records in blocks (the collapsed files).

    The file is decompressed in blocks of 16 MB; headers and sequences of a
    block are joined and handled as one byte string each (counts with one
    regular expression, upper-casing in one call): 0.28 s instead of 0.75 s
    for 354,000 records, and at most one block of line objects in memory.
    The result is ``None`` if the file is not strictly ``>name`` / sequence
    line pairs or not ASCII, for :func:`read_collapsed` to parse it record by
    record.
    """
    if _kernels.NUMBA:
        return _read_collapsed_compiled(path)
    return _read_two_line_fasta_numpy(path)


def _read_collapsed_compiled(path: str | os.PathLike[str]) -> CollapsedReads | None:
    """Read the collapsed FASTA with one compiled loop per 16-MB block.

    The sequences stay in one byte buffer (:class:`_BufferSequences`);
    duplicates are not looked for here (:meth:`_BufferSequences.has_duplicates`).
    Falls back to the numpy reader for anything but ``>name_x<count>`` /
    one ``ACGTN`` line per record (lower case, ``U``, CR, wrapped lines).
    """
    with xopen(os.fspath(path), "rb", threads=1) as fh:
        reads = _parse_collapsed(iter(lambda: fh.read(1 << 24), b""))
    return reads if reads is not None else _read_two_line_fasta_numpy(path)


def collapsed_from_fasta(
    text: bytes | np.ndarray, check_duplicates: bool = True
) -> CollapsedReads:
    """Return the unique inserts of an in-memory collapsed FASTA text.

    The same as :func:`read_collapsed` on a file holding ``text``
    (uncompressed), without the file: for a caller that has just collapsed
    a library (:mod:`exomir.reads.library`). ``check_duplicates=False``
    leaves duplicate sequences to :func:`annotate_sample`, which looks for
    them (and merges them) beside its own work.
    """
    data = text.tobytes() if isinstance(text, np.ndarray) else bytes(text)
    reads = _parse_collapsed(iter([data])) if _kernels.NUMBA else None
    if reads is None:
        with tempfile.TemporaryDirectory(prefix="exomir-collapsed-") as tdir:
            path = Path(tdir) / "collapsed.fa"
            path.write_bytes(data)
            return read_collapsed(path)
    assert isinstance(reads.sequences, _BufferSequences)
    if not check_duplicates:
        return reads
    return reads.sequences.merge_duplicates(reads.counts) or reads


def _parse_collapsed(chunks: Iterator[bytes]) -> CollapsedReads | None:
    """Parse collapsed FASTA text given in chunks (compiled); ``None`` if unusual."""
    blocks: list[tuple[np.ndarray, ...]] = []
    rest = b""
    while True:
        chunk = next(chunks, b"")
        final = not chunk
        data = rest + chunk if rest else chunk
        if final and data and not data.endswith(b"\n"):
            data += b"\n"
        buf = np.frombuffer(data, np.uint8)
        seqs = np.empty(len(buf), np.uint8)
        most = len(buf) // 4 + 1  # a record takes at least 4 bytes
        counts = np.empty(most, np.int64)
        lengths = np.empty(most, np.int64)
        has_n = np.empty(most, np.bool_)
        ok, n, used, pos = _kernels.parse_collapsed_block(
            buf, final, seqs, counts, lengths, has_n
        )
        if not ok:
            return None
        blocks.append((seqs[:used], counts[:n], lengths[:n], has_n[:n]))
        rest = data[pos:]
        if final:
            break
    buffer, all_counts, all_lengths, all_n = (
        np.concatenate(parts) for parts in zip(*blocks, strict=True)
    )
    del blocks
    starts = np.zeros(len(all_lengths), dtype=np.int64)
    np.cumsum(all_lengths[:-1] + 1, out=starts[1:])
    layout = _Layout(
        buffer, starts, all_lengths, ~all_n, np.ones(len(starts), dtype=bool)
    )
    return CollapsedReads(_BufferSequences(layout), all_counts)


def _read_two_line_fasta_numpy(path: str | os.PathLike[str]) -> CollapsedReads | None:
    """Read the collapsed FASTA with numpy (the reader without numba)."""
    seq_blocks: list[bytes] = []
    counts_blocks: list[np.ndarray] = []
    rest = b""
    with xopen(os.fspath(path), "rb", threads=0) as fh:
        while True:
            chunk = fh.read(1 << 24)
            data = rest + chunk if rest else chunk
            if not chunk:
                if not data:
                    break
                if not data.endswith(b"\n"):  # the file's last line
                    data += b"\n"
            lines = data.split(b"\n")
            del data
            rest = lines.pop()  # an incomplete line (b"" at a line end)
            if len(lines) % 2:  # keep pairs together
                rest = lines.pop() + b"\n" + rest
            if not chunk and rest:  # a header without a sequence line
                return None
            if not lines:
                if chunk:
                    continue
                break
            heads = b"\n".join(lines[0::2]) + b"\n"
            body = b"\n".join(lines[1::2]) + b"\n"
            n = len(lines) // 2
            del lines
            if b"\r" in heads or b"\r" in body:
                heads = heads.replace(b"\r\n", b"\n")
                body = body.replace(b"\r\n", b"\n")
            if (
                not heads.startswith(b">")
                or heads.count(b"\n>") != n - 1
                or body.startswith(b">")
                or b"\n>" in body
            ):
                return None
            # The first word of every header ends with _x<count> (parse_count).
            found = _HEADER_COUNT_RE.findall(heads)
            if len(found) != n:
                counts = np.zeros(0, dtype=np.int64)
            else:
                counts = _int_table(b"\n".join(found) + b"\n", 1)[:, 0]
            if len(counts) != n or (counts < 1).any():
                for line in heads.split(b"\n")[:-1]:
                    parse_count(line[1:].decode("ascii", "replace"))  # raises
                return None  # pragma: no cover - parse_count accepted them all
            seq_blocks.append(body)
            counts_blocks.append(counts)
            if not chunk:
                break
    try:
        text = b"".join(seq_blocks).upper().replace(b"U", b"T").decode("ascii")
    except UnicodeDecodeError:
        return None
    del seq_blocks
    seqs = text.split("\n")[:-1]
    del text
    counts = np.concatenate(counts_blocks) if counts_blocks else np.zeros(0, np.int64)
    if len(set(seqs)) != len(seqs):
        merged: dict[str, int] = {}
        for seq, c in zip(seqs, counts.tolist(), strict=True):
            merged[seq] = merged.get(seq, 0) + c
        seqs = list(merged)
        counts = np.fromiter(merged.values(), dtype=np.int64, count=len(seqs))
    return CollapsedReads(seqs, counts)


class _Bowtie:
    """One bowtie 1 run in the background: input and output are files.

    Reads are written in bowtie's raw format (``-r``, one sequence a line);
    bowtie names them by their 0-based line number, which is what the output
    reports. Every query must be non-empty, without white space, and at least
    ``-v`` + 1 long (bowtie stops with an error on shorter reads).
    """

    def __init__(
        self,
        index: Path,
        queries: Sequence[str] | np.ndarray,
        args: list[str],
        threads: int,
        work: Path,
        label: str,
    ) -> None:
        self.label = label
        raw = isinstance(queries, np.ndarray)  # newline-terminated ASCII bytes
        self.n = int(np.count_nonzero(queries == 10)) if raw else len(queries)
        self.started = time.perf_counter()
        self.cmd = [
            *_bowtie_command(index),
            "-x",
            os.fspath(index),
            "-r",
            "-p",
            str(max(1, threads)),
            *args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        if not self.n:
            return
        self.reads = work / f"{label}.seq"
        self.out = work / f"{label}.out"
        self.err = work / f"{label}.log"
        with open(self.reads, "wb") as fh:
            if isinstance(queries, np.ndarray):
                fh.write(queries.data)
            else:
                fh.write("\n".join(queries).encode("ascii", "replace"))
                fh.write(b"\n")
        self.cmd.append(os.fspath(self.reads))
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err)

    def output(self) -> bytes:
        """Wait for bowtie; return its output (``b""`` if there were no reads).

        Raises
        ------
        RuntimeError
            If bowtie failed; the message holds the end of its stderr.
        """
        if self.proc is None:
            return b""
        rc = self.proc.wait()
        if rc != 0:
            msg = self.err.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"bowtie failed ({rc}): {' '.join(self.cmd)}\n{msg}")
        data = self.out.read_bytes()
        logger.debug(
            "bowtie %s: %d reads, %d lines, %.2f s",
            self.label,
            self.n,
            data.count(b"\n"),
            time.perf_counter() - self.started,
        )
        return data

    def stop(self) -> None:
        """Kill bowtie if it still runs (after an error elsewhere)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _bowtie_command(index: Path) -> list[str]:
    """Return the command that runs bowtie 1 on ``index``.

    ``bowtie`` is a Python wrapper that picks ``bowtie-align-s`` (or ``-l``
    for a large index) next to itself and replaces itself with it; starting
    the interpreter costs 0.15-0.25 s a call, more than aligning 30,000 reads.
    The aligner is run directly when it is found there, as the wrapper would.
    """
    wrapper = shutil.which("bowtie")
    if wrapper is not None:
        large = not Path(f"{os.fspath(index)}.1.ebwt").exists() and (
            Path(f"{os.fspath(index)}.1.ebwtl").exists()
        )
        binary = Path(wrapper).resolve().parent / (
            "bowtie-align-l" if large else "bowtie-align-s"
        )
        if binary.is_file() and os.access(binary, os.X_OK):
            return [os.fspath(binary), "--wrapper", "basic-0"]
    return ["bowtie"]


def _int_table(data: bytes, ncols: int) -> np.ndarray:
    """Parse bowtie output whose columns are all integers into an array."""
    nrows = data.count(b"\n")
    if not nrows:
        return np.zeros((0, ncols), dtype=np.int64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(data, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        values = np.zeros(0, dtype=np.int64)
    if values.size != nrows * ncols:
        values = np.array([int(x) for x in data.split()], dtype=np.int64)
    return values.reshape(nrows, ncols)


def _first_category(data: bytes, n_queries: int) -> np.ndarray:
    """Lowest category of each query in ``read<TAB>category`` bowtie output.

    Returns an array over the queries, -1 where a query has no line.
    """
    table = _int_table(data, 2)
    best = np.full(n_queries, np.iinfo(np.int64).max, dtype=np.int64)
    if len(table):
        np.minimum.at(best, table[:, 0], table[:, 1])
    best[best == np.iinfo(np.int64).max] = -1
    return best


@dataclass
class _Layout:
    """All unique inserts in one byte buffer, for vectorised checks.

    Attributes
    ----------
    buffer
        The sequences, each followed by a newline (ASCII; other characters
        as ``?``).
    starts, lengths
        Offset and length of each sequence in ``buffer``.
    acgt
        The sequence has only A, C, G, T (empty included).
    clean
        The sequence has no white space (it can be written as a bowtie read).
    """

    buffer: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    acgt: np.ndarray
    clean: np.ndarray

    @classmethod
    def of(cls, seqs: Sequence[str]) -> _Layout:
        """Lay out ``seqs``."""
        if isinstance(seqs, _BufferSequences):
            return seqs.layout
        n = len(seqs)
        data = ("\n".join(seqs) + "\n").encode("ascii", "replace") if n else b""
        buffer = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(buffer == 10)
        clean = np.ones(n, dtype=bool)
        if len(ends) != n or any(c in data for c in (b" ", b"\t", b"\r", b"\v", b"\f")):
            # white space inside a sequence: it is never aligned
            clean = np.fromiter(
                (re.search(r"\s", s) is None for s in seqs), dtype=bool, count=n
            )
            layout = cls.of(
                [s if ok else "" for s, ok in zip(seqs, clean, strict=True)]
            )
            layout.clean = clean
            layout.acgt &= clean
            return layout
        starts = np.zeros(n, dtype=np.int64)
        if n > 1:
            starts[1:] = ends[:-1] + 1
        acgt = np.ones(n, dtype=bool)
        if n:
            # 1 for every byte but A, C, G, T and the newlines
            bad = np.frombuffer(data.translate(_NOT_ACGT_TABLE), dtype=bool)
            acgt = ~np.logical_or.reduceat(bad, starts)
        return cls(buffer, starts, ends - starts, acgt, clean)

    def texts(self, rows: np.ndarray) -> list[str]:
        """Return the sequences of ``rows`` as strings."""
        buf = self.buffer
        return [
            buf[s : s + n].tobytes().decode("ascii", "replace")
            for s, n in zip(
                self.starts[rows].tolist(), self.lengths[rows].tolist(), strict=True
            )
        ]

    def prefix_keys(self, rows: np.ndarray, k: int) -> np.ndarray:
        """2-bit codes of the first ``k`` bases of ``rows`` (ACGT, length >= k)."""
        windows = np.lib.stride_tricks.sliding_window_view(self.buffer, k)
        return _pack(_BASE_CODE[windows[self.starts[rows]]])


class _HairpinFilter:
    """Which reads can align to a hairpin at all (a superset, never fewer).

    bowtie aligns a read end to end, forward strand, with at most
    ``hairpin_mismatches`` (0 or 1) mismatches, and every pass needs at least
    ``min_templated`` aligned bases from the read's 5' end. So a read that
    aligns in any pass has its first ``k = min(min_templated, 16)`` bases
    within that many mismatches of a ``k``-mer of a hairpin; then one half of
    the prefix (bases ``0..h-1`` or ``h..k-1``, ``h = k // 2``) matches that
    ``k``-mer exactly. The hairpin ``k``-mers (2 bits a base) are bucketed by
    each half; a read is compared only with the ``k``-mers of its two buckets
    (about 3 each for human miRBase), all in numpy. A hairpin ``k``-mer with
    one non-ACGT base is entered once with each of A, C, G, T in its place (a
    superset whatever bowtie does with it); with more it cannot align.
    """

    def __init__(self, hairpins: Iterable[str], k: int, mismatches: int) -> None:
        self.k = k
        self.h = k // 2
        self.mismatches = mismatches
        joined = np.frombuffer("\n".join(hairpins).encode("ascii", "replace"), np.uint8)
        codes = _BASE_CODE[joined]
        keys = np.zeros(0, dtype=np.uint32)
        if len(codes) >= k:
            bad = codes == 255
            windows = np.lib.stride_tricks.sliding_window_view(
                np.where(bad, 0, codes), k
            )
            bad_windows = np.lib.stride_tricks.sliding_window_view(bad, k)
            n_bad = bad_windows.sum(axis=1)
            # no window across two hairpins
            across = np.lib.stride_tricks.sliding_window_view(joined == 10, k)
            use = (n_bad <= 1) & ~across.any(axis=1)
            keys = _pack(windows[use])
            one = n_bad[use] == 1
            if one.any():
                # the position of the one non-ACGT base, as a 2-bit shift
                pos = np.argmax(bad_windows[use][one], axis=1)
                shift = (2 * (k - 1 - pos)).astype(np.uint32)
                extra = [keys[one] | (np.uint32(c) << shift) for c in (1, 2, 3)]
                keys = np.concatenate([keys, *extra])
        low_bits = 2 * (k - self.h)
        self.low_mask = np.uint32((1 << low_bits) - 1)
        self.low_bits = np.uint32(low_bits)
        self.buckets = [
            _Buckets(keys & self.low_mask, keys >> self.low_bits, 1 << low_bits),
            _Buckets(keys >> self.low_bits, keys & self.low_mask, 1 << (2 * self.h)),
        ]

    def select(self, layout: _Layout, rows: np.ndarray) -> np.ndarray:
        """Boolean mask over ``rows`` (ACGT, at least ``k`` long): can align.

        One compiled loop when numba is available (packs the prefix and scans
        the two buckets per read: 0.1 s for 1.5 M reads instead of ~1 s of
        numpy array building), else :meth:`contains` on the packed prefixes.
        """
        if _kernels.NUMBA:
            b0, b1 = self.buckets
            return _kernels.hairpin_candidates(
                layout.buffer,
                layout.starts,
                rows,
                self.k,
                int(self.low_bits),
                b0.values.astype(np.uint32),
                b0.start.astype(np.int64),
                b0.count.astype(np.int64),
                b1.values.astype(np.uint32),
                b1.start.astype(np.int64),
                b1.count.astype(np.int64),
                self.mismatches,
            )
        return self.contains(layout.prefix_keys(rows, self.k))

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: the read prefix ``keys`` can align to a hairpin."""
        block = 1 << 18  # bounds the (query, k-mer) pairs held at once
        if len(keys) > block:
            return np.concatenate(
                [self.contains(keys[i : i + block]) for i in range(0, len(keys), block)]
            )
        hit = np.zeros(len(keys), dtype=bool)
        low = keys & self.low_mask
        high = keys >> self.low_bits
        for buckets, (exact, other) in zip(
            self.buckets, ((low, high), (high, low)), strict=True
        ):
            query, diff = buckets.compare(exact, other)
            # bases that differ: a 2-bit group with any bit set
            diff = (diff | (diff >> np.uint32(1))) & np.uint32(0x55555555)
            if self.mismatches:
                ok = (diff & (diff - np.uint32(1))) == 0  # at most one base
            else:
                ok = diff == 0
            hit[query[ok]] = True
        return hit


class _Buckets:
    """Values grouped by an integer bucket, for all-pairs comparison."""

    def __init__(self, bucket: np.ndarray, value: np.ndarray, n_buckets: int) -> None:
        order = np.argsort(bucket, kind="stable")
        self.values = value[order]
        self.count = np.bincount(bucket, minlength=n_buckets)
        self.start = np.concatenate(([0], np.cumsum(self.count)[:-1]))

    def compare(
        self, bucket: np.ndarray, value: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """XOR of every query ``value`` with every value of its bucket.

        Returns the query index of each pair and the XOR.
        """
        count = self.count[bucket]
        total = int(count.sum())
        query = np.repeat(np.arange(len(bucket), dtype=np.int32), count)
        first = np.cumsum(count) - count
        index = np.arange(total) - np.repeat(first - self.start[bucket], count)
        return query, value[query] ^ self.values[index]


def _pack(codes: np.ndarray) -> np.ndarray:
    """2-bit pack the rows of a (n, k) array of base codes, k <= 16."""
    keys = np.zeros(len(codes), dtype=np.uint32)
    for j in range(codes.shape[1]):
        keys = (keys << np.uint32(2)) | codes[:, j]
    return keys


def _parse_mismatches(field_: str) -> list[tuple[int, str, str]]:
    """Parse bowtie mismatch descriptors ``10:A>C,...`` (offset:ref>read)."""
    if not field_:
        return []
    out = []
    for item in field_.split(","):
        pos, change = item.split(":")
        out.append((int(pos), change[0], change[2]))
    return out


def _candidates(
    hits: list[tuple[str, int, list[tuple[int, str, str]]]],
    read_len: int,
    clip: int,
    reference: Reference,
    params: AnnotationParams,
) -> list[tuple[tuple[int, int], Assignment]]:
    """Turn the hits of one read into scored mature candidates."""
    out: list[tuple[tuple[int, int], Assignment]] = []
    for hairpin, offset, mms in hits:
        templated = read_len - clip
        n_add = clip
        snv = sorted(p for p, _, _ in mms)
        if snv and snv[-1] == templated - 1 and (clip > 0 or params.max_nta > 0):
            # A mismatch at the last aligned base: one more non-templated base.
            if clip + 1 > params.max_nta:
                continue
            snv.pop()
            templated -= 1
            n_add += 1
        if templated < params.min_templated:
            continue
        end0 = offset + templated - 1
        for lo in reference.loci.get(hairpin, ()):
            s5 = offset - (lo.start - 1)
            s3 = end0 - (lo.end - 1)
            if abs(s5) <= params.max_shift_5p and abs(s3) <= params.max_shift_3p:
                cand = Assignment(
                    feature=lo.feature,
                    hairpins=(hairpin,),
                    offset=offset,
                    templated=templated,
                    n_add=n_add,
                    snv=tuple(snv),
                    shift_5p=s5,
                    shift_3p=s3,
                )
                out.append(((len(snv), abs(s5) + abs(s3)), cand))
    return out


def _choose(
    cands: list[tuple[tuple[int, int], Assignment]],
) -> Assignment | None:
    """Pick the best candidate; ``None`` if the best tie across features."""
    best = min(key for key, _ in cands)
    winners = [c for key, c in cands if key == best]
    features = {c.feature for c in winners}
    if len(features) > 1:
        return None
    winners.sort(key=lambda c: (c.hairpins[0], c.offset, c.shift_3p, c.n_add))
    rep = winners[0]
    hairpins = tuple(sorted({c.hairpins[0] for c in winners}))
    return Assignment(
        feature=rep.feature,
        hairpins=(rep.hairpins[0], *(h for h in hairpins if h != rep.hairpins[0])),
        offset=rep.offset,
        templated=rep.templated,
        n_add=rep.n_add,
        snv=rep.snv,
        shift_5p=rep.shift_5p,
        shift_3p=rep.shift_3p,
    )


def annotate_reads(
    reads: CollapsedReads,
    reference: Reference,
    params: AnnotationParams | None = None,
    threads: int = 1,
    tmpdir: str | os.PathLike[str] | None = None,
) -> tuple[list[str], dict[int, Assignment]]:
    """Classify every unique insert (the core of :func:`annotate_sample`).

    Parameters
    ----------
    reads
        Unique inserts and counts.
    reference
        Loaded reference.
    params
        Tolerances; defaults if ``None``.
    threads
        bowtie threads.
    tmpdir
        Directory for temporary files (default: system temp).

    Returns
    -------
    categories : list of str
        Category of each unique insert.
    assignments : dict
        Insert index to its :class:`Assignment`, for miRNA inserts.
    """
    codes, assignments = _classify(reads, reference, params, threads, tmpdir)
    names = _category_names(reference)
    return [names[c] for c in codes.tolist()], assignments


def _category_names(reference: Reference) -> list[str]:
    """Category of each code: contaminants in config order, then the rest."""
    return [c.category for c in reference.contaminants] + [
        MIRNA,
        MULTIMAPPED,
        HAIRPIN_OTHER,
        UNASSIGNED,
    ]


def _classify(
    reads: CollapsedReads,
    reference: Reference,
    params: AnnotationParams | None,
    threads: int,
    tmpdir: str | os.PathLike[str] | None,
    search: ContaminantSearch | None = None,
) -> tuple[np.ndarray, dict[int, Assignment]]:
    """Category code of every unique insert (see :func:`_category_names`).

    Order of work: the contaminant search (compiled, or bowtie for what it
    cannot decide) starts first and runs in the background while the miRNA
    annotation runs; its hits are then resolved to categories for the
    inserts that are not miRNA.
    """
    params = params or AnnotationParams()
    seqs = reads.sequences
    n = len(seqs)
    n_cont = len(reference.contaminants)
    hairpin_other, unassigned = n_cont + 2, n_cont + 3
    codes = np.full(n, unassigned, dtype=np.int64)
    assignments: dict[int, Assignment] = {}
    if not n:
        return codes, assignments
    layout = _Layout.of(seqs)

    with tempfile.TemporaryDirectory(prefix="exomir-annotate-", dir=tmpdir) as tdir:
        work = Path(tdir)
        contaminants: _Contaminants | None = None
        try:
            if n_cont:
                cont_index = reference.contaminant_index or _combined_index(
                    reference, work, threads
                )
                contaminants = _Contaminants(
                    layout, cont_index, reference, params, threads, work, search
                )

            on_hairpin, edited = _annotate_mirna(
                layout, reference, params, threads, work, codes, assignments
            )

            # A read that needs edits to be a miRNA but is an exact contaminant
            # fragment (e.g. a tRNA piece that overlaps a tRNA-derived miRBase
            # entry with one mismatch) is a contaminant: the first category,
            # in config order, with an exact hit.
            if params.exact_contaminant_wins and edited and contaminants is not None:
                rows = np.asarray(edited, dtype=np.int64)
                first = contaminants.exact_category(rows)
                for q in np.flatnonzero(first >= 0).tolist():
                    rid = edited[q]
                    codes[rid] = first[q]
                    assignments.pop(rid, None)
                logger.debug(
                    "%d of %d edited miRNA reads are exact contaminants",
                    int((first >= 0).sum()),
                    len(edited),
                )

            # Contaminants: every read that is not (multimapped) miRNA and
            # aligned gets the first category, in config order, among its
            # best-stratum hits.
            if contaminants is not None:
                rows, first = contaminants.categories(codes == unassigned)
                codes[rows] = first
                logger.debug(
                    "contaminants: %d reads aligned, %d of them not miRNA: %s",
                    contaminants.n_aligned,
                    len(rows),
                    json.dumps(
                        {
                            c.category: int((first == k).sum())
                            for k, c in enumerate(reference.contaminants)
                        }
                    ),
                )
        finally:
            if contaminants is not None:
                contaminants.stop()
    codes[(codes == unassigned) & on_hairpin] = hairpin_other
    _artifact_rules(layout, reference, codes, unassigned)
    return codes, assignments


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
    (see the module docstring).

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


def _annotate_mirna(
    layout: _Layout,
    reference: Reference,
    params: AnnotationParams,
    threads: int,
    work: Path,
    codes: np.ndarray,
    assignments: dict[int, Assignment],
) -> tuple[np.ndarray, list[int]]:
    """Align the candidate reads to the hairpins and assign miRNAs.

    One bowtie run per 3' clip (0, then 1..``max_nta`` for the NTA search),
    each on the candidates that earlier clips left unresolved, with the
    clipped reads written out (same hits as bowtie ``-3 k``).

    Returns
    -------
    on_hairpin : numpy.ndarray
        Boolean per read: aligned to a hairpin in a pass it took part in.
    edited : list of int
        Reads that are miRNA (or tied miRNA) only with a substitution or
        non-templated bases.
    """
    n = len(layout.lengths)
    n_cont = len(reference.contaminants)
    mirna, multimapped = n_cont, n_cont + 1
    on_hairpin = np.zeros(n, dtype=bool)
    edited: list[int] = []
    t0 = time.perf_counter()
    # bowtie needs at least -v + 1 bases
    min_len = max(params.min_templated, params.hairpin_mismatches + 1)
    rows = np.flatnonzero(layout.acgt & (layout.lengths >= min_len))
    n_eligible = len(rows)
    k = min(params.min_templated, _PREFILTER_MAX)
    if k >= _PREFILTER_MIN and len(rows):
        filt = _HairpinFilter(reference.hairpins.values(), k, params.hairpin_mismatches)
        rows = rows[filt.select(layout, rows)]
    t_filter = time.perf_counter() - t0
    # the candidates' sequences, decoded once
    text = dict(zip(rows.tolist(), layout.texts(rows), strict=True))

    max_clip = max(params.max_nta, 0)
    pending = rows
    n_queries = 0
    for clip in range(max_clip + 1):
        todo = pending[layout.lengths[pending] - clip >= min_len]
        if not len(todo):
            break
        take = todo.tolist()
        run = _Bowtie(
            reference.hairpin_index,
            [text[i][:-clip] for i in take] if clip else [text[i] for i in take],
            [
                "-v",
                str(params.hairpin_mismatches),
                "-a",
                "--best",
                "--strata",
                "--norc",
                "--suppress",
                "2,5,6,7",
            ],
            threads,
            work,
            f"hairpin-3-{clip}",
        )
        n_queries += len(take)
        hits: dict[int, list[tuple[str, int, list[tuple[int, str, str]]]]] = {}
        for line in run.output().decode("ascii").splitlines():
            cols = line.split("\t")  # read, hairpin, offset, mismatches
            mms = _parse_mismatches(cols[3] if len(cols) > 3 else "")
            hits.setdefault(int(cols[0]), []).append((cols[1], int(cols[2]), mms))
        done: list[int] = []
        for q in sorted(hits):
            rid = take[q]
            on_hairpin[rid] = True
            cands = _candidates(hits[q], len(text[rid]), clip, reference, params)
            if not cands:
                continue
            choice = _choose(cands)
            if choice is None:
                codes[rid] = multimapped
            else:
                codes[rid] = mirna
                assignments[rid] = choice
            if min(len(c.snv) + c.n_add for _, c in cands) > 0:
                edited.append(rid)
            done.append(rid)
        pending = pending[~np.isin(pending, done)]
        logger.debug(
            "hairpin -3 %d: %d reads, %d aligned, %d resolved",
            clip,
            len(take),
            len(hits),
            len(done),
        )
    logger.debug(
        "hairpins: %d of %d reads pass the pre-filter (%.2f s), %d queries, %.2f s",
        len(rows),
        n_eligible,
        t_filter,
        n_queries,
        time.perf_counter() - t0,
    )
    return on_hairpin, sorted(edited)


def annotate_sample(
    collapsed: str | os.PathLike[str] | CollapsedReads,
    reference: str | os.PathLike[str] | Reference,
    sample: str,
    params: AnnotationParams | None = None,
    threads: int = 1,
    tmpdir: str | os.PathLike[str] | None = None,
    long_inserts: str
    | os.PathLike[str]
    | CollapsedReads
    | Sequence[tuple[str, int]]
    | None = None,
    read_counts: np.ndarray | None = None,
) -> AnnotationResult:
    """Annotate one library's collapsed inserts.

    Parameters
    ----------
    collapsed
        Collapsed FASTA(.gz) path, or reads already loaded.
    reference
        Reference directory (from :func:`exomir.reads.reference.prepare_reference`)
        or a loaded :class:`~exomir.reads.reference.Reference`.
    sample
        Sample name (mirGFF3 ``COLDATA``).
    params
        Tolerances; defaults if ``None``.
    threads
        bowtie threads.
    tmpdir
        Directory for temporary files.
    long_inserts
        The library's long inserts (reads without the adapter, too-long
        inserts; :class:`exomir.reads.preprocess.CollapseExtras`), as
        ``(sequence, reads)`` pairs, loaded reads or a collapsed FASTA(.gz).
        Annotated like the others, but a hairpin hit is ``hairpin_other``
        (never a miRNA count); reported in :attr:`AnnotationResult.long_categories`.
    read_counts
        Reads of each collapsed insert (input order), for the miRTrace view
        of UMI libraries (whose counts are molecules); default the counts.

    Returns
    -------
    AnnotationResult
        Tables and counts; nothing is written.
    """
    t0 = time.perf_counter()
    params = params or AnnotationParams()
    ref = reference if isinstance(reference, Reference) else load_reference(reference)
    with ThreadPoolExecutor(1) as pool:
        # the contaminant search index is built while the file is read
        search = None
        if ref.contaminants and ref.contaminant_index is not None:
            search = pool.submit(
                _contaminant_search,
                ref.contaminant_index,
                ref,
                params.contaminant_mismatches,
            )
        # so are the miRTrace view's searches (cached per reference)
        view_searches = pool.submit(_view_searches, ref)
        if isinstance(collapsed, CollapsedReads):
            reads = collapsed
        else:
            reads = _read_two_line_fasta(collapsed) or read_collapsed(collapsed)
        built = search.result() if search is not None else None
        view_searches.result()
        seqs = reads.sequences
        merged = False
        if isinstance(seqs, _BufferSequences):
            # The check for duplicate sequences (none in files written by
            # exomir) runs on the other core during the annotation; if there
            # are any, the merged reads are annotated instead.
            duplicates = pool.submit(seqs.has_duplicates)
            codes, assignments = _classify(reads, ref, params, threads, tmpdir, built)
            merged = duplicates.result()
        else:
            codes, assignments = _classify(reads, ref, params, threads, tmpdir, built)
    if merged:
        assert isinstance(seqs, _BufferSequences)
        reads = seqs.merge_duplicates(reads.counts, check=False)
        assert reads is not None
        codes, assignments = _classify(reads, ref, params, threads, tmpdir, built)
        read_counts = None  # given for the file's records, not the merged ones
    names = _category_names(ref)
    read_cats = [names[c] for c in codes.tolist()]
    long_reads = _load_long(long_inserts)
    long_codes = np.zeros(0, dtype=np.int64)
    if long_reads is not None and len(long_reads.sequences):
        long_codes, _ = _classify(long_reads, ref, params, threads, tmpdir, built)
        # a long insert is no mature miRNA: a hairpin hit is hairpin_other
        hit = np.isin(long_codes, [names.index(MIRNA), names.index(MULTIMAPPED)])
        long_codes[hit] = names.index(HAIRPIN_OTHER)
    long_counts = long_reads.counts if long_reads is not None else np.zeros(0, np.int64)
    long_sums = np.rint(
        np.bincount(long_codes, weights=long_counts, minlength=len(names))
    ).astype(np.int64)
    long_totals = dict(zip(names, long_sums.tolist(), strict=True))
    long_totals[TOTAL] = int(long_counts.sum())
    if read_counts is None:
        read_counts = reads.counts
    elif len(read_counts) != len(reads.sequences):
        raise ValueError(
            f"{sample}: {len(read_counts)} read counts for "
            f"{len(reads.sequences)} collapsed inserts"
        )
    # miRTrace's miRNA is a hairpin match with at most one difference: a
    # miRNA read with more edits (2-3 non-templated bases, or one and a
    # substitution) is unknown in the view, as it is in miRTrace
    view_codes = codes.copy()
    for rid, a in assignments.items():
        if a.n_add + len(a.snv) > 1:
            view_codes[rid] = names.index(UNASSIGNED)
    layout = _Layout.of(reads.sequences)
    long_layout = _Layout.of(long_reads.sequences if long_reads is not None else [])
    view = mirtrace_view(
        names,
        [
            (layout, _view_codes(layout, view_codes, names, ref), read_counts),
            (
                long_layout,
                _view_codes(long_layout, long_codes, names, ref),
                long_counts,
            ),
        ],
    )

    counts = reads.counts
    # float64 sums of integer counts are exact below 2**53 reads
    sums = np.rint(np.bincount(codes, weights=counts, minlength=len(names))).astype(
        np.int64
    )
    totals: dict[str, int] = dict(zip(names, sums.tolist(), strict=True))
    totals[TOTAL] = reads.total

    rows = []
    records = []
    for rid, a in assignments.items():
        seq = reads.sequences[rid]
        count = int(counts[rid])
        variant = variant_string(
            a.shift_5p, a.shift_3p, a.n_add, [p + 1 for p in a.snv]
        )
        start = a.offset + 1
        end = a.offset + len(seq)
        rows.append(
            (
                seq,
                a.feature,
                a.hairpins[0],
                start,
                end,
                a.shift_5p,
                a.shift_3p,
                a.n_add,
                len(a.snv),
                variant,
                count,
            )
        )
        hp = ref.hairpins[a.hairpins[0]]
        records.append(
            GffRecord(
                sequence=seq,
                mirna=a.feature,
                hairpins=a.hairpins,
                start=start,
                end=end,
                variant=variant,
                cigar=mirgff_cigar(seq, hp, a.offset, a.templated, a.n_add),
                count=count,
            )
        )
    rows.sort(key=itemgetter(1, 0))  # miRNA, then sequence (unique)
    per_mirna: dict[str, int] = {}
    for row in rows:
        per_mirna[row[1]] = per_mirna.get(row[1], 0) + row[-1]
    mirna_rows = sorted((m, c) for m, c in per_mirna.items() if c > 0)
    seconds = time.perf_counter() - t0
    logger.info(
        "%s: %d unique inserts, %d reads annotated in %.1f s: %s",
        sample,
        len(reads.sequences),
        reads.total,
        seconds,
        json.dumps(totals),
    )
    return AnnotationResult(
        sample=sample,
        categories=totals,
        isomir_rows=rows,
        mirna_rows=mirna_rows,
        gff_records=records,
        read_categories=read_cats,
        database=ref.database,
        params=params,
        seconds=seconds,
        n_unique=len(reads.sequences),
        long_categories=long_totals,
        mirtrace_view=view,
    )


def _load_long(
    long_inserts: str
    | os.PathLike[str]
    | CollapsedReads
    | Sequence[tuple[str, int]]
    | None,
) -> CollapsedReads | None:
    """Return the long inserts as :class:`CollapsedReads` (``None``: none given)."""
    if long_inserts is None or isinstance(long_inserts, CollapsedReads):
        return long_inserts
    if isinstance(long_inserts, str | os.PathLike):
        return _read_two_line_fasta(long_inserts) or read_collapsed(long_inserts)
    seqs = [seq for seq, _ in long_inserts]
    counts = np.array([c for _, c in long_inserts], dtype=np.int64)
    return CollapsedReads(seqs, counts)


def _view_searches(reference: Reference) -> dict[str, ContaminantSearch]:
    """Build searches of miRTrace-like rRNA and tRNA references (``rrna``, ``trna``).

    From the reference's own rRNA and tRNA categories: rRNA without the
    precursor records (:data:`_PRECURSOR_RRNA`: 45S pre-rRNA with its
    spacers), tRNA without the ``CCA`` that exomir appends. Empty without
    numba; a kind is missing without its category.
    """
    key = os.fspath(reference.directory)
    if key in _VIEW_SEARCH:
        return _VIEW_SEARCH[key]
    records: dict[str, list[tuple[int, str]]] = {"rrna": [], "trna": []}
    for c in reference.contaminants:
        kind = c.category.lower()
        path = Path(f"{c.index}.fa")
        if kind not in records or not path.is_file():
            continue
        for name, seq in iter_fasta(path):
            if kind == "rrna" and _PRECURSOR_RRNA.search(name):
                continue
            seq = _AMBIGUOUS.sub("N", _NOT_IUPAC.sub("", normalise_sequence(seq)))
            if kind == "trna" and seq.endswith("CCA"):
                seq = seq[:-3]
            records[kind].append((0, seq))
    out: dict[str, ContaminantSearch] = {}
    if _kernels.NUMBA:
        out = {
            k: ContaminantSearch(_uncontained(r), 1) for k, r in records.items() if r
        }
    _VIEW_SEARCH[key] = out
    return out


def _uncontained(records: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Drop records whose sequence lies inside another's (same hits, smaller index).

    Either strand counts: the search looks at both. Longest first, so a copy
    is dropped in favour of the first of equal sequences.
    """
    comp = str.maketrans("ACGTN", "TGCAN")
    kept: list[tuple[int, str]] = []
    for rec in sorted(records, key=lambda r: -len(r[1])):
        seq = rec[1]
        rc = seq.translate(comp)[::-1]
        if not any(seq in k or rc in k for _, k in kept):
            kept.append(rec)
    return kept


def _view_codes(
    layout: _Layout, codes: np.ndarray, names: Sequence[str], reference: Reference
) -> np.ndarray:
    """Category codes for the miRTrace view (a copy of ``codes``).

    exomir's rRNA reference holds the 45S pre-rRNA with its spacers and its
    tRNAs carry the added ``CCA``; miRTrace's references have neither. An
    rRNA insert that matches no mature rRNA record, or a tRNA insert that
    needs the ``CCA`` (at most one mismatch, either strand, as in the
    annotation), is ``unassigned`` (miRTrace: unknown) in the view. Inserts
    the compiled search cannot check (non-ACGT, shorter than 16 nt, near an
    ambiguous reference base) keep their category.
    """
    out = codes.copy()
    searches = _view_searches(reference)
    if not searches or not len(codes):
        return out
    unassigned = names.index(UNASSIGNED)
    for code, name in enumerate(names):
        search = searches.get(name.lower())
        if search is None:
            continue
        rows = np.flatnonzero(
            (codes == code) & layout.acgt & (layout.lengths >= SEARCH_K)
        )
        if not len(rows):
            continue
        category, _, undecided = search.search(
            layout.buffer, layout.starts, layout.lengths, rows
        )
        out[rows[(category < 0) & ~undecided]] = unassigned
    return out


def mirtrace_class(category: str) -> str:
    """Return the miRTrace class of an exomir category (mapping in the docs).

    ``mirna``, ``multimapped_mirna`` and ``hairpin_other`` are hairpin hits:
    ``miRNA`` (miRTrace's miRNA class is a match to a miRBase hairpin).
    ``rRNA``, ``tRNA`` and ``artifact`` (case-insensitive) keep their name;
    everything else (``unassigned``, ``snoRNA_snRNA``, a user's ``YRNA``,
    ...) is ``unknown``.
    """
    if category in (MIRNA, MULTIMAPPED, HAIRPIN_OTHER):
        return "miRNA"
    return {"rrna": "rRNA", "trna": "tRNA", ARTIFACT: "artifact"}.get(
        category.lower(), "unknown"
    )


def mirtrace_view(
    names: Sequence[str],
    pools: Iterable[tuple[_Layout, np.ndarray, np.ndarray]],
) -> dict[str, int]:
    """Count reads per miRTrace class over the inserts miRTrace would type.

    Parameters
    ----------
    names
        Category of each code.
    pools
        ``(layout, category codes, reads)`` of the collapsed and the long
        inserts.

    Returns
    -------
    dict
        :data:`MIRTRACE_CLASSES` (inserts of at least
        :data:`MIRTRACE_MIN_LENGTH` nt that are not of low complexity, by
        :func:`mirtrace_class`), then ``low_complexity`` (at least 18 nt) and
        ``shorter_than_18`` (the pools' inserts of ``min_length`` to 17 nt),
        which miRTrace removes before typing.
    """
    classes = [mirtrace_class(c) for c in names]
    out = dict.fromkeys((*MIRTRACE_CLASSES, *MIRTRACE_EXCLUDED), 0)
    for layout, codes, counts in pools:
        if not len(codes):
            continue
        counts = np.asarray(counts, dtype=np.float64)
        short = layout.lengths < MIRTRACE_MIN_LENGTH
        low = low_complexity_flags(layout) & ~short
        keep = ~short & ~low
        out["shorter_than_18"] += round(counts[short].sum())
        out["low_complexity"] += round(counts[low].sum())
        sums = np.bincount(codes[keep], weights=counts[keep], minlength=len(names))
        for code, value in enumerate(sums.tolist()):
            out[classes[code]] += round(value)
    return out


def write_annotation(
    result: AnnotationResult,
    mirna_tsv: str | os.PathLike[str],
    isomir_tsv: str | os.PathLike[str],
    json_path: str | os.PathLike[str],
    gff_path: str | os.PathLike[str],
) -> None:
    """Write the four per-sample outputs, each atomically.

    Parameters
    ----------
    result
        Output of :func:`annotate_sample`.
    mirna_tsv
        ``results/annotate/{sample}.mirna.tsv``.
    isomir_tsv
        ``results/annotate/{sample}.isomir.tsv``.
    json_path
        ``results/annotate/{sample}.json``.
    gff_path
        ``results/isomirs/{sample}.gff``.
    """
    write_gff(
        gff_path,
        result.gff_records,
        result.sample,
        result.database,
        commands=[f"exomir annotate {result.params.describe()}"],
    )
    _write_rows(isomir_tsv, ISOMIR_COLUMNS, result.isomir_rows)
    _write_rows(mirna_tsv, ["mirna", "count"], result.mirna_rows)
    data: dict[str, object] = dict(result.categories)
    if result.long_categories is not None:
        data["long_inserts"] = result.long_categories
    if result.mirtrace_view is not None:
        data["mirtrace_view"] = result.mirtrace_view
    with atomic_open(json_path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _write_rows(
    path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[tuple]
) -> None:
    """Write rows of strings and integers as TSV (as ``write_tsv`` would)."""
    with atomic_open(path) as fh:
        fh.write("\t".join(columns) + "\n")
        fh.writelines("\t".join(map(str, row)) + "\n" for row in rows)
