"""Typed settings of the pathway stage, built once from the validated config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InteractionSource:
    """How to read one configured interaction table (its path is a rule input).

    Attributes
    ----------
    format
        ``mirtarbase`` (converted on the fly) or ``tsv`` (documented layout).
    evidence
        Evidence classes kept; ``None`` keeps all. Unset in the config, a
        miRTarBase table keeps ``Functional MTI`` and a TSV keeps all (array
        items get no schema defaults).
    species
        Species kept from a miRTarBase table.
    """

    format: str = "tsv"
    evidence: tuple[str, ...] | None = None
    species: str = "Homo sapiens"


@dataclass(frozen=True)
class PathwaySettings:
    """What the pathway jobs need from config ``pathways``, ``design`` and ``trial``.

    File paths (interaction tables, GMT files, roles) are rule inputs; this
    holds how to read them (``sources``, ``id_types``, in input order) and the
    analysis parameters (see the ``pathways`` section of the config schema).
    """

    sources: tuple[InteractionSource, ...]
    id_types: tuple[str, ...]
    primary: tuple[str, ...]
    arms: tuple[str, ...]
    timepoints: tuple[str, ...]
    primary_mirna: str
    contrasts: tuple[str, ...] = ()
    select: tuple[str, ...] | None = None
    families: Mapping[str, str] = field(default_factory=dict)
    strata: tuple[str, ...] = ()
    layer: str = "vst_counts"
    tmin: int = 5
    n_permutations: int = 10000
    degree_bins: int = 10
    ancova_permutations: int = 2000
    cov_type: str = "HC3"
    ci_level: float = 0.95
    seed: int = 20261126


def pathway_settings(
    config: Mapping[str, Any], contrasts: Sequence[str] = ()
) -> PathwaySettings:
    """Build the pathway settings from a validated configuration (defaults filled).

    Parameters
    ----------
    config
        From :func:`exomir.config.validate_config`.
    contrasts
        DE contrasts of the contrast-level enrichment, in the order of the
        rule's ``de`` input.

    Returns
    -------
    PathwaySettings
        The settings of rules ``pathways_interactions`` and ``pathways``.
    """
    cfg = config["pathways"]
    design = config["design"]
    sources = []
    for s in cfg.get("interactions") or []:
        fmt = str(s.get("format", "tsv"))
        default = ["Functional MTI"] if fmt == "mirtarbase" else None
        evidence = s.get("evidence", default)
        sources.append(
            InteractionSource(
                format=fmt,
                evidence=None if evidence is None else tuple(evidence),
                species=str(s.get("species", "Homo sapiens")),
            )
        )
    select = cfg.get("select")
    return PathwaySettings(
        sources=tuple(sources),
        id_types=tuple(str(g["id_type"]) for g in cfg["gene_sets"]),
        primary=tuple(cfg["primary"]),
        arms=tuple(design["arms"]),
        timepoints=tuple(design["timepoints"]),
        primary_mirna=str(config["trial"]["primary_mirna"]),
        contrasts=tuple(contrasts),
        select=tuple(select) if select else None,
        families=dict(cfg.get("families", {})),
        strata=tuple(design.get("strata", []) or []),
        layer=str(cfg["layer"]),
        tmin=int(cfg["tmin"]),
        n_permutations=int(cfg["n_permutations"]),
        degree_bins=int(cfg["degree_bins"]),
        ancova_permutations=int(cfg["ancova_permutations"]),
        cov_type=str(cfg["cov_type"]),
        ci_level=float(cfg["ci_level"]),
        seed=int(cfg["seed"]),
    )
