"""Tests of the read-level trial simulator (exomir.simulate.library/expression).

Every check recomputes its expectation independently: FASTQ files are parsed
back with dnaio and inserts are cut at the adapter by the test itself.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import math
import re
from collections import Counter
from pathlib import Path

import dnaio
import numpy as np
import pandas as pd
import pytest

from exomir.simulate import expression as expr
from exomir.simulate import readmodel
from exomir.simulate.library import simulate_library
from exomir.simulate.readmodel import (
    QIASEQ_3P,
    QIASEQ_TAIL,
    TRUSEQ_3P,
    TRUSEQ_TAIL,
    ReadParams,
)
from exomir.simulate.references import load_fasta, locate_mature_in_hairpins

RES = Path(__file__).resolve().parents[2] / "resources"
NO_ERRORS = {"error_rate_scale": 0.0, "low_q_tail_prob": 0.0}


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refs():
    mature = load_fasta(RES / "mirbase/v22/hsa/mature.fa")
    hairpins = load_fasta(RES / "mirbase/v22/hsa/hairpin.fa")
    loci = locate_mature_in_hairpins(mature, hairpins)
    cont = {
        k: load_fasta(RES / f"contaminants/{k}_hsa.fa")
        for k in ("trna", "rrna", "snorna_snrna")
    }
    return {"mature": mature, "hairpins": hairpins, "loci": loci, "cont": cont}


def _design(n_part=6, batches=2):
    parts = pd.DataFrame(
        {
            "participant_id": [f"P{i:02d}" for i in range(n_part)],
            "arm": ["placebo", "exosome"] * (n_part // 2),
        }
    )
    rows = []
    for i in range(n_part):
        for suffix, tp in (("BL", "baseline"), ("W1", "week1")):
            rows.append(
                {
                    "sample_id": f"P{i:02d}_{suffix}",
                    "participant_id": f"P{i:02d}",
                    "timepoint": tp,
                    "library_batch": f"LB{i % batches + 1}",
                }
            )
    samples = pd.DataFrame(rows)
    info = samples[["sample_id"]].assign(
        depth=8_000_000, protocol="truseq", hemolysis_factor=1.0
    )
    return samples, parts, info


@pytest.fixture(scope="module")
def truth(refs):
    samples, parts, info = _design()
    return expr.simulate_expression(
        samples, parts, info, refs["mature"], ReadParams(), np.random.default_rng(11)
    )


def _simulate(refs, path, probs, protocol="truseq", n=30_000, seed=1, **kw):
    params = ReadParams(**kw)
    adapter = QIASEQ_3P if protocol == "qiaseq" else TRUSEQ_3P
    return simulate_library(
        path.stem.split(".")[0],
        path,
        n,
        probs,
        protocol,
        params,
        np.random.default_rng(seed),
        refs["hairpins"],
        refs["loci"],
        refs["cont"],
        adapter,
    )


def _reads(path):
    with dnaio.open(path) as fh:
        return [(r.name, r.sequence, r.qualities) for r in fh]


def _insert(seq, protocol):
    """Insert = everything before the first exact 3' adapter occurrence."""
    adapter = QIASEQ_3P if protocol == "qiaseq" else TRUSEQ_3P
    k = seq.find(adapter)
    if k < 0:
        return None
    ins = seq[:k]
    if protocol == "nextflex":
        return ins[4:-4] if len(ins) >= 8 else None
    return ins


def _canonical_by_seq(mature):
    out: dict[str, list[str]] = {}
    for name, seq in mature.items():
        out.setdefault(seq, []).append(name)
    return out


