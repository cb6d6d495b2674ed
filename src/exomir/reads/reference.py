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

Sequences are upper-cased and U is written as T. Hairpins and matures are
kept only if their name starts with ``<species>-`` (e.g. ``hsa-``). Genomic
tRNA sequences end at the discriminator base, while mature tRNAs and the
abundant 3' tRNA fragments carry the added ``CCA``; so every sequence of a
contaminant category whose name contains ``trna`` gets ``CCA`` appended
(``add_trna_cca``). Other categories (rRNA, snoRNA, a user-added YRNA, ...)
are indexed as given. Intron-containing genomic tRNAs are not spliced.

Mature coordinates are derived by exact substring search of every mature
sequence in every hairpin of the species, not from the miRBase GFF3 (mouse
has none here, and the GFF3 does not list every hairpin a sequence occurs in).
A mature found in several hairpins (hsa-miR-16-5p in hsa-mir-16-1 and
hsa-mir-16-2) is one feature with several loci; every occurrence is a locus.

Combined contaminant index: the annotation aligns every read once against all
contaminant categories (one bowtie run instead of one per category; see
:mod:`exomir.reads.annotate` for the timings). Each record of
``combined.fa`` is named by the 0-based position of its category in the
manifest's ``contaminants`` list, followed by the category and the original
name as description (``>1 rRNA RNA45SN1|NR_145819.1``); bowtie reports only the
first word, so the category of a hit is read directly from the reference name,
and a new category needs no code change. A sequence is left out of the combined
index if it, or its reverse complement, occurs inside a sequence already kept
for the same or an earlier category (identical tRNA gene copies, 18S/5.8S/28S
inside 45S, the 17 identical 5S copies): every alignment to it is then also an
alignment, with the same mismatches, to a sequence of a category that comes
first, so no category decision can change, while bowtie has fewer hits to
enumerate (1,891 -> 1,699 sequences for the default human categories, 46 %
fewer best-stratum hits on a simulated library). The index is built with
``--offrate 0`` (every suffix-array row kept, 1 MB here), which makes reporting
hits about 30 % cheaper.

Identical-sequence naming: matures with different miRBase names but the same
sequence (hsa-miR-517a-3p and hsa-miR-517b-3p) cannot be told apart by reads,
so they form one feature named by joining the sorted names with ``/``
(``hsa-miR-517a-3p/hsa-miR-517b-3p``), with the loci of all members. Sorting
is plain code-point order of the names. Every other feature is named by its
single miRBase name.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dnaio

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


def normalise_sequence(sequence: str) -> str:
    """Upper-case a sequence and write U as T.

    Parameters
    ----------
    sequence
        RNA or DNA sequence.

    Returns
    -------
    str
        DNA-alphabet sequence.
    """
    return sequence.upper().replace("U", "T")


