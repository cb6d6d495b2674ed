"""Library kit detection from the reads (``protocol: auto``) and kit checks.

A small-RNA library is only trimmed right when its kit is known (3' adapter,
5' random or template-switch bases, UMI), and sample sheets are often wrong or
silent. From the first reads of a library this module records evidence in the
preprocessing JSON (``kit_detection``): the share of reads whose leftmost known
adapter probe is each candidate's (:data:`CANDIDATES`, adapters from
:data:`~exomir.reads.protocols.PRESETS`) and the read offset at which known
mature miRNAs start. It decides the kit (thresholds and rationale in
:class:`KitThresholds`), marks undetermined ``auto`` libraries failed, and
suggests another protocol for a configured one only on clear evidence.

Candidates, sources, decision rules and what is recorded:
``docs/kit_detection.md``.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dnaio
import numpy as np

from exomir.config import resources_dir
from exomir.reads.protocols import (
    PRESETS,
    Protocol,
    TrimSettings,
    credit_first_probe,
    probe_fraction,
)
from exomir.reads.readsample import ReadSample

if TYPE_CHECKING:
    import pandas as pd

    from exomir.reads.preprocess import PreprocessStats

__all__ = [
    "AUTO",
    "CANDIDATES",
    "AutoProtocol",
    "KitCandidate",
    "KitDetection",
    "KitThresholds",
    "add_cli",
    "check_configured",
    "detect_kit",
    "detect_kit_in_file",
    "failed_library",
    "failure_hint",
    "load_anchors",
    "mark_stopped",
    "probe_fraction",
    "protocol_from_spec",
    "read_sample",
    "suggest_protocol",
]

#: The ``protocol`` value of the sample sheet that asks for detection.
AUTO = "auto"


@dataclass(frozen=True)
class KitCandidate:
    """A 3' sequence whose presence points to a library kit.

    Attributes
    ----------
    name : str
        Short name used in the evidence (``kit_detection.candidates``).
    label : str
        Human-readable description.
    adapter : str
        Sequence searched (its first ``probe_length`` bases).
    kits : tuple of str
        Protocol presets that use this adapter, told apart by their 5' clip
        (the miRNA offset); empty: no preset (use a custom protocol).
    """

    name: str
    label: str
    adapter: str
    kits: tuple[str, ...]


#: Candidates in tie-break order (see the module docstring for sources).
CANDIDATES: tuple[KitCandidate, ...] = (
    KitCandidate(
        "truseq",
        "Illumina TruSeq small RNA RA3 (also NEXTflex)",
        PRESETS["truseq"].adapter_3p,
        ("truseq", "nextflex"),
    ),
    KitCandidate(
        "qiaseq", "QIAGEN QIAseq miRNA", PRESETS["qiaseq"].adapter_3p, ("qiaseq",)
    ),
    KitCandidate(
        "illumina_v15",
        "Illumina small RNA v1.5 3' adapter",
        PRESETS["illumina_v15"].adapter_3p,
        ("illumina_v15",),
    ),
    KitCandidate(
        "illumina_v10",
        "Illumina small RNA v1.0 3' adapter",
        PRESETS["illumina_v10"].adapter_3p,
        ("illumina_v10",),
    ),
    KitCandidate(
        "illumina_universal",
        "Illumina TruSeq DNA / universal adapter (e.g. NEBNext small RNA)",
        "AGATCGGAAGAGC",
        (),
    ),
    KitCandidate("polya", "poly-A tail (CATS)", "A" * 12, ("cats",)),
)

_POLYA = "polya"


@dataclass(frozen=True)
class KitThresholds:
    """Settings of the detection (config ``kit_detection``).

    Attributes
    ----------
    sample_reads : int
        Leading reads examined (all if the file has fewer).
    probe_length : int
        Adapter bases that must match exactly (12: a random 12-mer occurs in
        a 50-nt read with probability ~2e-6).
    min_share : float
        Credited share a specific adapter needs (the trimming's default
        adapter gate).
    dominance : float
        The winning adapter's share over the next specific adapter's.
    polya_min_share : float
        Credited poly-A share CATS needs without offset evidence against it.
    min_anchored : int
        miRNA-anchored reads needed to use the 5' offset evidence.
    offset_min_share : float
        Share of anchored reads at the dominant offset.
    max_offset : int
        Largest 5' offset looked at.
    suggest_min_share : float
        Detected share needed before another protocol is suggested.
    suggest_ratio : float
        Detected share over the configured adapter's share for a suggestion.
    """

    sample_reads: int = 100_000
    probe_length: int = 12
    min_share: float = 0.10
    dominance: float = 3.0
    polya_min_share: float = 0.30
    min_anchored: int = 100
    offset_min_share: float = 0.60
    max_offset: int = 8
    suggest_min_share: float = 0.30
    suggest_ratio: float = 3.0

    def __post_init__(self) -> None:
        if self.sample_reads < 1:
            raise ValueError("kit_detection.sample_reads must be >= 1")
        if not 8 <= self.probe_length <= 24:
            raise ValueError("kit_detection.probe_length must be in 8..24")
        for name in (
            "min_share",
            "polya_min_share",
            "offset_min_share",
            "suggest_min_share",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"kit_detection.{name} must be in [0, 1]")
        if self.dominance < 1 or self.suggest_ratio < 1:
            raise ValueError("kit_detection dominance and suggest_ratio must be >= 1")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any] | None) -> KitThresholds:
        """Build from a config mapping (missing keys take the defaults).

        Raises
        ------
        ValueError
            Unknown keys or invalid values.
        """
        spec = dict(spec or {})
        allowed = {f.name for f in fields(cls)}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(
                f"unknown kit_detection setting(s) {sorted(unknown)}; "
                f"allowed: {sorted(allowed)}"
            )
        return cls(**spec)


@dataclass
class KitDetection:
    """The evidence and the verdict of a kit detection.

    Attributes
    ----------
    sample_reads : int
        Reads examined.
    candidates : dict
        Candidate name -> share of reads in which its probe is the leftmost
        candidate probe (the evidence the decision uses).
    anywhere : dict
        Candidate name -> share of reads containing its probe anywhere.
    anchored_reads : int
        Reads with a known mature miRNA prefix at offsets 0..max_offset.
    offsets : dict
        Offset (as text) -> share of the anchored reads.
    offset : int or None
        Dominant offset, if it is clear (see :class:`KitThresholds`).
    chosen : str or None
        Protocol preset chosen, or None (undetermined).
    adapter : str or None
        Candidate whose adapter won (also set for ``illumina_universal``).
    reason : str
        One sentence: why this kit, or why none.
    suggestion : str
        For a configured protocol: what to use instead (empty: nothing).
    """

    sample_reads: int = 0
    candidates: dict[str, float] = field(default_factory=dict)
    anywhere: dict[str, float] = field(default_factory=dict)
    anchored_reads: int = 0
    offsets: dict[str, float] = field(default_factory=dict)
    offset: int | None = None
    chosen: str | None = None
    adapter: str | None = None
    reason: str = ""
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (shares rounded to 1e-6)."""
        out = asdict(self)
        for key in ("candidates", "anywhere", "offsets"):
            out[key] = {k: round(v, 6) for k, v in out[key].items()}
        return out

    def evidence(self) -> str:
        """Return the candidate shares as text, e.g. ``truseq 91.2%, ...``."""
        return ", ".join(f"{k} {v:.1%}" for k, v in self.candidates.items())