@pytest.fixture(scope="module")
def in_contaminants(refs):
    """Canonical mature sequences that also occur inside a contaminant RNA."""
    parts = []
    for key, seqs in refs["cont"].items():
        for s in seqs.values():
            s = re.sub(r"[._\-~]", "", s)
            parts.append(s + ("CCA" if key == "trna" else ""))
    text = "|".join(parts)
    starts: dict[str, list[int]] = {}
    for i in range(len(text) - 15):
        starts.setdefault(text[i : i + 16], []).append(i)
    return {
        m
        for m in set(refs["mature"].values())
        if any(text.startswith(m, i) for i in starts.get(m[:16], ()))
    }


# --------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------


def test_load_fasta_converts_rna(tmp_path):
    p = tmp_path / "x.fa"
    p.write_text(">a desc here\nacgu\nUUG\n>b\nGGA\n")
    assert load_fasta(p) == {"a": "ACGTTTG", "b": "GGA"}


def test_locate_mature_exact_positions(refs):
    mature, hairpins, loci = refs["mature"], refs["hairpins"], refs["loci"]
    assert len(loci) == len(mature)
    for name, (hp, start) in loci.items():
        seq = mature[name]
        assert hairpins[hp][start : start + len(seq)] == seq
    assert loci["hsa-miR-16-5p"][0].startswith("hsa-mir-16-")
    assert tuple(loci["hsa-miR-126-3p"]) == (
        "hsa-mir-126",
        hairpins["hsa-mir-126"].find(mature["hsa-miR-126-3p"]),
    )


def test_c19mc_names_match_chr19_cluster(refs):
    # independent: matures whose primary transcript lies between the first
    # (miR-512-1) and last (miR-519a-2) C19MC hairpins on chr19
    prim, mats = {}, []
    for line in (RES / "mirbase/v22/hsa/mirna.gff3").read_text().splitlines():
        f = line.split("\t")
        if line.startswith("#") or len(f) < 9:
            continue
        attrs = dict(kv.split("=") for kv in f[8].split(";"))
        if f[2] == "miRNA_primary_transcript":
            prim[attrs["ID"]] = (f[0], int(f[3]), int(f[4]), attrs["Name"])
        else:
            mats.append((attrs["Name"], attrs["Derives_from"]))
    by_name = {v[3]: v for v in prim.values()}
    lo = by_name["hsa-mir-512-1"][1]
    hi = by_name["hsa-mir-519a-2"][2]
    genomic = {
        name
        for name, parent in mats
        if prim[parent][0] == "chr19" and lo <= prim[parent][1] <= hi
    }
    by_regex = {n for n in refs["mature"] if readmodel.is_c19mc(n)}
    assert genomic == by_regex
    assert len(by_regex) == 67


# --------------------------------------------------------------------------
# FASTQ output
# --------------------------------------------------------------------------


