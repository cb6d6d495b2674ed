"""The workflow on the two real 10k-read libraries, checked against independent counts.

``tests/scenarios/real_human``: miRTrace tutorial ``sample1.fastq.gz``, human,
TruSeq small RNA, 10,000 reads x 51 nt (four libraries of the same file).
``tests/scenarios/real_mouse``: miRTrace tutorial ``QiaSeq_data.fastq.gz``,
mouse, QIAseq miRNA with a 12-nt UMI after the adapter, 10,000 reads x 76 nt
(two libraries of the same file).

Each scenario is copied with ``tests/data`` beside it and run up to
``results/qc/read_funnel.tsv``. The pipeline's figures are compared with
simple counts made here directly from the FASTQ, independent of the pipeline
code (exact ``str.find`` of the first 10 adapter bases, no alignment):

- adapter share: reads with the 10-nt adapter probe <= pipeline <= reads with
  the probe or a >= 3-nt adapter prefix at the read end, + 2 points (the
  pipeline's aligner also finds adapters with errors);
- adapter dimers and too-short inserts from the probe position (within 1
  point);
- miRNA share and top miRNAs: an insert (read start to probe, 16-30 nt) is
  given to a miRBase mature whose 16-nt core (mature bases 2-17) starts at
  insert position 0, 1 or 2, i.e. 5' ends within +-1 nt and any 3' end. The
  exact canonical read (mature sequence followed by the adapter probe) is
  also counted; it is a lower bound only, because miRBase's 3' end is often
  not the expressed one (hsa-miR-222-3p: 0 of 104 reads are exact, the
  dominant form is 3 nt longer; hsa-miR-10a-5p has a frequent +1 5' isomiR).

Observed (exomir 0.1.0, both libraries 10,000 reads):

=========================== ======================= =========================
                            human TruSeq            mouse QIAseq (UMI)
=========================== ======================= =========================
adapter found (pipeline)    99.1 %                  93.3 %
probe / probe+partial       96.3 % / 98.0 %         91.75 % / 92.3 %
adapter dimers              0.17 % (probe 0.15 %)   0.05 % (probe 0.03 %)
too short (1-15 nt)         12.5 % (probe 12.4 %)   50.2 % (probe 49.7 %)
no adapter                  0.9 %                   6.7 % (long tRNA/rRNA)
miRNA share of raw reads    49.0 % (indep. 47.4 %)  27.5 % (indep. 26.0 %)
rRNA / tRNA / sno+snRNA     9.8 / 10.3 / 4.5 %      3.0 / 2.5 / 0.4 % (mol.)
unassigned                  12.0 %                  8.0 % (molecules)
UMI duplicates              n/a                     1 of 4,162 passed reads
top miRNAs                  miR-10a-5p 1177,        miR-295-3p 265,
                            miR-92a-3p 926,         miR-16-5p 226,
                            miR-10b-5p 614,         miR-292a-5p 210,
                            miR-191-5p 170,         miR-142a-3p 179,
                            miR-148a-3p 135         miR-7a-5p 143
independent / pipeline      0.98-1.00               0.97-0.99
=========================== ======================= =========================

What the data say: the human library is **not** plasma-like despite its
description in ``resources/PROVENANCE.md``: the red-cell miRNAs that dominate
plasma (miR-451a, miR-486-5p; typically tens of percent of plasma miRNA reads)
are 0 and 11 of 4,899 miRNA reads (0.2 %), and miR-10a/10b-5p make up 36 %;
it looks like a cell line or tissue. The mouse library is dominated by the
embryonic-stem-cell miR-290-295 cluster (miR-295-3p, -292a-5p, -293-5p,
-291a-5p, -294-3p) plus miR-302: embryonic stem cells or early embryo. Half of
its reads are 1-15-nt inserts (G-rich and rRNA 5'-end fragments) and its
no-adapter reads are inserts longer than the 76-nt read (tRNA-Glu 5' halves,
5.8S rRNA): much degraded or low-input RNA, where QIAseq's dimer suppression
still works (0.05 % dimers). With 10,000 reads sub-sampled from a deep
library, nearly every (insert, UMI) pair is unique, so molecules ~ reads.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from _workflow import REPO, copy_scenario, run_snakemake

from exomir.reads.reference import read_species_fasta

TRUSEQ = "TGGAATTCTCGGGTGCCAAGG"
QIASEQ = "AACTGTAGGCACCATCAAT"

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- #
# Running the workflow on a copy
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Run:
    """A finished run and what the test reads from it."""

    scn: Path
    funnel: pd.Series  # first library's row of read_funnel.tsv
    funnel_all: pd.DataFrame
    pre: dict  # first library's preprocess JSON
    counts: pd.Series  # first library's miRNA counts, descending


def _run(scn: Path) -> Run:
    """Read the first library's figures from a finished run of a scenario."""
    funnel = pd.read_csv(scn / "results/qc/read_funnel.tsv", sep="\t", index_col=0)
    first = str(funnel.index[0])
    counts = pd.read_csv(scn / "results/counts/mirna_counts.tsv", sep="\t", index_col=0)
    pre = json.loads((scn / f"results/preprocess/{first}.json").read_text())
    return Run(
        scn,
        funnel.loc[first],
        funnel,
        pre,
        counts[first].sort_values(ascending=False, kind="stable"),
    )


