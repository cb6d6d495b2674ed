"""Classify every unique insert: miRNAs first, then contaminants, then the rest."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from exomir.reads.contaminant_search import ContaminantSearch

if TYPE_CHECKING:
    pass

from exomir.reads.annotate.collapsed import CollapsedReads, _Layout
from exomir.reads.annotate.contaminants import (
    _artifact_rules,
    _combined_index,
    _Contaminants,
)
from exomir.reads.annotate.hairpins import _annotate_mirna
from exomir.reads.annotate.model import (
    HAIRPIN_OTHER,
    MIRNA,
    MULTIMAPPED,
    UNASSIGNED,
    AnnotationParams,
    Assignment,
)
from exomir.reads.reference import (
    Reference,
)

logger = logging.getLogger(__name__)


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
