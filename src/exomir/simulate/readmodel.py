"""Read-model parameters and protocol constants of the library simulator.

:class:`ReadParams` holds every read-level and expression setting (defaults
from analysis_spec.md §6); the helpers derive expected shares and depths from
it. Both :mod:`exomir.simulate.expression` and :mod:`exomir.simulate.library`
import from here, so neither imports the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from exomir.reads.protocols import PRESETS as KIT_PRESETS

__all__ = [
    "C19MC_PATTERN",
    "NEXTFLEX_RANDOM_NT",
    "PROTOCOLS",
    "QIASEQ_3P",
    "QIASEQ_TAIL",
    "RBC_MIRNAS",
    "TRUSEQ_3P",
    "TRUSEQ_TAIL",
    "ReadParams",
    "build_read_params",
    "default_adapter",
    "draw_library_depths",
    "expected_mirna_fraction",
    "expected_reads_per_molecule",
    "is_c19mc",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: TruSeq small-RNA 3' adapter (RA3).
TRUSEQ_3P = KIT_PRESETS["truseq"].adapter_3p
#: Sequence read after the TruSeq 3' adapter (index primer side).
TRUSEQ_TAIL = "ATCTCGTATGCCGTCTTCTGCTTG"
#: QIAseq miRNA 3' adapter; the 12-nt UMI follows it.
QIASEQ_3P = KIT_PRESETS["qiaseq"].adapter_3p
#: Sequence read after the QIAseq UMI.
QIASEQ_TAIL = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC"
#: Random nucleotides on each side of a NEXTflex insert.
NEXTFLEX_RANDOM_NT = KIT_PRESETS["nextflex"].clip_5p
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


def build_read_params(params: Mapping[str, Any]) -> ReadParams:
    """Build the read simulator's ``ReadParams`` from the ``reads`` section.

    Depth, depth CV and haemolysis settings come from the ``library`` section
    so that each is set in one place.

    Parameters
    ----------
    params
        Resolved parameters.

    Returns
    -------
    ReadParams
        Frozen read-simulation parameters.
    """
    lib = params["library"]
    kw = dict(params["reads"])
    known = {f.name for f in fields(ReadParams)}
    overrides = {
        "reads_per_library": int(lib["reads_per_library"]),
        "depth_cv": float(lib["depth_cv"]),
        "hemolysis_fraction": float(lib["hemolysis_frac"]),
        "hemolysis_factor_range": tuple(lib["hemolysis_factor_range"]),
    }
    kw.update({k: v for k, v in overrides.items() if k in known})
    return ReadParams(**{k: v for k, v in kw.items() if k in known})