def test_same_seed_same_bytes(refs, truth, tmp_path):
    probs = truth.probs.iloc[:, 0]
    for proto in ("truseq", "qiaseq"):
        a = tmp_path / f"A_{proto}.fastq.gz"
        b = tmp_path / f"B_{proto}.fastq.gz"
        c = tmp_path / f"C_{proto}.fastq.gz"
        _simulate(refs, a, probs, proto, n=5000, seed=3)
        _simulate(refs, b, probs, proto, n=5000, seed=3)
        _simulate(refs, c, probs, proto, n=5000, seed=4)
        # same sample name for the comparison
        assert gzip.decompress(a.read_bytes()).replace(b"@A_", b"@X_") == (
            gzip.decompress(b.read_bytes()).replace(b"@B_", b"@X_")
        )
        assert gzip.decompress(a.read_bytes()).replace(b"@A_", b"@X_") != (
            gzip.decompress(c.read_bytes()).replace(b"@C_", b"@X_")
        )
    # identical name and seed: identical compressed bytes; no name, mtime 0
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    _simulate(refs, d1 / "S.fastq.gz", probs, n=3000, seed=9)
    _simulate(refs, d2 / "S.fastq.gz", probs, n=3000, seed=9)
    raw = (d1 / "S.fastq.gz").read_bytes()
    assert raw == (d2 / "S.fastq.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw[4:8] == b"\0\0\0\0"
    assert raw[3] & 0x08 == 0  # no FNAME field
    assert not list(d1.glob(".tmp-*"))


@pytest.mark.parametrize("protocol", ["truseq", "qiaseq", "nextflex"])
def test_layout_and_headers(refs, truth, tmp_path, protocol):
    path = tmp_path / f"S1.{protocol}.fastq.gz"
    tr = _simulate(refs, path, truth.probs.iloc[:, 1], protocol, n=6000, **NO_ERRORS)
    reads = _reads(path)
    assert [r[0] for r in reads] == [f"S1:{i}" for i in range(1, 6001)]
    assert {len(r[1]) for r in reads} == {75}
    assert {len(r[2]) for r in reads} == {75}
    adapter = QIASEQ_3P if protocol == "qiaseq" else TRUSEQ_3P
    dimers = 0
    for _, seq, _ in reads:
        k = seq.find(adapter)
        assert k >= 0
        if protocol == "qiaseq":
            after = seq[k + len(adapter) + 12 :]
            assert QIASEQ_TAIL.startswith(after) or after.startswith(QIASEQ_TAIL)
        else:
            after = seq[k:]
            full = adapter + TRUSEQ_TAIL
            assert full.startswith(after) or after.startswith(full)
        flank = 8 if protocol == "nextflex" else 0
        dimers += k == flank
    assert dimers == tr.funnel["adapter_dimer"]


def test_exact_inserts_match_recount_without_errors(
    refs, truth, tmp_path, in_contaminants
):
    by_seq = _canonical_by_seq(refs["mature"])
    for protocol, col in (("truseq", 0), ("qiaseq", 3), ("nextflex", 5)):
        path = tmp_path / f"S.{protocol}.fastq.gz"
        tr = _simulate(
            refs, path, truth.probs.iloc[:, col], protocol, n=25_000, **NO_ERRORS
        )
        recount = Counter()
        for _, seq, _ in _reads(path):
            ins = _insert(seq, protocol)
            if ins in by_seq:
                recount[ins] += 1
        # canonical sequences that can also arise from another origin
        iso = tr.isomirs
        ambiguous = set(in_contaminants)
        for s, names in zip(iso["sequence"], iso["mirna"], strict=True):
            if s in by_seq and refs["mature"][names] != s:
                ambiguous.add(s)
        assert len(ambiguous) < 40
        expected = Counter()
        for name, n in tr.exact_inserts.items():
            if n:
                expected[refs["mature"][name]] += int(n)
        keys = (set(expected) | set(recount)) - ambiguous
        assert sum(expected[k] for k in keys) > 3000
        assert {k: expected[k] for k in keys} == {k: recount[k] for k in keys}
        # without errors every canonical isomiR read is an exact insert
        can = iso[iso["canonical"]].groupby("mirna")["reads"].sum()
        assert (
            can.reindex(tr.exact_inserts.index, fill_value=0) == tr.exact_inserts
        ).all()


def _adapter_positions(seqs, adapter, max_mm):
    """First position of the adapter with <= max_mm mismatches (-1 if none)."""
    arr = np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), -1)
    ad = np.frombuffer(adapter.encode(), dtype=np.uint8)
    n, length = arr.shape
    pos = np.full(n, -1)
    for k in range(length - len(ad), -1, -1):
        ok = (arr[:, k : k + len(ad)] != ad).sum(axis=1) <= max_mm
        pos[ok] = k
    return pos