@dataclass(frozen=True)
class AutoProtocol:
    """``protocol: auto``: the kit is detected from the reads.

    Attributes
    ----------
    presets : dict
        Protocol name -> protocol the detected kit resolves to (the config's
        ``protocols`` over the built-in :data:`~exomir.reads.protocols.PRESETS`).
    thresholds : KitThresholds
        Detection settings.
    name : str
        Always ``"auto"``.
    """

    presets: Mapping[str, Protocol]
    thresholds: KitThresholds = KitThresholds()
    name: str = AUTO


def protocol_from_spec(
    spec: Mapping[str, Any], kit_settings: Mapping[str, Any] | None = None
) -> Protocol | AutoProtocol:
    """Build the protocol of a library from the workflow's ``params.protocol``.

    Parameters
    ----------
    spec
        As for :meth:`Protocol.from_dict`, or ``{"name": "auto", "presets":
        {name: protocol fields}}`` for detection (``presets`` optional: the
        built-in presets fill in).
    kit_settings
        Config ``kit_detection`` mapping.

    Returns
    -------
    Protocol or AutoProtocol
        The protocol, or the detection request.
    """
    if str(spec.get("name", "")).lower() != AUTO:
        return Protocol.from_dict(spec)
    presets: dict[str, Protocol] = dict(PRESETS)
    for name, fields_ in dict(spec.get("presets") or {}).items():
        presets[name] = Protocol.from_dict({**dict(fields_), "name": name})
    return AutoProtocol(presets, KitThresholds.from_mapping(kit_settings))


