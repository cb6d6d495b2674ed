"""Compiled (numba) kernels of the fast preprocessing path.

Used by :func:`exomir.reads.preprocess.collapse_library` for protocols
whose adapter starts with an exact ``ACGT`` probe (UMI protocols: whose whole
adapter is at most 32 ``ACGT`` bases), see :mod:`exomir.reads.fastscan`. Everything here works on
raw bytes of the decompressed FASTQ text and releases the GIL, so gzip
decompression (ISA-L, in its own thread) runs on the other core at the same
time.

Inserts are stored in an open-addressing hash table keyed by their bases,
3 bits a base (pad 0, ``A`` 1, ``C`` 2, ``G`` 3, ``N`` 4, ``T`` 5: the ASCII
order), 21 bases per 64-bit word, left-aligned. Comparing the words of two
inserts as unsigned integers therefore compares the sequences as strings,
which gives the output order (count descending, then sequence) with one
radix sort (:func:`sort_order`).

Modules: :mod:`.base` (numba set-up, base codes, hashing), :mod:`.scan` (the
FASTQ scan and its named state: status codes, ``S_*`` state slots, ``H_*``
histogram rows, :class:`ScanSettings`, :class:`ScanBuffers`), :mod:`.tables`,
:mod:`.umi`, :mod:`.sort`, :mod:`.fasta` and :mod:`.collapsed` (kernels of the
annotation).
"""

from exomir.reads._kernels.base import (
    BASES_PER_WORD,
    NUMBA,
    njit,
)
from exomir.reads._kernels.collapsed import (
    KMER_BITS_MASK,
    hairpin_candidates,
    has_duplicates,
    has_kmer,
    kmer_bits,
    low_complexity,
    parse_collapsed_block,
)
from exomir.reads._kernels.fasta import (
    fasta_size,
    format_fasta,
)
from exomir.reads._kernels.scan import (
    CODES_FULL,
    DONE,
    ERR_BASE,
    ERR_CR,
    ERR_HEADER,
    ERR_LENGTH,
    ERR_NAME,
    ERR_PLUS,
    ERR_QUALITY,
    ERR_TOO_LONG,
    ERR_TRUNCATED,
    H_ADAPTER_DIMER,
    H_NO_UMI,
    H_PASSED,
    H_TOO_SHORT,
    HIST_ROWS,
    NEED_MORE,
    PENDING,
    S_CODES,
    S_ERR_POS,
    S_IDS,
    S_MAXLEN,
    S_MAXTRIM,
    S_NEW,
    S_RECORDS,
    S_SINK,
    S_SLOW_POS,
    S_USED,
    SLOW_FULL,
    STATE_SIZE,
    TABLE_FULL,
    ScanBuffers,
    ScanSettings,
    scan_chunk,
)
from exomir.reads._kernels.sort import (
    sort_order,
    sort_subset,
    split_for_sort,
)
from exomir.reads._kernels.tables import (
    add_lines,
    add_lines_ids,
    add_lines_two,
    gather_used,
    merge_tables,
    rehash,
)
from exomir.reads._kernels.umi import (
    directional_molecules,
    merge_runs,
    remap_ids,
    run_lengths,
    sort_pairs,
    union_ids,
)

__all__ = [
    "BASES_PER_WORD",
    "CODES_FULL",
    "DONE",
    "ERR_BASE",
    "ERR_CR",
    "ERR_HEADER",
    "ERR_LENGTH",
    "ERR_NAME",
    "ERR_PLUS",
    "ERR_QUALITY",
    "ERR_TOO_LONG",
    "ERR_TRUNCATED",
    "HIST_ROWS",
    "H_ADAPTER_DIMER",
    "H_NO_UMI",
    "H_PASSED",
    "H_TOO_SHORT",
    "KMER_BITS_MASK",
    "NEED_MORE",
    "NUMBA",
    "PENDING",
    "SLOW_FULL",
    "STATE_SIZE",
    "S_CODES",
    "S_ERR_POS",
    "S_IDS",
    "S_MAXLEN",
    "S_MAXTRIM",
    "S_NEW",
    "S_RECORDS",
    "S_SINK",
    "S_SLOW_POS",
    "S_USED",
    "TABLE_FULL",
    "ScanBuffers",
    "ScanSettings",
    "add_lines",
    "add_lines_ids",
    "add_lines_two",
    "directional_molecules",
    "fasta_size",
    "format_fasta",
    "gather_used",
    "hairpin_candidates",
    "has_duplicates",
    "has_kmer",
    "kmer_bits",
    "low_complexity",
    "merge_runs",
    "merge_tables",
    "njit",
    "parse_collapsed_block",
    "rehash",
    "remap_ids",
    "run_lengths",
    "scan_chunk",
    "sort_order",
    "sort_pairs",
    "sort_subset",
    "split_for_sort",
    "union_ids",
]