def test_exact_inserts_with_sequencing_errors(refs, truth, tmp_path, in_contaminants):
    by_seq = _canonical_by_seq(refs["mature"])
    path = tmp_path / "E.fastq.gz"
    # no low-quality tails here, so that the test can locate the adapter
    tr = _simulate(
        refs,
        path,
        truth.probs.iloc[:, 0],
        n=40_000,
        error_rate_scale=3.0,
        low_q_tail_prob=0.0,
    )
    seqs = [r[1] for r in _reads(path)]
    pos = _adapter_positions(seqs, TRUSEQ_3P, 3)
    recount = Counter()
    for s, k in zip(seqs, pos, strict=True):
        if k >= 0 and s[:k] in by_seq:
            recount[s[:k]] += 1
    expected = Counter()
    for name, n in tr.exact_inserts.items():
        if n:
            expected[refs["mature"][name]] += int(n)
    ambiguous = set(in_contaminants)
    keys = (set(expected) | set(recount)) - ambiguous
    total = sum(expected[k] for k in keys)
    diff = sum(abs(expected[k] - recount[k]) for k in keys)
    assert total > 5000
    assert diff <= 0.003 * total + 3
    # errors removed some canonical reads from the exact set
    can_reads = tr.isomirs.loc[tr.isomirs["canonical"], "reads"].sum()
    assert tr.exact_inserts.sum() < can_reads


def test_error_rate_follows_qualities(refs, truth, tmp_path):
    path = tmp_path / "Q.fastq.gz"
    _simulate(
        refs, path, truth.probs.iloc[:, 0], n=40_000, seed=5, error_rate_scale=2.0
    )
    reads = _reads(path)
    seqs = np.array([list(r[1].encode()) for r in reads], dtype=np.uint8)
    quals = np.array([list(r[2].encode()) for r in reads], dtype=np.int64) - 33
    # Q <= 2 exactly where the base is N
    assert np.array_equal(quals <= 2, seqs == ord("N"))
    known = np.frombuffer((TRUSEQ_3P + TRUSEQ_TAIL).encode(), dtype=np.uint8)
    seed = TRUSEQ_3P[:10]
    starts = np.array([r[1].find(seed) for r in reads])
    observed = expected = 0.0
    n_bases = 0
    length = seqs.shape[1]
    for k in np.unique(starts[starts >= 0]):
        rows = starts == k
        lo, hi = k + 10, min(k + len(known), length)
        sq, qq = seqs[rows, lo:hi], quals[rows, lo:hi]
        called = qq > 2
        n_bases += int(called.sum())
        p = np.minimum(0.75, 2.0 * 10 ** (-qq / 10))
        expected += float(p[called].sum())
        observed += float(((sq != known[lo - k : hi - k]) & called).sum())
    assert n_bases > 300_000
    assert abs(observed - expected) < 4 * math.sqrt(expected) + 5


# --------------------------------------------------------------------------
# composition of reads
# --------------------------------------------------------------------------


def _expected_shares(p: ReadParams) -> dict[str, float]:
    ds, un = p.dimer_short_share, p.unmappable_share
    annotated = 1 - ds - un
    mirna = p.mirna_share_of_annotated
    trna = mirna / p.mirna_to_trna_ratio
    other = 1 - mirna - trna
    return {
        "adapter_dimer": ds * p.adapter_dimer_fraction,
        "too_short": ds * (1 - p.adapter_dimer_fraction),
        "unmappable": un,
        "mirna": annotated * mirna,
        "trna": annotated * trna,
        "rrna": annotated * other * p.rrna_share_of_other,
        "snorna_snrna": annotated * other * (1 - p.rrna_share_of_other),
    }


def _kmer_sets(refs, k=16):
    sets = {}
    for key, seqs in refs["cont"].items():
        kmers = set()
        for s in seqs.values():
            s = re.sub(r"[._\-~]", "", s) + ("CCA" if key == "trna" else "")
            kmers.update(s[i : i + k] for i in range(len(s) - k + 1))
        sets[key] = kmers
    return sets


