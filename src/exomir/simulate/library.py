"""Read-level simulation of plasma small-RNA-seq libraries.

This module turns per-library miRNA proportions (see
:func:`exomir.simulate.expression.simulate_expression`) into FASTQ files whose
reads come from real sequences: miRBase v22 mature miRNAs and hairpins, and
fragments of human tRNAs, rRNAs and snoRNAs/snRNAs. Every read is an insert
followed by the protocol's 3' adapter layout, cut to a fixed read length, with
position-dependent Phred qualities and quality-dependent substitutions.

The values in :class:`ReadParams` follow analysis_spec.md §6. Where the spec
gives no source, the value is a modelling assumption (marked "assumption" in
the field comments).

Speed: no Python loop runs per read. Unique inserts are laid out in one byte
buffer; reads are gathered from it as ``(n_reads, read_length)`` ``uint8``
arrays, errors are applied vectorised and FASTQ records are assembled as one
fixed-width byte array per chunk before ``isal`` compression.

Protocols: ``truseq`` (insert + TruSeq 3' adapter), ``nextflex`` (4 random
nt on both sides of the insert, TruSeq adapter) and ``qiaseq`` (insert +
QIAseq adapter + 12-nt UMI + tail; PCR duplicates). CATS is not simulated.

``simulate_expression`` and ``ExpressionTruth`` live in
:mod:`exomir.simulate.expression`; they are also importable from here.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from isal import igzip
from numpy.lib.stride_tricks import sliding_window_view

from exomir.atomic import atomic_path
from exomir.reads.protocols import PRESETS

__all__ = [
    "C19MC_PATTERN",
    "NEXTFLEX_RANDOM_NT",
    "PROTOCOLS",
    "QIASEQ_3P",
    "QIASEQ_TAIL",
    "RBC_MIRNAS",
    "TRUSEQ_3P",
    "TRUSEQ_TAIL",
    "LibraryTruth",
    "MatureLocus",
    "ReadParams",
    "default_adapter",
    "draw_library_depths",
    "expected_mirna_fraction",
    "expected_reads_per_molecule",
    "is_c19mc",
    "load_fasta",
    "locate_mature_in_hairpins",
    "simulate_library",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: TruSeq small-RNA 3' adapter (RA3).
TRUSEQ_3P = PRESETS["truseq"].adapter_3p
#: Sequence read after the TruSeq 3' adapter (index primer side).
TRUSEQ_TAIL = "ATCTCGTATGCCGTCTTCTGCTTG"
#: QIAseq miRNA 3' adapter; the 12-nt UMI follows it.
QIASEQ_3P = PRESETS["qiaseq"].adapter_3p
#: Sequence read after the QIAseq UMI.
QIASEQ_TAIL = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC"
#: Random nucleotides on each side of a NEXTflex insert.
NEXTFLEX_RANDOM_NT = PRESETS["nextflex"].clip_5p
#: Supported library protocols.
PROTOCOLS = ("truseq", "qiaseq", "nextflex")

#: Red-blood-cell miRNAs multiplied by the haemolysis factor.
RBC_MIRNAS = (
    "hsa-miR-451a",
    "hsa-miR-486-5p",
    "hsa-miR-486-3p",
    "hsa-miR-16-5p",
    "hsa-miR-92a-3p",
    "hsa-miR-144-3p",
    "hsa-miR-144-5p",
)

#: Chromosome-19 miRNA cluster (C19MC), identified by name: miR-498, miR-512,
#: miR-515 to miR-527 (all letter variants and arms), miR-1283 and miR-1323.
#: miR-513 and miR-514 are excluded: despite their numbers they belong to the
#: X-linked miR-506-514 cluster. In miRBase v22 this matches 67 human mature
#: miRNAs (e.g. hsa-miR-517a-3p, hsa-miR-518b, hsa-miR-520 family).
C19MC_PATTERN = re.compile(
    r"^hsa-miR-(?:498|512|51[5-9]|52[0-7]|1283|1323)[a-h]?(?:-\d)?(?:-[35]p)?$"
)

_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
_CODE = np.zeros(256, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_N = ord("N")
_CHUNK_READS = 262_144  # reads per processing chunk (fixed: output depends on it)
_QUALITY_POOL = 4096  # quality tracks drawn per library
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


def is_c19mc(name: str) -> bool:
    """Return whether a miRBase mature name belongs to the C19MC cluster.

    Parameters
    ----------
    name
        Mature miRNA name, e.g. ``"hsa-miR-517a-3p"``.

    Returns
    -------
    bool
        True if ``name`` matches :data:`C19MC_PATTERN`.
    """
    return C19MC_PATTERN.match(name) is not None


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadParams:
    """Parameters of the read-level and expression simulation.

    Defaults follow analysis_spec.md §6; fields marked "assumption" are
    modelling choices without a literature source. A null trial sets
    ``mir126_interaction_log2=0`` and ``frac_mirnas_with_interaction=0``; all
    other random draws stay the same. List values (e.g. from YAML) are
    converted to tuples.
    """

    # --- depth and read layout
    reads_per_library: int = 8_000_000  # median raw reads per library
    depth_cv: float = 0.4  # log-normal CV of depth across libraries
    read_length: int = 75  # sequenced read length (nt)
    gzip_level: int = 1  # isal gzip level of the FASTQ files (0-3)

    # --- read origins (shares of raw reads, drawn per library with noise)
    dimer_short_share: float = 0.20  # adapter dimers + too-short inserts (5-40%)
    adapter_dimer_fraction: float = 0.5  # of those, 0-nt inserts (assumption)
    unmappable_share: float = 0.18  # random-sequence inserts (10-30%)
    mirna_share_of_annotated: float = 0.65  # miRNA share of annotated reads (50-80%)
    mirna_to_trna_ratio: float = 72.0  # miRNA:tRNA-fragment reads (Godoy 2018)
    rrna_share_of_other: float = 0.5  # rRNA in non-miRNA/tRNA annotated (assumption)
    share_noise_sd: float = 0.2  # per-library SD of shares, logit (ratio: log) scale
    too_short_length_range: tuple[int, int] = (1, 15)  # too-short insert lengths
    unmappable_length_range: tuple[int, int] = (18, 35)  # random insert lengths
    fragment_length_range: tuple[int, int] = (16, 40)  # rRNA/sno/tRNA fragment nt
    trna_fragment_mix: tuple[float, float, float] = (0.5, 0.25, 0.25)  # 5'/3'/inner
    trna_5half_length_range: tuple[int, int] = (28, 36)  # tRNA 5'-half lengths
    trna_3frag_length_range: tuple[int, int] = (18, 23)  # tRF-3 lengths incl. CCA
    contaminant_source_sdlog: float = 1.5  # log-normal SD of source weights

    # --- miRNA composition at baseline
    n_mirnas_expressed: int = 600  # miRNAs with non-zero abundance
    top10_share: float = 0.90  # share of the 10 top miRNAs (Tonge & Gant 2016)
    tail_sdlog: float = 1.5  # log-normal SD of tail miRNA abundances (assumption)
    min_tail_share: float = 0.02  # minimum share left to the tail (assumption)
    c19mc_baseline_share_range: tuple[float, float] = (1e-4, 2e-3)  # C19MC total
    c19mc_sdlog: float = 1.0  # log-normal SD within C19MC (assumption)

    # --- count noise
    dispersion_a0: float = 0.15  # NB dispersion trend alpha(mu) = a0 + a1/mu
    dispersion_a1: float = 2.0  # extra-Poisson term a1 of the dispersion trend
    participant_sd: float = 0.4  # SD (ln) of per-participant, per-miRNA effect
    batch_sd_log2: float = 0.15  # SD (log2) of per-batch, per-miRNA effect
    hemolysis_factor_range: tuple[float, float] = (2.0, 8.0)  # h ~ U(lo, hi)
    hemolysis_fraction: float = 0.10  # libraries to mark haemolysed (orchestrator)

    # --- effects (log2)
    c19mc_time_log2_range: tuple[float, float] = (-4.0, -2.0)  # C19MC week 1
    mir126_placebo_drift_log2: float = 0.15  # miR-126-3p week-1 change, placebo
    mir126_interaction_log2: float = 0.58  # miR-126-3p arm x time (0 = null)
    frac_mirnas_with_interaction: float = 0.04  # other miRNAs with one (0 = null)
    interaction_log2_range: tuple[float, float] = (0.4, 1.0)  # |log2FC|, random sign
    interaction_max_share: float = 0.01  # only below this baseline share

    # --- isomiRs
    isomir_5p_shift_rate: float = 0.05  # molecules with a +-1 nt 5' shift
    isomir_3p_shift_probs: tuple[float, float, float, float, float] = (
        0.08,
        0.17,
        0.55,
        0.15,
        0.05,
    )  # P(3' shift = -2..+2 nt); extensions templated from the hairpin
    nta_rate: float = 0.12  # molecules with non-templated 3' A/U additions
    nta_two_nt_fraction: float = 0.3  # of those, 2 added nt (else 1)
    nta_a_fraction: float = 0.6  # probability an added nucleotide is A (else U)
    isomir_min_length: int = 16  # shorter isomiRs revert to the canonical core

    # --- base qualities and sequencing errors
    q_start: float = 36.0  # mean Phred quality at the first cycle
    q_end: float = 28.0  # mean Phred quality at the last cycle
    q_decline_power: float = 2.0  # shape of the quality decline along the read
    q_read_sd: float = 1.5  # SD of the per-read quality offset
    q_base_sd: float = 3.0  # SD of the per-base quality noise
    q_max: int = 41  # highest Phred score
    low_q_tail_prob: float = 0.05  # share of reads with a low-quality tail
    low_q_tail_q_range: tuple[int, int] = (2, 12)  # Phred inside low-quality tails
    error_rate_scale: float = 1.0  # x 10^(-Q/10); 0 = no errors and no N calls
    n_call_max_q: int = 2  # bases with Phred <= this are called N

    # --- UMI protocols (QIAseq)
    umi_length: int = 12  # UMI length (nt)
    umi_dup_mean: float = 2.5  # mean reads per molecule (PCR duplicates)
    umi_dup_model: str = "geometric"  # "geometric" or "poisson" (1 + Poisson)

    def __post_init__(self) -> None:
        """Turn list values (e.g. from YAML) into tuples."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))


