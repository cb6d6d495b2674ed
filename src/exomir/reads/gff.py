"""Write isomiR annotations as mirGFF3, the format of the miRTop project.

Design and details: docs/reads_outputs.md ("isomiR GFF3").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exomir.atomic import atomic_open

GFF_VERSION = "1.2"
"""mirGFF3 version written in the header."""

MIRBASE_ONTOLOGY = "doi:10.25504/fairsharing.hmgte8"
"""FAIRsharing identifier of miRBase, required in the source-ontology line."""

_PLATE_ALPHABET = "BD0EF1HI2JK3LM4NO5PQ6RS7UV8WX9YZ"
_NT_RANK = {"A": 0, "C": 1, "G": 2, "T": 3}


def mirtop_uid(sequence: str) -> str:
    """Return mirtop's unique identifier (license plate) of a sequence.

    The plate is ``iso-<length>-<code>``: the sequence is cut into 5-mers, each
    5-mer is its lexicographic rank (A<C<G<T, 0..1023) written as two symbols
    of a 32-symbol alphabet; a final 1- to 4-mer is ranked after all shorter
    words (offset ``(4**k - 4) / 3``) and written with one symbol when the
    rank is below 32, else two. This reproduces MINTplates as used by mirtop.

    Parameters
    ----------
    sequence
        DNA sequence of A, C, G, T (case-insensitive).

    Returns
    -------
    str
        The identifier, e.g. ``iso-22-WL341OU4K``.

    Raises
    ------
    ValueError
        If the sequence is empty or has a letter other than A, C, G, T.
    """
    seq = sequence.upper()
    if not seq or any(c not in _NT_RANK for c in seq):
        raise ValueError(f"cannot encode sequence {sequence!r}: only A, C, G, T")
    code: list[str] = []
    for i in range(0, len(seq), 5):
        word = seq[i : i + 5]
        rank = 0
        for c in word:
            rank = rank * 4 + _NT_RANK[c]
        if len(word) == 5:
            code.append(_PLATE_ALPHABET[rank // 32] + _PLATE_ALPHABET[rank % 32])
        else:
            index = (4 ** len(word) - 4) // 3 + rank
            if index < 32:
                code.append(_PLATE_ALPHABET[index])
            else:
                code.append(_PLATE_ALPHABET[index // 32] + _PLATE_ALPHABET[index % 32])
    return f"iso-{len(seq)}-{''.join(code)}"


def snv_class(position: int) -> str:
    """Return the mirGFF3 substitution class for a 1-based read position.

    Parameters
    ----------
    position
        1-based position of the substitution on the read.

    Returns
    -------
    str
        ``iso_snv_seed`` (2-7), ``iso_snv_central_offset`` (8),
        ``iso_snv_central`` (9-12), ``iso_snv_central_supp`` (13-17) or
        ``iso_snv`` (elsewhere).
    """
    if 2 <= position <= 7:
        return "iso_snv_seed"
    if position == 8:
        return "iso_snv_central_offset"
    if 9 <= position <= 12:
        return "iso_snv_central"
    if 13 <= position <= 17:
        return "iso_snv_central_supp"
    return "iso_snv"


def variant_string(
    iso_5p: int, iso_3p: int, iso_add3p: int, snv_positions: Iterable[int] = ()
) -> str:
    """Build the mirGFF3 ``Variant`` value of an isomiR.

    Parameters
    ----------
    iso_5p
        Read start minus mature start on the hairpin (negative: longer 5' end).
    iso_3p
        Templated read end minus mature end (positive: longer 3' end).
    iso_add3p
        Number of non-templated 3' nucleotides.
    snv_positions
        1-based read positions of substitutions against the hairpin.

    Returns
    -------
    str
        E.g. ``iso_3p:-1,iso_5p:+1`` or ``NA`` for the reference mature.
    """
    parts = {snv_class(p) for p in snv_positions}
    if iso_add3p:
        parts.add(f"iso_add3p:{iso_add3p}")
    if iso_5p:
        parts.add(f"iso_5p:{iso_5p:+d}")
    if iso_3p:
        parts.add(f"iso_3p:{iso_3p:+d}")
    return ",".join(sorted(parts)) if parts else "NA"


def mirgff_cigar(
    read: str, hairpin: str, offset: int, templated: int, n_add: int
) -> str:
    """Return the mirGFF3 CIGAR of a read placed on its hairpin.

    Parameters
    ----------
    read
        Read sequence.
    hairpin
        Hairpin sequence (DNA alphabet).
    offset
        0-based start of the read on the hairpin.
    templated
        Number of templated read bases (aligned end to end from ``offset``).
    n_add
        Number of non-templated 3' bases (written as a soft clip).

    Returns
    -------
    str
        E.g. ``22M``, ``10MA11M`` (mismatch, reference base ``A``) or ``21M1S``.
    """
    out: list[str] = []
    run = 0
    for i in range(templated):
        ref = hairpin[offset + i]
        if read[i] == ref:
            run += 1
            continue
        if run:
            out.append(f"{run}M")
            run = 0
        out.append(ref)
    if run:
        out.append(f"{run}M")
    if n_add:
        out.append(f"{n_add}S")
    return "".join(out)


@dataclass(frozen=True)
class GffRecord:
    """One isomiR (unique read) for the mirGFF3 file.

    Attributes
    ----------
    sequence
        Read sequence.
    mirna
        Mature feature name (``Name``).
    hairpins
        Hairpins of the equally good loci; the first is the seqID.
    start, end
        1-based inclusive span of the whole read on the first hairpin.
    variant
        mirGFF3 ``Variant`` value.
    cigar
        mirGFF3 CIGAR.
    count
        Reads (or molecules) of this sequence.
    """

    sequence: str
    mirna: str
    hairpins: tuple[str, ...]
    start: int
    end: int
    variant: str
    cigar: str
    count: int


def gff_header(
    sample: str, database: str, tools: Sequence[str], commands: Sequence[str] = ()
) -> str:
    """Return the mirGFF3 header for one sample.

    Parameters
    ----------
    sample
        Sample name (the single ``COLDATA`` column).
    database
        Database with version, e.g. ``miRBasev22``.
    tools
        Tools that called the isomiRs.
    commands
        Optional ``## CMD:`` lines (parameters used).

    Returns
    -------
    str
        Header lines, each ending with a newline; ``## COLDATA`` is the last.
    """
    ontology = MIRBASE_ONTOLOGY if "mirbase" in database.lower() else "Custom."
    lines = [
        "##gff-version 3",
        f"## mirGFF3. VERSION {GFF_VERSION}",
        f"## source-ontology: {database} {ontology}",
        f"## TOOLS: {','.join(tools)}",
        *(f"## CMD: {c}" for c in commands),
        "## FILTER: Pass(annotated by exomir)",
        f"## COLDATA: {sample}",
    ]
    return "\n".join(lines) + "\n"


def gff_line(record: GffRecord, database: str) -> str:
    """Format one mirGFF3 feature line.

    Parameters
    ----------
    record
        The isomiR.
    database
        Source column, e.g. ``miRBasev22``.

    Returns
    -------
    str
        The tab-separated line without a newline.
    """
    kind = "ref_miRNA" if record.variant == "NA" else "isomiR"
    attrs = (
        f"Read={record.sequence};UID={mirtop_uid(record.sequence)};"
        f"Name={record.mirna};Parent={record.hairpins[0]};"
        f"Variant={record.variant};Cigar={record.cigar};"
        f"Expression={record.count};Filter=Pass;Hits={len(record.hairpins)};"
        f"loci={','.join(record.hairpins)}"
    )
    return "\t".join(
        [
            record.hairpins[0],
            database,
            kind,
            str(record.start),
            str(record.end),
            ".",
            "+",
            ".",
            attrs,
        ]
    )


def write_gff(
    path: str | os.PathLike[str],
    records: Iterable[GffRecord],
    sample: str,
    database: str,
    tools: Sequence[str] = ("exomir", "bowtie"),
    commands: Sequence[str] = (),
) -> None:
    """Write a one-sample mirGFF3 file atomically.

    Lines are sorted by hairpin, start, end and sequence.

    Parameters
    ----------
    path
        Destination.
    records
        isomiRs to write.
    sample
        Sample name for ``COLDATA``.
    database
        Database with version, e.g. ``miRBasev22``.
    tools
        Tools listed in the header.
    commands
        Optional ``## CMD:`` header lines.
    """
    ordered = sorted(records, key=lambda r: (r.hairpins[0], r.start, r.end, r.sequence))
    with atomic_open(path) as fh:
        fh.write(gff_header(sample, database, tools, commands))
        for rec in ordered:
            fh.write(gff_line(rec, database) + "\n")