def test_funnel_matches_configured_shares_and_reads(refs, truth, tmp_path):
    n = 40_000
    path = tmp_path / "F.fastq.gz"
    tr = _simulate(
        refs, path, truth.probs.iloc[:, 2], n=n, share_noise_sd=0.0, **NO_ERRORS
    )
    assert tr.funnel["raw_reads"] == n
    assert tr.funnel["umi_duplicates"] == 0
    parts = {
        k: v for k, v in tr.funnel.items() if k not in ("raw_reads", "umi_duplicates")
    }
    assert sum(parts.values()) == n
    for key, share in _expected_shares(ReadParams()).items():
        sd = math.sqrt(n * share * (1 - share))
        assert abs(parts[key] - n * share) <= 4 * sd + 1, key
    # recount origins from the reads
    kmers = _kmer_sets(refs)
    iso_seqs = set(tr.isomirs["sequence"])
    got = Counter()
    for _, seq, _ in _reads(path):
        ins = _insert(seq, "truseq")
        if len(ins) == 0:
            got["adapter_dimer"] += 1
        elif len(ins) < 16:
            got["too_short"] += 1
        elif ins in iso_seqs:
            got["mirna"] += 1
        else:
            head = ins[:16]
            for key in ("trna", "rrna", "snorna_snrna"):
                if head in kmers[key]:
                    got[key] += 1
                    break
            else:
                got["unmappable"] += 1
    assert got["adapter_dimer"] == parts["adapter_dimer"]
    assert got["too_short"] == parts["too_short"]
    for key in ("mirna", "trna", "rrna", "snorna_snrna", "unmappable"):
        assert abs(got[key] - parts[key]) <= 0.01 * n, key


def test_library_shares_vary_within_spec(refs, truth, tmp_path):
    shares = []
    for seed in range(12):
        tr = _simulate(
            refs, tmp_path / "v.fastq.gz", truth.probs.iloc[:, 0], n=500, seed=seed
        )
        shares.append(tr.shares)
    df = pd.DataFrame(shares)
    assert np.allclose(df.sum(axis=1), 1.0)
    ds = df["adapter_dimer"] + df["too_short"]
    annotated = df[["mirna", "trna", "rrna", "snorna_snrna"]].sum(axis=1)
    assert ds.between(0.05, 0.40).all()
    assert df["unmappable"].between(0.10, 0.30).all()
    assert (df["mirna"] / annotated).between(0.50, 0.80).all()
    assert (df["mirna"] / df["trna"]).between(30, 170).all()
    assert ds.std() > 0.005


def test_top10_mirnas_carry_90_percent(refs, truth, tmp_path):
    by_seq = _canonical_by_seq(refs["mature"])
    path = tmp_path / "T.fastq.gz"
    tr = _simulate(refs, path, truth.probs["P01_BL"], n=60_000, **NO_ERRORS)
    counts = Counter()
    for _, seq, _ in _reads(path):
        ins = _insert(seq, "truseq")
        if ins in by_seq:
            counts[ins] += 1
    total = sum(counts.values())
    top10 = sum(c for _, c in counts.most_common(10))
    assert 0.85 <= top10 / total <= 0.95
    assert by_seq[counts.most_common(1)[0][0]] == ["hsa-miR-486-5p"]
    r = tr.mirna_reads
    assert 0.85 <= r.nlargest(10).sum() / r.sum() <= 0.95
    # baseline composition: > 500 miRNAs expressed
    info = truth.mirna_info
    assert info["expressed"].sum() >= 500
    assert info["baseline_share"].nlargest(10).sum() == pytest.approx(0.90, abs=0.01)
    # expected >= 1 molecule for > 500 miRNAs at realistic depth (8 M reads)
    assert ((truth.mu >= 1).sum() > 500).all()


