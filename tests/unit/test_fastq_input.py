"""Bad FASTQ input: every kind fails with file name + record number, no output."""

from __future__ import annotations

import gzip
import random
import zlib
from pathlib import Path

import pytest

from exomir.reads.fastq import FastqFormatError, check_quality_encoding, iter_fastq
from exomir.reads.preprocess import preprocess_library
from exomir.reads.protocols import PRESETS, TrimSettings

ADAPTER = PRESETS["truseq"].adapter_3p


def good_records(n: int, seed: int = 0, qual: str = "E") -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        insert = "".join(rng.choice("ACGT") for _ in range(22))
        seq = (insert + ADAPTER + "ACGTACGTACGT")[:51]
        out.append((f"r{i + 1}", seq, qual * len(seq)))
    return out


def fastq_text(records, eol: str = "\n") -> str:
    return "".join(f"@{n}{eol}{s}{eol}+{eol}{q}{eol}" for n, s, q in records)


def write_gz(path: Path, text: str | bytes) -> Path:
    data = text.encode() if isinstance(text, str) else text
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(data)
    return path


def run(path: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "out"
    collapsed, stats = out / "x.fa.gz", out / "x.json"
    preprocess_library(path, collapsed, stats, PRESETS["truseq"], TrimSettings())
    return collapsed, stats


def assert_fails(
    path: Path, tmp_path: Path, record: int, words: str
) -> FastqFormatError:
    with pytest.raises(FastqFormatError) as info:
        run(path, tmp_path)
    err = info.value
    msg = str(err)
    assert str(path) in msg
    assert f"record {record}:" in msg, msg
    assert err.record == record
    assert words.lower() in msg.lower(), msg
    # nothing written, not even temporary files
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())
    return err


def test_good_file_passes(tmp_path):
    path = write_gz(tmp_path / "ok.fastq.gz", fastq_text(good_records(20)))
    collapsed, stats = run(path, tmp_path)
    assert collapsed.exists() and stats.exists()


def test_missing_file(tmp_path):
    assert_fails(tmp_path / "nope.fastq.gz", tmp_path, 1, "does not exist")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.fastq.gz"
    path.write_bytes(b"")
    assert_fails(path, tmp_path, 1, "empty")


def test_empty_gzip(tmp_path):
    path = write_gz(tmp_path / "empty2.fastq.gz", "")
    assert_fails(path, tmp_path, 1, "no reads")


def test_not_gzip_despite_name(tmp_path):
    path = tmp_path / "plain.fastq.gz"
    path.write_text(fastq_text(good_records(5)))
    assert_fails(path, tmp_path, 1, "not gzip")


