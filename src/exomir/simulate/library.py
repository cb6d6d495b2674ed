"""Read-level simulation of plasma small-RNA-seq libraries.

This module turns per-library miRNA proportions (see
:func:`exomir.simulate.expression.simulate_expression`) into FASTQ files whose
reads come from real sequences: miRBase v22 mature miRNAs and hairpins, and
fragments of human tRNAs, rRNAs and snoRNAs/snRNAs. Every read is an insert
followed by the protocol's 3' adapter layout, cut to a fixed read length, with
position-dependent Phred qualities and quality-dependent substitutions.

Parameters live in :mod:`exomir.simulate.readmodel`, reference sequences in
:mod:`exomir.simulate.references`, qualities, errors and FASTQ records in
:mod:`exomir.simulate.sequencing`. No Python loop runs per read.

Protocols: ``truseq`` (insert + TruSeq 3' adapter), ``nextflex`` (4 random
nt on both sides of the insert, TruSeq adapter) and ``qiaseq`` (insert +
QIAseq adapter + 12-nt UMI + tail; PCR duplicates). CATS is not simulated.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from isal import igzip
from numpy.lib.stride_tricks import sliding_window_view

from exomir.atomic import atomic_path
from exomir.simulate.readmodel import (
    NEXTFLEX_RANDOM_NT,
    PROTOCOLS,
    QIASEQ_TAIL,
    TRUSEQ_TAIL,
    ReadParams,
    default_adapter,
)
from exomir.simulate.sequencing import (
    QualityPool,
    place_umis,
    random_bases,
    write_records,
)

__all__ = ["LibraryTruth", "simulate_library"]

_CHUNK_READS = 262_144  # reads per processing chunk (fixed: output depends on it)
_CLASSES = (
    "adapter_dimer",
    "too_short",
    "unmappable",
    "mirna",
    "trna",
    "rrna",
    "snorna_snrna",
)
_DIMER, _SHORT, _UNMAP, _MIRNA, _TRNA, _RRNA, _SNO = range(7)


# --------------------------------------------------------------------------
# Truth containers
# --------------------------------------------------------------------------


@dataclass
class LibraryTruth:
    """What was simulated in one library.

    Attributes
    ----------
    sample_id
        Library identifier.
    protocol
        Library protocol.
    mirna_reads
        miRNA -> reads from that miRNA, all isomiRs and duplicates included
        (index: every miRNA in ``mirna_probs``).
    mirna_molecules
        miRNA -> unique molecules (equal to ``mirna_reads`` without UMIs).
    funnel
        Read counts: ``raw_reads``, ``mirna``, ``trna``, ``rrna``,
        ``snorna_snrna``, ``unmappable``, ``adapter_dimer``, ``too_short`` (all
        in reads, duplicates included) and ``umi_duplicates`` (reads minus
        unique molecules over all origins; 0 without UMIs).
    exact_inserts
        miRNA -> reads whose insert is exactly the canonical mature sequence
        and carries no sequencing error or N call.
    isomirs
        One row per simulated insert sequence of miRNA origin: ``mirna``,
        ``sequence``, ``canonical``, ``reads``, ``molecules``.
    shares
        Per-library read-origin shares that were drawn (sum 1).
    n_molecules
        Unique molecules in the library.
    """

    sample_id: str
    protocol: str
    mirna_reads: pd.Series
    mirna_molecules: pd.Series
    funnel: dict[str, int]
    exact_inserts: pd.Series
    isomirs: pd.DataFrame
    shares: dict[str, float] = field(default_factory=dict)
    n_molecules: int = 0


# --------------------------------------------------------------------------
# Helpers for the read simulation
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    prefix: int  # random nt before the insert
    post: bytes  # sequence after the insert; 0 bytes are random positions
    umi_offset: int | None  # start of the UMI inside ``post``


def _layout(protocol: str, adapter_3p: str, params: ReadParams) -> _Layout:
    protocol = protocol.lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; supported: {PROTOCOLS}")
    adapter = (adapter_3p or default_adapter(protocol)).upper().encode()
    if protocol == "truseq":
        return _Layout(0, adapter + TRUSEQ_TAIL.encode(), None)
    if protocol == "nextflex":
        post = b"\0" * NEXTFLEX_RANDOM_NT + adapter + TRUSEQ_TAIL.encode()
        return _Layout(NEXTFLEX_RANDOM_NT, post, None)
    post = adapter + b"\0" * params.umi_length + QIASEQ_TAIL.encode()
    return _Layout(0, post, len(adapter))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def _expit(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _draw_shares(params: ReadParams, rng: np.random.Generator) -> np.ndarray:
    """Per-library shares of the seven read origins (order of _CLASSES)."""
    sd = params.share_noise_sd
    z = rng.normal(0.0, 1.0, size=5) * sd
    ds = _expit(_logit(params.dimer_short_share) + z[0])
    un = _expit(_logit(params.unmappable_share) + z[1])
    mi = _expit(_logit(params.mirna_share_of_annotated) + z[2])
    ratio = params.mirna_to_trna_ratio * float(np.exp(z[3]))
    rr = _expit(_logit(params.rrna_share_of_other) + z[4])
    if ds + un > 0.98:
        scale = 0.98 / (ds + un)
        ds, un = ds * scale, un * scale
    annotated = 1.0 - ds - un
    trna = mi / ratio if ratio > 0 else 0.0
    if mi + trna > 1.0:
        mi, trna = mi / (mi + trna), trna / (mi + trna)
    other = 1.0 - mi - trna
    dimer_frac = params.adapter_dimer_fraction
    shares = np.array(
        [
            ds * dimer_frac,
            ds * (1.0 - dimer_frac),
            un,
            annotated * mi,
            annotated * trna,
            annotated * other * rr,
            annotated * other * (1.0 - rr),
        ]
    )
    shares = np.clip(shares, 0.0, None)
    return shares / shares.sum()


def _draw_copies(
    n_reads: int, params: ReadParams, rng: np.random.Generator
) -> np.ndarray:
    """Draw reads per molecule (>= 1) summing exactly to ``n_reads``."""
    mean = float(params.umi_dup_mean)
    if mean < 1.0:
        raise ValueError("umi_dup_mean must be >= 1")
    if n_reads == 0:
        return np.zeros(0, dtype=np.int64)
    parts: list[np.ndarray] = []
    total = 0
    batch = int(n_reads / mean * 1.05) + 1000
    while total < n_reads:
        if mean == 1.0:
            k = np.ones(batch, dtype=np.int64)
        elif params.umi_dup_model == "geometric":
            k = rng.geometric(1.0 / mean, size=batch).astype(np.int64)
        elif params.umi_dup_model == "poisson":
            k = 1 + rng.poisson(mean - 1.0, size=batch).astype(np.int64)
        else:
            raise ValueError(f"unknown umi_dup_model {params.umi_dup_model!r}")
        parts.append(k)
        total += int(k.sum())
    copies = np.concatenate(parts)
    cs = np.cumsum(copies)
    last = int(np.searchsorted(cs, n_reads))
    copies = copies[: last + 1].copy()
    copies[-1] -= int(cs[last]) - n_reads
    return copies


_GAP_RE = re.compile(r"[._\-~]")
_NON_ACGT_RE = re.compile(r"[^ACGT]+")


def _source_weight(name: str, sdlog: float) -> float:
    """Abundance weight of a contaminant source, fixed by its name."""
    # Box-Muller from two name hashes: a standard normal fixed by the name
    u1 = (zlib.crc32(name.encode()) + 0.5) / 2**32
    u2 = (zlib.crc32(name.encode() + b"#") + 0.5) / 2**32
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return float(np.exp(sdlog * z))


def _prepare_sources(
    seqs: Mapping[str, str], sdlog: float, min_len: int, trna: bool
) -> tuple[list[str], np.ndarray]:
    """Clean contaminant sequences and give each a stable abundance weight.

    Alignment gap characters are removed. tRNAs with other non-ACGT letters
    are dropped and the rest get their mature 3' CCA; other sequences are
    split at non-ACGT letters into pieces of at least ``min_len`` nt.
    """
    out: list[str] = []
    weights: list[float] = []
    for name, raw in seqs.items():
        seq = _GAP_RE.sub("", raw.upper().replace("U", "T"))
        if trna:
            if _NON_ACGT_RE.search(seq) or len(seq) < min_len:
                continue
            if not seq.endswith("CCA"):
                seq += "CCA"
            pieces = [seq]
        else:
            pieces = [p for p in _NON_ACGT_RE.split(seq) if len(p) >= min_len]
        w = _source_weight(name, sdlog)
        for piece in pieces:
            out.append(piece)
            weights.append(w)
    if not out:
        return out, np.zeros(0)
    wa = np.asarray(weights, dtype=float)
    return out, wa / wa.sum()


class _Buffer:
    """Concatenated byte buffer of all insert sources of one library."""

    def __init__(self, lead_zeros: int) -> None:
        self.parts: list[bytes] = [b"\0" * lead_zeros]
        self.size = lead_zeros

    def add(self, data: bytes) -> int:
        off = self.size
        self.parts.append(data)
        self.size += len(data)
        return off

    def array(self, trail_zeros: int) -> np.ndarray:
        self.parts.append(b"\0" * trail_zeros)
        arr = np.frombuffer(b"".join(self.parts), dtype=np.uint8)
        return arr


def _uniform_int(
    rng: np.random.Generator, bounds: tuple[int, int], n: int
) -> np.ndarray:
    lo, hi = int(bounds[0]), int(bounds[1])
    return rng.integers(lo, hi + 1, size=n)


def _fragments(
    kind: int,
    n: int,
    sources: list[str],
    weights: np.ndarray,
    buf: _Buffer,
    params: ReadParams,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and lengths of ``n`` contaminant fragments."""
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not sources:
        raise ValueError(f"no usable {_CLASSES[kind]} sequences for simulation")
    src_len = np.array([len(s) for s in sources], dtype=np.int64)
    src_off = np.array([buf.add(s.encode()) for s in sources], dtype=np.int64)
    src = rng.choice(len(sources), size=n, p=weights)
    slen = src_len[src]
    length = _uniform_int(rng, params.fragment_length_range, n)
    if kind == _TRNA:
        ftype = rng.choice(
            3,
            size=n,
            p=np.asarray(params.trna_fragment_mix) / sum(params.trna_fragment_mix),
        )
        l5 = _uniform_int(rng, params.trna_5half_length_range, n)
        l3 = _uniform_int(rng, params.trna_3frag_length_range, n)
        length = np.where(ftype == 0, l5, np.where(ftype == 1, l3, length))
    length = np.minimum(length, slen)
    start = (rng.random(n) * (slen - length + 1)).astype(np.int64)
    if kind == _TRNA:
        start = np.where(ftype == 0, 0, np.where(ftype == 1, slen - length, start))
    return src_off[src] + start, length