def test_isomirs_are_templated_or_nta(refs, truth, tmp_path):
    path = tmp_path / "I.fastq.gz"
    tr = _simulate(refs, path, truth.probs.iloc[:, 0], n=60_000, **NO_ERRORS)
    hairpins, loci, mature = refs["hairpins"], refs["loci"], refs["mature"]
    for name, seq in zip(tr.isomirs["mirna"], tr.isomirs["sequence"], strict=True):
        hp = hairpins[loci[name][0]]
        ok = seq in hp or any(
            seq[:-k] in hp and set(seq[-k:]) <= {"A", "T"} for k in (1, 2)
        )
        assert ok, (name, seq)
    # rates from the reads of the most abundant miRNA
    name = "hsa-miR-486-5p"
    hp_name, start = loci[name]
    hp, canon = hairpins[hp_name], mature[name]
    shift5, nta, shift3 = Counter(), Counter(), Counter()
    n = 0
    for _, seq, _ in _reads(path):
        ins = _insert(seq, "truseq")
        if not ins or len(ins) < 16:
            continue
        p = hp.find(ins[:12])
        if p < 0 or abs(p - start) > 1:
            continue
        n += 1
        shift5[p - start] += 1
        m = 0
        while m < len(ins) and p + m < len(hp) and ins[m] == hp[p + m]:
            m += 1
        nta[len(ins) - m] += 1
        shift3[p + m - (start + len(canon))] += 1
    assert n > 5000
    assert shift5[-1] / n == pytest.approx(0.025, abs=0.01)
    assert shift5[1] / n == pytest.approx(0.025, abs=0.01)
    nta_frac = (nta[1] + nta[2]) / n
    assert 0.05 < nta_frac < 0.13
    assert shift3[0] / n == pytest.approx(0.55, abs=0.08)
    assert (shift3[1] + shift3[2]) / n == pytest.approx(0.20, abs=0.08)
    # truth totals agree with the isomiR table
    per_mirna = tr.isomirs.groupby("mirna")["reads"].sum()
    assert (
        per_mirna.reindex(tr.mirna_reads.index, fill_value=0) == tr.mirna_reads
    ).all()


def test_umi_duplicates(refs, truth, tmp_path):
    path = tmp_path / "U.fastq.gz"
    n = 30_000
    tr = _simulate(refs, path, truth.probs.iloc[:, 0], "qiaseq", n=n, **NO_ERRORS)
    mols = Counter()
    order = []
    for _, seq, _ in _reads(path):
        k = seq.find(QIASEQ_3P)
        umi = seq[k + len(QIASEQ_3P) : k + len(QIASEQ_3P) + 12]
        assert len(umi) == 12
        mols[(seq[:k], umi)] += 1
        order.append((seq[:k], umi))
    assert abs(len(mols) - tr.n_molecules) <= 3  # rare UMI collisions
    assert abs((n - len(mols)) - tr.funnel["umi_duplicates"]) <= 3
    assert tr.funnel["umi_duplicates"] == n - tr.n_molecules
    assert n / tr.n_molecules == pytest.approx(2.5, rel=0.05)
    # duplicates are spread over the file, not adjacent
    adjacent = sum(a == b for a, b in itertools.pairwise(order))
    assert adjacent < 0.01 * n
    # per-isomiR molecules of the top miRNA = distinct UMIs of that insert
    iso = tr.isomirs[tr.isomirs["mirna"] == "hsa-miR-486-5p"]
    for s, reads_, mol in zip(
        iso["sequence"], iso["reads"], iso["molecules"], strict=True
    ):
        umis = [u for (ins, u) in mols if ins == s]
        assert abs(len(umis) - mol) <= 2
        assert sum(mols[(s, u)] for u in umis) == reads_
    assert tr.mirna_molecules.sum() < tr.mirna_reads.sum()
    assert tr.mirna_reads.sum() == tr.funnel["mirna"]


# --------------------------------------------------------------------------
# expression truth
# --------------------------------------------------------------------------