def test_truncated_gzip(tmp_path):
    path = write_gz(tmp_path / "full.fastq.gz", fastq_text(good_records(3000, seed=1)))
    data = path.read_bytes()
    cut = tmp_path / "cut.fastq.gz"
    cut.write_bytes(data[: len(data) // 2])
    # independent truth: how many complete records the readable prefix holds
    text = zlib.decompressobj(wbits=31).decompress(data[: len(data) // 2])
    complete = text.count(b"\n") // 4
    assert 0 < complete < 3000
    assert_fails(cut, tmp_path, complete + 1, "truncated")


def test_corrupt_gzip(tmp_path):
    path = write_gz(tmp_path / "ok.fastq.gz", fastq_text(good_records(3000, seed=2)))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "corrupt.fastq.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(FastqFormatError) as info:
        run(bad, tmp_path)
    assert str(bad) in str(info.value)
    assert 1 < info.value.record <= 3000
    assert not (tmp_path / "out").exists()


def test_sequence_quality_length_differ(tmp_path):
    recs = good_records(6)
    name, seq, qual = recs[3]
    recs[3] = (name, seq, qual[:-2])
    path = write_gz(tmp_path / "len.fastq.gz", fastq_text(recs))
    assert_fails(path, tmp_path, 4, "length")


def test_phred64(tmp_path):
    # Phred+64 (Illumina 1.5): '@'..'h'. Records 1-2 alone are ambiguous
    # ('B'..'J' is also valid Phred+33), record 3 has 'h' (Q40 in +64).
    recs = good_records(5)
    recs = [(n, s, "".join("BIJ"[i % 3] for i in range(len(s)))) for n, s, _ in recs]
    n, s, _ = recs[2]
    recs[2] = (n, s, "h" * (len(s) - 3) + "BBB")
    path = write_gz(tmp_path / "p64.fastq.gz", fastq_text(recs))
    assert_fails(path, tmp_path, 3, "Phred+64")


def test_high_quality_phred33_is_not_phred64(tmp_path):
    # NovaSeq-style binned qualities: only F (Q37) and : (Q25), all >= ';'
    recs = good_records(10, qual="F")
    recs[4] = (recs[4][0], recs[4][1], ":" * len(recs[4][1]))
    path = write_gz(tmp_path / "nova.fastq.gz", fastq_text(recs))
    collapsed, _ = run(path, tmp_path)
    assert collapsed.exists()
    assert check_quality_encoding("x", ["!!!JJJ", "KKK"]) == ("!", "K")


def test_crlf_line_ends(tmp_path):
    path = write_gz(tmp_path / "crlf.fastq.gz", fastq_text(good_records(5), eol="\r\n"))
    assert_fails(path, tmp_path, 1, "CRLF")


def test_crlf_from_record_3(tmp_path):
    recs = good_records(5)
    text = fastq_text(recs[:2]) + fastq_text(recs[2:], eol="\r\n")
    path = write_gz(tmp_path / "mixed.fastq.gz", text)
    assert_fails(path, tmp_path, 3, "CRLF")


def test_fasta_instead_of_fastq(tmp_path):
    text = "".join(f">{n}\n{s}\n" for n, s, _ in good_records(5))
    path = write_gz(tmp_path / "reads.fastq.gz", text)
    assert_fails(path, tmp_path, 1, "FASTA")


def test_not_fastq_at_all(tmp_path):
    path = write_gz(tmp_path / "table.fastq.gz", "id\tvalue\n1\t2\n")
    assert_fails(path, tmp_path, 1, "expected '@'")


def test_invalid_sequence_character(tmp_path):
    recs = good_records(8)
    n, s, q = recs[5]
    recs[5] = (n, s[:10] + "." + s[11:], q)
    path = write_gz(tmp_path / "dot.fastq.gz", fastq_text(recs))
    assert_fails(path, tmp_path, 6, "invalid character '.'")


def test_missing_plus_line(tmp_path):
    recs = good_records(4)
    text = fastq_text(recs[:2]) + f"@{recs[2][0]}\n{recs[2][1]}\n{recs[2][2]}\n"
    path = write_gz(tmp_path / "noplus.fastq.gz", text + fastq_text(recs[3:]))
    assert_fails(path, tmp_path, 3, "+")


def test_truncated_last_record_plain_text(tmp_path):
    recs = good_records(4)
    text = fastq_text(recs) + f"@r5\n{recs[0][1]}\n"
    path = tmp_path / "trunc.fastq"
    path.write_text(text)
    assert_fails(path, tmp_path, 5, "premature end")


def test_iter_fastq_reports_record(tmp_path):
    recs = good_records(5)
    recs[4] = (recs[4][0], "ACGTX" + recs[4][1][5:], recs[4][2])
    path = write_gz(tmp_path / "x.fastq.gz", fastq_text(recs))
    with pytest.raises(FastqFormatError, match="record 5"):
        list(iter_fastq(path))
    ok = write_gz(tmp_path / "ok.fastq.gz", fastq_text(good_records(3)))
    assert [r.name for r in iter_fastq(ok, threads=2)] == ["r1", "r2", "r3"]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("quality_cutoff", [0, 20])
def test_scan_batches_cover_every_read_once(tmp_path, threads, quality_cutoff):
    from collections import Counter

    from exomir.reads.fastq import scan_fastq

    rng = random.Random(9)
    recs = []
    for i in range(500):
        seq = "".join(rng.choice("ACG") for _ in range(rng.randint(20, 30)))
        qual = "".join(rng.choice("#5EI") for _ in seq)
        recs.append((f"r{i}", seq, qual))
    path = write_gz(tmp_path / "many.fastq.gz", fastq_text(recs))
    # independent truth: BWA-style 3' trimming written out by hand
    truth: Counter = Counter()
    for _, seq, qual in recs:
        stop = len(seq)
        if quality_cutoff:
            run_sum, best = 0, 0
            for i in range(len(qual) - 1, -1, -1):
                run_sum += quality_cutoff - (ord(qual[i]) - 33)
                if run_sum < 0:
                    break
                if run_sum > best:
                    best, stop = run_sum, i
        truth[seq[:stop]] += 1
    batches: list[dict] = []
    scan = scan_fastq(
        path,
        lambda b: batches.append(dict(b)),
        quality_cutoff=quality_cutoff,
        threads=threads,
        sample_reads=7,
        quality_check_reads=5,
        max_unique=40,
        chunk_reads=50,
    )
    assert scan.reads == 500 and scan.sample_reads == 7
    assert len(batches) > 3
    merged: Counter = Counter()
    for b in batches:
        merged.update(b)
    assert merged == truth
    assert scan.unique_keys == sum(map(len, batches))


def test_scan_cut_at_adapter_probe(tmp_path):
    from exomir.reads.fastq import scan_fastq

    recs = [
        ("a", "ACGTACGTTGGAATTCTCGGAAAA", "E" * 24),
        ("b", "ACGTACGTTGGAATTCTCGGCCCC", "E" * 24),
        ("c", "ACGTACGTTGGAATT", "E" * 15),
    ]
    path = write_gz(tmp_path / "cut.fastq.gz", fastq_text(recs))
    batches: list[dict] = []
    scan_fastq(path, lambda b: batches.append(dict(b)), cut_at="TGGAATTCTCGG")
    assert batches == [{("ACGTACGT", "TGGAATTCTCGG"): 2, ("ACGTACGTTGGAATT", ""): 1}]


def _bad_cases() -> dict[str, tuple[str, int, str]]:
    """Damaged files whose damage lies after the dnaio-parsed head."""
    recs = good_records(40, seed=4)
    cases = {}
    r = list(recs)
    r[29] = (r[29][0], r[29][1], r[29][2][:-2])
    cases["length"] = (fastq_text(r), 30, "length")
    r = list(recs)
    n, s, q = r[24]
    cases["plus"] = (
        fastq_text(r[:24]) + f"@{n}\n{s}\n{q}\n" + fastq_text(r[25:]),
        25,
        "'+'",
    )
    r = list(recs)
    r[33] = (r[33][0], r[33][1][:7] + "." + r[33][1][8:], r[33][2])
    cases["alphabet"] = (fastq_text(r), 34, "invalid character '.'")
    cases["crlf"] = (fastq_text(recs[:35]) + fastq_text(recs[35:], "\r\n"), 36, "CRLF")
    cases["truncated"] = (
        fastq_text(recs) + f"@r41\n{recs[0][1]}\n",
        41,
        "premature end",
    )
    cases["header"] = (
        fastq_text(recs[:31]) + "r32\n" + fastq_text(recs[31:])[5:],
        32,
        "'@'",
    )
    return cases


@pytest.mark.parametrize("case", sorted(_bad_cases()))
@pytest.mark.parametrize("block", [64, 1 << 20])
def test_compiled_scan_reports_record(case, block, tmp_path, monkeypatch):
    """Damage beyond the dnaio-parsed first reads: the compiled scan finds it."""
    import exomir.reads.fastscan as fs

    monkeypatch.setattr(fs, "SAMPLE_READS", 2)
    monkeypatch.setattr(fs, "QUALITY_CHECK_READS", 2)
    monkeypatch.setattr(fs, "BLOCK_BYTES", block)
    text, record, words = _bad_cases()[case]
    path = write_gz(tmp_path / f"{case}.fastq.gz", text)
    assert_fails(path, tmp_path, record, words)


@pytest.mark.parametrize("kind", ["length", "plus", "alphabet", "long_quality"])
def test_compiled_scan_two_threads_report_record(kind, tmp_path, monkeypatch):
    """Damage at every record, on either side of the cut that shares a block
    between the two scanning threads: the same record as one thread."""
    import exomir.reads.fastscan as fs

    monkeypatch.setattr(fs, "SAMPLE_READS", 2)
    monkeypatch.setattr(fs, "QUALITY_CHECK_READS", 2)
    monkeypatch.setattr(fs, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(fs, "MIN_CUT_BYTES", 64)
    monkeypatch.setattr(fs, "CARRY_BYTES", 50)
    recs = good_records(40, seed=5)
    words = {
        "length": "length",
        "plus": "'+'",
        "alphabet": "invalid character",
        "long_quality": "length",
    }[kind]
    for bad in range(3, 41):
        r = list(recs)
        n, s, q = r[bad - 1]
        if kind == "length":
            r[bad - 1] = (n, s, q[:-3])
        elif kind == "long_quality":
            r[bad - 1] = (n, s, q + "III")
        elif kind == "alphabet":
            r[bad - 1] = (n, s[:5] + "." + s[6:], q)
        if kind == "plus":
            text = fastq_text(r[: bad - 1]) + f"@{n}\n{s}\n{q}\n" + fastq_text(r[bad:])
        else:
            text = fastq_text(r)
        path = write_gz(tmp_path / f"{kind}{bad}.fastq.gz", text)
        for threads in (1, 2):
            with pytest.raises(FastqFormatError) as info:
                preprocess_library(
                    path,
                    tmp_path / "out" / "x.fa.gz",
                    tmp_path / "out" / "x.json",
                    PRESETS["truseq"],
                    TrimSettings(),
                    threads=threads,
                )
            assert info.value.record == bad, (kind, bad, threads, str(info.value))
            assert words.lower() in str(info.value).lower()
            assert not (tmp_path / "out").exists()


def test_compiled_scan_truncated_gzip(tmp_path, monkeypatch):
    import exomir.reads.fastscan as fs

    monkeypatch.setattr(fs, "SAMPLE_READS", 2)
    monkeypatch.setattr(fs, "QUALITY_CHECK_READS", 2)
    path = write_gz(tmp_path / "full.fastq.gz", fastq_text(good_records(3000, seed=1)))
    data = path.read_bytes()
    cut = tmp_path / "cut.fastq.gz"
    cut.write_bytes(data[: len(data) // 2])
    text = zlib.decompressobj(wbits=31).decompress(data[: len(data) // 2])
    complete = text.count(b"\n") // 4
    assert_fails(cut, tmp_path, complete + 1, "truncated")
