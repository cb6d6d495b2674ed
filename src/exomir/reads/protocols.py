"""Library preparation protocols, trimming settings and adapter detection.

Presets follow the nf-core/smrnaseq conventions (``--protocol``):

==========  =======================  =======  =======  ==========
name        3' adapter               clip 5'  clip 3'  UMI
==========  =======================  =======  =======  ==========
truseq      TGGAATTCTCGGGTGCCAAGG    0        0        none
nextflex    TGGAATTCTCGGGTGCCAAGG    4        4        none
qiaseq      AACTGTAGGCACCATCAAT      0        0        qiaseq12
cats        AAAAAAAAAA               3        0        none
==========  =======================  =======  =======  ==========

``illumina_v15`` (3' adapter ``ATCTCGTATGCCGTCTTCTGCTTG``) and
``illumina_v10`` (``TCGTATGCCGTCTTCTGCTTG``) are the old Illumina Small RNA
Sample Prep kits (no clips, no UMI); sources and the kit detection of
``protocol: auto`` are in :mod:`exomir.reads.kit`.

``illumina`` is accepted as another name for ``truseq``. Anything else is a
``custom`` protocol built with :meth:`Protocol.from_dict`.

Clips are applied to the *insert* (after the adapter has been found):
``clip_5p`` bases from the read start and ``clip_3p`` bases from the end of the
insert, i.e. just upstream of the adapter (NEXTflex has 4 random bases on both
sides of the RNA). This matches Trim Galore's ``--clip_R1`` and
``--three_prime_clip_R1`` as used by nf-core/smrnaseq.

CATS: the poly-A tail (added before template switching) is trimmed as the
adapter (10 A; nf-core/smrnaseq 1.x used 8 A) with 3 nt clipped at the 5' end
(template-switch ``GGG``); nf-core 2.x trims the Illumina read-through
``GATCGGAAGAGCACACGTCTG`` instead (use a custom protocol for that). An insert
that itself ends in A loses those As, an inherent ambiguity of the protocol.

QIAseq miRNA: the 12-nt UMI follows the 3' adapter
(insert - AACTGTAGGCACCATCAAT - UMI(12) - AGATCGGAAGAGC...).
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

# numpy (and ReadSample) are imported where used: this module defines
# TrimSettings, which the per-library job unpickles before anything else
# (exomir.reads.settings)


__all__ = [
    "ALIASES",
    "KNOWN_ADAPTERS",
    "PRESETS",
    "AdapterDetection",
    "KnownAdapter",
    "Protocol",
    "TrimSettings",
    "credit_first_probe",
    "detect_adapter",
    "get_protocol",
    "preset_table",
    "probe_fraction",
]

UmiMode = Literal["none", "qiaseq12"]
_UMI_LENGTHS: dict[str, int] = {"none": 0, "qiaseq12": 12}
_IUPAC = re.compile(r"[ACGTURYSWKMBDHVN]+")


@dataclass(frozen=True)
class Protocol:
    """How one library was built: what to remove from each read.

    Attributes
    ----------
    name : str
        Preset name, or ``"custom"``; reported in the stats.
    adapter_3p : str
        3' adapter (IUPAC DNA, upper case). Trimmed with errors allowed; a
        partial adapter at the read end counts when it reaches the minimum
        overlap.
    clip_5p : int
        Bases removed from the start of the read (the insert's 5' end).
    clip_3p : int
        Bases removed from the end of the insert (just before the adapter).
    umi : {"none", "qiaseq12"}
        ``"qiaseq12"``: a 12-nt UMI directly follows the 3' adapter; reads are
        deduplicated per insert and UMI.
    description : str
        Free text for reports.
    """

    name: str
    adapter_3p: str
    clip_5p: int = 0
    clip_3p: int = 0
    umi: UmiMode = "none"
    description: str = ""

    def __post_init__(self) -> None:
        adapter = self.adapter_3p.upper().replace("U", "T")
        if not adapter or not _IUPAC.fullmatch(adapter):
            raise ValueError(
                f"protocol {self.name!r}: adapter_3p must be a non-empty IUPAC DNA "
                f"sequence, got {self.adapter_3p!r}"
            )
        object.__setattr__(self, "adapter_3p", adapter)
        for name in ("clip_5p", "clip_3p"):
            value = getattr(self, name)
            try:
                if isinstance(value, bool):
                    raise TypeError
                number = operator.index(value)  # int, numpy integers
            except TypeError:
                number = -1
            if number < 0:
                raise ValueError(
                    f"protocol {self.name!r}: {name} must be an integer >= 0, "
                    f"got {value!r}"
                )
            object.__setattr__(self, name, int(number))
        if self.umi not in _UMI_LENGTHS:
            raise ValueError(
                f"protocol {self.name!r}: umi must be one of {sorted(_UMI_LENGTHS)}, "
                f"got {self.umi!r}"
            )

    @property
    def umi_length(self) -> int:
        """Length of the UMI after the adapter (0 without UMI)."""
        return _UMI_LENGTHS[self.umi]

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Protocol:
        """Build a protocol from a config mapping.

        Parameters
        ----------
        spec
            Either ``{"preset": NAME}`` plus optional overrides of any field,
            or the explicit fields ``adapter_3p`` (required), ``clip_5p``,
            ``clip_3p``, ``umi``, ``name`` (default ``"custom"``) and
            ``description``. A ``name`` that is a preset and no ``adapter_3p``
            is read as ``preset``. Values that are None or NaN (empty cells of
            a sample sheet) count as absent.

        Returns
        -------
        Protocol
            The protocol.

        Raises
        ------
        ValueError
            Unknown keys or presets, or invalid values.
        """
        allowed = {f.name for f in fields(cls)} | {"preset"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(
                f"unknown protocol field(s) {sorted(unknown)}; "
                f"allowed: {sorted(allowed)}"
            )
        values = {k: v for k, v in spec.items() if not _missing(v)}
        preset = values.pop("preset", None)
        if preset is None and "adapter_3p" not in values and "name" in values:
            preset = values["name"]
        if preset is not None:
            base = get_protocol(str(preset))
            return replace(base, **values)
        if "adapter_3p" not in values:
            raise ValueError("protocol needs 'adapter_3p' or 'preset'")
        values.setdefault("name", "custom")
        return cls(**values)


def _missing(value: Any) -> bool:
    """Return whether a config value is absent (None, NaN, empty string)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


