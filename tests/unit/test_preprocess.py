"""Preprocessing against hand-countable synthetic libraries and cutadapt."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dnaio
import pytest
from cutadapt.adapters import BackAdapter

from exomir.reads.preprocess import (
    CATEGORIES,
    AdapterNotFoundError,
    collapse_library,
    preprocess_library,
    sample_name,
)
from exomir.reads.protocols import (
    PRESETS,
    Protocol,
    TrimSettings,
    detect_adapter,
    get_protocol,
)

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
TRUSEQ = PRESETS["truseq"].adapter_3p
QIASEQ = PRESETS["qiaseq"].adapter_3p
TRUSEQ_TAIL = "AACTCCAGTCACATCACGATCTCGTATGCCGTCTTCTGCTTG"
QIASEQ_TAIL = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACATCACG"

LET7A = "TGAGGTAGTAGGTTGTATAGTT"  # 22 nt
MIR21 = "TAGCTTATCAGACTGATGTTGA"  # 22 nt
MIR16 = "TAGCAGCACGTAAATATTGGCG"  # 22 nt
SHORT18 = "TCCCTGAGACCCTTTAAC"  # 18 nt
LONG40 = "GCTAGCCTTGCACGTCATCGGACCTTGCACGTACCTGCAC"  # 40 nt
LONG48 = "GCTAGCCTTGCACGTCATCGGACCTTGCACGTACCTGCACGATCGACC"  # 48 nt
NOADAPT = "CATGCAGCATCGACTACGACTAGCATCAGACTACGATCAGCACGACTACAC"  # 51 nt


def mutate(seq: str, pos: int) -> str:
    base = "A" if seq[pos] != "A" else "C"
    return seq[:pos] + base + seq[pos + 1 :]


def write_fastq(path: Path, seqs: list[str], quals: list[str] | None = None) -> Path:
    quals = quals or ["E" * len(s) for s in seqs]
    text = "".join(
        f"@read{i}\n{s}\n+\n{q}\n"
        for i, (s, q) in enumerate(zip(seqs, quals, strict=True))
    )
    with gzip.open(path, "wt", compresslevel=1) as fh:
        fh.write(text)
    return path


def read_fasta(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return list(zip(lines[0::2], lines[1::2], strict=True))


def truseq_read(insert: str, adapter: str = TRUSEQ, tail: str = TRUSEQ_TAIL) -> str:
    return (insert + adapter + tail)[:51]


@pytest.fixture
def truseq_library(tmp_path) -> Path:
    reads = (
        [truseq_read(LET7A)] * 4
        # same insert, sequencing error in the read-through after the adapter
        + [mutate(truseq_read(LET7A), 50)]
        # one mismatch inside the adapter: found by the aligner, not str.find
        + [truseq_read(MIR21, mutate(TRUSEQ, 10))] * 3
        + [truseq_read(SHORT18)] * 2
        # partial adapter (11 nt) at the read end
        + [(LONG40 + TRUSEQ)[:51]]
        # 48-nt insert + 3 nt of adapter: too long
        + [(LONG48 + TRUSEQ)[:51]]
        + [truseq_read("ACGTTGCAGT")] * 2  # 10 nt: too short
        + [truseq_read("")] * 3  # adapter dimer
        + [NOADAPT] * 2
    )
    random.Random(5).shuffle(reads)
    return write_fastq(tmp_path / "S1.fastq.gz", reads)


def test_truseq_hand_counted(truseq_library, tmp_path):
    out_fa, out_js = tmp_path / "o" / "S1.fa.gz", tmp_path / "o" / "S1.json"
    stats = preprocess_library(
        truseq_library, out_fa, out_js, PRESETS["truseq"], TrimSettings()
    )
    assert read_fasta(out_fa) == [
        (">S1_1_x5", LET7A),
        (">S1_2_x3", MIR21),
        (">S1_3_x2", SHORT18),
        (">S1_4_x1", LONG40),
    ]
    js = json.loads(out_js.read_text())
    expected = {
        "raw_reads": 19,
        "adapter_found": 17,
        "no_adapter": 2,
        "adapter_dimer": 3,
        "too_short": 2,
        "too_long": 1,
        "no_umi": 0,
        "passed_reads": 11,
        "umi_duplicates": 0,
        "molecules": 11,
        "unique_inserts": 4,
        "protocol": "truseq",
        "adapter": TRUSEQ,
        "sample": "S1",
    }
    assert {k: js[k] for k in expected} == expected
    assert stats.to_dict() == js
    hist = js["length_hist"]
    assert set(hist) == set(CATEGORIES)
    assert all(len(h) == 52 for h in hist.values())  # 0..51
    nonzero = {c: {i: n for i, n in enumerate(h) if n} for c, h in hist.items()}
    assert nonzero == {
        "passed": {18: 2, 22: 8, 40: 1},
        "adapter_dimer": {0: 3},
        "too_short": {10: 2},
        "too_long": {48: 1},
        "no_adapter": {51: 2},
        "no_umi": {},
    }
    assert js["detection"]["presets"] == ["truseq", "nextflex"]


def test_batches_and_reruns_are_byte_identical(truseq_library, tmp_path):
    outs = []
    for i, max_unique in enumerate((2_000_000, 2, 1)):
        fa, js = tmp_path / f"{i}.fa.gz", tmp_path / f"{i}.json"
        preprocess_library(
            truseq_library,
            fa,
            js,
            PRESETS["truseq"],
            TrimSettings(),
            threads=2,
            sample="S1",
            max_unique=max_unique,
        )
        data = json.loads(js.read_text())
        data.pop("unique_raw_sequences")  # counts per-batch work items
        outs.append((fa.read_bytes(), data))
    assert outs[0] == outs[1] == outs[2]


def test_length_limits_are_settings(truseq_library):
    _, stats = collapse_library(
        truseq_library, PRESETS["truseq"], TrimSettings(min_length=20, max_length=30)
    )
    assert stats.too_short == 2 + 2  # 10 nt and 18 nt
    assert stats.too_long == 1 + 1  # 40 nt and 48 nt
    assert stats.passed_reads == 8


def test_quality_trimming_like_cutadapt_q(tmp_path):
    # 30-nt insert; the adapter bases are all Q2: -q 20 removes the adapter
    read = (LONG40[:30] + TRUSEQ)[:51]
    qual = "E" * 30 + "#" * 21
    path = write_fastq(tmp_path / "q.fastq.gz", [read] * 3, [qual] * 3)
    _, plain = collapse_library(
        path, PRESETS["truseq"], TrimSettings(min_adapter_fraction=0)
    )
    _, trimmed = collapse_library(
        path, PRESETS["truseq"], TrimSettings(quality_cutoff=20, min_adapter_fraction=0)
    )
    assert plain.passed_reads == 3 and plain.length_hist["passed"][30] == 3
    assert trimmed.no_adapter == 3 and trimmed.length_hist["no_adapter"][30] == 3


def test_nextflex_clips_both_ends(tmp_path):
    rng = random.Random(1)

    def n4() -> str:
        return "".join(rng.choice("ACGT") for _ in range(4))

    reads = [truseq_read(n4() + LET7A + n4()) for _ in range(6)]
    reads += [truseq_read(n4() + n4()) for _ in range(2)]  # dimer: only the 8 N
    reads += [truseq_read(n4() + "ACGTACGTAC" + n4())]  # 10 nt
    path = write_fastq(tmp_path / "nf.fastq.gz", reads)
    records, stats = collapse_library(path, PRESETS["nextflex"], TrimSettings())
    assert records == [(LET7A, 6)]
    assert (stats.adapter_dimer, stats.too_short, stats.passed_reads) == (2, 1, 6)
    assert stats.length_hist["passed"][22] == 6


def test_cats_polya_and_5p_clip(tmp_path):
    reads = [("GGG" + SHORT18 + "A" * 40)[:51]] * 4 + [("GGG" + MIR16 + "A" * 40)[:51]]
    path = write_fastq(tmp_path / "cats.fastq.gz", reads)
    records, stats = collapse_library(path, PRESETS["cats"], TrimSettings())
    assert records == [(SHORT18, 4), (MIR16, 1)]
    assert stats.passed_reads == 5


def qiaseq_read(insert: str, umi: str, adapter: str = QIASEQ, tail=QIASEQ_TAIL) -> str:
    return (insert + adapter + umi + tail)[:76]


def test_qiaseq_umi_dedup_hand_counted(tmp_path):
    u1, u2, u3, u4, u5 = (
        "ACGTACGTACGT",
        "TTTTGGGGCCCC",
        "GATTACAGATTA",
        "CCCAAATTTGGG",
        "AGAGAGTCTCTC",
    )
    deleted = QIASEQ[:9] + QIASEQ[10:]  # one base missing in the adapter
    reads = (
        [qiaseq_read(LET7A, u1)] * 3
        + [qiaseq_read(LET7A, u2), qiaseq_read(LET7A, u3)]
        + [qiaseq_read(MIR21, u1)] * 2  # same UMI, other insert: new molecule
        + [qiaseq_read(MIR21, u4), mutate(qiaseq_read(MIR21, u4), 75)]
        + [qiaseq_read(MIR16, u5, mutate(QIASEQ, 7))]  # mismatch in adapter
        + [qiaseq_read(MIR16, u5, deleted)]  # deletion: same UMI -> duplicate
        + [qiaseq_read(LET7A, "ACGTNACGTACG")]  # N in UMI
        + [(LONG40[:30] + QIASEQ + "ACGTAC")]  # read ends inside the UMI
    )
    path = write_fastq(tmp_path / "Q1.fastq.gz", reads)
    fa, js = tmp_path / "Q1.fa.gz", tmp_path / "Q1.json"
    stats = preprocess_library(path, fa, js, PRESETS["qiaseq"], TrimSettings())
    assert read_fasta(fa) == [
        (">Q1_1_x3", LET7A),
        (">Q1_2_x2", MIR21),
        (">Q1_3_x1", MIR16),
    ]
    assert stats.raw_reads == 13
    assert stats.passed_reads == 11
    assert stats.molecules == 6
    assert stats.umi_duplicates == 5
    assert stats.no_umi == 2
    assert stats.length_hist["no_umi"][22] == 1 and stats.length_hist["no_umi"][30] == 1
    assert stats.length_hist["passed"][22] == 11  # reads, not molecules


def test_adapter_missing_suggests_preset(tmp_path):
    reads = [
        qiaseq_read(ins, "".join("ACGT"[int(d) % 4] for d in f"{i:012d}"))
        for i, ins in enumerate([LET7A, MIR21, MIR16, SHORT18] * 10)
    ]
    path = write_fastq(tmp_path / "wrong.fastq.gz", reads)
    out = tmp_path / "out"
    with pytest.raises(AdapterNotFoundError) as info:
        preprocess_library(
            path, out / "a.fa.gz", out / "a.json", PRESETS["truseq"], TrimSettings()
        )
    msg = str(info.value)
    assert str(path) in msg and "'qiaseq'" in msg and "0.0%" in msg
    assert info.value.detection.presets == ["qiaseq"]
    assert not out.exists()


def test_unknown_adapter_kmer_suggestion(tmp_path):
    adapter = "GCATGCATCCGGTTAACCGGTTACG"
    inserts = [LET7A, MIR21, MIR16, SHORT18 + "TC", "ACGTTAGCAGCAGCTAGCATCG"]
    reads = [(ins + adapter + "T" * 40)[:51] for ins in inserts * 8]
    path = write_fastq(tmp_path / "odd.fastq.gz", reads)
    with pytest.raises(AdapterNotFoundError) as info:
        collapse_library(path, PRESETS["truseq"], TrimSettings())
    det = info.value.detection
    assert det.best is None
    assert det.kmer is not None and det.kmer.startswith(adapter[:12])
    assert adapter[:12] in str(info.value) and "custom" in str(info.value)
    # the suggested adapter works as a custom protocol
    custom = Protocol.from_dict({"adapter_3p": det.kmer})
    records, stats = collapse_library(path, custom, TrimSettings())
    assert stats.passed_reads == 40 and len(records) == 5


def test_threshold_is_configurable(tmp_path):
    reads = [truseq_read(LET7A)] * 1 + [NOADAPT] * 19  # adapter in 5 %
    path = write_fastq(tmp_path / "low.fastq.gz", reads)
    with pytest.raises(AdapterNotFoundError):
        collapse_library(path, PRESETS["truseq"], TrimSettings())
    _, stats = collapse_library(
        path, PRESETS["truseq"], TrimSettings(min_adapter_fraction=0.05)
    )
    assert stats.adapter_found == 1 and stats.no_adapter == 19


def test_detect_adapter_on_real_files():
    for name, preset in (("sample1", "truseq"), ("QiaSeq_data", "qiaseq")):
        seqs = Counter()
        with dnaio.open(REAL / f"{name}.fastq.gz") as reader:
            for rec in reader:
                seqs[rec.sequence] += 1
        det = detect_adapter(seqs)
        assert preset in det.presets, det
        assert det.best_fraction > 0.85


def test_exact_find_equals_cutadapt_alignment():
    """str.find of the full adapter gives cutadapt's own answer."""
    rng = random.Random(3)
    for adapter in (TRUSEQ, QIASEQ, "AAAAAAAA"):
        aligner = BackAdapter(adapter, max_errors=0.1, min_overlap=3)
        checked = 0
        for _ in range(3000):
            ins = "".join(rng.choice("ACGT") for _ in range(rng.randint(0, 40)))
            tail = "".join(rng.choice("ACGT") for _ in range(40))
            read = list((ins + adapter + tail)[:75])
            for _ in range(rng.randint(0, 3)):  # random errors anywhere
                read[rng.randrange(len(read))] = rng.choice("ACGT")
            seq = "".join(read)
            pos = seq.find(adapter)
            if pos >= 0:
                match = aligner.match_to(seq)
                assert match is not None and match.rstart == pos, (adapter, seq)
                checked += 1
        assert checked > 1000


