"""Per-species references: which files exomir ships, and what a run must say.

``resources/species.yaml`` lists, per miRBase species prefix (``hsa``, ``mmu``,
``rno``), the shipped miRBase files, and per contaminant class the shipped
FASTA files with the species they come from. Only human contaminant references
(rRNA, tRNA, snoRNA/snRNA) are shipped; a mouse or rat run uses them as a
stand-in, and every run of such a species says so.

:func:`resolve_references` fills the configuration's missing reference paths
(``reference.mature``, ``reference.hairpin``, ``reference.gff3``,
``contaminants``) from the species table; explicit paths always win. A
species with no shipped miRBase files and no explicit paths is a validation
error that names the two ways out (explicit paths, or
``exomir fetch-references --mirbase <species>``).

:func:`reference_notes` tells, for a validated configuration, which contaminant
classes are annotated with another species' reference (whether the config
named the shipped human files itself or they were filled in). The notes go to
``exomir validate``, the ``build_reference`` log and
``results/reference/reference.json`` (``species_notes``), and the report's
sequencing-QC section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from exomir.config import RESOURCE_PREFIX, resolve_path, resources_dir
from exomir.errors import Issue

__all__ = [
    "SPECIES_TABLE",
    "ContaminantSource",
    "check_reference_files",
    "contaminant_sources",
    "foreign_contaminant_classes",
    "latin_name",
    "load_species_table",
    "reference_notes",
    "resolve_references",
]

SPECIES_TABLE = "species.yaml"
"""File name of the species table inside ``resources/``."""

#: Species key of files that suit every species (adapter artefacts).
ANY_SPECIES = "any"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        table = yaml.safe_load(fh)
    if not isinstance(table, dict) or table.get("format") != 1:
        raise ValueError(f"{path}: not a species table of format 1")
    table.setdefault("species", {})
    table.setdefault("contaminants", {})
    return table


def load_species_table(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read the species table (default ``resources/species.yaml``).

    Parameters
    ----------
    path
        Another table (tests); default the shipped one.

    Returns
    -------
    dict
        ``{"species": {prefix: {...}}, "contaminants": {class: {...}}}``; both
        empty, with ``"missing": path``, when the resources folder has no table.
    """
    p = Path(path) if path is not None else resources_dir() / SPECIES_TABLE
    if not p.is_file():  # a resources folder of its own (EXOMIR_RESOURCES)
        return {"species": {}, "contaminants": {}, "missing": os.fspath(p)}
    return _load(os.fspath(p.resolve()))


def latin_name(species: str, table: dict[str, Any] | None = None) -> str | None:
    """Latin name of a species prefix (``hsa`` -> ``Homo sapiens``), if known."""
    tab = table if table is not None else load_species_table()
    entry = tab["species"].get(species)
    return str(entry["name"]) if entry and entry.get("name") else None


def _res(rel: str) -> str:
    return RESOURCE_PREFIX + rel


def _shipped_mirbase(
    species: str, version: str, table: dict[str, Any]
) -> dict[str, str] | None:
    entry = table["species"].get(species) or {}
    files = (entry.get("mirbase") or {}).get(str(version))
    return dict(files) if files else None