@functools.lru_cache(maxsize=4)
def load_anchors(
    paths: tuple[str, ...] | None = None, length: int = 12
) -> frozenset[str]:
    """Return the ``length``-nt prefixes of known mature miRNAs.

    Parameters
    ----------
    paths
        Mature FASTA files (default: the shipped miRBase v22 human and mouse
        ``mature.fa``).
    length
        Prefix length.

    Returns
    -------
    frozenset of str
        DNA prefixes (U -> T), without Ns.
    """
    if paths is None:
        base = resources_dir() / "mirbase" / "v22"
        paths = tuple(str(base / sp / "mature.fa") for sp in ("hsa", "mmu"))
    out: set[str] = set()
    for path in paths:
        with dnaio.open(path) as reader:
            for rec in reader:
                seq = rec.sequence.upper().replace("U", "T")
                if len(seq) >= length and "N" not in seq[:length]:
                    out.add(seq[:length])
    return frozenset(out)


def read_sample(path: str | os.PathLike[str], n: int) -> Counter[str]:
    """Return the sequences of the first ``n`` reads of a FASTQ(.gz) with counts.

    Raises
    ------
    exomir.reads.fastq.FastqFormatError
        Malformed or unreadable input (file, record number, problem).
    """
    from exomir.reads.fastq import FastqFormatError

    seqs: Counter[str] = Counter()
    done = 0
    try:
        with dnaio.open(Path(path)) as reader:
            for rec in itertools.islice(reader, n):
                seqs[rec.sequence] += 1
                done += 1
    except (dnaio.exceptions.FastqFormatError, EOFError, OSError) as exc:
        raise FastqFormatError(path, done + 1, str(exc) or type(exc).__name__) from exc
    return seqs