def cutadapt_lengths(fastq: Path, adapter: str, tmp_path: Path, q: int) -> Counter:
    out = tmp_path / f"cutadapt_q{q}.fastq"
    cutadapt = Path(sys.executable).with_name("cutadapt")
    subprocess.run(
        [
            str(cutadapt),
            "-a",
            adapter,
            "-e",
            "0.1",
            "-O",
            "3",
            "-q",
            str(q),
            "--discard-untrimmed",
            "-o",
            str(out),
            str(fastq),
        ],
        check=True,
        capture_output=True,
    )
    with dnaio.open(out) as reader:
        return Counter(len(r.sequence) for r in reader)


@pytest.mark.parametrize(
    ("name", "preset", "q"),
    [("sample1", "truseq", 0), ("sample1", "truseq", 20), ("QiaSeq_data", "qiaseq", 0)],
)
def test_insert_lengths_agree_with_cutadapt(name, preset, q, tmp_path):
    """Insert length distribution vs cutadapt -a ADAPTER -e 0.1 -O 3 -q Q.

    Tolerance: at most 0.2 % of the reads may differ in insert length (sum of
    absolute per-length differences); with cutadapt 5.2 the agreement is exact.
    """
    fastq = REAL / f"{name}.fastq.gz"
    protocol = PRESETS[preset]
    ref = cutadapt_lengths(fastq, protocol.adapter_3p, tmp_path, q)
    _, stats = collapse_library(fastq, protocol, TrimSettings(quality_cutoff=q))
    mine: Counter = Counter()
    for cat, hist in stats.length_hist.items():
        if cat != "no_adapter":
            mine.update({i: n for i, n in enumerate(hist) if n})
    assert stats.raw_reads == 10_000
    assert abs(stats.adapter_found - sum(ref.values())) <= 20
    diff = sum(abs(mine[k] - ref[k]) for k in set(mine) | set(ref))
    assert diff <= 0.002 * stats.raw_reads, diff
    assert stats.adapter_found / stats.raw_reads > 0.9