#: Library preparation presets: the one table of built-in kits. The config's
#: ``protocols:`` section replaces or adds presets by name (:func:`preset_table`);
#: kit detection, the simulator and the docs derive from this table.
PRESETS: dict[str, Protocol] = {
    "truseq": Protocol(
        "truseq",
        "TGGAATTCTCGGGTGCCAAGG",
        description="Illumina TruSeq Small RNA",
    ),
    "nextflex": Protocol(
        "nextflex",
        "TGGAATTCTCGGGTGCCAAGG",
        clip_5p=4,
        clip_3p=4,
        description="PerkinElmer NEXTflex Small RNA v3 (4 random nt on both ends)",
    ),
    "qiaseq": Protocol(
        "qiaseq",
        "AACTGTAGGCACCATCAAT",
        umi="qiaseq12",
        description="QIAGEN QIAseq miRNA (12-nt UMI after the 3' adapter)",
    ),
    "cats": Protocol(
        "cats",
        "AAAAAAAAAA",
        clip_5p=3,
        description="Diagenode CATS small RNA (poly-A tail, 3 nt template switch)",
    ),
    "illumina_v15": Protocol(
        "illumina_v15",
        "ATCTCGTATGCCGTCTTCTGCTTG",
        description="Illumina Small RNA Sample Prep v1.5 (GAIIx era)",
    ),
    "illumina_v10": Protocol(
        "illumina_v10",
        "TCGTATGCCGTCTTCTGCTTG",
        description="Illumina Small RNA Sample Prep v1.0",
    ),
}