def _shares(counts: Mapping[str, int], total: int) -> dict[str, float]:
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def detect_kit(
    sample: Mapping[str, int],
    thresholds: KitThresholds | None = None,
    presets: Mapping[str, Protocol] | None = None,
    anchors: Iterable[str] | None = None,
) -> KitDetection:
    """Detect the kit of a library from a sample of raw reads.

    Parameters
    ----------
    sample
        Raw read sequence -> count (e.g. the first 100,000 reads).
    thresholds
        Decision settings (defaults if None).
    presets
        Protocol name -> protocol (for the 5' clip of each kit); default the
        built-in presets.
    anchors
        Mature miRNA prefixes (default :func:`load_anchors`); their length
        is ``thresholds.probe_length``.

    Returns
    -------
    KitDetection
        Evidence, chosen preset (or None) and the reason.
    """
    th = thresholds or KitThresholds()
    presets = dict(PRESETS) if presets is None else dict(presets)
    k = th.probe_length
    anchor_set = (
        load_anchors(length=k) if anchors is None else frozenset(a[:k] for a in anchors)
    )
    sample = ReadSample.of(sample)  # searched once for every probe
    probes = [(c.name, c.adapter[:k]) for c in CANDIDATES]
    credit, present, total = credit_first_probe(sample, probes)
    offsets = _anchor_offsets(sample, anchor_set, k, th.max_offset)
    det = KitDetection(sample_reads=total)
    names = [c.name for c in CANDIDATES]
    det.candidates = _shares({c: credit[c] for c in names}, total)
    det.anywhere = _shares({c: present[c] for c in names}, total)
    det.anchored_reads = sum(offsets.values())
    if det.anchored_reads:
        det.offsets = {str(o): offsets[o] / det.anchored_reads for o in sorted(offsets)}
        top_off, top_n = min(offsets.items(), key=lambda kv: (-kv[1], kv[0]))
        if (
            det.anchored_reads >= th.min_anchored
            and top_n >= th.offset_min_share * det.anchored_reads
        ):
            det.offset = top_off
    if total == 0:
        det.reason = "no reads to inspect"
        return det
    _decide(det, th, presets)
    return det


def _anchor_offsets(
    sample: ReadSample, anchors: frozenset[str], k: int, max_offset: int
) -> Counter[int]:
    """Count the reads per offset ``0..max_offset`` where an anchor first starts."""
    offsets: Counter[int] = Counter()
    first = sample.first_window_in(anchors, k, max_offset)
    if first is not None:  # vectorised; the same reads as the loop below
        found = first >= 0
        sums = np.zeros(max_offset + 1, dtype=np.int64)
        np.add.at(sums, first[found], sample.counts[found])
        reads = np.bincount(first[found], minlength=max_offset + 1)
        for o in np.flatnonzero(reads).tolist():
            offsets[o] = int(sums[o])
        return offsets
    for seq, n in sample.items():
        for o in range(min(max_offset, len(seq) - k) + 1):
            if seq[o : o + k] in anchors:
                offsets[o] += n
                break
    return offsets


def _offset_text(det: KitDetection, th: KitThresholds) -> str:
    if det.offset is not None:
        return (
            f"known miRNAs start at read offset {det.offset} in "
            f"{det.offsets[str(det.offset)]:.0%} of {det.anchored_reads:,} "
            "miRNA-anchored reads"
        )
    if det.anchored_reads < th.min_anchored:
        return (
            f"only {det.anchored_reads:,} miRNA-anchored reads (< {th.min_anchored}), "
            "5' offset not checked"
        )
    top = ", ".join(
        f"{o}: {s:.0%}" for o, s in sorted(det.offsets.items(), key=lambda x: -x[1])[:3]
    )
    return f"no dominant miRNA start offset ({top} of {det.anchored_reads:,} reads)"