def test_protocol_parsing():
    assert get_protocol("Illumina") is PRESETS["truseq"]
    assert Protocol.from_dict({"preset": "qiaseq"}) == PRESETS["qiaseq"]
    assert Protocol.from_dict({"name": "nextflex"}) == PRESETS["nextflex"]
    custom = Protocol.from_dict(
        {"adapter_3p": "tggaattc", "clip_5p": 2, "clip_3p": 1, "umi": "none"}
    )
    assert (custom.name, custom.adapter_3p, custom.clip_5p) == ("custom", "TGGAATTC", 2)
    over = Protocol.from_dict({"preset": "truseq", "clip_5p": 1})
    assert over.adapter_3p == TRUSEQ and over.clip_5p == 1
    with pytest.raises(ValueError, match="unknown protocol field"):
        Protocol.from_dict({"adapter": "ACGT"})
    with pytest.raises(ValueError, match="unknown protocol preset"):
        get_protocol("smarter")
    with pytest.raises(ValueError, match="umi"):
        Protocol("x", "ACGT", umi="random8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip_5p"):
        Protocol("x", "ACGT", clip_5p=-1)
    # sample-sheet values: empty cells (NaN/None) are absent, numpy integers ok
    import numpy as np

    sheet = Protocol.from_dict(
        {
            "name": "custom",
            "adapter_3p": "ACGTAC",
            "clip_5p": np.int64(2),
            "clip_3p": 0,
            "umi": float("nan"),
            "description": None,
        }
    )
    assert (sheet.clip_5p, sheet.umi, type(sheet.clip_5p)) == (2, "none", int)
    assert TrimSettings.from_dict({"min_length": 18}).min_length == 18
    with pytest.raises(ValueError, match="unknown trim setting"):
        TrimSettings.from_dict({"minlen": 18})
    with pytest.raises(ValueError):
        TrimSettings(min_length=30, max_length=20)
    assert sample_name("a/b/S01.fastq.gz") == "S01"
    assert sample_name("S02.fq") == "S02"


