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
   bases clipped from the 3' end (bowtie ``-3 k``); the clipped bases are
   ``iso_add3p``. A mismatch at the last aligned base is read as one more
   added base (NTA length at most ``max_nta`` = 3), so ``miR + A`` where the
   hairpin has no A is ``iso_add3p:1`` while a templated extra base is
   ``iso_3p:+1``. At most one other mismatch is allowed (``iso_snv*``).
   miRNA goes first so that a miRNA read is never lost to a contaminant
   reference that happens to contain a miRNA (miRBase hairpins derived from
   snoRNAs, tRNAs or rRNA); the arm tolerance, the 16-nt minimum and the
   single mismatch keep unrelated fragments out. One exception
   (``exact_contaminant_wins``): a read that is a miRNA only with a
   substitution or non-templated bases, but matches a contaminant sequence
   exactly end to end, is that contaminant (e.g. a tRNA fragment one mismatch
   away from a tRNA-derived miRBase entry). Measured on simulated libraries
   (tRNA fragments incl. CCA 3' ends, rRNA, snoRNA/snRNA fragments of 16-40
   nt and random inserts; with and without 1 % sequencing errors): 0.04 % of
   the non-miRNA inserts were counted as miRNA (0.15 % without the
   exception), 0.11 % in ``test_simulated_false_positive_rate`` whose tRNA
   fragments are mostly 5'/3' ends (target <= 0.5 %); the rest are fragments
   that are themselves miRBase entries (hsa-miR-12136, -4284, -7977 from
   tRNAs; -4488, -1268a from rRNA), the price of putting miRNA first. The
   exception lost 1-4 of 17,000 simulated miRNA inserts.
2. **Contaminants**, in config order (e.g. artifact, rRNA, tRNA, snoRNA_snRNA,
   a user-added YRNA): every read that is not a miRNA (and not a tied miRNA
   multimapper) is aligned end-to-end with up to 2 mismatches
   (``contaminant_mismatches``) on both strands; the first category it aligns
   to takes it. This includes reads that hit a hairpin outside the mature
   arms: a tRNA fragment that also lies in a tRNA-derived "hairpin" is
   counted as tRNA.
3. **hairpin_other**: aligned to a hairpin but not within the tolerance of a
   mature arm and to no contaminant.
4. **unassigned**: everything else, including inserts with non-ACGT letters
   (they are not aligned to hairpins; mirGFF3 cannot encode them).

The categories are exclusive; their counts add up to ``total``.

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
Only unique inserts are aligned: 4 bowtie runs against the hairpins (``-3``
0..3, each on the still unresolved reads) and one per contaminant category,
on temporary FASTA files; bowtie output is parsed as text. A simulated library
of 286,000 unique inserts (2.2 M reads) took 8-10 s with 2 threads on 2
cores, 0.3 GB RSS; memory grows with the number of unique inserts (sequences
are held in memory), not with reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dnaio
import numpy as np
import pandas as pd

from exomir.atomic import atomic_open, write_tsv
from exomir.reads.gff import GffRecord, mirgff_cigar, variant_string, write_gff
from exomir.reads.reference import Reference, load_reference

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

_COUNT_RE = re.compile(r"_x(\d+)$")
_ACGT = frozenset("ACGT")


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
        Most non-templated 3' bases (bowtie passes with ``-3 1..max_nta``).
    hairpin_mismatches
        bowtie ``-v`` against hairpins (0 or 1; with 1, a mismatch at the last
        aligned base is an added base, any other is ``iso_snv``).
    min_templated
        Fewest templated bases of a miRNA read.
    contaminant_mismatches
        bowtie ``-v`` against contaminant categories.
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
    contaminant_mismatches: int = 2
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

    sequences: list[str]
    counts: np.ndarray

    @property
    def total(self) -> int:
        """Total reads (sum of counts)."""
        return int(self.counts.sum())


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
    isomirs
        One row per assigned unique insert (``ISOMIR_COLUMNS``).
    mirna
        Columns ``mirna``, ``count``.
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
    """

    sample: str
    categories: dict[str, int]
    isomirs: pd.DataFrame
    mirna: pd.DataFrame
    gff_records: list[GffRecord]
    read_categories: list[str]
    database: str
    params: AnnotationParams
    seconds: float = 0.0
    n_unique: int = 0


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

    Parameters
    ----------
    path
        ``results/collapsed/{sample}.fa.gz``.

    Returns
    -------
    CollapsedReads
        Sequences in file order and their counts.
    """
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