def _decide(
    det: KitDetection, th: KitThresholds, presets: Mapping[str, Protocol]
) -> None:
    """Fill ``chosen``, ``adapter`` and ``reason`` from the evidence."""
    specific = sorted(
        ((s, n) for n, s in det.candidates.items() if n != _POLYA),
        key=lambda x: (-x[0], [c.name for c in CANDIDATES].index(x[1])),
    )
    (top_share, top), (second_share, second) = specific[0], specific[1]
    by_name = {c.name: c for c in CANDIDATES}
    evidence = f"(first {det.sample_reads:,} reads: {det.evidence()})"
    offset_text = _offset_text(det, th)
    if top_share >= th.min_share:
        if top_share < th.dominance * second_share:
            det.reason = (
                f"two adapters at comparable levels, {top} {top_share:.1%} and "
                f"{second} {second_share:.1%} (need {th.dominance:g}x): mixed or "
                f"mislabelled library {evidence}"
            )
            return
        winner = by_name[top]
    else:
        polya = det.candidates[_POLYA]
        clips = {presets[kit].clip_5p for kit in by_name[_POLYA].kits if kit in presets}
        switch = det.offset is not None and det.offset in clips
        if polya < th.polya_min_share and not (switch and polya >= th.min_share):
            det.reason = (
                f"no candidate adapter in enough reads: specific adapters need "
                f"{th.min_share:.0%}, poly-A {th.polya_min_share:.0%} (or "
                f"{th.min_share:.0%} with miRNAs at the template-switch offset) "
                f"{evidence}"
            )
            return
        winner = by_name[_POLYA]
    det.adapter = winner.name
    if not winner.kits:
        det.reason = (
            f"the reads carry the {winner.label} {winner.adapter} "
            f"({det.candidates[winner.name]:.1%}), which no preset uses: use a custom "
            f"protocol with adapter_3p {winner.adapter} and the kit's clips "
            f"{evidence}"
        )
        return
    kits = [kit for kit in winner.kits if kit in presets]
    if det.offset is not None:
        fitting = [kit for kit in kits if presets[kit].clip_5p == det.offset]
        if len(fitting) == 1:
            det.chosen = fitting[0]
        else:
            det.reason = (
                f"adapter {winner.label} but {offset_text}, which fits none of "
                f"{', '.join(kits)} (5' clips "
                f"{', '.join(str(presets[kit].clip_5p) for kit in kits)}) {evidence}"
            )
            return
    elif len(kits) == 1 and (
        det.anchored_reads < th.min_anchored or winner.name != _POLYA
    ):
        det.chosen = kits[0]
    else:
        det.reason = (
            f"adapter {winner.label}, but {offset_text}, so "
            f"{' / '.join(kits)} cannot be told apart {evidence}"
        )
        return
    det.reason = (
        f"{winner.label} adapter first in {det.candidates[winner.name]:.1%} of reads; "
        f"{offset_text} {evidence}"
    )


def detect_kit_in_file(
    path: str | os.PathLike[str],
    thresholds: KitThresholds | None = None,
    presets: Mapping[str, Protocol] | None = None,
) -> KitDetection:
    """Detect the kit of a FASTQ(.gz) from its first ``sample_reads`` reads."""
    th = thresholds or KitThresholds()
    return detect_kit(read_sample(path, th.sample_reads), th, presets)


def _same_trimming(a: Protocol, b: Protocol, k: int) -> bool:
    return (
        a.adapter_3p[:k] == b.adapter_3p[:k]
        and a.clip_5p == b.clip_5p
        and a.clip_3p == b.clip_3p
        and a.umi == b.umi
    )


