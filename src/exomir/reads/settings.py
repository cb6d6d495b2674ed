"""Settings of the per-library job, in a module that imports nothing heavy.

Snakemake pickles rule ``library``'s ``params.settings``
(:class:`LibrarySettings`) into every job script, and unpickling imports the
modules that define the classes. Defined here (with
:class:`AnnotationParams` and, in :mod:`exomir.reads.protocols`,
:class:`~exomir.reads.protocols.TrimSettings`), unpickling loads neither
numpy nor numba, so the job script can still set up its environment before
they are imported (``workflow/scripts/library.py``), and the workflow's
``library.smk`` builds the settings without importing the whole read
pipeline. :mod:`exomir.reads.annotate` and :mod:`exomir.reads.library`
export the same classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exomir.reads.protocols import TrimSettings

__all__ = ["TOP_INSERTS", "AnnotationParams", "LibrarySettings", "library_settings"]

#: Most abundant collapsed inserts whose counts the library job sums into the
#: preprocessing JSON's ``top_inserts_total`` (the QC's ``top10_fraction``,
#: :func:`exomir.reads.funnel.complexity_table`).
TOP_INSERTS = 10


@dataclass(frozen=True)
class AnnotationParams:
    """Tolerances of the annotation (defaults as in :mod:`exomir.reads.annotate`).

    Attributes
    ----------
    max_shift_5p
        Largest ``|read start - mature start|`` accepted as an isomiR.
    max_shift_3p
        Largest ``|templated end - mature end|`` accepted as an isomiR.
    max_nta
        Most non-templated 3' bases (hairpin passes with 1..``max_nta`` bases
        clipped).
    hairpin_mismatches
        bowtie ``-v`` against hairpins (0 or 1; with 1, a mismatch at the last
        aligned base is an added base, any other is ``iso_snv``).
    min_templated
        Fewest templated bases of a miRNA read.
    contaminant_mismatches
        bowtie ``-v`` against the contaminant categories (1; 2 until exomir
        0.1; the trade-off is in ``docs/performance.md``).
    exact_contaminant_wins
        A read that is a miRNA only with a substitution or non-templated
        bases but matches a contaminant sequence exactly (end to end) goes
        to that contaminant category.
    """

    max_shift_5p: int = 3
    max_shift_3p: int = 5
    max_nta: int = 3
    hairpin_mismatches: int = 1
    min_templated: int = 16
    contaminant_mismatches: int = 1
    exact_contaminant_wins: bool = True

    def __post_init__(self) -> None:
        if self.hairpin_mismatches not in (0, 1):
            raise ValueError("hairpin_mismatches must be 0 or 1")
        if not 0 <= self.contaminant_mismatches <= 3:
            raise ValueError("contaminant_mismatches must be 0..3")
        for name in ("max_shift_5p", "max_shift_3p", "max_nta", "min_templated"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def describe(self) -> str:
        """Return the parameters as one ``key=value`` line."""
        return " ".join(f"{k}={v}" for k, v in self.__dict__.items())


@dataclass(frozen=True)
class LibrarySettings:
    """Scenario settings of the per-library job, the same for every library.

    Built once when the workflow is parsed (:func:`library_settings`) and
    passed to the job as ``params.settings``; the protocol is per library.

    Attributes
    ----------
    trim
        Trimming settings (config ``trimming``).
    annotation
        Annotation tolerances (config ``annotation``).
    kit_detection
        Config ``kit_detection`` (thresholds for ``protocol: auto``).
    """

    trim: TrimSettings
    annotation: AnnotationParams
    kit_detection: Mapping[str, Any] = field(default_factory=dict)


def library_settings(cfg: Mapping[str, Any]) -> LibrarySettings:
    """Build the :class:`LibrarySettings` of a (validated) scenario config."""
    return LibrarySettings(
        trim=TrimSettings.from_dict(dict(cfg["trimming"])),
        annotation=AnnotationParams(**dict(cfg.get("annotation") or {})),
        kit_detection=dict(cfg.get("kit_detection") or {}),
    )