def expected_mirna_fraction(params: ReadParams) -> float:
    """Return the expected share of raw reads (or molecules) from miRNAs.

    Parameters
    ----------
    params
        Simulation parameters.

    Returns
    -------
    float
        ``(1 - dimer_short_share - unmappable_share) * mirna_share_of_annotated``.
    """
    annotated = 1.0 - params.dimer_short_share - params.unmappable_share
    return annotated * params.mirna_share_of_annotated


def expected_reads_per_molecule(protocol: str, params: ReadParams) -> float:
    """Return the expected reads per unique molecule of a protocol.

    Parameters
    ----------
    protocol
        Library protocol (see :data:`PROTOCOLS`).
    params
        Simulation parameters.

    Returns
    -------
    float
        ``params.umi_dup_mean`` for UMI protocols, otherwise 1.
    """
    return float(params.umi_dup_mean) if protocol.lower() == "qiaseq" else 1.0


def default_adapter(protocol: str) -> str:
    """Return the 3' adapter written to ``samples.tsv`` for a protocol.

    Parameters
    ----------
    protocol
        Library protocol (see :data:`PROTOCOLS`).

    Returns
    -------
    str
        The 3' adapter sequence.
    """
    protocol = protocol.lower()
    if protocol == "qiaseq":
        return QIASEQ_3P
    if protocol in ("truseq", "nextflex"):
        return TRUSEQ_3P
    raise ValueError(f"unknown protocol {protocol!r}; supported: {PROTOCOLS}")


