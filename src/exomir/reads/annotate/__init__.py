"""Annotate collapsed unique inserts: miRNAs and isomiRs first, then contaminants.

Input is ``results/collapsed/{sample}.fa.gz`` (records ``>{sample}_{rank}_x{count}``);
outputs are the per-sample files of ``docs/CONTRACTS.md``. Only unique inserts
are aligned, each weighted by its count. The categories are exclusive and add
up to ``total``; in order:

1. **miRNA** (:mod:`.hairpins`): bowtie 1 against the miRBase hairpins, forward
   strand, ``-v 1 -a --best --strata``, counted only if the templated part lies
   within ``max_shift_5p``/``max_shift_3p`` of a mature arm with at least
   ``min_templated`` templated bases; non-templated 3' additions (at most
   ``max_nta``) by re-aligning with 1-3 bases clipped, one other mismatch is an
   ``iso_snv``. First, so that no miRNA read is lost to a contaminant that
   contains a miRNA; except (``exact_contaminant_wins``) a read that is a miRNA
   only with edits but matches a contaminant exactly goes to that contaminant.
   Among hits, fewest substitutions then smallest shifts win; winners of
   different features are counted as ``multimapped_mirna`` (no fractional or
   joined names).
2. **Contaminants** (:mod:`.contaminants`): the rest, end to end, both strands,
   at most ``contaminant_mismatches`` against all config categories at once
   (one combined index); of the best hits, the category first in config order.
3. **hairpin_other**: on a hairpin, outside the mature tolerance, no contaminant.
4. **unassigned**: everything else; then the artifact rules move
   low-complexity inserts and those holding an exact 18-mer of the artifact
   reference to ``artifact``.

Long inserts (no adapter, too long) are annotated the same way but a hairpin
hit is ``hairpin_other``; they are reported apart (JSON ``long_inserts``), and
both sets in miRTrace's classes (:mod:`.mirtrace`). Coordinates are 1-based on
the representative (first sorted) hairpin; variants follow mirGFF3
(:mod:`exomir.reads.gff`). Measurements and history: ``docs/performance.md``.

Modules: :mod:`.model` (categories, tolerances, results), :mod:`.collapsed`
(reading inserts), :mod:`.bowtie`, :mod:`.hairpins`, :mod:`.contaminants`,
:mod:`.classify`, :mod:`.mirtrace`, :mod:`.sample` (the per-library driver and
writers).
"""

from exomir.reads.annotate.classify import annotate_reads
from exomir.reads.annotate.collapsed import (
    CollapsedReads,
    collapsed_from_fasta,
    parse_count,
    read_collapsed,
)
from exomir.reads.annotate.mirtrace import mirtrace_class, mirtrace_view
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
from exomir.reads.annotate.sample import annotate_sample, write_annotation

__all__ = [
    "HAIRPIN_OTHER",
    "ISOMIR_COLUMNS",
    "MIRNA",
    "MULTIMAPPED",
    "TOTAL",
    "UNASSIGNED",
    "AnnotationParams",
    "AnnotationResult",
    "Assignment",
    "CollapsedReads",
    "annotate_reads",
    "annotate_sample",
    "collapsed_from_fasta",
    "mirtrace_class",
    "mirtrace_view",
    "parse_count",
    "read_collapsed",
    "write_annotation",
]
