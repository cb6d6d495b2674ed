"""The compiled scan for UMI protocols against the dnaio path (same bytes)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

import exomir.reads.fastscan as fs
import exomir.reads.preprocess as pp
from exomir.reads.preprocess import collapse_library, preprocess_library
from exomir.reads.protocols import PRESETS, TrimSettings

QIASEQ = PRESETS["qiaseq"].adapter_3p
TAIL = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACATCACG"
LET7A = "TGAGGTAGTAGGTTGTATAGTT"
MIR21 = "TAGCTTATCAGACTGATGTTGA"
MIR16 = "TAGCAGCACGTAAATATTGGCG"
U1, U2 = "AAAAAACCCCCC", "GATTACAGATTA"

pytestmark = pytest.mark.skipif(not fs.available(), reason="numba not available")


def write_fastq(path: Path, reads: list[tuple[str, str]]) -> Path:
    text = "".join(f"@r{i}\n{s}\n+\n{q}\n" for i, (s, q) in enumerate(reads))
    with gzip.open(path, "wt", compresslevel=1) as fh:
        fh.write(text)
    return path


def good(seq: str) -> tuple[str, str]:
    return seq, "E" * len(seq)


def mutate(seq: str, pos: int) -> str:
    return seq[:pos] + ("A" if seq[pos] != "A" else "C") + seq[pos + 1 :]


def read(insert: str, umi: str, adapter: str = QIASEQ) -> str:
    return (insert + adapter + umi + TAIL)[:76]


def both_paths(monkeypatch, path: Path, tmp_path: Path, settings, threads=1):
    """Run both paths; return {fast: (fasta bytes, stats dict)}."""
    monkeypatch.setattr(pp, "FAST_SCAN", True)
    assert pp._use_fast_scan(PRESETS["qiaseq"], settings)
    out = {}
    for fast in (True, False):
        monkeypatch.setattr(pp, "FAST_SCAN", fast)
        d = tmp_path / f"{fast}_{threads}"
        preprocess_library(
            path,
            d / "x.fa.gz",
            d / "x.json",
            PRESETS["qiaseq"],
            settings,
            threads=threads,
            long_out=d / "long.fa.gz",
        )
        data = json.loads((d / "x.json").read_text())
        # work items: distinct (insert, UMI) pairs + distinct reads handed to
        # Python here, distinct reads there (see the preprocess docstring)
        data.pop("unique_raw_sequences")
        out[fast] = (
            (d / "x.fa.gz").read_bytes(),
            data,
            (d / "long.fa.gz").read_bytes(),
        )
    return out


def hand_library(tmp_path: Path) -> Path:
    low = "#" * 76
    reads = (
        [good(read(LET7A, U1))] * 5  # duplicates of one (insert, UMI)
        + [good(read(LET7A, mutate(U1, 3)))]  # one base from U1: absorbed
        + [good(read(LET7A, U2))] * 2
        + [good(read(MIR21, U1))] * 2  # same UMI, other insert
        + [good(read(MIR21, "ACGTNACGTACG"))]  # N in the UMI
        + [good((MIR16 + QIASEQ + U2)[:48])]  # UMI cut by the read end
        + [good(read(MIR16, U2, mutate(QIASEQ, 5)))] * 2  # adapter error: Python
        + [good(read(MIR16, U2, QIASEQ[:8] + QIASEQ[9:]))]  # deletion: Python
        + [good(read("", U1))] * 3  # adapter dimers
        + [good(read("ACGTTGCAGT", U1))]  # too short
        # quality trimming (q 20) cuts into the UMI: no_umi with q 20 only
        + [(read(MIR21, U2), "E" * 47 + low[:29])]
        # ... and into the adapter: no_umi with q 20 (partial adapter)
        + [(read(MIR16, U1), "E" * 30 + low[:46])]
    )
    return write_fastq(tmp_path / "H.fastq.gz", reads)


@pytest.mark.parametrize("q", [0, 20])
def test_hand_counted_library(q, tmp_path, monkeypatch):
    path = hand_library(tmp_path)
    settings = TrimSettings(quality_cutoff=q, min_adapter_fraction=0)
    out = both_paths(monkeypatch, path, tmp_path, settings)
    assert out[True] == out[False]
    stats = out[True][1]
    # hand counts: passed LET7A 8 reads (U1 x5, U1' x1, U2 x2: 2 molecules),
    # MIR21 2 (+1 with q 0), MIR16 3 (+1 with q 0), N / short UMI: no_umi
    assert stats["adapter_dimer"] == 3 and stats["too_short"] == 1
    assert stats["no_umi"] == 2 + (2 if q else 0)
    assert stats["passed_reads"] == 8 + 2 + 3 + (0 if q else 2)
    molecules = {LET7A: 2, MIR21: 1 if q else 2, MIR16: 1 if q else 2}
    assert stats["molecules"] == sum(molecules.values())
    with gzip.open(tmp_path / "True_1" / "x.fa.gz", "rt") as fh:
        lines = fh.read().split()
    counts = [int(h.split("_x")[1]) for h in lines[::2]]
    assert dict(zip(lines[1::2], counts, strict=True)) == molecules


def random_library(path: Path, n: int, seed: int) -> Path:
    """Reads of every kind for UMI protocols: shared inserts with few UMIs
    (duplicates, one-base UMI variants), UMIs with N, adapter errors, partial
    adapters, dimers, no adapter, varying read lengths, low-quality tails."""
    rng = random.Random(seed)
    pool = [LET7A, MIR21, MIR16, "TCCCTGAGACCCTTTAAC", "ACGTTGCAGT", ""]
    umis = ["".join(rng.choice("ACGT") for _ in range(12)) for _ in range(6)]
    reads = []
    for i in range(n):
        if rng.random() < 0.6:
            insert = rng.choice(pool)
        else:
            insert = "".join(
                rng.choice("ACGTN" if i % 9 == 0 else "ACGT")
                for _ in range(rng.randint(0, 60))
            )
        umi = rng.choice(umis)
        if rng.random() < 0.3:  # one-base variants
            umi = mutate(umi, rng.randrange(12))
        if rng.random() < 0.03:
            k = rng.randrange(12)
            umi = umi[:k] + "N" + umi[k + 1 :]
        adapter = QIASEQ
        if rng.random() < 0.1:
            adapter = mutate(QIASEQ, rng.randrange(len(QIASEQ)))
        elif rng.random() < 0.03:
            k = rng.randrange(len(QIASEQ))
            adapter = QIASEQ[:k] + QIASEQ[k + 1 :]
        seq = insert + adapter + umi + TAIL
        if rng.random() < 0.04:
            seq = "".join(rng.choice("ACGT") for _ in range(76))
        seq = seq[: rng.choice((50, 60, 66, 76, 100))]
        qual = [rng.choice("?@AEFGHIJ") for _ in seq]
        if rng.random() < 0.3:
            for j in range(rng.randrange(len(qual) + 1), len(qual)):
                qual[j] = rng.choice("#$%&'()*+,5")
        reads.append((seq, "".join(qual)))
    return write_fastq(path, reads)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dedup", ["directional", "exact"])
@pytest.mark.parametrize("q", [0, 20])
def test_random_library_equals_dnaio_path(q, dedup, threads, tmp_path, monkeypatch):
    path = random_library(tmp_path / "R.fastq.gz", 3000, seed=q + threads)
    settings = TrimSettings(
        quality_cutoff=q, umi_dedup=dedup, max_length=60, min_adapter_fraction=0
    )
    # small buffers and tables: grown, drained, compacted and merged often
    monkeypatch.setattr(fs, "_INITIAL_SLOTS", 4)
    monkeypatch.setattr(fs, "SLOW_BYTES", 300)
    monkeypatch.setattr(fs, "CODE_BYTES", 8 * 40)
    monkeypatch.setattr(fs, "BLOCK_BYTES", 4000)
    monkeypatch.setattr(fs, "MIN_CUT_BYTES", 64)
    out = both_paths(monkeypatch, path, tmp_path, settings, threads)
    assert out[True][0] == out[False][0]
    assert out[True][1] == out[False][1]
    stats = out[True][1]
    for field in ("no_umi", "adapter_dimer", "too_short", "no_adapter"):
        assert stats[field] > 10, field
    assert stats["umi_duplicates"] > 100 and stats["passed_reads"] > 1000


def test_directional_one_base_variants(tmp_path, monkeypatch):
    """UMI-tools' directional example: 3 molecules, 6 distinct UMIs."""
    umis = {  # A, B = A at 1, C = A at 12, D = C at 6, E = B at 4, F
        "AAAAAACCCCCC": 10,
        "CAAAAACCCCCC": 4,
        "AAAAAACCCCCA": 6,
        "AAAAATCCCCCA": 2,
        "CAAGAACCCCCC": 1,
        "GTGTGTACACAC": 1,
    }
    reads = [good(read(LET7A, u)) for u, n in umis.items() for _ in range(n)]
    random.Random(3).shuffle(reads)
    path = write_fastq(tmp_path / "D.fastq.gz", reads)
    for dedup, expected in (("directional", 3), ("exact", 6)):
        settings = TrimSettings(umi_dedup=dedup)
        monkeypatch.setattr(pp, "FAST_SCAN", True)
        records, stats = collapse_library(path, PRESETS["qiaseq"], settings)
        assert records == [(LET7A, expected)]
        assert stats.umi_duplicates == 24 - expected


