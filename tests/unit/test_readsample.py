"""The vectorised probe searches of ReadSample give the per-read loop's answers.

The truth here is the plain Python definition (``str.find`` per read and
probe; the first offset whose window is in a set), written out in the test,
on random reads built to hit the edge cases: probes at several places in one
read, ties, reads shorter than the probe, N bases, windows at the read end.
"""

from collections import Counter

import numpy as np
import pytest

from exomir.reads.kit import CANDIDATES, _anchor_offsets, detect_kit
from exomir.reads.protocols import (
    KNOWN_ADAPTERS,
    credit_first_probe,
    detect_adapter,
    probe_fraction,
)
from exomir.reads.readsample import ReadSample


def _random_sample(seed: int, n: int = 3000) -> Counter[str]:
    rng = np.random.default_rng(seed)
    probes = [a.sequence[:12] for a in KNOWN_ADAPTERS] + ["A" * 12, "TGGAATTC"]
    sample: Counter[str] = Counter()
    for _ in range(n):
        parts = []
        for _ in range(rng.integers(1, 4)):
            if rng.random() < 0.5:
                parts.append(probes[rng.integers(len(probes))][: rng.integers(4, 13)])
            else:
                parts.append("".join(rng.choice(list("ACGTN"), rng.integers(0, 25))))
        seq = "".join(parts)[: rng.integers(0, 60)]
        sample[seq] += int(rng.integers(1, 4))
    return sample


def _credit_loop(sample, probes):
    """The per-read definition (the code before vectorising)."""
    credit: Counter[str] = Counter()
    present: Counter[str] = Counter()
    total = 0
    for seq, n in sample.items():
        total += n
        best_pos, best = len(seq) + 1, None
        for name, probe in probes:
            i = seq.find(probe)
            if i >= 0:
                present[name] += n
                if i < best_pos:
                    best_pos, best = i, name
        if best is not None:
            credit[best] += n
    return credit, present, total


def _offsets_loop(sample, anchors, k, max_offset):
    offsets: Counter[int] = Counter()
    for seq, n in sample.items():
        for o in range(min(max_offset, len(seq) - k) + 1):
            if seq[o : o + k] in anchors:
                offsets[o] += n
                break
    return offsets


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_positions_is_str_find(seed):
    sample = _random_sample(seed)
    reads = ReadSample(sample)
    for probe in [
        "A" * 12,
        "TGGAATTCTCGG",
        "AACTGTAGGCAC",
        "N",
        "ACGTACGTACGTACGTACGT",
    ]:
        want = [seq.find(probe) for seq in sample]
        assert reads.first_positions(probe).tolist() == want


@pytest.mark.parametrize("seed", [4, 5])
def test_credit_first_probe_matches_the_loop(seed):
    sample = _random_sample(seed)
    probes = [(a.label, a.sequence[:12]) for a in KNOWN_ADAPTERS]
    probes += [("short", "TGGAATTC"), ("polyA", "A" * 12), ("dup", "A" * 12)]
    got = credit_first_probe(sample, probes)
    want = _credit_loop(sample, probes)
    assert got == want
    assert sum(got[0].values()) > 0 and len(got[1]) >= 3  # the cases occurred


@pytest.mark.parametrize(("seed", "block"), [(6, 1 << 16), (7, 1 << 16), (7, 97)])
def test_anchor_offsets_match_the_loop(seed, block, monkeypatch):
    monkeypatch.setattr("exomir.reads.readsample._BLOCK", block)
    sample = _random_sample(seed)
    rng = np.random.default_rng(seed)
    # anchors: 12-mers taken from the reads at several offsets, plus others
    seqs = [s for s in sample if len(s) >= 20]
    anchors = frozenset(
        s[o : o + 12] for s in seqs[:300] for o in [int(rng.integers(0, 9))]
    ) | {"ACGTACGTACGT", "AAAA"}
    anchors = frozenset(a for a in anchors if "N" not in a)
    got = _anchor_offsets(ReadSample(sample), anchors, 12, 8)
    want = _offsets_loop(sample, anchors, 12, 8)
    assert got == want and len(want) > 3


def test_non_acgt_anchor_falls_back_to_the_loop():
    sample = Counter({"ACGTRACGTACGTAA": 2, "TTACGTRACGTACGTA": 1, "ACGT": 5})
    reads = ReadSample(sample)
    assert reads.first_window_in(frozenset({"ACGTRACGTACG"}), 12, 8) is None
    got = _anchor_offsets(reads, frozenset({"ACGTRACGTACG"}), 12, 8)
    assert got == Counter({0: 2, 2: 1})


def test_empty_and_tiny_samples():
    assert credit_first_probe(Counter(), [("a", "ACGT")]) == (Counter(), Counter(), 0)
    assert probe_fraction(Counter(), "ACGTACGT") == 0.0
    tiny = Counter({"AC": 1, "": 2})
    assert credit_first_probe(tiny, [("a", "ACGT")]) == _credit_loop(
        tiny, [("a", "ACGT")]
    )
    assert _anchor_offsets(ReadSample(tiny), frozenset({"ACGT"}), 4, 8) == Counter()


def test_detect_kit_evidence_matches_the_loops():
    """detect_kit's shares and miRNA offsets are the per-read definitions'."""
    from exomir.reads.kit import load_anchors

    sample = _random_sample(8, 5000)
    # reads that start with a known miRNA prefix at a few offsets
    anchors = sorted(load_anchors(length=12))[:50]
    for i, a in enumerate(anchors):
        sample["ACGT"[: i % 4] + a + "TGGAATTCTCGGGTGCCAAGG"] += 3
    det = detect_kit(ReadSample(sample))
    probes = [(c.name, c.adapter[:12]) for c in CANDIDATES]
    credit, present, total = _credit_loop(sample, probes)
    assert det.candidates == {c: credit[c] / total for c, _ in probes}
    assert det.anywhere == {c: present[c] / total for c, _ in probes}
    offsets = _offsets_loop(sample, load_anchors(length=12), 12, 8)
    assert det.anchored_reads == sum(offsets.values()) >= 150
    assert det.offsets == {
        str(o): offsets[o] / det.anchored_reads for o in sorted(offsets)
    }
    want = sum(n for s, n in sample.items() if "TGGAATTCTCGG" in s) / total
    assert probe_fraction(sample, "TGGAATTCTCGGGTGCCAAGG") == want
    plain = detect_adapter(dict(sample), configured="TGGAATTCTCGGGTGCCAAGG")
    assert plain.fractions == {
        a.label: _credit_loop(
            sample, [(b.label, b.sequence[:12]) for b in KNOWN_ADAPTERS]
        )[0][a.label]
        / total
        for a in KNOWN_ADAPTERS
    }


def test_only_empty_reads():
    reads = ReadSample(Counter({"": 3}))
    assert reads.first_window_in(frozenset({"ACGT"}), 4, 8).tolist() == [-1]
    assert reads.first_positions("ACGT").tolist() == [-1]