def test_effects_truth(truth):
    eff = truth.effects.pivot(index="mirna", columns="contrast", values="log2_effect")
    assert set(eff.columns) == set(expr.CONTRASTS)
    assert eff.loc["hsa-miR-126-3p", "interaction"] == pytest.approx(0.58)
    assert eff.loc["hsa-miR-126-3p", "time_placebo"] == pytest.approx(0.15)
    assert np.allclose(eff["time_exosome"], eff["time_placebo"] + eff["interaction"])
    assert np.allclose(eff["arm_week1"], eff["interaction"])
    info = truth.mirna_info
    c19 = info.index[info["c19mc"] & info["expressed"]]
    assert len(c19) > 50
    assert eff.loc[c19, "time_placebo"].between(-4, -2).all()
    assert (eff.loc[c19, "interaction"] == 0).all()
    others = eff.drop(index=["hsa-miR-126-3p"])
    hit = others.index[others["interaction"] != 0]
    cand = info["expressed"] & ~info["c19mc"] & (info["baseline_share"] < 0.01)
    cand = cand.drop(index="hsa-miR-126-3p")
    assert len(hit) == round(0.04 * cand.sum())
    assert cand[hit].all()
    assert others.loc[hit, "interaction"].abs().between(0.4, 1.0).all()
    assert (others.loc[hit, "interaction"] > 0).any()
    assert (others.loc[hit, "interaction"] < 0).any()


def test_mu_carries_effects_and_hemolysis(refs):
    samples, parts, info = _design()
    info.loc[info["sample_id"] == "P02_BL", "hemolysis_factor"] = 6.0
    tr = expr.simulate_expression(
        samples, parts, info, refs["mature"], ReadParams(), np.random.default_rng(2)
    )
    eff = tr.effects.pivot(index="mirna", columns="contrast", values="log2_effect")
    expressed = tr.mirna_info["expressed"]
    mu = tr.mu[expressed]
    arms = parts.set_index("participant_id")["arm"]
    for pid in ("P01", "P04"):
        arm = arms[pid]
        # same participant and batch: ratio = time effect + a common constant
        lr = np.log2(mu[f"{pid}_W1"] / mu[f"{pid}_BL"])
        col = "time_exosome" if arm == "exosome" else "time_placebo"
        resid = lr - eff.loc[mu.index, col]
        assert np.ptp(resid) < 1e-9
    # haemolysis multiplies RBC miRNAs by h relative to all others
    lr = np.log(mu["P02_BL"] / mu["P00_BL"])  # same batch (LB1), baseline
    part = tr.participant_effects
    lr = lr - (part["P02"] - part["P00"])[mu.index]
    rbc = tr.mirna_info.loc[mu.index, "rbc"]
    assert np.ptp(lr[~rbc]) < 1e-9
    assert np.allclose(lr[rbc] - lr[~rbc].iloc[0], np.log(6.0))
    assert set(readmodel.RBC_MIRNAS) <= set(mu.index)


def test_hemolysed_library_has_high_451a_23a_ratio(refs, tmp_path):
    samples, parts, info = _design()
    info.loc[info["sample_id"] == "P02_BL", "hemolysis_factor"] = 8.0
    quiet = ReadParams(
        participant_sd=0.0, batch_sd_log2=0.0, dispersion_a0=0.001, dispersion_a1=0.0
    )
    tr = expr.simulate_expression(
        samples, parts, info, refs["mature"], quiet, np.random.default_rng(9)
    )
    m451 = refs["mature"]["hsa-miR-451a"][:18]
    m23 = refs["mature"]["hsa-miR-23a-3p"][:18]
    ratios = {}
    for sid in ("P02_BL", "P00_BL"):
        path = tmp_path / f"{sid}.fastq.gz"
        _simulate(
            refs,
            path,
            tr.probs[sid],
            n=150_000,
            dimer_short_share=0.05,
            unmappable_share=0.10,
            mirna_share_of_annotated=0.8,
            **NO_ERRORS,
        )
        c = Counter()
        for _, seq, _ in _reads(path):
            c["451a"] += seq.startswith(m451)
            c["23a"] += seq.startswith(m23)
        assert c["23a"] > 20
        ratios[sid] = c["451a"] / c["23a"]
    assert 5.0 < ratios["P02_BL"] / ratios["P00_BL"] < 12.0