def preset_table(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Return the presets as config mappings, with the config's overrides.

    Each entry of ``overrides`` (the config's ``protocols:`` section) replaces
    the built-in preset of that name or adds a new one; built-in presets come
    first, in :data:`PRESETS` order.

    Parameters
    ----------
    overrides
        Preset name -> ``description, adapter_3p, clip_5p, clip_3p, umi``.

    Returns
    -------
    dict
        Preset name -> its fields (the shape of the config section).
    """
    keys = ("description", "adapter_3p", "clip_5p", "clip_3p", "umi")
    table = {name: {k: getattr(p, k) for k in keys} for name, p in PRESETS.items()}
    for name, spec in (overrides or {}).items():
        table[str(name)] = dict(spec)
    return table


#: Other accepted names for presets.
ALIASES: dict[str, str] = {"illumina": "truseq", "truseq_small_rna": "truseq"}


def get_protocol(name: str) -> Protocol:
    """Return the preset called ``name`` (or one of its aliases).

    Parameters
    ----------
    name
        Preset name, case-insensitive.

    Returns
    -------
    Protocol
        The preset.

    Raises
    ------
    ValueError
        Unknown name.
    """
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return PRESETS[key]
    except KeyError:
        raise ValueError(
            f"unknown protocol preset {name!r}; known: {sorted(PRESETS)} "
            "(or give adapter_3p/clip_5p/clip_3p/umi for a custom protocol)"
        ) from None


@dataclass(frozen=True)
class TrimSettings:
    """Adapter trimming and length filtering settings.

    Attributes
    ----------
    min_length : int
        Shortest insert kept (after clipping); shorter non-empty inserts are
        ``too_short``, empty ones ``adapter_dimer``.
    max_length : int
        Longest insert kept; longer ones are ``too_long``.
    min_adapter_overlap : int
        Minimum length of a partial adapter at the read end (cutadapt ``-O``).
    max_error_rate : float
        Mismatches + indels allowed per adapter base aligned (cutadapt ``-e``).
    quality_cutoff : int
        3' quality trimming cutoff (cutadapt ``-q``, BWA algorithm), applied
        before adapter search; 0 disables it.
    min_adapter_fraction : float
        The library fails when the adapter is found in fewer reads than this.
    umi_dedup : {"directional", "exact"}
        UMI protocols: how reads of one insert become molecules.
        ``directional`` (UMI-tools' rule) merges a UMI into one a single base
        away that has at least ``2 * reads - 1`` reads; ``exact`` counts
        distinct UMIs.
    """

    min_length: int = 16
    max_length: int = 45
    min_adapter_overlap: int = 3
    max_error_rate: float = 0.1
    quality_cutoff: int = 0
    min_adapter_fraction: float = 0.10
    umi_dedup: Literal["directional", "exact"] = "directional"

    def __post_init__(self) -> None:
        if not 0 <= self.min_length <= self.max_length:
            raise ValueError(
                f"need 0 <= min_length <= max_length, got {self.min_length}, "
                f"{self.max_length}"
            )
        if self.min_adapter_overlap < 1:
            raise ValueError("min_adapter_overlap must be >= 1")
        if not 0 <= self.max_error_rate < 1:
            raise ValueError("max_error_rate must be in [0, 1)")
        if not 0 <= self.quality_cutoff <= 93:
            raise ValueError("quality_cutoff must be in 0..93")
        if not 0 <= self.min_adapter_fraction <= 1:
            raise ValueError("min_adapter_fraction must be in [0, 1]")
        if self.umi_dedup not in ("directional", "exact"):
            raise ValueError(
                f"umi_dedup must be 'directional' or 'exact', got {self.umi_dedup!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TrimSettings:
        """Build settings from a config mapping; missing keys take defaults.

        Parameters
        ----------
        spec
            Any subset of the fields.

        Returns
        -------
        TrimSettings
            The settings.

        Raises
        ------
        ValueError
            Unknown keys or invalid values.
        """
        allowed = {f.name for f in fields(cls)}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(
                f"unknown trim setting(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        return cls(**dict(spec))


@dataclass(frozen=True)
class KnownAdapter:
    """An adapter looked for when guessing a library's protocol.

    Attributes
    ----------
    label : str
        Human-readable name.
    sequence : str
        Adapter sequence (the first ``probe_length`` bases are searched).
    presets : tuple of str
        Presets using this adapter (empty: suggest a custom protocol).
    """

    label: str
    sequence: str
    presets: tuple[str, ...] = ()


#: Adapters searched by :func:`detect_adapter`.
KNOWN_ADAPTERS: tuple[KnownAdapter, ...] = (
    KnownAdapter(
        "Illumina TruSeq small RNA / NEXTflex",
        PRESETS["truseq"].adapter_3p,
        ("truseq", "nextflex"),
    ),
    KnownAdapter("QIAseq miRNA", PRESETS["qiaseq"].adapter_3p, ("qiaseq",)),
    KnownAdapter("Illumina TruSeq DNA/RNA universal", "AGATCGGAAGAGCACACGTCTG", ()),
    KnownAdapter("Nextera / Tn5", "CTGTCTCTTATACACATCT", ()),
    KnownAdapter("poly-A (CATS)", "AAAAAAAAAAAAAAAA", ("cats",)),
)


@dataclass
class AdapterDetection:
    """Which adapter the reads contain, from a sample of reads.

    Attributes
    ----------
    sample_reads : int
        Reads examined.
    fractions : dict
        Label of each known adapter -> fraction of sampled reads in which its
        probe is the first known adapter probe.
    best : str or None
        Label of the best known adapter (None if none reaches 10 %).
    best_fraction : float
        Its fraction.
    presets : list of str
        Presets that fit ``best``.
    kmer : str or None
        Without a known adapter: the most frequent k-mer starting at or after
        position 18 (start of the adapter, extended to the left while it stays
        about as frequent).
    kmer_fraction : float
        Fraction of sampled reads containing ``kmer`` there.
    kmer_position : int or None
        Most common 0-based start of ``kmer`` in the reads.
    configured_fraction : float
        Fraction of sampled reads containing the configured adapter's probe.
    suggestion : str
        A sentence telling the user what to use.
    """

    sample_reads: int = 0
    fractions: dict[str, float] = field(default_factory=dict)
    best: str | None = None
    best_fraction: float = 0.0
    presets: list[str] = field(default_factory=list)
    kmer: str | None = None
    kmer_fraction: float = 0.0
    kmer_position: int | None = None
    configured_fraction: float = 0.0
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


def _kmer_guess(
    sample: Mapping[str, int], k: int, start: int, max_reads: int = 20_000
) -> tuple[str, float, int] | None:
    seqs: list[tuple[str, int]] = []
    total = 0
    for seq, n in sample.items():  # the first reads of the file
        seqs.append((seq, n))
        total += n
        if total >= max_reads:
            break
    counts: Counter[str] = Counter()
    for seq, n in seqs:
        kmers = {seq[i : i + k] for i in range(start, len(seq) - k + 1)}
        counts.update(dict.fromkeys((m for m in kmers if "N" not in m), n))
    if not counts or total == 0:
        return None
    best, top = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    # Extend to the left while a one-base extension is nearly as frequent:
    # k-mers inside the adapter are all about equally common, the first one
    # that reaches into the (variable) insert is not.
    adapter = best
    for _ in range(32):
        left: Counter[str] = Counter()
        for seq, n in seqs:
            i = seq.find(adapter)
            if i >= 1:
                left[seq[i - 1]] += n
        if not left:
            break
        base, c = left.most_common(1)[0]
        if c < 0.8 * top or base == "N":
            break
        adapter = base + adapter
    where: Counter[int] = Counter()
    for seq, n in seqs:
        i = seq.find(adapter)
        if i >= 0:
            where[i] += n
    pos = where.most_common(1)[0][0] if where else start
    return (adapter, top / total, pos)


def credit_first_probe(
    sample: Mapping[str, int], probes: Sequence[tuple[str, str]]
) -> tuple[Counter[str], Counter[str], int]:
    """Credit each read to the probe that starts leftmost in it (ties: list order).

    The adapter ligated to the insert is read first, so read-through behind it
    never outvotes it. Used by :func:`detect_adapter` and the kit detection.

    Parameters
    ----------
    sample
        Raw read sequence -> count.
    probes
        ``(name, probe)`` pairs, searched exactly anywhere in the read.

    Returns
    -------
    credit, present, total
        Reads credited per name, reads containing each probe anywhere, and
        all reads.
    """
    import numpy as np

    from exomir.reads.readsample import ReadSample

    reads = ReadSample.of(sample)
    credit: Counter[str] = Counter()
    present: Counter[str] = Counter()
    total = reads.total
    if not probes or not len(reads):
        return credit, present, total
    # leftmost start per read and probe; ties go to the first probe (argmin)
    pos = np.stack([reads.first_positions(probe) for _, probe in probes])
    absent = np.iinfo(np.int64).max
    best = np.argmin(np.where(pos < 0, absent, pos), axis=0)
    found = (pos >= 0).any(axis=0)
    for j, (name, _) in enumerate(probes):
        here = pos[j] >= 0
        if here.any():
            present[name] += int(reads.counts[here].sum())
        won = found & (best == j)
        if won.any():
            credit[name] += int(reads.counts[won].sum())
    return credit, present, total


def probe_fraction(sample: Mapping[str, int], adapter: str, k: int = 12) -> float:
    """Return the share of sampled reads containing ``adapter[:k]`` exactly."""
    from exomir.reads.readsample import ReadSample

    reads = ReadSample.of(sample)
    total = reads.total
    if not total:
        return 0.0
    hit = reads.first_positions(adapter[:k]) >= 0
    return int(reads.counts[hit].sum()) / total


def detect_adapter(
    sample: Mapping[str, int],
    configured: str | None = None,
    probe_length: int = 12,
    kmer_start: int = 18,
    min_fraction: float = 0.10,
    kmer_fallback: bool = True,
) -> AdapterDetection:
    """Guess the 3' adapter of a library from a sample of raw reads.

    Each read is credited to the known adapter whose ``probe_length``-nt
    prefix occurs *first* in it (so the QIAseq adapter wins over the Illumina
    read-through that follows its UMI, and a real adapter over a poly-A
    run-off). Without any known adapter in ``min_fraction`` of the reads, the
    most frequent ``probe_length``-mer starting at or after ``kmer_start`` is
    reported instead (inserts are mostly shorter than 18 nt + adapter).

    Parameters
    ----------
    sample
        Raw read sequence -> count.
    configured
        The adapter the protocol says; its probe frequency is reported too.
    probe_length
        Length of the adapter prefix searched.
    kmer_start
        First read position considered by the k-mer fallback.
    min_fraction
        Fraction of reads a known adapter needs to be reported as ``best``.
    kmer_fallback
        Run the slower k-mer search when no known adapter is found.

    Returns
    -------
    AdapterDetection
        Fractions, best guess and a suggestion sentence.
    """
    from exomir.reads.readsample import ReadSample

    sample = ReadSample.of(sample)  # searched once for every probe
    total = sample.total
    det = AdapterDetection(sample_reads=total)
    if total == 0:
        det.suggestion = "no reads to inspect"
        return det
    probes = [(a.label, a.sequence[:probe_length]) for a in KNOWN_ADAPTERS]
    credit, _, _ = credit_first_probe(sample, probes)
    det.fractions = {a.label: credit[a.label] / total for a in KNOWN_ADAPTERS}
    det.configured_fraction = (
        probe_fraction(sample, configured, probe_length) if configured else 0.0
    )
    label, frac = max(det.fractions.items(), key=lambda kv: kv[1])
    if frac >= min_fraction:
        det.best, det.best_fraction = label, frac
        known = next(a for a in KNOWN_ADAPTERS if a.label == label)
        det.presets = list(known.presets)
        if known.presets:
            names = " or ".join(repr(p) for p in known.presets)
            det.suggestion = (
                f"the reads look like {label} (adapter {known.sequence} first in "
                f"{frac:.1%} of the first {total:,} reads): use protocol {names}"
            )
            if known.presets == ("truseq", "nextflex"):
                det.suggestion += (
                    " (same adapter; NEXTflex also clips 4 random bases at both "
                    "ends of the insert)"
                )
        else:
            det.suggestion = (
                f"the reads contain the {label} adapter {known.sequence} "
                f"({frac:.1%} of the first {total:,} reads), which no small-RNA "
                "preset uses: use a custom protocol with adapter_3p "
                f"{known.sequence}"
            )
        return det
    if not kmer_fallback:
        det.suggestion = "no known adapter found"
        return det
    guess = _kmer_guess(sample, probe_length, kmer_start)
    if guess is None:
        det.suggestion = "no known adapter and no repeated sequence found"
        return det
    det.kmer, det.kmer_fraction, det.kmer_position = guess
    det.suggestion = (
        "no known adapter found; the most frequent sequence after position "
        f"{kmer_start} is {det.kmer} (in {det.kmer_fraction:.1%} of the first "
        f"{total:,} reads, typically at position {det.kmer_position + 1}): if "
        f"that is the adapter, use a custom protocol with adapter_3p {det.kmer}"
    )
    return det