def test_reads_differing_after_the_adapter_collapse_before_work(tmp_path):
    rng = random.Random(11)

    def junk() -> str:
        return "".join(rng.choice("ACGT") for _ in range(40))

    reads = [(LET7A + TRUSEQ + junk())[:75] for _ in range(20)]
    # error in the adapter after its first 12 bases: still trimmed at 22
    reads += [(MIR21 + mutate(TRUSEQ, 15) + junk())[:75] for _ in range(5)]
    path = write_fastq(tmp_path / "junk.fastq.gz", reads)
    records, stats = collapse_library(path, PRESETS["truseq"], TrimSettings())
    assert records == [(LET7A, 20), (MIR21, 5)]
    assert stats.unique_raw_sequences == 2  # 25 distinct reads, 2 work items
    assert stats.max_read_length == 75


def test_umi_molecules_across_batches():
    from exomir.reads.classifier import ReadClassifier

    rng = random.Random(4)
    umis = ["".join(rng.choice("ACGT") for _ in range(12)) for _ in range(30)]
    reads = Counter()
    for i, umi in enumerate(umis):
        for insert in (LET7A, MIR21) if i % 3 else (LET7A,):
            reads[qiaseq_read(insert, umi)] += 1 + i % 4
    items = list(reads.items())
    one = ReadClassifier(PRESETS["qiaseq"], TrimSettings())
    one(dict(items))
    split = ReadClassifier(PRESETS["qiaseq"], TrimSettings())
    split(dict(items[:25]))
    split(dict(items[15:]))  # overlap: the same molecules seen again
    expected = {LET7A: 30, MIR21: 20}
    assert one.molecules_per_insert() == expected
    assert split.molecules_per_insert() == expected