def _default_contaminants(species: str, table: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cat, spec in table["contaminants"].items():
        files = spec.get("files") or {}
        chosen = files.get(species) or files.get(ANY_SPECIES)
        if not chosen and spec.get("fallback"):
            chosen = files.get(str(spec["fallback"]))
        if chosen:
            out[str(cat)] = [_res(f) for f in chosen]
    return out


def resolve_references(
    cfg: dict[str, Any], file: str = "config/config.yaml"
) -> list[Issue]:
    """Fill missing reference paths of a configuration from the species table.

    ``reference.mature`` and ``reference.hairpin`` (and ``reference.gff3``
    when shipped) come from the species' shipped miRBase release
    ``reference.mirbase_version`` (default ``"22"``) when the config gives
    neither; ``contaminants`` comes from the table when the config has no
    such section (the species' own files, else the human ones; ``{}`` keeps
    none). ``cfg`` is changed in place.

    Parameters
    ----------
    cfg
        Configuration after schema validation and defaults.
    file
        Name used in messages.

    Returns
    -------
    list of Issue
        Problems: no shipped miRBase files for the species and none given,
        only one of mature/hairpin given, or a shipped miRBase file of another
        species named explicitly.
    """
    table = load_species_table()
    ref = cfg["reference"]
    species = str(ref["species"])
    version = str(ref.get("mirbase_version") or "22")
    issues: list[Issue] = []
    given = [k for k in ("mature", "hairpin") if ref.get(k)]
    if "missing" in table and (not given or cfg.get("contaminants") is None):
        return [
            Issue(
                file,
                f"the resources folder has no species table ({table['missing']}), so "
                "no default references can be chosen; give reference.mature, "
                "reference.hairpin and a contaminants: section",
                column="reference",
            )
        ]
    if not given:
        shipped = _shipped_mirbase(species, version, table)
        if shipped is None:
            known = sorted(
                f"{sp} (miRBase {', '.join(sorted(e.get('mirbase') or {}))})"
                for sp, e in table["species"].items()
                if e.get("mirbase")
            )
            issues.append(
                Issue(
                    file,
                    f"no miRBase v{version} reference is shipped for species "
                    f"'{species}' (shipped: {', '.join(known)}); give "
                    "reference.mature and reference.hairpin (miRBase mature.fa and "
                    "hairpin.fa), e.g. after `exomir fetch-references --mirbase "
                    f"{species}`, which downloads them and prints the lines to add",
                    column="reference",
                )
            )
        else:
            ref["mature"] = _res(shipped["mature"])
            ref["hairpin"] = _res(shipped["hairpin"])
            if shipped.get("gff3") and not ref.get("gff3"):
                ref["gff3"] = _res(shipped["gff3"])
            ref.setdefault("mirbase_version", version)
    elif len(given) == 1:
        missing = "hairpin" if given == ["mature"] else "mature"
        issues.append(
            Issue(
                file,
                f"reference.{given[0]} is given but reference.{missing} is not; "
                "give both miRBase files, or neither to use the shipped ones",
                column=f"reference.{missing}",
            )
        )
    else:
        issues += _check_mirbase_species(ref, species, table, file)
    if cfg.get("contaminants") is None:  # left out; an empty {} means none
        cfg["contaminants"] = _default_contaminants(species, table)
    return issues


def _check_mirbase_species(
    ref: dict[str, Any], species: str, table: dict[str, Any], file: str
) -> list[Issue]:
    """Flag explicit paths to a shipped miRBase file of another species."""
    catalogue: dict[Path, str] = {}
    for sp, entry in table["species"].items():
        for files in (entry.get("mirbase") or {}).values():
            for rel in files.values():
                catalogue[(resources_dir() / rel).resolve()] = str(sp)
    issues = []
    for key in ("mature", "hairpin", "gff3"):
        if not ref.get(key):
            continue
        owner = catalogue.get(resolve_path(str(ref[key]), Path(".")).resolve())
        if owner is not None and owner != species:
            issues.append(
                Issue(
                    file,
                    f"reference.{key} '{ref[key]}' is the shipped {owner} file but "
                    f"reference.species is '{species}'; leave reference.{key} out "
                    "to use the species' own file",
                    column=f"reference.{key}",
                )
            )
    return issues


@dataclass(frozen=True)
class ContaminantSource:
    """Where one configured contaminant class comes from.

    Attributes
    ----------
    category
        Class name as configured (e.g. ``rRNA``).
    reference_species
        Species prefix of the shipped files used (``hsa``), ``any`` for
        species-independent files, or ``user`` for files exomir did not ship.
    foreign
        True when the shipped files are of another species than the run's.
    remark
        What that means for the class (from the species table), or ``""``.
    """

    category: str
    reference_species: str
    foreign: bool
    remark: str


def contaminant_sources(
    cfg: dict[str, Any], base: str | os.PathLike[str] = "."
) -> list[ContaminantSource]:
    """Tell, per configured contaminant class, which species its files are from.

    Parameters
    ----------
    cfg
        Validated configuration (paths filled in).
    base
        Scenario directory (for relative paths).

    Returns
    -------
    list of ContaminantSource
        In the configured order.
    """
    table = load_species_table()
    species = str(cfg["reference"]["species"])
    catalogue: dict[Path, tuple[str, str]] = {}
    for cat, spec in table["contaminants"].items():
        for sp, files in (spec.get("files") or {}).items():
            for rel in files:
                catalogue[(resources_dir() / rel).resolve()] = (str(cat), str(sp))
    remarks = {
        str(cat): " ".join(str(spec.get("cross_species") or "").split())
        for cat, spec in table["contaminants"].items()
    }
    out = []
    for cat, paths in (cfg.get("contaminants") or {}).items():
        sources = {
            catalogue.get(resolve_path(str(p), base).resolve(), ("", "user"))
            for p in paths
        }
        species_of = sorted({sp for _, sp in sources})
        foreign_sp = [s for s in species_of if s not in (species, ANY_SPECIES, "user")]
        shipped_cat = next((c for c, sp in sources if sp in foreign_sp), "")
        out.append(
            ContaminantSource(
                category=str(cat),
                reference_species=",".join(species_of),
                foreign=bool(foreign_sp),
                remark=remarks.get(shipped_cat, "") if foreign_sp else "",
            )
        )
    return out


def foreign_contaminant_classes(
    cfg: dict[str, Any], base: str | os.PathLike[str] = "."
) -> list[str]:
    """Contaminant classes annotated with another species' shipped reference."""
    return [s.category for s in contaminant_sources(cfg, base) if s.foreign]


def reference_notes(
    cfg: dict[str, Any], base: str | os.PathLike[str] = "."
) -> list[str]:
    """Sentences a run must show about its species' references.

    Parameters
    ----------
    cfg
        Validated configuration.
    base
        Scenario directory.

    Returns
    -------
    list of str
        Empty when every contaminant class uses the species' own (or
        species-independent, or user-supplied) files; otherwise a summary
        naming the classes annotated with another species' reference, then one
        remark per class.
    """
    sources = [s for s in contaminant_sources(cfg, base) if s.foreign]
    if not sources:
        return []
    species = str(cfg["reference"]["species"])
    other = sorted({sp for s in sources for sp in s.reference_species.split(",")})
    other = [sp for sp in other if sp not in (species, ANY_SPECIES, "user")]
    names = ", ".join(s.category for s in sources)
    notes = [
        f"{names}: annotated against {'/'.join(other)} "
        f"({', '.join(latin_name(o) or o for o in other)}) references, because "
        f"exomir ships none for {species}; these classes are human-only and their "
        "shares are lower bounds (give the species' own FASTA files under "
        "contaminants: to replace them)"
    ]
    notes += [f"{s.category}: {s.remark}" for s in sources if s.remark]
    return notes


def check_reference_files(
    cfg: dict[str, Any],
    base: str | os.PathLike[str],
    file: str = "config/config.yaml",
) -> list[Issue]:
    """Check that every configured reference file exists.

    Parameters
    ----------
    cfg
        Validated configuration (paths filled in).
    base
        Scenario directory.
    file
        Name used in messages.

    Returns
    -------
    list of Issue
        One per missing miRBase or contaminant file.
    """
    issues = []
    ref = cfg["reference"]
    for key in ("mature", "hairpin", "gff3"):
        if ref.get(key):
            p = resolve_path(str(ref[key]), base)
            if not p.is_file():
                issues.append(
                    Issue(
                        file,
                        f"reference file '{ref[key]}' does not exist (looked for {p})",
                        column=f"reference.{key}",
                    )
                )
    for cat, paths in (cfg.get("contaminants") or {}).items():
        for v in paths:
            p = resolve_path(str(v), base)
            if not p.is_file():
                issues.append(
                    Issue(
                        file,
                        f"contaminant file '{v}' does not exist (looked for {p})",
                        column=f"contaminants.{cat}",
                    )
                )
    return issues