@pytest.fixture(scope="module")
def human(real_human_run: Path) -> Run:
    return _run(real_human_run)


@pytest.fixture(scope="module")
def mouse(real_mouse_run: Path) -> Run:
    return _run(real_mouse_run)


# --------------------------------------------------------------------------- #
# Independent counts straight from the FASTQ
# --------------------------------------------------------------------------- #


@dataclass
class Independent:
    """Counts made with plain string search (no pipeline code)."""

    n: int
    probe: int  # reads containing the first 10 adapter bases
    probe_or_partial: int  # ... or ending in a >= 3-nt adapter prefix
    dimers: int  # probe at position 0
    too_short: int  # probe at 1..15
    inserts: Counter  # read start .. probe -> reads
    umi_pairs: Counter  # (insert, 12 nt after the full adapter) -> reads


def independent(fastq: Path, adapter: str) -> Independent:
    probe = adapter[:10]
    with gzip.open(fastq, "rt") as fh:
        reads = [line.strip() for i, line in enumerate(fh) if i % 4 == 1]
    out = Independent(len(reads), 0, 0, 0, 0, Counter(), Counter())
    for read in reads:
        pos = read.find(probe)
        if pos < 0:
            if any(read.endswith(adapter[:k]) for k in range(3, 10)):
                out.probe_or_partial += 1
            continue
        out.probe += 1
        out.probe_or_partial += 1
        out.dimers += pos == 0
        out.too_short += 0 < pos < 16
        insert = read[:pos]
        out.inserts[insert] += 1
        if read[pos : pos + len(adapter)] == adapter:
            umi = read[pos + len(adapter) : pos + len(adapter) + 12]
            out.umi_pairs[(insert, umi)] += 1
    return out


def mirna_reads(ind: Independent, species: str) -> tuple[int, Counter, dict[str, str]]:
    """Reads per mature by 16-nt core at insert offset 0..2 (5' end +-1 nt)."""
    mature = read_species_fasta(
        REPO / "resources" / "mirbase" / "v22" / species / "mature.fa", species
    )
    core: dict[str, set[str]] = defaultdict(set)
    for name, seq in mature.items():
        core[seq[1:17]].add(name)
    total = 0
    per: Counter = Counter()
    for insert, c in ind.inserts.items():
        if not 16 <= len(insert) <= 30:
            continue
        for off in (1, 0, 2):
            hit = core.get(insert[off : off + 16])
            if hit:
                total += c
                if len(hit) == 1:
                    per[next(iter(hit))] += c
                break
    return total, per, mature


@pytest.fixture(scope="module")
def human_ind() -> Independent:
    return independent(REPO / "tests/data/real/sample1.fastq.gz", TRUSEQ)


@pytest.fixture(scope="module")
def mouse_ind() -> Independent:
    return independent(REPO / "tests/data/real/QiaSeq_data.fastq.gz", QIASEQ)


# --------------------------------------------------------------------------- #
# Shared checks
# --------------------------------------------------------------------------- #


def check_adapter(run: Run, ind: Independent) -> float:
    share = run.pre["adapter_fraction"]
    assert run.pre["raw_reads"] == ind.n == 10_000
    assert ind.probe / ind.n <= share <= ind.probe_or_partial / ind.n + 0.02
    return share


def check_short_inserts(run: Run, ind: Independent) -> None:
    f = run.funnel
    raw = f["raw_reads"]
    assert f["adapter_dimer"] / raw == pytest.approx(ind.dimers / ind.n, abs=0.01)
    assert f["too_short"] / raw == pytest.approx(ind.too_short / ind.n, abs=0.01)


def check_top_mirnas(run: Run, ind: Independent, species: str, n_top: int = 5) -> None:
    total, per, mature = mirna_reads(ind, species)
    f = run.funnel
    pipeline_share = (f["mirna"] + f["multimapped_mirna"]) / f["raw_reads"]
    assert total / ind.n == pytest.approx(pipeline_share, abs=0.03)
    top = list(run.counts.index[:n_top])
    assert top == [name for name, _ in per.most_common(n_top)]
    for name in top:
        counted = int(run.counts[name])
        seq = mature[name]
        exact = ind.inserts.get(seq, 0)  # canonical read, then the adapter
        assert exact <= counted, name
        assert 0.9 * counted <= per[name] <= 1.05 * counted, (name, per[name], counted)


def share(run: Run, column: str) -> float:
    """A funnel column as a share of raw reads (molecules for annotation)."""
    return float(run.funnel[column] / run.funnel["raw_reads"])


# --------------------------------------------------------------------------- #
# Human TruSeq
# --------------------------------------------------------------------------- #