# --------------------------------------------------------------------------
# Library simulation
# --------------------------------------------------------------------------


def _mirna_inserts(
    n: int,
    probs: pd.Series,
    canon: list[str],
    mature_in_hairpin: Mapping[str, tuple[str, int]],
    hairpins: Mapping[str, str],
    buf: _Buffer,
    params: ReadParams,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """Draw miRNA molecules with isomiRs.

    Returns the isomiR index per molecule, the isomiR table (mirna index,
    sequence, canonical) and per-isomiR buffer offsets and lengths.
    """
    p = probs.to_numpy(dtype=float)
    mi = rng.choice(p.size, size=n, p=p / p.sum())
    shift_probs = np.asarray(params.isomir_3p_shift_probs, dtype=float)
    s5 = np.where(
        rng.random(n) < params.isomir_5p_shift_rate,
        np.where(rng.random(n) < 0.5, -1, 1),
        0,
    )
    s3 = rng.choice(5, size=n, p=shift_probs / shift_probs.sum()) - 2
    has_nta = rng.random(n) < params.nta_rate
    two = rng.random(n) < params.nta_two_nt_fraction
    b1 = (rng.random(n) >= params.nta_a_fraction).astype(np.int64)
    b2 = (rng.random(n) >= params.nta_a_fraction).astype(np.int64)
    nta_code = np.where(has_nta, np.where(two, 3 + 2 * b1 + b2, 1 + b1), 0)
    key = ((mi.astype(np.int64) * 3 + (s5 + 1)) * 5 + (s3 + 2)) * 7 + nta_code
    ukeys, inv = np.unique(key, return_inverse=True)
    nta_seqs = ("", "A", "T", "AA", "AT", "TA", "TT")
    names = probs.index
    rows_m, rows_seq = [], []
    for k in ukeys.tolist():
        code = k % 7
        k //= 7
        sh3 = k % 5 - 2
        k //= 5
        sh5 = k % 3 - 1
        m = k // 3
        mature_seq = canon[m]
        locus = mature_in_hairpin.get(names[m])
        if locus is not None:
            hp = hairpins[locus[0]]
            st = int(locus[1])
            en = st + len(mature_seq)
            core = hp[max(st + sh5, 0) : min(en + sh3, len(hp))]
        else:
            core = mature_seq[max(sh5, 0) : len(mature_seq) + min(sh3, 0)]
        if len(core) < params.isomir_min_length:
            core = mature_seq
        rows_m.append(m)
        rows_seq.append(core + nta_seqs[code])
    table = pd.DataFrame({"m": rows_m, "sequence": rows_seq})
    # merge keys that produce the same sequence for the same miRNA
    grouped = table.groupby(["m", "sequence"], sort=False).ngroup().to_numpy()
    uniq = table.drop_duplicates(["m", "sequence"]).reset_index(drop=True)
    uniq["canonical"] = [
        s == canon[m] for m, s in zip(uniq["m"], uniq["sequence"], strict=True)
    ]
    iso_of_mol = grouped[inv]
    offs = np.array([buf.add(s.encode()) for s in uniq["sequence"]], dtype=np.int64)
    lens = np.array([len(s) for s in uniq["sequence"]], dtype=np.int64)
    return iso_of_mol, uniq, offs, lens


def _canonical_sequences(
    probs: pd.Series,
    mature_in_hairpin: Mapping[str, tuple[str, int]],
    mature: Mapping[str, str] | None,
) -> list[str]:
    """Canonical mature sequence of every miRNA in ``probs`` (DNA alphabet)."""
    canon: list[str] = []
    for name in probs.index:
        if mature is not None and name in mature:
            canon.append(mature[name].upper().replace("U", "T"))
            continue
        locus = mature_in_hairpin.get(name)
        seq = getattr(locus, "sequence", None)
        if seq is None:
            raise ValueError(
                f"no mature sequence for {name!r}: pass mature= or use "
                "locate_mature_in_hairpins()"
            )
        canon.append(seq)
    return canon


@dataclass
class _Molecules:
    """Unique molecules of one library: origin, insert location and isomiR."""

    shares: np.ndarray  # drawn read-origin shares (order of _CLASSES)
    copies: np.ndarray | None  # reads per molecule (UMI protocols only)
    cls: np.ndarray  # origin class per molecule
    off: np.ndarray  # insert offset in the buffer per molecule
    ilen: np.ndarray  # insert length per molecule
    iso: np.ndarray  # isomiR index per molecule (-1: not a miRNA)
    iso_table: pd.DataFrame  # isomiRs: m (miRNA index), sequence, canonical
    buf: _Buffer  # byte buffer holding every insert source
    max_frag: int  # longest possible non-miRNA insert

    @property
    def n(self) -> int:
        """Return the number of unique molecules."""
        return int(self.cls.size)


def _draw_molecules(
    n_reads: int,
    probs: pd.Series,
    canon: list[str],
    umi: bool,
    hairpins: Mapping[str, str],
    mature_in_hairpin: Mapping[str, tuple[str, int]],
    contaminants: Mapping[str, Mapping[str, str]],
    params: ReadParams,
    rng: np.random.Generator,
) -> _Molecules:
    """Draw the molecules of a library and lay out their inserts in a buffer."""
    shares = _draw_shares(params, rng)
    copies = _draw_copies(n_reads, params, rng) if umi else None
    n_mol = n_reads if copies is None else int(copies.size)
    counts = rng.multinomial(n_mol, shares)
    cls = rng.permutation(np.repeat(np.arange(7, dtype=np.int8), counts))
    max_frag = max(
        params.fragment_length_range[1],
        params.trna_5half_length_range[1],
        params.trna_3frag_length_range[1],
        params.unmappable_length_range[1],
        params.too_short_length_range[1],
    )
    buf = _Buffer(lead_zeros=8)
    off = np.zeros(n_mol, dtype=np.int64)
    ilen = np.zeros(n_mol, dtype=np.int16)
    iso = np.full(n_mol, -1, dtype=np.int32)

    iso_of_mol, iso_table, iso_off, iso_len = _mirna_inserts(
        int(counts[_MIRNA]), probs, canon, mature_in_hairpin, hairpins, buf, params, rng
    )
    sel = cls == _MIRNA
    iso[sel] = iso_of_mol
    off[sel] = iso_off[iso_of_mol]
    ilen[sel] = iso_len[iso_of_mol]

    for kind, key in ((_TRNA, "trna"), (_RRNA, "rrna"), (_SNO, "snorna_snrna")):
        n_k = int(counts[kind])
        if n_k == 0:
            continue
        seqs, w = _prepare_sources(
            contaminants.get(key, {}),
            params.contaminant_source_sdlog,
            params.fragment_length_range[0],
            trna=kind == _TRNA,
        )
        o, ln = _fragments(kind, n_k, seqs, w, buf, params, rng)
        sel = cls == kind
        off[sel] = o
        ilen[sel] = ln

    for kind, bounds in (
        (_UNMAP, params.unmappable_length_range),
        (_SHORT, params.too_short_length_range),
    ):
        n_k = int(counts[kind])
        if n_k == 0:
            continue
        ln = _uniform_int(rng, bounds, n_k)
        total = int(ln.sum())
        base = buf.add(random_bases(rng, total).tobytes())
        sel = cls == kind
        off[sel] = base + np.concatenate(([0], np.cumsum(ln)[:-1]))
        ilen[sel] = ln
    # adapter dimers: length 0, offset 0 (already)
    return _Molecules(shares, copies, cls, off, ilen, iso, iso_table, buf, max_frag)


def _read_templates(layout: _Layout, max_ins: int, read_len: int) -> np.ndarray:
    """Row ``l``: the read template for an insert of length ``l`` (0 = random)."""
    post = np.frombuffer(layout.post, dtype=np.uint8)
    table = np.zeros((max_ins + 1, read_len), dtype=np.uint8)
    for ell in range(max_ins + 1):
        s = layout.prefix + ell
        if s < read_len:
            m = min(post.size, read_len - s)
            table[ell, s : s + m] = post[:m]
    return table


def _write_fastq(
    fastq_path: Path,
    sample_id: str,
    n_reads: int,
    mols: _Molecules,
    layout: _Layout,
    n_mirnas: int,
    params: ReadParams,
    rng: np.random.Generator,
) -> np.ndarray:
    """Write the reads of ``mols`` as FASTQ.gz; return exact inserts per miRNA."""
    read_len = int(params.read_length)
    n_mol, ilen, off = mols.n, mols.ilen, mols.off
    max_ins = int(max(int(ilen.max()) if n_mol else 0, mols.max_frag, 1))
    arr = mols.buf.array(trail_zeros=max_ins)
    windows = sliding_window_view(arr, max_ins)
    table = _read_templates(layout, max_ins, read_len)

    umi_bases = None
    mol_of_read = None
    if mols.copies is not None:
        umi_bases = random_bases(rng, n_mol * params.umi_length).reshape(
            n_mol, params.umi_length
        )
        mol_of_read = rng.permutation(
            np.repeat(np.arange(n_mol, dtype=np.int32), mols.copies)
        )

    qpool = QualityPool(params, rng)
    canon_iso = mols.iso_table["canonical"].to_numpy(dtype=bool)
    iso_m = mols.iso_table["m"].to_numpy(dtype=np.int64)
    # per molecule: miRNA index if the insert is the canonical sequence, else -1
    canon_mol = np.full(n_mol, -1, dtype=np.int32)
    iso = mols.iso
    mi_sel = iso >= 0
    canon_mol[mi_sel] = np.where(canon_iso[iso[mi_sel]], iso_m[iso[mi_sel]], -1)
    exact = np.zeros(n_mirnas, dtype=np.int64)
    head = b"@" + sample_id.encode() + b":"
    ncols = min(max_ins, read_len - layout.prefix)

    with atomic_path(fastq_path) as tmp, open(tmp, "wb") as raw:
        with igzip.IGzipFile(
            filename="",
            mode="wb",
            fileobj=raw,
            compresslevel=params.gzip_level,
            mtime=0,
        ) as gz:
            for start in range(0, n_reads, _CHUNK_READS):
                stop = min(start + _CHUNK_READS, n_reads)
                n = stop - start
                mol = (
                    np.arange(start, stop)
                    if mol_of_read is None
                    else mol_of_read[start:stop]
                )
                len_r = ilen[mol]
                # template per insert length, then the insert itself
                seq = table[len_r]
                if ncols > 0:
                    ins = windows[off[mol]][:, :ncols]
                    mask = np.arange(ncols)[None, :] < len_r[:, None]
                    np.copyto(
                        seq[:, layout.prefix : layout.prefix + ncols], ins, where=mask
                    )
                # random positions (padding, NEXTflex flanks, UMI placeholders)
                rand = random_bases(rng, n * read_len).reshape(n, read_len)
                np.copyto(seq, rand, where=seq == 0)
                if umi_bases is not None and layout.umi_offset is not None:
                    place_umis(
                        seq,
                        umi_bases[mol],
                        layout.prefix + len_r.astype(np.int64) + layout.umi_offset,
                    )
                # qualities, substitutions and N calls
                qual, bad_rows, bad_cols = qpool.apply(seq, rng)
                # exact canonical inserts: no error or N inside the insert
                cm = canon_mol[mol]
                ins_lo = layout.prefix
                hit = (bad_cols >= ins_lo) & (bad_cols < ins_lo + len_r[bad_rows])
                cm[bad_rows[hit]] = -1
                exact += np.bincount(cm[cm >= 0], minlength=n_mirnas)
                write_records(gz, head, start + 1, seq, qual)
    return exact


def _library_truth(
    sample_id: str,
    protocol: str,
    n_reads: int,
    mirna_probs: pd.Series,
    probs: pd.Series,
    mols: _Molecules,
    exact: np.ndarray,
) -> LibraryTruth:
    """Tabulate what was simulated: reads and molecules by origin and miRNA."""
    n_mol, iso, iso_table = mols.n, mols.iso, mols.iso_table
    copies = mols.copies
    canon_iso = iso_table["canonical"].to_numpy(dtype=bool)
    iso_m = iso_table["m"].to_numpy(dtype=np.int64)
    w = np.ones(n_mol, dtype=np.int64) if copies is None else copies
    reads_by_class = np.bincount(mols.cls, weights=w, minlength=7).astype(np.int64)
    mi_sel = iso >= 0
    n_iso = len(iso_table)
    iso_reads = np.bincount(iso[mi_sel], weights=w[mi_sel], minlength=n_iso)
    iso_mols = np.bincount(iso[mi_sel], minlength=n_iso)
    m_reads = np.bincount(iso_m, weights=iso_reads, minlength=len(probs))
    m_mols = np.bincount(iso_m, weights=iso_mols, minlength=len(probs))
    full_index = mirna_probs.index

    def _series(values: np.ndarray) -> pd.Series:
        s = pd.Series(np.rint(values).astype(np.int64), index=probs.index)
        return s.reindex(full_index, fill_value=0).astype(np.int64)

    isomirs = pd.DataFrame(
        {
            "mirna": probs.index.to_numpy()[iso_m],
            "sequence": iso_table["sequence"].to_numpy(),
            "canonical": canon_iso,
            "reads": np.rint(iso_reads).astype(np.int64),
            "molecules": iso_mols.astype(np.int64),
        }
    )
    isomirs = isomirs.sort_values(
        ["mirna", "reads", "sequence"], ascending=[True, False, True]
    ).reset_index(drop=True)
    funnel = {"raw_reads": n_reads}
    for k in (
        "mirna",
        "trna",
        "rrna",
        "snorna_snrna",
        "unmappable",
        "adapter_dimer",
        "too_short",
    ):
        funnel[k] = int(reads_by_class[_CLASSES.index(k)])
    funnel["umi_duplicates"] = int(n_reads - n_mol)
    return LibraryTruth(
        sample_id=sample_id,
        protocol=protocol,
        mirna_reads=_series(m_reads),
        mirna_molecules=_series(m_mols),
        funnel=funnel,
        exact_inserts=_series(exact.astype(float)),
        isomirs=isomirs,
        shares={k: float(v) for k, v in zip(_CLASSES, mols.shares, strict=True)},
        n_molecules=n_mol,
    )


def simulate_library(
    sample_id: str,
    fastq_path: Path,
    n_reads: int,
    mirna_probs: pd.Series,
    protocol: str,
    params: ReadParams,
    rng: np.random.Generator,
    hairpins: dict[str, str],
    mature_in_hairpin: dict[str, tuple[str, int]],
    contaminants: dict[str, dict[str, str]],
    adapter_3p: str,
    *,
    mature: Mapping[str, str] | None = None,
) -> LibraryTruth:
    """Simulate one small-RNA-seq library and write it as FASTQ.gz.

    Parameters
    ----------
    sample_id
        Library identifier, used in read names ``@{sample_id}:{i}`` (``i`` =
        1-based read number).
    fastq_path
        Output ``.fastq.gz``; written atomically, gzip header without name
        and with mtime 0 (same inputs and seed give the same bytes).
    n_reads
        Raw reads in the library.
    mirna_probs
        miRNA name -> relative abundance of miRNA molecules (normalised
        here; zeros allowed), e.g. a column of ``ExpressionTruth.probs``.
    protocol
        ``"truseq"``, ``"qiaseq"`` (12-nt UMI, PCR duplicates) or
        ``"nextflex"`` (4 random nt on both sides of the insert).
    params
        Simulation parameters.
    rng
        Random generator; consumed in a fixed order.
    hairpins
        Hairpin name -> DNA sequence (templated isomiR extensions).
    mature_in_hairpin
        Output of :func:`locate_mature_in_hairpins`.
    contaminants
        ``{"trna": {...}, "rrna": {...}, "snorna_snrna": {...}}``, each name
        -> sequence as from :func:`load_fasta`.
    adapter_3p
        3' adapter directly after the insert; empty string means the
        protocol default (:func:`default_adapter`).
    mature
        Mature name -> sequence. Needed only if ``mature_in_hairpin`` does not
        come from :func:`locate_mature_in_hairpins` or lacks some miRNAs.

    Returns
    -------
    LibraryTruth
        Read and molecule counts by origin, isomiRs and exact inserts.

    Notes
    -----
    Each molecule gets an origin (adapter dimer, too short, unmappable,
    miRNA, tRNA, rRNA, snoRNA/snRNA) from per-library shares drawn around the
    configured ones. The read is ``[random prefix] + insert + adapter layout``
    padded with random bases to ``read_length``. QIAseq molecules carry one
    UMI and are read ``k >= 1`` times; duplicates share insert and UMI and
    are spread over the file. Bases get Phred qualities from a
    position-dependent profile and are substituted with probability
    ``10^(-Q/10)``; bases with Q <= ``n_call_max_q`` are called ``N``.
    """
    protocol = protocol.lower()
    layout = _layout(protocol, adapter_3p, params)
    n_reads = int(n_reads)
    if n_reads < 0:
        raise ValueError("n_reads must be >= 0")
    probs = mirna_probs[mirna_probs > 0].astype(float)
    if probs.empty:
        raise ValueError(f"{sample_id}: mirna_probs has no positive entry")
    canon = _canonical_sequences(probs, mature_in_hairpin, mature)
    mols = _draw_molecules(
        n_reads,
        probs,
        canon,
        layout.umi_offset is not None,
        hairpins,
        mature_in_hairpin,
        contaminants,
        params,
        rng,
    )
    exact = _write_fastq(
        fastq_path, sample_id, n_reads, mols, layout, len(probs), params, rng
    )
    return _library_truth(sample_id, protocol, n_reads, mirna_probs, probs, mols, exact)
