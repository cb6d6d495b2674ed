"""The miRTrace view: both insert sets counted in miRTrace's RNA classes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from exomir.reads import _kernels
from exomir.reads.contaminant_search import ContaminantSearch
from exomir.reads.contaminant_search import K as SEARCH_K

if TYPE_CHECKING:
    pass

from exomir.reads.annotate.collapsed import _Layout
from exomir.reads.annotate.contaminants import (
    _AMBIGUOUS,
    _NOT_IUPAC,
    ARTIFACT,
    low_complexity_flags,
)
from exomir.reads.annotate.model import HAIRPIN_OTHER, MIRNA, MULTIMAPPED, UNASSIGNED
from exomir.reads.reference import (
    Reference,
    iter_fasta,
    normalise_sequence,
)

MIRTRACE_MIN_LENGTH = 18
"""miRTrace's shortest insert: shorter ones are not typed."""

MIRTRACE_CLASSES = ("miRNA", "rRNA", "tRNA", "artifact", "unknown")
"""miRTrace's RNA classes (the columns of the miRTrace view)."""

MIRTRACE_EXCLUDED = ("low_complexity", "shorter_than_18")
"""Reads of the view outside the classes (miRTrace removes them first)."""
_VIEW_SEARCH: dict[str, dict[str, ContaminantSearch]] = {}

_PRECURSOR_RRNA = re.compile(r"45S|47S|pre-?rRNA|pre-?ribosomal", re.IGNORECASE)
"""rRNA records that are precursors (with spacers), by name: not miRTrace's."""


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