def suggest_protocol(
    det: KitDetection,
    configured: Protocol,
    configured_fraction: float,
    min_adapter_fraction: float,
    thresholds: KitThresholds | None = None,
    presets: Mapping[str, Protocol] | None = None,
) -> str:
    """Return a suggestion if the evidence says the configured protocol is wrong.

    Parameters
    ----------
    det
        Detection on the library's first reads.
    configured
        The protocol the sample sheet gives.
    configured_fraction
        Share of reads in which the configured adapter was found (the
        trimming's ``adapter_fraction``, or its probe share in the sample).
    min_adapter_fraction
        The trimming's adapter gate.
    thresholds, presets
        As for :func:`detect_kit`.

    Returns
    -------
    str
        ``"the reads look like ...: use protocol 'x'"``, or ``""`` when the
        configured protocol agrees with the reads or the evidence is not clear
        (see the module docstring).
    """
    th = thresholds or KitThresholds()
    presets = dict(PRESETS) if presets is None else dict(presets)
    if det.chosen is None or det.chosen not in presets:
        return ""
    chosen = presets[det.chosen]
    if _same_trimming(chosen, configured, th.probe_length):
        return ""
    share = det.candidates.get(det.adapter or "", 0.0)
    same_adapter = (
        chosen.adapter_3p[: th.probe_length] == configured.adapter_3p[: th.probe_length]
    )
    if same_adapter:
        # e.g. truseq vs nextflex: only the 5' offset can tell
        if det.offset is None or det.offset == configured.clip_5p:
            return ""
        why = (
            f"known miRNAs start at read offset {det.offset} (in "
            f"{det.offsets[str(det.offset)]:.0%} of {det.anchored_reads:,} "
            f"miRNA-anchored reads), protocol {configured.name!r} clips "
            f"{configured.clip_5p}"
        )
    else:
        if configured_fraction >= min_adapter_fraction:
            return ""
        if share < th.suggest_min_share or share < th.suggest_ratio * max(
            configured_fraction, 0.0
        ):
            return ""
        why = (
            f"adapter {chosen.adapter_3p} first in {share:.1%} of the first "
            f"{det.sample_reads:,} reads, configured adapter "
            f"{configured.adapter_3p} in {configured_fraction:.1%}"
        )
    text = (
        f"the reads look like {chosen.description or chosen.name} ({why}): "
        f"use protocol {det.chosen!r}"
    )
    if not (chosen.clip_5p or chosen.clip_3p or chosen.umi_length):
        text += f" (or 'custom' with adapter_3p {chosen.adapter_3p})"
    return text


def check_configured(
    sample: Mapping[str, int],
    configured: Protocol,
    adapter_fraction: float,
    min_adapter_fraction: float,
    thresholds: KitThresholds | None = None,
    presets: Mapping[str, Protocol] | None = None,
) -> KitDetection:
    """Detect the kit and check a configured protocol against it.

    Parameters
    ----------
    sample
        First reads of the library (sequence -> count).
    configured
        The protocol used for the library.
    adapter_fraction
        Share of all reads in which the trimming found the configured adapter.
    min_adapter_fraction
        The trimming's adapter gate.
    thresholds, presets
        As for :func:`detect_kit`.

    Returns
    -------
    KitDetection
        The detection, ``suggestion`` filled by :func:`suggest_protocol`.
    """
    det = detect_kit(sample, thresholds, presets)
    det.suggestion = suggest_protocol(
        det, configured, adapter_fraction, min_adapter_fraction, thresholds, presets
    )
    return det


def failure_hint(det: KitDetection, legacy: Any = None) -> str:
    """Return the hint of a failed adapter gate without a clear suggestion.

    The detection's verdict (a kit, or why none), plus the most frequent
    late k-mer of the older adapter search (``legacy``, an
    :class:`~exomir.reads.protocols.AdapterDetection`) when it found one.
    """
    if det.chosen is not None:
        text = f"the reads fit protocol {det.chosen!r}: {det.reason}"
    else:
        text = f"kit not determined: {det.reason}"
    kmer = getattr(legacy, "kmer", None)
    if kmer:
        text += f"; {legacy.suggestion}"
    return text


