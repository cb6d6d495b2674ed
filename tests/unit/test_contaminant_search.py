"""The compiled contaminant search against a brute-force scan of every window."""

from __future__ import annotations

import random

import numpy as np
import pytest

from exomir.reads.contaminant_search import NONE, ContaminantSearch

COMP = str.maketrans("ACGTN", "TGCAN")


def _brute(
    records: list[tuple[int, str]], read: str, budget: int
) -> tuple[int, int, bool]:
    """Best category, its mismatches and whether an ambiguous base is in reach.

    Every window of every record on both strands; ``N`` in the reference is
    treated as matching anything to find the windows that could align there
    (those make the read one for bowtie).
    """
    best, cat, touches_n = budget + 1, NONE, False
    for k, seq in records:
        for strand in (seq, seq.translate(COMP)[::-1]):
            for p in range(len(strand) - len(read) + 1):
                window = strand[p : p + len(read)]
                mm = sum(a != b and a != "N" for a, b in zip(window, read, strict=True))
                if mm > budget:
                    continue
                if "N" in window:
                    touches_n = True
                    continue
                if mm < best or (mm == best and k < cat):
                    best, cat = mm, k
    return (cat, best, touches_n) if best <= budget else (NONE, NONE, touches_n)


def _mutate(rng: random.Random, seq: str, n: int) -> str:
    s = list(seq)
    for p in rng.sample(range(len(s)), n):
        s[p] = rng.choice([c for c in "ACGT" if c != s[p]])
    return "".join(s)


@pytest.mark.parametrize("budget", [0, 1])
def test_search_matches_brute_force(budget: int) -> None:
    rng = random.Random(5 + budget)
    core = "".join(rng.choice("ACGT") for _ in range(120))
    records = [
        (0, "".join(rng.choice("ACGT") for _ in range(200))),
        # category 1 shares a stretch with category 2 (ties go to 1), and
        # category 2 holds a near copy (one substitution) of category 0
        (1, core[:60]),
        (2, core + "ACGTTGCA"),
        (2, "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),  # a low-complexity record
        (3, "ACGTACGTAC" + "N" + "GGATCCGGATTACAGATTACA"),  # an ambiguous base
    ]
    records.append((2, _mutate(rng, records[0][1][50:110], 1)))
    reads: list[str] = []
    for _ in range(400):
        _, seq = rng.choice(records)
        n = rng.randint(16, min(40, len(seq)))
        p = rng.randint(0, len(seq) - n)
        read = seq[p : p + n].replace("N", rng.choice("ACGT"))
        read = _mutate(rng, read, rng.choice([0, 0, 1, 1, 2]))
        if rng.random() < 0.5:
            read = read.translate(COMP)[::-1]
        reads.append(read)
    reads += [
        "".join(rng.choice("ACGT") for _ in range(rng.randint(16, 30)))
        for _ in range(100)
    ]
    reads += ["A" * 20, "A" * 16 + "C", "T" * 25]
    search = ContaminantSearch(records, budget)
    buffer = np.frombuffer(("\n".join(reads) + "\n").encode(), np.uint8)
    lengths = np.array([len(r) for r in reads])
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    rows = np.arange(len(reads))
    for threads in (1, 2):
        cat, mm, undecided = search.search(buffer, starts, lengths, rows, threads)
        n_hits = 0
        for i, read in enumerate(reads):
            want_cat, want_mm, touches_n = _brute(records, read, budget)
            if touches_n:
                assert undecided[i], read
            if undecided[i]:  # left to bowtie (a superset of touches_n)
                continue
            assert (cat[i], mm[i]) == (want_cat, want_mm), read
            n_hits += want_cat != NONE
        assert n_hits >= 100  # the unmutated fragments at least
        assert 1 <= undecided.sum() <= 0.2 * len(reads)  # reads of record 3


def test_search_splits_rows_between_threads() -> None:
    """Enough reads for two threads: the same answer as one thread."""
    rng = random.Random(2)
    ref = "".join(rng.choice("ACGT") for _ in range(3000))
    reads = [ref[p : p + 22] for p in rng.choices(range(2978), k=30_000)]
    reads = [_mutate(rng, r, rng.choice([0, 1, 2])) for r in reads]
    search = ContaminantSearch([(0, ref)], 1)
    buffer = np.frombuffer(("\n".join(reads) + "\n").encode(), np.uint8)
    lengths = np.full(len(reads), 22)
    starts = np.arange(len(reads)) * 23
    rows = np.arange(len(reads))
    one = search.search(buffer, starts, lengths, rows, 1)
    two = search.search(buffer, starts, lengths, rows, 2)
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a, b)
    assert (one[1] == 0).sum() > 0 and (one[1] == 1).sum() > 0
    for i in range(0, len(reads), 997):  # spot checks against brute force
        assert (one[0][i], one[1][i]) == _brute([(0, ref)], reads[i], 1)[:2]


def test_bad_budget() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        ContaminantSearch([(0, "ACGT" * 10)], 2)