def test_real_qiaseq_file_equals_dnaio_path(tmp_path, monkeypatch):
    path = Path(__file__).resolve().parents[1] / "data/real/QiaSeq_data.fastq.gz"
    for q in (0, 20):
        out = both_paths(
            monkeypatch, path, tmp_path / str(q), TrimSettings(quality_cutoff=q), 2
        )
        assert out[True] == out[False]
        assert out[True][1]["passed_reads"] > 4000
        assert out[True][1]["long_reads"] > 500  # no adapter or too long
    # reads per collapsed insert (for the miRTrace view): the same both ways
    extras = {}
    for fast in (True, False):
        monkeypatch.setattr(pp, "FAST_SCAN", fast)
        _, stats, extras[fast] = pp.collapse_to_fasta(
            path, PRESETS["qiaseq"], TrimSettings()
        )
        assert int(extras[fast].passed_reads.sum()) == stats.passed_reads
    assert extras[True].passed_reads.tolist() == extras[False].passed_reads.tolist()
    assert extras[True].long_inserts == extras[False].long_inserts


def test_long_or_iupac_adapters_take_the_dnaio_path():
    from exomir.reads.protocols import Protocol

    settings = TrimSettings()
    long = Protocol("x", "ACGT" * 9, umi="qiaseq12")
    iupac = Protocol("x", "ACGTNACGTACG", umi="qiaseq12")
    assert pp._use_fast_scan(PRESETS["qiaseq"], settings) == pp.FAST_SCAN
    assert not pp._use_fast_scan(long, settings)
    assert not pp._use_fast_scan(iupac, settings)