def failed_library(
    fastq: str | os.PathLike[str],
    detection: KitDetection,
    settings: TrimSettings,
    threads: int = 1,
    sample: str | None = None,
) -> tuple[np.ndarray, PreprocessStats]:
    """Return the (empty) inserts and stats of a library whose kit is unknown.

    The whole file is still read (validated, quality-trimmed) so that the read
    funnel has its true size: every read is ``no_adapter`` and
    ``failed_reason`` names the candidates and their evidence.

    Parameters
    ----------
    fastq, detection, settings
        The library's FASTQ(.gz), its undetermined detection and the trimming
        settings (quality cut-off; recorded in the stats).
    threads
        2 decompresses in a background thread.
    sample
        Sample name (default: file name stem).

    Returns
    -------
    text, stats
        Empty collapsed FASTA text (uint8) and the read accounting.
    """
    from exomir.reads.fastq import scan_fastq
    from exomir.reads.preprocess import CATEGORIES, PreprocessStats, sample_name

    lengths: Counter[int] = Counter()

    def count(batch: Mapping[Any, int]) -> None:
        for key, n in batch.items():
            seq = key if isinstance(key, str) else "".join(key)
            lengths[len(seq)] += n

    scan = scan_fastq(
        fastq, count, quality_cutoff=settings.quality_cutoff, threads=threads
    )
    size = max(scan.max_read_length, *lengths, 0) + 1
    hist = {c: [0] * size for c in CATEGORIES}
    for length, n in lengths.items():
        hist["no_adapter"][length] += n
    reason = (
        f"library kit could not be determined: {detection.reason}; "
        "set the protocol of this library in the sample sheet"
    )
    stats = PreprocessStats(
        sample=sample or sample_name(fastq),
        fastq=str(fastq),
        protocol=AUTO,
        adapter="",
        protocol_settings={"name": AUTO},
        trim_settings=settings.to_dict(),
        raw_reads=scan.reads,
        no_adapter=scan.reads,
        no_adapter_short=scan.reads,  # stopped: none of its reads is annotated
        max_read_length=scan.max_read_length,
        length_hist=hist,
        kit_detection=detection.to_dict(),
        quality_range=list(scan.quality_range),
        failed_reason=reason,
    )
    return np.zeros(0, dtype=np.uint8), stats


def mark_stopped(
    verdicts: pd.DataFrame, preprocess: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Fail the libraries that were stopped, with the reason first.

    Parameters
    ----------
    verdicts
        The read QC verdicts (columns ``sample_id``, ``pass``, ``reasons``).
    preprocess
        ``sample_id -> preprocess JSON``; a non-empty ``failed_reason`` (see
        :func:`failed_library`) fails the library.

    Returns
    -------
    pandas.DataFrame
        A copy with ``pass`` false and ``reasons`` starting with
        ``"stopped: <failed_reason>"`` for those libraries.
    """
    out = verdicts.copy()
    for i, sample in zip(out.index, out["sample_id"], strict=True):
        why = str((preprocess.get(sample) or {}).get("failed_reason") or "")
        if why:
            out.at[i, "pass"] = False
            rest = str(out.at[i, "reasons"] or "")
            out.at[i, "reasons"] = "; ".join(filter(None, [f"stopped: {why}", rest]))
    return out


def add_cli(sub: Any) -> None:
    """Register ``exomir detect-kit FASTQ...`` on the CLI's subparsers.

    Prints, per file, the chosen kit (or ``undetermined``) and the reason, or
    the whole evidence as JSON with ``--json``; exits 1 if any file's kit is
    undetermined, 2 on unreadable input. Lets a user check a batch of files
    before writing the sample sheet.
    """
    cmd = sub.add_parser(
        "detect-kit",
        help="detect the small-RNA library kit of FASTQ files from their first reads",
    )
    cmd.add_argument("fastq", nargs="+", help="FASTQ(.gz) files")
    cmd.add_argument(
        "--reads",
        type=int,
        default=KitThresholds.sample_reads,
        help="leading reads examined (default %(default)s)",
    )
    cmd.add_argument("--json", action="store_true", help="print the evidence as JSON")
    cmd.set_defaults(func=_cmd_detect_kit)


def _cmd_detect_kit(args: Any) -> int:
    import json
    import sys

    from exomir.reads.fastq import FastqFormatError

    th = KitThresholds(sample_reads=args.reads)
    status = 0
    results = {}
    for path in args.fastq:
        try:
            det = detect_kit_in_file(path, th)
        except (FastqFormatError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
        results[path] = det.to_dict()
        if det.chosen is None:
            status = 1
        if not args.json:
            print(f"{path}: {det.chosen or 'undetermined'}: {det.reason}")
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return status
