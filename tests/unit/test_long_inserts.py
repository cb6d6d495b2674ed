"""Hand-made library: reads without the adapter, too-long inserts, artifact rules.

Every read's fate is known by construction (51-nt reads, TruSeq):

* 40 let-7a-5p + adapter: ``mirna``;
* 30 reads without adapter, 51 nt of the miR-126 hairpin: a long insert that
  hits a hairpin, so ``hairpin_other`` (never ``mirna``); miRNA in the
  miRTrace view (a hairpin match, as in miRTrace);
* 10 reads without adapter, 51 nt of 18S rRNA: long insert, ``rRNA``;
* 10 poly-A reads without adapter: low complexity, ``artifact``;
* 10 inserts of 12 random bases + 21 bases of an Illumina PCR primer, then
  the adapter: ``artifact`` by the 18-mer rule (no end-to-end match);
* 10 inserts of 25 random bases + adapter: ``unassigned``;
* 5 reads of 12 bases without adapter: ``no_adapter_short``.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from exomir.reads.funnel import mirtrace_view, read_funnel
from exomir.reads.library import LibraryOutputs, process_library
from exomir.reads.protocols import PRESETS, TrimSettings
from exomir.reads.reference import Reference

ADAPTER = "TGGAATTCTCGGGTGCCAAGGAACTCCAGTCACATCACGATC"
LET7A = "TGAGGTAGTAGGTTGTATAGTT"
MIR126_HAIRPIN = (
    "CGCTGGCGACGGGACATTATTACTTTTGGTACGCGCTGTGACACTTCAAACTCGTACCGT"
    "GAGTAATAATGCGCCGTCCACGGCA"
)
RRNA_18S = "TACTTTGAAAAAATTAGAGTGTTCAAAGCAGGCCCGAGCCGCCTGGATACC"
PCR_PRIMER = "CAAGCAGAAGACGGCATACGA"  # RNA PCR primer (RPI) 5' end
CONTAMINANTS = ["artifact", "rRNA", "tRNA", "snoRNA_snRNA"]


def _library(path: Path) -> Path:
    rng = random.Random(5)

    def rand(n: int) -> str:
        return "".join(rng.choice("ACGT") for _ in range(n))

    reads = [(LET7A + ADAPTER)[:51]] * 40
    reads += [MIR126_HAIRPIN[5:56]] * 30
    reads += [RRNA_18S[:51]] * 10
    reads += ["A" * 51] * 10
    reads += [(rand(12) + PCR_PRIMER + ADAPTER)[:51] for _ in range(10)]
    reads += [(rand(25) + ADAPTER)[:51] for _ in range(10)]
    reads += ["GCATGCATGCAC"] * 5
    text = "".join(f"@r{i}\n{s}\n+\n{'E' * len(s)}\n" for i, s in enumerate(reads))
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def test_every_read_goes_where_it_belongs(hsa_ref: Reference, tmp_path: Path):
    fq = _library(tmp_path / "hand.fastq.gz")
    names = ("c.fa.gz", "pre.json", "m.tsv", "i.tsv", "ann.json", "x.gff")
    out = LibraryOutputs(*(tmp_path / n for n in names))
    process_library(fq, hsa_ref, out, PRESETS["truseq"], TrimSettings(), threads=1)
    pre = json.loads((tmp_path / "pre.json").read_text())
    ann = json.loads((tmp_path / "ann.json").read_text())
    assert pre["raw_reads"] == 115
    assert (pre["no_adapter"], pre["no_adapter_short"]) == (55, 5)
    assert pre["long_reads"] == 50
    # passed inserts
    assert ann["mirna"] == 40
    assert ann["artifact"] == 10  # primer 18-mer inside the insert
    assert ann["unassigned"] == 10
    # long inserts: hairpin fragment is hairpin_other, never a miRNA count
    long = ann["long_inserts"]
    assert long["mirna"] == long["multimapped_mirna"] == 0
    assert long["hairpin_other"] == 30
    assert long["rRNA"] == 10
    assert long["artifact"] == 10  # poly-A: low complexity
    assert long["total"] == 50
    assert (tmp_path / "m.tsv").read_text().splitlines()[1:] == ["hsa-let-7a-5p\t40"]
    row = read_funnel({"L": pre}, {"L": ann}, CONTAMINANTS).loc["L"]
    assert row["annotated_total"] == 110
    assert (row["hairpin_other"], row["artifact"], row["rRNA"]) == (30, 20, 10)
    final = ["adapter_dimer", "too_short", "no_umi", "umi_duplicates"]
    assert sum(row[c] for c in final) + row["no_adapter_short"] + 110 == 115
    view = mirtrace_view({"L": pre}, {"L": ann}).iloc[0]
    # miRTrace: hairpin hits are miRNA; poly-A is low complexity, not typed
    assert (view["miRNA"], view["rRNA"], view["artifact"]) == (70, 10, 10)
    assert (view["unknown"], view["low_complexity"]) == (10, 10)
    assert view["shorter_than_18"] == 5