def iter_fasta(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(name, sequence)`` from a FASTA file (plain or gzipped).

    Parameters
    ----------
    path
        FASTA file; records may span several lines.

    Yields
    ------
    tuple of (str, str)
        First word of the header and the normalised sequence.
    """
    with dnaio.open(os.fspath(path), fileformat="fasta") as reader:
        for rec in reader:
            name = rec.name.split(maxsplit=1)[0] if rec.name.strip() else ""
            yield name, normalise_sequence(rec.sequence)


def read_species_fasta(path: str | os.PathLike[str], species: str) -> dict[str, str]:
    """Read the records of one species from a miRBase FASTA.

    Parameters
    ----------
    path
        miRBase ``mature.fa`` or ``hairpin.fa``.
    species
        Species prefix; records whose name starts with ``<species>-`` are kept.

    Returns
    -------
    dict
        Name to DNA-alphabet sequence, in file order.

    Raises
    ------
    ValueError
        If a name occurs twice with different sequences, or if no record of the
        species is found.
    """
    prefix = f"{species}-"
    out: dict[str, str] = {}
    for name, seq in iter_fasta(path):
        if not name.startswith(prefix):
            continue
        if name in out and out[name] != seq:
            raise ValueError(f"{path}: {name} occurs twice with different sequences")
        out[name] = seq
    if not out:
        raise ValueError(f"{path}: no record whose name starts with {prefix!r}")
    return out


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


def bowtie_build(
    fasta: str | os.PathLike[str],
    prefix: str | os.PathLike[str],
    threads: int = 1,
    offrate: int | None = None,
) -> None:
    """Build a bowtie (1) index.

    Parameters
    ----------
    fasta
        Reference FASTA.
    prefix
        Index prefix to write.
    threads
        ``bowtie-build --threads``.
    offrate
        ``bowtie-build --offrate`` (``None``: bowtie's default, 5). Lower
        values make reporting many hits faster and the index larger.

    Raises
    ------
    RuntimeError
        If bowtie-build fails; the message holds the end of its stderr.
    """
    cmd = [
        "bowtie-build",
        "--threads",
        str(max(1, threads)),
        "--seed",
        "1",
        "-q",
        *(["--offrate", str(offrate)] if offrate is not None else []),
        os.fspath(fasta),
        os.fspath(prefix),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"bowtie-build failed ({proc.returncode}): {' '.join(cmd)}\n"
            + proc.stderr[-2000:]
        )


def tool_version(tool: str) -> str:
    """Return the first line of ``<tool> --version``.

    Parameters
    ----------
    tool
        Executable name.

    Returns
    -------
    str
        Version line, or ``"unknown"``.
    """
    try:
        proc = subprocess.run(
            [tool, "--version"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    for line in proc.stdout.splitlines():
        if "version" in line:
            return line.strip()
    return "unknown"


def _sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_fasta(path: Path, records: Mapping[str, str] | list[tuple[str, str]]) -> int:
    items = records.items() if isinstance(records, Mapping) else records
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for name, seq in items:
            fh.write(f">{name}\n{seq}\n")
            n += 1
    return n


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


_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_ACGT_ONLY = frozenset("ACGT")


def reverse_complement(sequence: str) -> str:
    """Return the reverse complement of a DNA sequence (other letters kept).

    Parameters
    ----------
    sequence
        Upper-case DNA sequence.

    Returns
    -------
    str
        Reverse complement.
    """
    return sequence.translate(_COMPLEMENT)[::-1]


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

    The directory is assembled under a temporary name next to ``outdir`` and
    renamed into place only when complete; an existing ``outdir`` is replaced.

    Parameters
    ----------
    mature_fasta
        miRBase ``mature.fa`` (all species or one).
    hairpin_fasta
        miRBase ``hairpin.fa``.
    outdir
        Reference directory to create.
    species
        miRBase species prefix (``hsa``, ``mmu``, ...).
    contaminants
        Category to FASTA files, in annotation order; ``None`` or ``{}`` for
        none. Category names must be usable in file names (the config schema
        allows letters, digits, ``_ . + -``).
    database
        Database with version, written to the mirGFF3 output (``miRBasev22``).
    threads
        Threads for ``bowtie-build``.
    add_trna_cca
        Append the post-transcriptional ``CCA`` to every sequence of a category
        whose name contains ``trna`` (any case) unless it already ends with it.
    contaminant_species
        Category -> species prefix of its reference files (``hsa``, ``any``,
        ``user``; :func:`exomir.species.contaminant_sources`), written to the
        manifest as each category's ``reference_species``.
    notes
        Species notes (:func:`exomir.species.reference_notes`): logged as
        warnings and written to the manifest as ``species_notes``.

    Returns
    -------
    Path
        The manifest ``<outdir>/reference.json``.

    Raises
    ------
    ValueError
        If a species has no records, a category has no sequences, or a category
        name is not a plain file-name word.
    RuntimeError
        If ``bowtie-build`` fails.
    """
    final = Path(outdir)
    final.parent.mkdir(parents=True, exist_ok=True)
    categories = dict(contaminants or {})
    for cat in categories:
        if (
            not cat
            or cat.startswith(".")
            or any(not (c.isalnum() or c in "_.+-") for c in cat)
        ):
            raise ValueError(
                f"contaminant category {cat!r}: use letters, digits, _ . + -"
            )

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
    groups = sorted({lo.feature for lo in loci if "/" in lo.feature})

    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}.", dir=final.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
        _write_fasta(tmp / f"{HAIRPIN_PREFIX}.fa", hairpins)
        bowtie_build(tmp / f"{HAIRPIN_PREFIX}.fa", tmp / HAIRPIN_PREFIX, threads)
        _write_loci_tsv(tmp / "mature_loci.tsv", loci)
        write_hairpin_gff3(tmp / "mirna_hairpin.gff3", hairpins, loci, database)

        contaminant_entries = []
        category_records: list[tuple[str, list[tuple[str, str]]]] = []
        if categories:
            (tmp / "contaminants").mkdir()
        for k, (cat, files) in enumerate(categories.items(), start=1):
            records: list[tuple[str, str]] = []
            for f in files:
                records.extend((n, s) for n, s in iter_fasta(f) if s)
            if add_trna_cca and "trna" in cat.lower():
                records = [
                    (n, s if s.endswith("CCA") else s + "CCA") for n, s in records
                ]
            if not records:
                raise ValueError(f"contaminant category {cat!r} has no sequences")
            stem = f"contaminants/{k:02d}_{cat}"
            category_records.append((cat, records))
            _write_fasta(tmp / f"{stem}.fa", records)
            bowtie_build(tmp / f"{stem}.fa", tmp / stem, threads)
            contaminant_entries.append(
                {
                    "category": cat,
                    "reference_species": (contaminant_species or {}).get(cat, ""),
                    "index": stem,
                    "n_sequences": len(records),
                    "cca_appended": bool(add_trna_cca and "trna" in cat.lower()),
                    "inputs": [
                        {"path": os.fspath(f), "sha256": _sha256(f)} for f in files
                    ],
                }
            )

        combined: dict[str, object] | None = None
        if category_records:
            n_combined = build_combined_contaminants(
                category_records, tmp / COMBINED_CONTAMINANTS, threads
            )
            combined = {
                "index": COMBINED_CONTAMINANTS,
                "categories": [cat for cat, _ in category_records],
                "n_sequences": n_combined,
            }

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
            "identical_sequence_groups": groups,
            "unplaced_matures": unplaced,
            "contaminants": contaminant_entries,
            "species_notes": list(notes),
            "combined_contaminants": combined,
            "inputs": {
                "mature": {
                    "path": os.fspath(mature_fasta),
                    "sha256": _sha256(mature_fasta),
                },
                "hairpin": {
                    "path": os.fspath(hairpin_fasta),
                    "sha256": _sha256(hairpin_fasta),
                },
            },
            "bowtie_build": tool_version("bowtie-build"),
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")

        if final.exists():
            trash = Path(
                tempfile.mkdtemp(prefix=f".old-{final.name}.", dir=final.parent)
            )
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "reference %s: %d hairpins, %d features (%d loci), %d contaminant categories",
        final,
        len(hairpins),
        manifest["n_features"],
        len(loci),
        len(contaminant_entries),
    )
    return final / MANIFEST


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
