"""Annotate one library (the sample driver); write its tables, JSON, mirGFF3."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from exomir.atomic import atomic_open
from exomir.reads.contaminant_search import ContaminantSearch
from exomir.reads.gff import GffRecord, mirgff_cigar, variant_string, write_gff

if TYPE_CHECKING:
    pass

from exomir.reads.annotate.classify import _category_names, _classify
from exomir.reads.annotate.collapsed import (
    CollapsedReads,
    _BufferSequences,
    _Layout,
    _read_two_line_fasta,
    read_collapsed,
)
from exomir.reads.annotate.contaminants import _contaminant_search
from exomir.reads.annotate.mirtrace import _view_codes, _view_searches, mirtrace_view
from exomir.reads.annotate.model import (
    HAIRPIN_OTHER,
    ISOMIR_COLUMNS,
    MIRNA,
    MULTIMAPPED,
    TOTAL,
    UNASSIGNED,
    AnnotationParams,
    AnnotationResult,
    Assignment,
)
from exomir.reads.reference import (
    Reference,
    load_reference,
)

logger = logging.getLogger(__name__)


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
    reads, codes, assignments, built, merged = _load_and_classify(
        collapsed, ref, params, threads, tmpdir
    )
    if merged:
        read_counts = None  # given for the file's records, not the merged ones
    names = _category_names(ref)
    read_cats = [names[c] for c in codes.tolist()]
    long_reads, long_codes, long_totals = _classify_long(
        long_inserts, ref, params, threads, tmpdir, built, names
    )
    if read_counts is None:
        read_counts = reads.counts
    elif len(read_counts) != len(reads.sequences):
        raise ValueError(
            f"{sample}: {len(read_counts)} read counts for "
            f"{len(reads.sequences)} collapsed inserts"
        )
    view = _mirtrace_view(
        reads, codes, assignments, read_counts, long_reads, long_codes, names, ref
    )
    counts = reads.counts
    # float64 sums of integer counts are exact below 2**53 reads
    sums = np.rint(np.bincount(codes, weights=counts, minlength=len(names))).astype(
        np.int64
    )
    totals: dict[str, int] = dict(zip(names, sums.tolist(), strict=True))
    totals[TOTAL] = reads.total
    rows, records, mirna_rows = _mirna_tables(reads, assignments, ref)
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


def _load_and_classify(
    collapsed: str | os.PathLike[str] | CollapsedReads,
    ref: Reference,
    params: AnnotationParams,
    threads: int,
    tmpdir: str | os.PathLike[str] | None,
) -> tuple[
    CollapsedReads, np.ndarray, dict[int, Assignment], ContaminantSearch | None, bool
]:
    """Read the inserts and classify them, overlapping what can overlap.

    The contaminant search index and the miRTrace view's searches are built on
    the other core while the file is read; the check for duplicate sequences
    (none in files written by exomir) runs there during the classification.
    If there are duplicates, the merged reads are classified instead
    (last item ``True``).
    """
    with ThreadPoolExecutor(1) as pool:
        search = None
        if ref.contaminants and ref.contaminant_index is not None:
            search = pool.submit(
                _contaminant_search,
                ref.contaminant_index,
                ref,
                params.contaminant_mismatches,
            )
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
            duplicates = pool.submit(seqs.has_duplicates)
            codes, assignments = _classify(reads, ref, params, threads, tmpdir, built)
            merged = duplicates.result()
        else:
            codes, assignments = _classify(reads, ref, params, threads, tmpdir, built)
    if merged:
        assert isinstance(seqs, _BufferSequences)
        merged_reads = seqs.merge_duplicates(reads.counts, check=False)
        assert merged_reads is not None
        reads = merged_reads
        codes, assignments = _classify(reads, ref, params, threads, tmpdir, built)
    return reads, codes, assignments, built, merged


def _classify_long(
    long_inserts: str
    | os.PathLike[str]
    | CollapsedReads
    | Sequence[tuple[str, int]]
    | None,
    ref: Reference,
    params: AnnotationParams,
    threads: int,
    tmpdir: str | os.PathLike[str] | None,
    built: ContaminantSearch | None,
    names: list[str],
) -> tuple[CollapsedReads | None, np.ndarray, dict[str, int]]:
    """Classify the long inserts: reads, category codes and reads per category.

    A long insert is no mature miRNA: a hairpin hit is ``hairpin_other``.
    """
    long_reads = _load_long(long_inserts)
    long_codes = np.zeros(0, dtype=np.int64)
    if long_reads is not None and len(long_reads.sequences):
        long_codes, _ = _classify(long_reads, ref, params, threads, tmpdir, built)
        hit = np.isin(long_codes, [names.index(MIRNA), names.index(MULTIMAPPED)])
        long_codes[hit] = names.index(HAIRPIN_OTHER)
    long_counts = long_reads.counts if long_reads is not None else np.zeros(0, np.int64)
    long_sums = np.rint(
        np.bincount(long_codes, weights=long_counts, minlength=len(names))
    ).astype(np.int64)
    long_totals = dict(zip(names, long_sums.tolist(), strict=True))
    long_totals[TOTAL] = int(long_counts.sum())
    return long_reads, long_codes, long_totals


def _mirtrace_view(
    reads: CollapsedReads,
    codes: np.ndarray,
    assignments: dict[int, Assignment],
    read_counts: np.ndarray,
    long_reads: CollapsedReads | None,
    long_codes: np.ndarray,
    names: list[str],
    ref: Reference,
) -> dict[str, int]:
    """Count the reads of both insert sets in miRTrace's classes.

    miRTrace's miRNA is a hairpin match with at most one difference: a miRNA
    read with more edits (2-3 non-templated bases, or one and a substitution)
    is unknown in the view, as it is in miRTrace.
    """
    view_codes = codes.copy()
    for rid, a in assignments.items():
        if a.n_add + len(a.snv) > 1:
            view_codes[rid] = names.index(UNASSIGNED)
    long_counts = long_reads.counts if long_reads is not None else np.zeros(0, np.int64)
    layout = _Layout.of(reads.sequences)
    long_layout = _Layout.of(long_reads.sequences if long_reads is not None else [])
    return mirtrace_view(
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


def _mirna_tables(
    reads: CollapsedReads, assignments: dict[int, Assignment], ref: Reference
) -> tuple[list[tuple], list[GffRecord], list[tuple[str, int]]]:
    """Build the isomiR rows (by miRNA, sequence), mirGFF3 records, reads per miRNA."""
    counts = reads.counts
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
    return rows, records, mirna_rows


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