@pytest.mark.parametrize(
    "fastq_name", ["sample1.fastq.gz", "truseq_library", "junk_library"]
)
def test_cut_and_whole_read_keys_give_identical_results(
    fastq_name, truseq_library, tmp_path, monkeypatch
):
    import exomir.reads.preprocess as pp

    if fastq_name == "truseq_library":
        path = truseq_library
    elif fastq_name == "junk_library":
        rng = random.Random(2)
        reads = [
            (ins + (TRUSEQ if i % 7 else mutate(TRUSEQ, 14)) + TRUSEQ_TAIL)[:60]
            + "".join(rng.choice("ACGT") for _ in range(15))
            for i, ins in enumerate([LET7A, MIR21, MIR16, SHORT18, LONG40] * 40)
        ]
        path = write_fastq(tmp_path / "junk.fastq.gz", reads)
    else:
        path = REAL / fastq_name
    results = []
    for gain in (0.0, 2.0):  # always cut / never cut
        monkeypatch.setattr(pp, "CUT_MIN_GAIN", gain)
        for q in (0, 20):
            records, stats = collapse_library(
                path, PRESETS["truseq"], TrimSettings(quality_cutoff=q)
            )
            data = stats.to_dict()
            data.pop("unique_raw_sequences")
            data.pop("max_read_length")
            results.append((gain, q, records, data))
    for q in (0, 20):
        cut, whole = [r[2:] for r in results if r[1] == q]
        assert cut == whole