def test_human_adapter_share(human: Run, human_ind: Independent) -> None:
    assert check_adapter(human, human_ind) == pytest.approx(0.991, abs=0.01)
    assert human_ind.probe / human_ind.n == pytest.approx(0.963, abs=0.01)


def test_human_funnel(human: Run, human_ind: Independent) -> None:
    check_short_inserts(human, human_ind)
    # the four libraries are the same file: identical rows
    assert (human.funnel_all.nunique() == 1).all()
    assert human.funnel["count_unit"] == "reads"
    # passed inserts plus the annotated long inserts (no adapter, too long)
    f = human.funnel
    long = f["annotated_no_adapter"] + f["annotated_too_long"]
    assert f["annotated_total"] == f["passed_reads"] + long
    assert long == f["no_adapter"] + f["too_long"] - f["no_adapter_short"]
    observed = {
        "adapter_dimer": 0.0017,
        "too_short": 0.125,
        "no_adapter": 0.009,
        "mirna": 0.490,
        "rRNA": 0.098,
        "tRNA": 0.103,
        "snoRNA_snRNA": 0.045,
        "unassigned": 0.120,
    }
    for column, expected in observed.items():
        assert share(human, column) == pytest.approx(expected, abs=0.02), column


def test_human_top_mirnas(human: Run, human_ind: Independent) -> None:
    check_top_mirnas(human, human_ind, "hsa")
    assert list(human.counts.index[:3]) == [
        "hsa-miR-10a-5p",
        "hsa-miR-92a-3p",
        "hsa-miR-10b-5p",
    ]
    # not a plasma profile: the red-cell miRNAs are (nearly) absent
    rbc = human.counts.reindex(["hsa-miR-451a", "hsa-miR-486-5p"], fill_value=0)
    assert rbc.sum() / human.counts.sum() < 0.01


# --------------------------------------------------------------------------- #
# Mouse QIAseq with UMIs
# --------------------------------------------------------------------------- #


def test_mouse_adapter_share(mouse: Run, mouse_ind: Independent) -> None:
    assert check_adapter(mouse, mouse_ind) == pytest.approx(0.933, abs=0.01)
    # the brief's "adapter in ~91 % of reads", by exact 10-nt probe
    assert mouse_ind.probe / mouse_ind.n == pytest.approx(0.9175, abs=0.01)


def test_mouse_umis(mouse: Run, mouse_ind: Independent) -> None:
    f = mouse.funnel
    assert f["count_unit"] == "molecules"
    long = f["annotated_no_adapter"] + f["annotated_too_long"]
    assert f["annotated_total"] - long + f["umi_duplicates"] == f["passed_reads"]
    # a 10k sub-sample of a deep library: (insert, UMI) pairs nearly all unique
    assert f["umi_duplicates"] / f["passed_reads"] < 0.005
    pairs = mouse_ind.umi_pairs
    assert (sum(pairs.values()) - len(pairs)) / sum(pairs.values()) < 0.005
    assert f["no_umi"] / f["raw_reads"] < 0.005


def test_mouse_funnel(mouse: Run, mouse_ind: Independent) -> None:
    check_short_inserts(mouse, mouse_ind)
    observed = {
        "adapter_dimer": 0.0005,
        "too_short": 0.502,
        "no_adapter": 0.067,
        "mirna": 0.275,
        "rRNA": 0.030,
        "tRNA": 0.025,
        # with the 808 long-insert reads (no adapter, too long) annotated:
        # 540 of them artifacts (sequencing-adapter read-through), 244
        # unassigned
        "artifact": 0.055,
        "unassigned": 0.108,
    }
    for column, expected in observed.items():
        assert share(mouse, column) == pytest.approx(expected, abs=0.02), column


def test_mouse_top_mirnas(mouse: Run, mouse_ind: Independent) -> None:
    check_top_mirnas(mouse, mouse_ind, "mmu")
    # embryonic-stem-cell miR-290-295 cluster among the most abundant
    top = list(mouse.counts.index[:6])
    cluster = [
        m
        for m in top
        if m.split("-")[2] in {"290a", "291a", "292a", "293", "294", "295"}
    ]
    assert len(cluster) >= 3, top


# --------------------------------------------------------------------------- #
# A library declared with the wrong kit
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("name", "declared", "suggested", "first"),
    [
        ("real_mouse", "truseq", "qiaseq", "M01_BL"),
        ("real_human", "qiaseq", "truseq", "H01_BL"),
    ],
)
def test_wrong_preset_fails_with_suggestion(
    tmp_path: Path, name: str, declared: str, suggested: str, first: str
) -> None:
    scn = copy_scenario(name, tmp_path)
    sheet = scn / "config" / "samples.tsv"
    df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    df["protocol"] = declared
    if "umi_scheme" in df.columns:
        df["umi_scheme"] = ""
    df.to_csv(sheet, sep="\t", index=False)
    proc = run_snakemake(scn, f"results/preprocess/{first}.json", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "AdapterNotFoundError" in out
    assert f"of protocol '{declared}' was found in only" in out
    assert f"use protocol '{suggested}'" in out
    assert not (scn / "results" / "preprocess" / f"{first}.json").exists()