def draw_library_depths(
    n: int, params: ReadParams, rng: np.random.Generator, median: int | None = None
) -> np.ndarray:
    """Draw raw read depths from a log-normal distribution.

    Parameters
    ----------
    n
        Number of libraries.
    params
        Uses ``reads_per_library`` (median) and ``depth_cv``.
    rng
        Random generator.
    median
        Override of the median depth (e.g. a small demo).

    Returns
    -------
    numpy.ndarray
        Integer depths (at least 1000 reads each).
    """
    med = params.reads_per_library if median is None else median
    sdlog = np.sqrt(np.log1p(params.depth_cv**2))
    depths = med * np.exp(rng.normal(0.0, sdlog, size=n))
    return np.maximum(np.rint(depths), 1000).astype(np.int64)


# --------------------------------------------------------------------------
# Reference loading
# --------------------------------------------------------------------------


class MatureLocus(tuple):
    """``(hairpin name, 0-based start)`` of a mature miRNA in a hairpin.

    Behaves exactly like a 2-tuple and also carries the mature ``sequence``
    so that :func:`simulate_library` knows the canonical insert.
    """

    sequence: str

    def __new__(cls, hairpin: str, start: int, sequence: str) -> MatureLocus:
        """Create the locus; ``sequence`` is kept as an attribute."""
        self = super().__new__(cls, (hairpin, int(start)))
        self.sequence = sequence
        return self

    def __getnewargs__(self) -> tuple[str, int, str]:  # for pickle/copy
        """Return constructor arguments (pickling support)."""
        return (self[0], self[1], self.sequence)