def _random_library(path: Path, n: int, seed: int) -> Path:
    """Reads of every kind: shared and random inserts (some with N), adapter
    errors, partial adapters, no adapter, varying read lengths up to 150."""
    rng = random.Random(seed)
    pool = [LET7A, MIR21, MIR16, SHORT18, LONG40, LONG48, "ACGTTGCAGT", ""]
    reads = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.5:
            insert = rng.choice(pool)
        else:
            size = rng.randint(0, 70)
            insert = "".join(
                rng.choice("ACGTN" if i % 9 == 0 else "ACGT") for _ in range(size)
            )
        adapter = TRUSEQ
        if rng.random() < 0.1:
            adapter = mutate(TRUSEQ, rng.randrange(len(TRUSEQ)))
        read = insert + adapter + TRUSEQ_TAIL + "A" * 60
        if rng.random() < 0.05:
            read = "".join(rng.choice("ACGT") for _ in range(60))
        reads.append(read[: rng.choice((36, 51, 75, 150))])
    quals = []
    for read in reads:  # good bases, some reads with a low-quality 3' tail
        q = [rng.choice("?@AEFGHIJ") for _ in read]
        if rng.random() < 0.3:
            for j in range(rng.randrange(len(q) + 1), len(q)):
                q[j] = rng.choice("#$%&'()*+,5")
        quals.append("".join(q))
    return write_fastq(path, reads, quals)


@pytest.mark.parametrize("q", [0, 20])
@pytest.mark.parametrize("preset", ["truseq", "nextflex"])
def test_fast_scan_equals_dnaio_path(preset, q, tmp_path, monkeypatch):
    """The compiled scan and the dnaio path give the same bytes and counts."""
    import exomir.reads.preprocess as pp

    path = _random_library(tmp_path / "rand.fastq.gz", 4000, seed=3)
    settings = TrimSettings(min_length=16, max_length=60, quality_cutoff=q)
    assert pp._use_fast_scan(PRESETS[preset], settings)
    out = {}
    for fast in (True, False):
        monkeypatch.setattr(pp, "FAST_SCAN", fast)
        d = tmp_path / str(fast)
        stats = preprocess_library(
            path,
            d / "x.fa.gz",
            d / "x.json",
            PRESETS[preset],
            settings,
            long_out=d / "long.fa.gz",
        )
        data = stats.to_dict()
        data.pop("unique_raw_sequences")
        data.pop("max_read_length")
        out[fast] = (
            (d / "x.fa.gz").read_bytes(),
            data,
            (d / "long.fa.gz").read_bytes(),
        )
    assert out[True][0] == out[False][0]
    assert out[True][1] == out[False][1]
    assert out[True][1]["passed_reads"] > 500
    # long inserts (no adapter, too long): the same in both paths
    assert out[True][2] == out[False][2]
    assert out[True][1]["long_reads"] == (
        out[True][1]["no_adapter"]
        - out[True][1]["no_adapter_short"]
        + out[True][1]["too_long"]
    )
    assert out[True][1]["too_long"] > 0 and out[True][1]["long_reads"] > 100


