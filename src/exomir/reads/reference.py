"""Prepare the small-RNA reference: miRBase hairpins, mature loci, contaminants.

:func:`prepare_reference` turns the configured FASTA files into one reference
directory that the annotation stage (:mod:`exomir.reads.annotate`) reads with
:func:`load_reference`. Layout (all paths inside are relative, so the
directory can be moved)::

    <refdir>/reference.json         manifest (species, database, categories,
                                    input checksums, bowtie version)
    <refdir>/hairpin.fa             species hairpins, DNA alphabet
    <refdir>/hairpin.*.ebwt         bowtie index of hairpin.fa
    <refdir>/mature_loci.tsv        feature, hairpin, start, end, sequence
    <refdir>/mirna_hairpin.gff3     the same loci as a miRBase-style GFF3 in
                                    hairpin coordinates (for mirtop --gtf)
    <refdir>/contaminants/NN_<category>.fa and .*.ebwt
                                    one FASTA and bowtie index per category,
                                    in annotation order (kept for inspection
                                    and other tools)
    <refdir>/contaminants/combined.fa and .*.ebwt
                                    all categories in one bowtie index, the
                                    one the annotation aligns to

Sequences are upper-cased, U written as T; hairpins and matures are kept if
their name starts with ``<species>-``. Every sequence of a contaminant category
whose name contains ``trna`` gets the post-transcriptional ``CCA`` appended
(``add_trna_cca``); other categories are indexed as given.

Mature coordinates come from an exact search of every mature sequence in every
hairpin of the species (not from a GFF3); every occurrence is a locus. Matures
with different names but the same sequence form one feature named by their
sorted names joined with ``/`` (``hsa-miR-517a-3p/hsa-miR-517b-3p``).

The combined contaminant index holds all categories; each record is named by
the 0-based position of its category (``>1 rRNA RNA45SN1|NR_145819.1``), so a
hit's category is read from the reference name. A sequence contained (either
strand) in one already kept for the same or an earlier category is left out:
it cannot change a category decision. Figures: ``docs/performance.md``.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exomir.reads.refio import (
    _ACGT_ONLY,
    _sha256,
    _write_fasta,
    bowtie_build,
    iter_fasta,
    normalise_sequence,
    read_species_fasta,
    reverse_complement,
    tool_version,
)

__all__ = [
    "MANIFEST",
    "ContaminantIndex",
    "MatureLocus",
    "Reference",
    "bowtie_build",
    "build_combined_contaminants",
    "combined_contaminant_records",
    "default_contaminants",
    "derive_mature_loci",
    "feature_name",
    "iter_fasta",
    "load_reference",
    "normalise_sequence",
    "prepare_reference",
    "read_species_fasta",
    "reverse_complement",
    "tool_version",
    "write_hairpin_gff3",
]

logger = logging.getLogger(__name__)

MANIFEST = "reference.json"
"""File name of the manifest inside a reference directory."""

MANIFEST_FORMAT = 1
"""Version of the reference-directory layout."""

HAIRPIN_PREFIX = "hairpin"
"""Name of the hairpin FASTA (``.fa``) and bowtie index prefix."""

COMBINED_CONTAMINANTS = "contaminants/combined"
"""Prefix of the combined contaminant index inside a reference directory."""

DEFAULT_CONTAMINANT_FILES: dict[str, tuple[str, ...]] = {
    "artifact": ("contaminants/artifact.fa",),
    "rRNA": ("contaminants/rrna_hsa.fa",),
    "tRNA": ("contaminants/trna_hsa.fa",),
    "snoRNA_snRNA": ("contaminants/snorna_snrna_hsa.fa",),
}
"""Default contaminant categories (annotation order), relative to resources/."""


@dataclass(frozen=True)
class MatureLocus:
    """One occurrence of a mature feature in a hairpin.

    Attributes
    ----------
    feature
        Feature name (miRBase mature name, or ``/``-joined identical-sequence
        group).
    hairpin
        Hairpin name.
    start, end
        1-based inclusive coordinates of the mature on the hairpin.
    sequence
        Mature sequence (DNA alphabet).
    """

    feature: str
    hairpin: str
    start: int
    end: int
    sequence: str


@dataclass(frozen=True)
class ContaminantIndex:
    """A contaminant category and its bowtie index.

    Attributes
    ----------
    category
        Category name as in config (also the JSON key of the counts).
    index
        bowtie index prefix.
    """

    category: str
    index: Path


@dataclass(frozen=True)
class Reference:
    """A prepared reference directory, loaded.

    Attributes
    ----------
    directory
        The reference directory.
    species
        miRBase species prefix, e.g. ``hsa``.
    database
        Database with version for mirGFF3, e.g. ``miRBasev22``.
    hairpin_index
        bowtie index prefix of the hairpins.
    hairpins
        Hairpin name to sequence.
    loci
        Hairpin name to its mature loci, sorted by start.
    contaminants
        Contaminant categories in annotation order.
    contaminant_index
        bowtie index prefix of all categories together (records named by the
        category's position in ``contaminants``); ``None`` for a reference
        directory written before it existed (the annotation then builds it in
        its temporary directory).
    """

    directory: Path
    species: str
    database: str
    hairpin_index: Path
    hairpins: dict[str, str]
    loci: dict[str, list[MatureLocus]]
    contaminants: list[ContaminantIndex]
    contaminant_index: Path | None = None

    @property
    def features(self) -> set[str]:
        """Names of all mature features."""
        return {lo.feature for los in self.loci.values() for lo in los}


def feature_name(names: Sequence[str]) -> str:
    """Name a mature feature from the miRBase names sharing its sequence.

    Parameters
    ----------
    names
        miRBase mature names with an identical sequence.

    Returns
    -------
    str
        The names sorted and joined with ``/``.
    """
    return "/".join(sorted(set(names)))


def derive_mature_loci(
    matures: Mapping[str, str], hairpins: Mapping[str, str]
) -> tuple[list[MatureLocus], list[str]]:
    """Find every occurrence of every mature sequence in the hairpins.

    Parameters
    ----------
    matures
        Mature name to sequence (DNA alphabet).
    hairpins
        Hairpin name to sequence (DNA alphabet).

    Returns
    -------
    loci : list of MatureLocus
        Sorted by hairpin, start, feature.
    unplaced : list of str
        Mature names found in no hairpin (sorted).
    """
    by_sequence: dict[str, list[str]] = {}
    for name, seq in matures.items():
        by_sequence.setdefault(seq, []).append(name)

    names = list(hairpins)
    # One string, separated so that no match spans two hairpins.
    offsets: list[int] = []
    pos = 0
    for name in names:
        offsets.append(pos)
        pos += len(hairpins[name]) + 1
    concatenated = "#".join(hairpins[n] for n in names)

    loci: list[MatureLocus] = []
    unplaced: list[str] = []
    for seq, members in by_sequence.items():
        feature = feature_name(members)
        hit = concatenated.find(seq)
        if hit < 0:
            unplaced.extend(members)
            continue
        while hit >= 0:
            k = bisect.bisect_right(offsets, hit) - 1
            start0 = hit - offsets[k]
            loci.append(
                MatureLocus(feature, names[k], start0 + 1, start0 + len(seq), seq)
            )
            hit = concatenated.find(seq, hit + 1)
    loci.sort(key=lambda lo: (lo.hairpin, lo.start, lo.feature))
    return loci, sorted(unplaced)


def _write_loci_tsv(path: Path, loci: list[MatureLocus]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("feature\thairpin\tstart\tend\tsequence\n")
        for lo in loci:
            fh.write(
                f"{lo.feature}\t{lo.hairpin}\t{lo.start}\t{lo.end}\t{lo.sequence}\n"
            )


def write_hairpin_gff3(
    path: str | os.PathLike[str],
    hairpins: Mapping[str, str],
    loci: list[MatureLocus],
    database: str,
) -> None:
    """Write the mature loci as a miRBase-style GFF3 in hairpin coordinates.

    Each hairpin is a ``miRNA_primary_transcript`` on a sequence of its own
    name (1..length, ``+``); each locus a ``miRNA`` with ``Derives_from`` the
    hairpin. mirtop accepts it as ``--gtf`` together with ``hairpin.fa``.

    Parameters
    ----------
    path
        Destination.
    hairpins
        Hairpin name to sequence.
    loci
        Mature loci.
    database
        Database name with version for the header (must contain ``miRBase``
        for mirtop to recognise the layout).
    """
    by_hairpin: dict[str, list[MatureLocus]] = {}
    for lo in loci:
        by_hairpin.setdefault(lo.hairpin, []).append(lo)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("##gff-version 3\n")
        fh.write(f"# microRNAs:               {database}\n")
        fh.write("# Coordinates are positions on the hairpin sequences (exomir)\n")
        for k, name in enumerate(sorted(hairpins), start=1):
            pid = f"HP{k:05d}"
            fh.write(
                f"{name}\t.\tmiRNA_primary_transcript\t1\t{len(hairpins[name])}\t.\t+\t.\t"
                f"ID={pid};Alias={pid};Name={name}\n"
            )
            for j, lo in enumerate(by_hairpin.get(name, []), start=1):
                mid = f"{pid}_M{j}"
                fh.write(
                    f"{name}\t.\tmiRNA\t{lo.start}\t{lo.end}\t.\t+\t.\t"
                    f"ID={mid};Alias={mid};Name={lo.feature};Derives_from={pid}\n"
                )


def combined_contaminant_records(
    categories: Sequence[Sequence[tuple[str, str]]],
) -> list[tuple[int, str, str]]:
    """Select the records of the combined contaminant index.

    A sequence is dropped if it, or (for pure ACGT sequences) its reverse
    complement, is a substring of a sequence kept for the same or an earlier
    category: any alignment to it is an equally good alignment to that
    sequence, whose category comes first, so no assignment changes.

    Parameters
    ----------
    categories
        Per category, in annotation order, its ``(name, sequence)`` records.

    Returns
    -------
    list of (int, str, str)
        ``(category position, name, sequence)`` in category order, records of
        one category in their input order.
    """
    out: list[tuple[int, str, str]] = []
    earlier = ""  # kept sequences of earlier categories, "#"-separated
    for k, records in enumerate(categories):
        # Longest first, so that a sequence is checked against every longer
        # one of its category; of identical copies the first one is kept.
        order = sorted(range(len(records)), key=lambda j: (-len(records[j][1]), j))
        here = ""  # kept sequences of this category
        kept: list[int] = []
        for j in order:
            seq = records[j][1]
            probes = [seq]
            if _ACGT_ONLY.issuperset(seq):
                probes.append(reverse_complement(seq))
            if any(p in earlier or p in here for p in probes):
                continue
            kept.append(j)
            here += "#" + seq
        out.extend((k, records[j][0], records[j][1]) for j in sorted(kept))
        earlier += here
    return out


def build_combined_contaminants(
    categories: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    prefix: str | os.PathLike[str],
    threads: int = 1,
) -> int:
    """Write ``<prefix>.fa`` with all categories and build its bowtie index.

    Records are named ``<k> <category> <name>``, ``k`` the 0-based position of
    the category; bowtie reports the first word, ``k``.

    Parameters
    ----------
    categories
        ``(category, records)`` in annotation order.
    prefix
        Index prefix (the FASTA is ``<prefix>.fa``).
    threads
        ``bowtie-build --threads``.

    Returns
    -------
    int
        Number of sequences in the combined index.
    """
    records = combined_contaminant_records([recs for _, recs in categories])
    names = [cat for cat, _ in categories]
    fasta = Path(f"{os.fspath(prefix)}.fa")
    _write_fasta(fasta, [(f"{k} {names[k]} {name}", seq) for k, name, seq in records])
    bowtie_build(fasta, prefix, threads, offrate=0)
    return len(records)


def default_contaminants(
    resources: str | os.PathLike[str],
) -> dict[str, list[Path]]:
    """Return the default contaminant categories with paths under ``resources``.

    Parameters
    ----------
    resources
        The exomir ``resources/`` folder.

    Returns
    -------
    dict
        Category to FASTA paths, in annotation order.
    """
    base = Path(resources)
    return {
        cat: [base / f for f in files]
        for cat, files in DEFAULT_CONTAMINANT_FILES.items()
    }


def prepare_reference(
    mature_fasta: str | os.PathLike[str],
    hairpin_fasta: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    species: str = "hsa",
    contaminants: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None,
    database: str = "miRBasev22",
    threads: int = 1,
    add_trna_cca: bool = True,
    contaminant_species: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Build a reference directory for :func:`exomir.reads.annotate.annotate_sample`.

    Assembled under a temporary name beside ``outdir`` and renamed into place
    when complete (an existing ``outdir`` is replaced).

    Parameters
    ----------
    mature_fasta, hairpin_fasta
        miRBase ``mature.fa`` and ``hairpin.fa`` (all species or one).
    outdir
        Reference directory to create.
    species
        miRBase species prefix (``hsa``, ``mmu``, ...).
    contaminants
        Category to FASTA files, in annotation order (names: letters, digits,
        ``_ . + -``); ``None`` or ``{}`` for none.
    database
        Database with version, written to the mirGFF3 output (``miRBasev22``).
    threads
        Threads for ``bowtie-build``.
    add_trna_cca
        Append ``CCA`` to the sequences of categories named like ``trna``.
    contaminant_species, notes
        Category -> species of its files, and species notes
        (:mod:`exomir.species`), written to the manifest (notes also logged).

    Returns
    -------
    Path
        The manifest ``<outdir>/reference.json``.

    Raises
    ------
    ValueError
        No record of the species, an empty category, or a bad category name.
    RuntimeError
        If ``bowtie-build`` fails.
    """
    final = Path(outdir)
    final.parent.mkdir(parents=True, exist_ok=True)
    categories = dict(contaminants or {})
    _check_category_names(categories)
    for note in notes:
        logger.warning("species %s: %s", species, note)
    hairpins = read_species_fasta(hairpin_fasta, species)
    matures = read_species_fasta(mature_fasta, species)
    loci, unplaced = derive_mature_loci(matures, hairpins)
    if unplaced:
        logger.warning(
            "%d %s matures are in no hairpin and are not annotated: %s",
            len(unplaced),
            species,
            ", ".join(unplaced[:20]),
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}.", dir=final.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
        _write_fasta(tmp / f"{HAIRPIN_PREFIX}.fa", hairpins)
        bowtie_build(tmp / f"{HAIRPIN_PREFIX}.fa", tmp / HAIRPIN_PREFIX, threads)
        _write_loci_tsv(tmp / "mature_loci.tsv", loci)
        write_hairpin_gff3(tmp / "mirna_hairpin.gff3", hairpins, loci, database)
        entries, combined = _build_contaminants(
            tmp, categories, threads, add_trna_cca, contaminant_species or {}
        )
        manifest = {
            "format": MANIFEST_FORMAT,
            "species": species,
            "database": database,
            "hairpin_index": HAIRPIN_PREFIX,
            "hairpin_fasta": f"{HAIRPIN_PREFIX}.fa",
            "mature_loci": "mature_loci.tsv",
            "hairpin_gff3": "mirna_hairpin.gff3",
            "n_hairpins": len(hairpins),
            "n_matures": len(matures),
            "n_features": len({lo.feature for lo in loci}),
            "n_loci": len(loci),
            "identical_sequence_groups": sorted(
                {lo.feature for lo in loci if "/" in lo.feature}
            ),
            "unplaced_matures": unplaced,
            "contaminants": entries,
            "species_notes": list(notes),
            "combined_contaminants": combined,
            "inputs": {
                "mature": _input_record(mature_fasta),
                "hairpin": _input_record(hairpin_fasta),
            },
            "bowtie_build": tool_version("bowtie-build"),
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
        _replace_directory(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "reference %s: %d hairpins, %d features (%d loci), %d contaminant categories",
        final,
        len(hairpins),
        manifest["n_features"],
        len(loci),
        len(entries),
    )
    return final / MANIFEST


def _check_category_names(categories: Mapping[str, object]) -> None:
    """Refuse category names that cannot be part of a file name."""
    for cat in categories:
        if (
            not cat
            or cat.startswith(".")
            or any(not (c.isalnum() or c in "_.+-") for c in cat)
        ):
            raise ValueError(
                f"contaminant category {cat!r}: use letters, digits, _ . + -"
            )


def _input_record(path: str | os.PathLike[str]) -> dict[str, str]:
    """Path and SHA-256 of one input file, for the manifest."""
    return {"path": os.fspath(path), "sha256": _sha256(path)}


def _build_contaminants(
    tmp: Path,
    categories: Mapping[str, Sequence[str | os.PathLike[str]]],
    threads: int,
    add_trna_cca: bool,
    contaminant_species: Mapping[str, str],
) -> tuple[list[dict[str, object]], dict[str, object] | None]:
    """Write and index each contaminant category, then the combined index.

    Returns the manifest entries of the categories and of the combined index
    (None without categories).
    """
    entries: list[dict[str, object]] = []
    category_records: list[tuple[str, list[tuple[str, str]]]] = []
    if categories:
        (tmp / "contaminants").mkdir()
    for k, (cat, files) in enumerate(categories.items(), start=1):
        cca = bool(add_trna_cca and "trna" in cat.lower())
        records: list[tuple[str, str]] = []
        for f in files:
            records.extend((n, s) for n, s in iter_fasta(f) if s)
        if cca:
            records = [(n, s if s.endswith("CCA") else s + "CCA") for n, s in records]
        if not records:
            raise ValueError(f"contaminant category {cat!r} has no sequences")
        stem = f"contaminants/{k:02d}_{cat}"
        category_records.append((cat, records))
        _write_fasta(tmp / f"{stem}.fa", records)
        bowtie_build(tmp / f"{stem}.fa", tmp / stem, threads)
        entries.append(
            {
                "category": cat,
                "reference_species": contaminant_species.get(cat, ""),
                "index": stem,
                "n_sequences": len(records),
                "cca_appended": cca,
                "inputs": [_input_record(f) for f in files],
            }
        )
    if not category_records:
        return entries, None
    n_combined = build_combined_contaminants(
        category_records, tmp / COMBINED_CONTAMINANTS, threads
    )
    return entries, {
        "index": COMBINED_CONTAMINANTS,
        "categories": [cat for cat, _ in category_records],
        "n_sequences": n_combined,
    }


def _replace_directory(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` directory to ``final``, replacing an old one."""
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".old-{final.name}.", dir=final.parent))
        os.replace(final, trash / final.name)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def load_reference(refdir: str | os.PathLike[str]) -> Reference:
    """Load a directory written by :func:`prepare_reference`.

    Parameters
    ----------
    refdir
        The reference directory (or its ``reference.json``).

    Returns
    -------
    Reference
        Hairpins, loci and index paths.

    Raises
    ------
    ValueError
        If the manifest is of an unknown format.
    """
    directory = Path(refdir)
    if directory.name == MANIFEST:
        directory = directory.parent
    with open(directory / MANIFEST, encoding="utf-8") as fh:
        manifest = json.load(fh)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(
            f"{directory / MANIFEST}: unknown format {manifest.get('format')}"
        )
    hairpins = dict(iter_fasta(directory / manifest["hairpin_fasta"]))
    loci: dict[str, list[MatureLocus]] = {}
    with open(directory / manifest["mature_loci"], encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if header != ["feature", "hairpin", "start", "end", "sequence"]:
            raise ValueError(
                f"{directory / manifest['mature_loci']}: bad header {header}"
            )
        for line in fh:
            feature, hairpin, start, end, seq = line.rstrip("\n").split("\t")
            loci.setdefault(hairpin, []).append(
                MatureLocus(feature, hairpin, int(start), int(end), seq)
            )
    contaminants = [
        ContaminantIndex(c["category"], directory / c["index"])
        for c in manifest["contaminants"]
    ]
    combined = manifest.get("combined_contaminants")
    contaminant_index = None
    if combined:
        if combined["categories"] != [c.category for c in contaminants]:
            raise ValueError(
                f"{directory / MANIFEST}: combined contaminant categories "
                f"{combined['categories']} differ from the contaminant list"
            )
        contaminant_index = directory / combined["index"]
    return Reference(
        directory=directory,
        species=manifest["species"],
        database=manifest["database"],
        hairpin_index=directory / manifest["hairpin_index"],
        hairpins=hairpins,
        loci=loci,
        contaminants=contaminants,
        contaminant_index=contaminant_index,
    )


@dataclass(frozen=True)
class ReferenceSettings:
    """What the ``build_reference`` job needs from the config (parse time).

    Attributes
    ----------
    species
        miRBase species prefix.
    database
        Database with version for the mirGFF3 output (``miRBasev22``).
    categories
        ``(category, number of FASTA files)`` in config order; the rule's
        ``contaminants`` input lists the files in the same order.
    contaminant_species
        Category -> species of its reference files (:mod:`exomir.species`).
    notes
        Species notes for the log and the manifest.
    """

    species: str
    database: str
    categories: tuple[tuple[str, int], ...]
    contaminant_species: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


def reference_settings(cfg: Mapping[str, Any]) -> ReferenceSettings:
    """Build :class:`ReferenceSettings` from a validated config."""
    from exomir.species import contaminant_sources, reference_notes

    ref = cfg["reference"]
    return ReferenceSettings(
        species=str(ref["species"]),
        database=f"miRBasev{ref.get('mirbase_version', '22')}",
        categories=tuple(
            (str(cat), len(paths)) for cat, paths in cfg["contaminants"].items()
        ),
        contaminant_species=tuple(
            (s.category, s.reference_species) for s in contaminant_sources(dict(cfg))
        ),
        notes=tuple(reference_notes(dict(cfg))),
    )


def build_reference_step(
    *,
    mature: str | os.PathLike[str],
    hairpin: str | os.PathLike[str],
    contaminants: Sequence[str | os.PathLike[str]],
    manifest: str | os.PathLike[str],
    threads: int,
    settings: ReferenceSettings,
) -> Path:
    """Build the reference directory that holds ``manifest`` (rule ``build_reference``).

    Parameters
    ----------
    mature, hairpin
        miRBase FASTAs.
    contaminants
        Every contaminant FASTA, in the order of ``settings.categories``.
    manifest
        ``<refdir>/reference.json``.
    threads
        Threads for ``bowtie-build``.
    settings
        :func:`reference_settings`.
    """
    files = [str(f) for f in contaminants]
    if sum(n for _, n in settings.categories) != len(files):
        raise ValueError(
            f"{len(files)} contaminant files given for categories "
            f"{dict(settings.categories)}"
        )
    groups: dict[str, list[str]] = {}
    start = 0
    for cat, n in settings.categories:
        groups[cat] = files[start : start + n]
        start += n
    return prepare_reference(
        mature_fasta=mature,
        hairpin_fasta=hairpin,
        outdir=Path(manifest).parent,
        species=settings.species,
        contaminants=groups,
        database=settings.database,
        threads=threads,
        contaminant_species=dict(settings.contaminant_species),
        notes=list(settings.notes),
    )
