"""Categories, tolerances and result types of the annotation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from exomir.reads.gff import GffRecord
from exomir.reads.settings import AnnotationParams

if TYPE_CHECKING:
    import pandas as pd


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

_BASE_CODE = np.full(256, 255, dtype=np.uint8)
for _code, _base in enumerate(b"ACGT"):
    _BASE_CODE[_base] = _code
"""2-bit code of each byte (255: not an upper-case A, C, G or T)."""

_NOT_ACGT_TABLE = bytes(0 if c in b"ACGT\n" else 1 for c in range(256))
"""``bytes.translate`` table: 1 for every byte but A, C, G, T and newline."""


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