def _run_bowtie(
    index: Path,
    reads: Iterable[tuple[int, str]],
    args: list[str],
    threads: int,
    tmpdir: Path,
) -> Iterator[list[str]]:
    """Align reads with bowtie 1; yield the tab-split output lines.

    Reads are written to a FASTA named by their integer id; output columns are
    bowtie's default format with ``--suppress`` as given in ``args``.
    """
    fd, fasta_name = tempfile.mkstemp(suffix=".fa", dir=tmpdir)
    err_fd, err_name = tempfile.mkstemp(suffix=".log", dir=tmpdir)
    n = 0
    with os.fdopen(fd, "w", encoding="ascii", newline="\n") as fh:
        for rid, seq in reads:
            fh.write(f">{rid}\n{seq}\n")
            n += 1
    try:
        if n == 0:
            os.close(err_fd)
            return
        cmd = [
            "bowtie",
            "-x",
            os.fspath(index),
            "-f",
            "-p",
            str(max(1, threads)),
            *args,
            fasta_name,
        ]
        with os.fdopen(err_fd, "w") as err:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1 << 16
            )
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    yield line.rstrip("\n").split("\t")
            finally:
                proc.stdout.close()
                rc = proc.wait()
        if rc != 0:
            with open(err_name, encoding="utf-8", errors="replace") as fh:
                msg = fh.read()[-2000:]
            raise RuntimeError(f"bowtie failed ({rc}): {' '.join(cmd)}\n{msg}")
    finally:
        Path(fasta_name).unlink(missing_ok=True)
        Path(err_name).unlink(missing_ok=True)


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
        Directory for temporary FASTA files (default: system temp).

    Returns
    -------
    categories : list of str
        Category of each unique insert.
    assignments : dict
        Insert index to its :class:`Assignment`, for miRNA inserts.
    """
    params = params or AnnotationParams()
    n = len(reads.sequences)
    seqs = reads.sequences
    category: list[str] = [UNASSIGNED] * n
    assignments: dict[int, Assignment] = {}
    on_hairpin = np.zeros(n, dtype=bool)
    pending = [i for i, s in enumerate(seqs) if _ACGT.issuperset(s)]
    edited: list[int] = []  # miRNA only with a substitution or added bases

    with tempfile.TemporaryDirectory(prefix="exomir-annotate-", dir=tmpdir) as tdir:
        work = Path(tdir)
        max_clip = params.max_nta if params.max_nta > 0 else 0
        for clip in range(max_clip + 1):
            todo = [i for i in pending if len(seqs[i]) - clip >= params.min_templated]
            if not todo:
                break
            args = [
                "-v",
                str(params.hairpin_mismatches),
                "-a",
                "--best",
                "--strata",
                "--norc",
                "-3",
                str(clip),
                "--suppress",
                "5,6,7",
            ]
            t_pass = time.perf_counter()
            hits: dict[int, list[tuple[str, int, list[tuple[int, str, str]]]]] = {}
            for cols in _run_bowtie(
                reference.hairpin_index,
                ((i, seqs[i]) for i in todo),
                args,
                threads,
                work,
            ):
                rid = int(cols[0])
                mms = _parse_mismatches(cols[4] if len(cols) > 4 else "")
                hits.setdefault(rid, []).append((cols[2], int(cols[3]), mms))
            done: set[int] = set()
            for rid, rhits in hits.items():
                on_hairpin[rid] = True
                cands = _candidates(rhits, len(seqs[rid]), clip, reference, params)
                if not cands:
                    continue
                choice = _choose(cands)
                if choice is None:
                    category[rid] = MULTIMAPPED
                else:
                    category[rid] = MIRNA
                    assignments[rid] = choice
                if min(len(c.snv) + c.n_add for _, c in cands) > 0:
                    edited.append(rid)
                done.add(rid)
            pending = [i for i in pending if i not in done]
            logger.debug(
                "hairpin pass -3 %d: %d reads, %d aligned, %d resolved, %.2f s",
                clip,
                len(todo),
                len(hits),
                len(done),
                time.perf_counter() - t_pass,
            )

        # A read that needs edits to be a miRNA but is an exact contaminant
        # fragment (e.g. a tRNA piece that overlaps a tRNA-derived miRBase
        # entry with one mismatch) is a contaminant.
        if params.exact_contaminant_wins:
            for cont in reference.contaminants:
                if not edited:
                    break
                exact = {
                    int(cols[0])
                    for cols in _run_bowtie(
                        cont.index,
                        ((i, seqs[i]) for i in edited),
                        ["-v", "0", "-k", "1", "--suppress", "2,3,4,5,6,7,8"],
                        threads,
                        work,
                    )
                }
                for rid in exact:
                    category[rid] = cont.category
                    assignments.pop(rid, None)
                edited = [i for i in edited if i not in exact]
                logger.debug(
                    "%s: %d edited miRNA reads are exact", cont.category, len(exact)
                )

        # Contaminants: everything that is not (multimapped) miRNA.
        remaining = [i for i in range(n) if category[i] == UNASSIGNED]
        # (reads moved to a contaminant above are not UNASSIGNED: skipped)
        for cont in reference.contaminants:
            if not remaining:
                break
            args = [
                "-v",
                str(params.contaminant_mismatches),
                "-k",
                "1",
                "--suppress",
                "2,3,4,5,6,7,8",
            ]
            t_pass = time.perf_counter()
            aligned: set[int] = set()
            for cols in _run_bowtie(
                cont.index, ((i, seqs[i]) for i in remaining), args, threads, work
            ):
                aligned.add(int(cols[0]))
            for rid in aligned:
                category[rid] = cont.category
            logger.debug(
                "%s: %d reads, %d aligned, %.2f s",
                cont.category,
                len(remaining),
                len(aligned),
                time.perf_counter() - t_pass,
            )
            remaining = [i for i in remaining if i not in aligned]
        for rid in remaining:
            if on_hairpin[rid]:
                category[rid] = HAIRPIN_OTHER
    return category, assignments


def annotate_sample(
    collapsed: str | os.PathLike[str] | CollapsedReads,
    reference: str | os.PathLike[str] | Reference,
    sample: str,
    params: AnnotationParams | None = None,
    threads: int = 1,
    tmpdir: str | os.PathLike[str] | None = None,
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

    Returns
    -------
    AnnotationResult
        Tables and counts; nothing is written.
    """
    t0 = time.perf_counter()
    params = params or AnnotationParams()
    ref = reference if isinstance(reference, Reference) else load_reference(reference)
    reads = (
        collapsed
        if isinstance(collapsed, CollapsedReads)
        else read_collapsed(collapsed)
    )
    read_cats, assignments = annotate_reads(reads, ref, params, threads, tmpdir)

    counts = reads.counts
    totals: dict[str, int] = {c.category: 0 for c in ref.contaminants}
    for key in (MIRNA, MULTIMAPPED, HAIRPIN_OTHER, UNASSIGNED):
        totals[key] = 0
    for cat, c in zip(read_cats, counts.tolist(), strict=True):
        totals[cat] += c
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
    isomirs = pd.DataFrame(rows, columns=ISOMIR_COLUMNS)
    isomirs = isomirs.sort_values(["mirna", "sequence"], kind="stable").reset_index(
        drop=True
    )
    mirna = (
        isomirs.groupby("mirna", sort=True)["count"].sum().reset_index()
        if len(isomirs)
        else pd.DataFrame(
            {"mirna": pd.Series(dtype=str), "count": pd.Series(dtype="int64")}
        )
    )
    mirna = mirna[mirna["count"] > 0].reset_index(drop=True)
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
        isomirs=isomirs,
        mirna=mirna,
        gff_records=records,
        read_categories=read_cats,
        database=ref.database,
        params=params,
        seconds=seconds,
        n_unique=len(reads.sequences),
    )


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
    write_tsv(result.isomirs[ISOMIR_COLUMNS], isomir_tsv)
    write_tsv(result.mirna[["mirna", "count"]], mirna_tsv)
    with atomic_open(json_path) as fh:
        json.dump(result.categories, fh, indent=2)
        fh.write("\n")