def test_null_scenario_shares_other_draws(refs):
    samples, parts, info = _design()
    p = ReadParams()
    null = dataclasses.replace(
        p, mir126_interaction_log2=0.0, frac_mirnas_with_interaction=0.0
    )
    a = expr.simulate_expression(
        samples, parts, info, refs["mature"], p, np.random.default_rng(4)
    )
    b = expr.simulate_expression(
        samples, parts, info, refs["mature"], null, np.random.default_rng(4)
    )
    eb = b.effects.pivot(index="mirna", columns="contrast", values="log2_effect")
    assert (eb["interaction"] == 0).all()
    assert eb.loc["hsa-miR-126-3p", "time_exosome"] == pytest.approx(0.15)
    pd.testing.assert_frame_equal(a.participant_effects, b.participant_effects)
    bl = [c for c in a.probs.columns if c.endswith("_BL")]
    pd.testing.assert_frame_equal(a.probs[bl], b.probs[bl])


def test_nb_dispersion_trend(refs):
    n_lib = 400
    parts = pd.DataFrame({"participant_id": ["P1"], "arm": ["placebo"]})
    samples = pd.DataFrame(
        {
            "sample_id": [f"S{i}" for i in range(n_lib)],
            "participant_id": "P1",
            "timepoint": "baseline",
            "library_batch": "LB1",
        }
    )
    info = samples[["sample_id"]].assign(depth=2_000_000, protocol="truseq")
    params = ReadParams(participant_sd=0.0, batch_sd_log2=0.0)
    tr = expr.simulate_expression(
        samples, parts, info, refs["mature"], params, np.random.default_rng(7)
    )
    mu = tr.mu.iloc[:, 0]
    logp = np.log(tr.probs[mu > 0])

    def trigamma(k):
        return 1 / k + 1 / (2 * k**2) + 1 / (6 * k**3) - 1 / (30 * k**5)

    def check(names):
        # log-ratios to a reference cancel the normalisation
        ref = names[0]
        got = [np.var(logp.loc[g] - logp.loc[ref], ddof=1) for g in names[1:]]
        alphas = [params.dispersion_a0 + params.dispersion_a1 / mu[g] for g in names]
        want = [trigamma(1 / alphas[0]) + trigamma(1 / a) for a in alphas[1:]]
        return np.mean(got), np.mean(want)

    high = list(mu.nlargest(12).index)
    got, want = check(high)
    assert got == pytest.approx(want, rel=0.12)
    mid = list(mu[(mu > 20) & (mu < 60)].index[:12])
    got_mid, want_mid = check([high[0], *mid])
    assert got_mid == pytest.approx(want_mid, rel=0.15)
    assert want_mid > 1.15 * want
    assert got_mid > 1.15 * got


def test_params_defaults_and_helpers():
    p = ReadParams()
    for f in dataclasses.fields(ReadParams):
        assert f.default is not dataclasses.MISSING or f.default_factory is not (
            dataclasses.MISSING
        )
    hash(p)
    q = ReadParams(interaction_log2_range=[0.5, 0.9])  # e.g. from YAML
    assert q.interaction_log2_range == (0.5, 0.9)
    d = readmodel.draw_library_depths(4000, p, np.random.default_rng(0))
    assert np.median(d) == pytest.approx(p.reads_per_library, rel=0.05)
    assert np.std(d) / np.mean(d) == pytest.approx(p.depth_cv, rel=0.1)
    assert expr.simulate_expression is expr.simulate_expression
    assert readmodel.default_adapter("qiaseq") == QIASEQ_3P
    with pytest.raises(ValueError, match="protocol"):
        readmodel.default_adapter("cats")