def load_fasta(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a FASTA file into a dict.

    Parameters
    ----------
    path
        FASTA file (plain or gzip-compressed).

    Returns
    -------
    dict[str, str]
        First word of each header -> sequence, uppercase, ``U`` replaced by
        ``T``, in file order. Other characters (gaps, ``N``) are kept.
    """
    from xopen import xopen

    out: dict[str, list[str]] = {}
    name: str | None = None
    with xopen(path, "rt") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                name = line[1:].split()[0] if len(line) > 1 else ""
                out[name] = []
            elif name is None:
                raise ValueError(f"{path}: sequence before the first header")
            else:
                out[name].append(line)
    return {k: "".join(v).upper().replace("U", "T") for k, v in out.items()}


def locate_mature_in_hairpins(
    mature: Mapping[str, str], hairpins: Mapping[str, str]
) -> dict[str, tuple[str, int]]:
    """Find each mature miRNA in a hairpin by exact substring search.

    Parameters
    ----------
    mature
        Mature name -> sequence (DNA alphabet).
    hairpins
        Hairpin name -> sequence (DNA alphabet).

    Returns
    -------
    dict[str, tuple[str, int]]
        Mature name -> ``(hairpin name, 0-based start)``. The hairpin whose
        name shares the mature's stem (``hsa-miR-16-5p`` -> ``hsa-mir-16-*``)
        is preferred, then file order; matures found in no hairpin are left
        out. Values are :class:`MatureLocus` (a 2-tuple that also carries the
        mature sequence).
    """
    hp_items = list(hairpins.items())
    # hairpins grouped by stem: "hsa-mir-16-2" -> "hsa-mir-16" and itself
    by_stem: dict[str, list[int]] = {}
    for order, (hname, _) in enumerate(hp_items):
        hl = hname.lower()
        keys = {hl, re.sub(r"-\d+$", "", hl)}
        for key in keys:
            by_stem.setdefault(key, []).append(order)
    out: dict[str, tuple[str, int]] = {}
    for name, seq in mature.items():
        stem = re.sub(r"-[35]p$", "", name).lower()
        found: tuple[int, int] | None = None
        for order in sorted(by_stem.get(stem, [])):
            pos = hp_items[order][1].find(seq)
            if pos >= 0:
                found = (order, pos)
                break
        if found is None:
            for order, (_, hseq) in enumerate(hp_items):
                pos = hseq.find(seq)
                if pos >= 0:
                    found = (order, pos)
                    break
        if found is not None:
            out[name] = MatureLocus(hp_items[found[0]][0], found[1], seq)
    return out


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


_RANDOM_BASE_TABLE = bytes(b"ACGT"[i & 3] for i in range(256))


def _random_bases(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return ``n`` uniformly random bases (ASCII ``uint8``)."""
    raw = rng.bit_generator.random_raw((n + 7) // 8).tobytes()[:n]
    return np.frombuffer(raw.translate(_RANDOM_BASE_TABLE), dtype=np.uint8)


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


class _QualityPool:
    """Per-library pool of Phred tracks with error thresholds and N calls.

    Each read takes one of ``_QUALITY_POOL`` tracks drawn from a
    position-dependent profile (high at the start, declining along the read,
    some reads with a low-quality tail). A base is substituted if a uint16
    draw falls below ``65536 * min(0.75, error_rate_scale * 10^(-Q/10))``;
    bases with Q <= ``n_call_max_q`` are called N instead (only if
    ``error_rate_scale > 0``).
    """

    def __init__(self, params: ReadParams, rng: np.random.Generator) -> None:
        length = params.read_length
        self.length = length
        pos = np.arange(length) / max(length - 1, 1)
        decline = (params.q_start - params.q_end) * pos**params.q_decline_power
        mean = params.q_start - decline
        q = (
            mean[None, :]
            + rng.normal(0.0, params.q_read_sd, size=(_QUALITY_POOL, 1))
            + rng.normal(0.0, params.q_base_sd, size=(_QUALITY_POOL, length))
        )
        has_tail = rng.random(_QUALITY_POOL) < params.low_q_tail_prob
        tail_start = rng.integers(length // 3, length, size=_QUALITY_POOL)
        lo, hi = params.low_q_tail_q_range
        tail_q = rng.uniform(lo, hi, size=(_QUALITY_POOL, length))
        cols = np.arange(length)[None, :]
        in_tail = has_tail[:, None] & (cols >= tail_start[:, None])
        q = np.where(in_tail, tail_q, q)
        phred = np.clip(np.rint(q), 2, params.q_max).astype(np.uint8)
        self.phred = phred
        self.ascii = phred + np.uint8(33)
        p_err = np.minimum(
            params.error_rate_scale * 10 ** (-phred.astype(float) / 10.0), 0.75
        )
        thr = np.rint(p_err * 65536).astype(np.uint16)
        if params.error_rate_scale > 0 and params.n_call_max_q >= 0:
            self.ncall = phred <= params.n_call_max_q
        else:
            self.ncall = np.zeros_like(phred, dtype=bool)
        thr[self.ncall] = 0
        self.thr = thr
        self.has_n = self.ncall.any(axis=1)
        self.any_err = bool(thr.any())

    def apply(
        self, seq: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw qualities for ``seq`` and corrupt it in place.

        Returns the ASCII qualities and the rows/columns of every substituted
        or N-called base.
        """
        n, length = seq.shape
        track = rng.integers(0, _QUALITY_POOL, size=n)
        qual = self.ascii[track]
        rows_list: list[np.ndarray] = []
        cols_list: list[np.ndarray] = []
        if self.any_err and n:
            n_words = (n * length + 3) // 4
            u16 = rng.bit_generator.random_raw(n_words).view("<u2")[: n * length]
            flat = np.flatnonzero(u16 < self.thr[track].reshape(-1))
            if flat.size:
                flat_seq = seq.reshape(-1)
                codes = _CODE[flat_seq[flat]]
                new = (codes + rng.integers(1, 4, size=flat.size)) & 3
                flat_seq[flat] = _ACGT[new]
                rows_list.append(flat // length)
                cols_list.append(flat % length)
        n_rows = np.flatnonzero(self.has_n[track])
        if n_rows.size:
            mask = self.ncall[track[n_rows]]
            sub = seq[n_rows]
            sub[mask] = _N
            seq[n_rows] = sub
            r, c = np.nonzero(mask)
            rows_list.append(n_rows[r])
            cols_list.append(c)
        if rows_list:
            return qual, np.concatenate(rows_list), np.concatenate(cols_list)
        empty = np.zeros(0, dtype=np.int64)
        return qual, empty, empty


def _place_umis(seq: np.ndarray, bases: np.ndarray, start_col: np.ndarray) -> None:
    """Write each read's UMI ``bases`` (n x umi_length) from ``start_col`` on."""
    n, length = seq.shape
    ul = bases.shape[1]
    flat = seq.reshape(-1)
    base_idx = np.arange(n, dtype=np.int64) * length + start_col
    full = start_col + ul <= length
    if full.all():
        flat[base_idx[:, None] + np.arange(ul)] = bases
        return
    flat[base_idx[full][:, None] + np.arange(ul)] = bases[full]
    for r in np.flatnonzero(~full & (start_col < length)):
        m = length - int(start_col[r])
        seq[r, length - m :] = bases[r, :m]


def _write_records(
    gz: Any, head: bytes, first_index: int, seq: np.ndarray, qual: np.ndarray
) -> None:
    """Write fixed-width FASTQ records ``@{head}{index}`` for a chunk."""
    n, length = seq.shape
    hb = np.frombuffer(head, dtype=np.uint8)
    hl = hb.size
    i0 = 0
    while i0 < n:
        idx0 = first_index + i0
        ndig = len(str(idx0))
        hi = min(n, 10**ndig - first_index)
        g = hi - i0
        dtype = np.uint32 if idx0 + g < 2**32 else np.uint64
        ids = np.arange(idx0, idx0 + g, dtype=dtype)
        width = hl + ndig + 1 + length + 3 + length + 1
        rec = np.empty((g, width), dtype=np.uint8)
        rec[:, :hl] = hb
        for j in range(hl + ndig - 1, hl - 1, -1):
            quotient = ids // 10
            rec[:, j] = ids - quotient * 10 + 48
            ids = quotient
        c = hl + ndig
        rec[:, c] = 10
        c += 1
        rec[:, c : c + length] = seq[i0:hi]
        c += length
        rec[:, c : c + 3] = np.frombuffer(b"\n+\n", dtype=np.uint8)
        c += 3
        rec[:, c : c + length] = qual[i0:hi]
        rec[:, c + length] = 10
        gz.write(memoryview(rec).cast("B"))
        i0 = hi


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
    read_len = int(params.read_length)
    n_reads = int(n_reads)
    if n_reads < 0:
        raise ValueError("n_reads must be >= 0")

    probs = mirna_probs[mirna_probs > 0].astype(float)
    if probs.empty:
        raise ValueError(f"{sample_id}: mirna_probs has no positive entry")
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

    # ---- molecules and their origins
    shares = _draw_shares(params, rng)
    if layout.umi_offset is not None:
        copies: np.ndarray | None = _draw_copies(n_reads, params, rng)
        n_mol = int(copies.size)  # type: ignore[union-attr]
    else:
        copies = None
        n_mol = n_reads
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
        base = buf.add(_random_bases(rng, total).tobytes())
        sel = cls == kind
        off[sel] = base + np.concatenate(([0], np.cumsum(ln)[:-1]))
        ilen[sel] = ln
    # adapter dimers: length 0, offset 0 (already)

    max_ins = int(max(int(ilen.max()) if n_mol else 0, max_frag, 1))
    arr = buf.array(trail_zeros=max_ins)
    windows = sliding_window_view(arr, max_ins)

    # layout table: row l = read template for an insert of length l (0 = random)
    post = np.frombuffer(layout.post, dtype=np.uint8)
    table = np.zeros((max_ins + 1, read_len), dtype=np.uint8)
    for ell in range(max_ins + 1):
        s = layout.prefix + ell
        if s < read_len:
            m = min(post.size, read_len - s)
            table[ell, s : s + m] = post[:m]

    umi_bases = None
    if copies is not None:
        umi_bases = _random_bases(rng, n_mol * params.umi_length).reshape(
            n_mol, params.umi_length
        )
        mol_of_read = rng.permutation(
            np.repeat(np.arange(n_mol, dtype=np.int32), copies)
        )
    else:
        mol_of_read = None

    qpool = _QualityPool(params, rng)
    canon_iso = iso_table["canonical"].to_numpy(dtype=bool)
    iso_m = iso_table["m"].to_numpy(dtype=np.int64)
    # per molecule: miRNA index if the insert is the canonical sequence, else -1
    canon_mol = np.full(n_mol, -1, dtype=np.int32)
    mi_sel = iso >= 0
    canon_mol[mi_sel] = np.where(canon_iso[iso[mi_sel]], iso_m[iso[mi_sel]], -1)
    exact = np.zeros(len(probs), dtype=np.int64)
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
                rand = _random_bases(rng, n * read_len).reshape(n, read_len)
                np.copyto(seq, rand, where=seq == 0)
                if umi_bases is not None and layout.umi_offset is not None:
                    _place_umis(
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
                exact += np.bincount(cm[cm >= 0], minlength=len(probs))
                _write_records(gz, head, start + 1, seq, qual)

    # ---- truth
    w = np.ones(n_mol, dtype=np.int64) if copies is None else copies
    reads_by_class = np.bincount(cls, weights=w, minlength=7).astype(np.int64)
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
        shares={k: float(v) for k, v in zip(_CLASSES, shares, strict=True)},
        n_molecules=n_mol,
    )


# --------------------------------------------------------------------------
# Re-exports from the expression module (lazy, avoids an import cycle)
# --------------------------------------------------------------------------


def __getattr__(name: str) -> Any:
    if name in ("simulate_expression", "ExpressionTruth"):
        from exomir.simulate import expression

        return getattr(expression, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