@pytest.mark.parametrize("threads", [1, 2])
def test_fast_scan_small_tables_and_buffers(tmp_path, monkeypatch, threads):
    """Growing the hash tables, draining the no-probe buffers and sharing
    blocks between two scanning threads change nothing."""
    import exomir.reads.fastscan as fs
    import exomir.reads.preprocess as pp

    path = _random_library(tmp_path / "rand.fastq.gz", 3000, seed=8)
    settings = TrimSettings(quality_cutoff=20)
    ref, ref_stats = collapse_library(path, PRESETS["truseq"], settings)
    monkeypatch.setattr(fs, "_INITIAL_SLOTS", 4)
    monkeypatch.setattr(fs, "_MAX_INITIAL_SLOTS", 4)
    monkeypatch.setattr(fs, "SLOW_BYTES", 300)
    monkeypatch.setattr(fs, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(fs, "MIN_CUT_BYTES", 64)
    monkeypatch.setattr(fs, "CARRY_BYTES", 100)  # longer records: concatenated
    records, stats = collapse_library(
        path, PRESETS["truseq"], settings, threads=threads
    )
    assert pp._use_fast_scan(PRESETS["truseq"], settings)
    assert records == ref
    assert stats.length_hist == ref_stats.length_hist
    assert stats.raw_reads == 3000
    # the dnaio path (independent code) gives the same inserts
    monkeypatch.setattr(pp, "FAST_SCAN", False)
    slow_records, slow_stats = collapse_library(path, PRESETS["truseq"], settings)
    assert records == slow_records
    assert stats.length_hist == slow_stats.length_hist


# Hand-worked directional example (UMI-tools' rule: a absorbs b when they
# differ at one base and n_a >= 2 n_b - 1):
#   A 10 reads; B = A with pos 1 changed, 4 reads: 10 >= 7, A -> B
#   C = A with pos 12 changed, 6 reads: 10 < 11 and 6 < 19, no edge A-C
#   D = C with pos 6 changed, 2 reads (two from A): 6 >= 3, C -> D
#   E = B with pos 4 changed, 1 read (two from A): 4 >= 1, B -> E
#   F unrelated, 1 read
# From the most frequent UMI not yet reached: {A, B, E}, {C, D}, {F}: 3
# molecules (exact: 6 distinct UMIs; undirected clusters: 2).
UMI_EXAMPLE = {
    "AAAAAACCCCCC": 10,
    "CAAAAACCCCCC": 4,
    "AAAAAACCCCCA": 6,
    "AAAAATCCCCCA": 2,
    "CAAGAACCCCCC": 1,
    "GTGTGTACACAC": 1,
}


@pytest.mark.parametrize(("method", "expected"), [("directional", 3), ("exact", 6)])
def test_umi_directional_hand_example(method, expected, tmp_path):
    reads = [
        qiaseq_read(insert, umi)
        for umi, n in UMI_EXAMPLE.items()
        for insert in (LET7A, MIR21)
        for _ in range(n)
    ]
    # MIR21 also once with a UMI one base from A: 10 >= 1, absorbed
    reads.append(qiaseq_read(MIR21, "AAAAAACCCCCG"))
    random.Random(1).shuffle(reads)
    path = write_fastq(tmp_path / "umi.fastq.gz", reads)
    settings = TrimSettings(umi_dedup=method)
    records, stats = collapse_library(path, PRESETS["qiaseq"], settings)
    extra = 1 if method == "exact" else 0
    assert dict(records) == {LET7A: expected, MIR21: expected + extra}
    assert stats.molecules == 2 * expected + extra
    assert stats.umi_duplicates == stats.passed_reads - stats.molecules


def test_umi_directional_across_inserts_and_batches():
    """Clusters never span inserts; batches give the same molecules."""
    from exomir.reads.classifier import ReadClassifier

    rng = random.Random(9)
    reads = Counter()
    for umi, n in UMI_EXAMPLE.items():
        reads[qiaseq_read(LET7A, umi)] += n
    # MIR21 only has the 1-read UMIs one base from LET7A's big one: no edge
    reads[qiaseq_read(MIR21, "CAAAAACCCCCC")] += 1
    reads[qiaseq_read(MIR21, "AAAAAACCCCCA")] += 1
    for _ in range(200):  # random UMIs of a third insert
        umi = "".join(rng.choice("ACGT") for _ in range(12))
        reads[qiaseq_read(MIR16, umi)] += 1
    items = list(reads.items())
    one = ReadClassifier(PRESETS["qiaseq"], TrimSettings())
    one(dict(items))
    split = ReadClassifier(PRESETS["qiaseq"], TrimSettings())
    for i in range(0, len(items), 7):
        split(dict(items[i : i + 7]))
    got = one.molecules_per_insert()
    assert got == split.molecules_per_insert()
    assert got[LET7A] == 3
    # the two MIR21 UMIs are two bases apart and both 1 read: 2 molecules
    assert got[MIR21] == 2
    assert 190 <= got[MIR16] <= 200


def test_umi_dedup_setting_is_validated():
    with pytest.raises(ValueError, match="umi_dedup"):
        TrimSettings(umi_dedup="cluster")
    assert TrimSettings.from_dict({"umi_dedup": "exact"}).umi_dedup == "exact"


def _packed(seqs: list[str], nw: int):
    """Pack sequences 3 bits a base (A1 C2 G3 N4 T5), 21 a word, left-aligned."""
    import numpy as np

    code = {"A": 1, "C": 2, "G": 3, "N": 4, "T": 5}
    keys = np.zeros((len(seqs), nw), dtype=np.uint64)
    for i, s in enumerate(seqs):
        for j, base in enumerate(s):
            w, k = divmod(j, 21)
            keys[i, w] |= np.uint64(code[base] << (3 * (20 - k)))
    return keys


@pytest.mark.parametrize("n", [0, 1, 500, 70_000])
def test_compiled_sort_equals_python_sort(n):
    """The radix sort (whole and split in two) orders by count descending,
    then sequence, like Python's sort of the strings; long runs sharing the
    first 21 bases and count are included."""
    import numpy as np

    from exomir.reads import _kernels as K

    rng = random.Random(n)
    shared = "".join(rng.choice("ACGT") for _ in range(21))
    seqs = set()
    while len(seqs) < n:
        length = rng.randint(1, 60)
        tail = "".join(rng.choice("ACGTN") for _ in range(length))
        seqs.add(shared + tail[:30] if rng.random() < 0.3 else tail)
    seqs = sorted(seqs)
    rng.shuffle(seqs)
    counts = [
        1 if rng.random() < 0.7 else rng.choice((2, 3, 5000, 70_000)) for _ in seqs
    ]
    keys = _packed(seqs, 3)
    cnt = np.array(counts, dtype=np.uint64)
    expected = sorted(range(n), key=lambda i: (-counts[i], seqs[i]))
    order = K.sort_order(keys, cnt)
    assert order.tolist() == expected
    if n:
        first, second = K.split_for_sort(keys, cnt)
        assert sorted(first.tolist() + second.tolist()) == list(range(n))
        joined = np.concatenate(
            (K.sort_subset(keys, cnt, first), K.sort_subset(keys, cnt, second))
        )
        assert joined.tolist() == expected
    # the FASTA text written from the order, as Python formats it
    prefix = np.frombuffer(b"s_", dtype=np.uint8)
    out = np.empty(K.fasta_size(keys, cnt, 2), dtype=np.uint8)
    end = K.format_fasta(keys, cnt, order, prefix, out)
    text = "".join(
        f">s_{r}_x{counts[i]}\n{seqs[i]}\n" for r, i in enumerate(expected, 1)
    )
    assert end == len(out)
    assert out.tobytes() == text.encode()


def test_merged_tables_sum_counts():
    """Merging table b into a by lookup, then adding inserts beside, gives
    the counts of a dictionary."""
    import numpy as np

    from exomir.reads import _kernels as K
    from exomir.reads.fastscan import _Table, _union

    rng = random.Random(5)
    pool = [
        "".join(rng.choice("ACGTN") for _ in range(rng.randint(1, 45)))
        for _ in range(3000)
    ]
    truth: Counter[str] = Counter()
    a, b = _Table(3, 4), _Table(3, 4)
    for table, lo, hi in ((a, 0, 2000), (b, 1000, 2900)):
        part = Counter(rng.choice(pool[lo:hi]) for _ in range(5000))
        truth.update(part)
        text = np.frombuffer(("\n".join(part) + "\n").encode(), dtype=np.uint8)
        n = np.array(list(part.values()), dtype=np.int64)
        while len(part) * 10 > 6 * len(table.count):
            table.grow()
        K.add_lines(text, n, 3, table.keys, table.count)
    extra = Counter(rng.choice(pool) for _ in range(800))
    truth.update(extra)
    a.add_beside(dict(extra), b)
    K.merge_tables(a.keys, a.count, b.keys, b.count)
    keys, counts = _union(a, b)
    seqs = sorted(truth)
    expected = _packed(seqs, 3)
    order = np.lexsort(tuple(keys[:, w] for w in (2, 1, 0)))
    assert keys[order].tolist() == expected.tolist()
    assert counts[order].tolist() == [truth[s] for s in seqs]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    ("name", "preset"), [("sample1", "truseq"), ("QiaSeq_data", "qiaseq")]
)
def test_top_inserts_total_equals_the_collapsed_fasta(
    name, preset, fast, tmp_path, monkeypatch
):
    """The JSON's top-10 sum equals the first records of the FASTA written.

    The read QC takes ``top10_fraction`` from this sum instead of reading every
    collapsed FASTA again; the FASTA's headers (parsed here and by
    :func:`exomir.reads.funnel.collapsed_complexity`) are the independent truth,
    on real TruSeq and QIAseq (UMI) reads, through both scan paths.
    """
    import exomir.reads.preprocess as pp
    from exomir.reads.funnel import collapsed_complexity

    monkeypatch.setattr(pp, "FAST_SCAN", fast)
    fa, js = tmp_path / "x.fa.gz", tmp_path / "x.json"
    preprocess_library(
        REAL / f"{name}.fastq.gz", fa, js, PRESETS[preset], TrimSettings()
    )
    data = json.loads(js.read_text())
    with gzip.open(fa, "rt") as fh:
        counts = [int(line.rsplit("_x", 1)[1]) for line in fh if line.startswith(">")]
    assert len(counts) > 10
    assert data["top_inserts_total"] == sum(sorted(counts, reverse=True)[:10])
    assert data["top_inserts_total"] == sum(counts[:10])  # the FASTA's first records
    fraction = data["top_inserts_total"] / data["molecules"]
    assert fraction == collapsed_complexity(fa)["top10_fraction"]
