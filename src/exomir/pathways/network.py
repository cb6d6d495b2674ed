"""miRNA -> target-gene interactions: reading, conversion and miRBase name mapping.

The pathway stage reads interactions in one documented TSV layout
(:data:`INTERACTION_COLUMNS`)::

    mirna          mature miRNA name (e.g. hsa-miR-126-3p)
    target_symbol  HGNC symbol of the target gene
    target_entrez  NCBI Gene ID (may be empty when the source has none)
    evidence       evidence class (miRTarBase "Support Type", e.g. "Functional MTI")
    source         name of the resource (miRTarBase, TargetScan, ...)
    reference      free text (PMIDs, context score, ...); may be empty

Any target table (TargetScan, a lab's own list) is accepted in this layout.
miRTarBase is free for academic use only, so exomir ships no copy: the user
downloads it and :func:`convert_mirtarbase` turns the table (the official
column names, or the same names with ``_`` for spaces and brackets) into the
layout above.

Names are then mapped onto the miRBase version of the analysis
(:func:`map_mirna_names`): exact, case-insensitive, arm-less names that have
one arm in the reference (``hsa-miR-126`` -> ``hsa-miR-126-3p``), ``*`` star
names, arm names whose reference locus has a single unnamed arm
(``hsa-miR-451a-5p`` -> ``hsa-miR-451a``). Everything that cannot be mapped
is counted and logged, never silently dropped.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from exomir.errors import Issue, ValidationError

__all__ = [
    "INTERACTION_COLUMNS",
    "NameMapping",
    "convert_mirtarbase",
    "filter_evidence",
    "map_mirna_names",
    "mature_names",
    "read_interactions",
]

log = logging.getLogger("exomir.pathways")

#: Columns of the documented interaction layout, in order.
INTERACTION_COLUMNS = (
    "mirna",
    "target_symbol",
    "target_entrez",
    "evidence",
    "source",
    "reference",
)

#: miRTarBase columns (spaces and brackets folded to ``_``) -> layout columns.
_MIRTARBASE = {
    "mirna": "mirna",
    "target_gene": "target_symbol",
    "target_gene_entrez_id": "target_entrez",
    "support_type": "evidence",
    "references_pmid": "reference",
    "species_mirna": "species_mirna",
    "species_target_gene": "species_target",
}


def _fold(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


_CHUNK_ROWS = 200_000


def _read_chunks(path: str | os.PathLike[str]) -> Iterable[pd.DataFrame]:
    """Read a miRTarBase table in chunks of the columns exomir uses.

    TSV is read without quote handling (as before); CSV with standard CSV
    quoting (the miRTarBase 10 ``hsa_MTI.csv`` quotes fields); ``.xlsx``/``.xls``
    (miRTarBase 7-9) through pandas' Excel reader, which needs openpyxl.
    Chunks keep memory flat on the 300-MB miRTarBase 10 table.
    """
    name = str(path).lower()
    keep = set(_MIRTARBASE)
    if name.endswith((".xlsx", ".xls")):
        try:
            import openpyxl  # noqa: F401
        except ImportError as exc:
            raise ValidationError(
                [
                    Issue(
                        os.fspath(path),
                        "an Excel miRTarBase table needs the openpyxl package "
                        "(pip install openpyxl), or save it as CSV/TSV first",
                    )
                ]
            ) from exc
        df = pd.read_excel(path, dtype=str, keep_default_na=False)
        yield df[[c for c in df.columns if _fold(str(c)) in keep]]
        return
    opts: dict[str, Any] = (
        {"sep": ","} if name.endswith(".csv") else {"sep": "\t", "quoting": 3}
    )
    yield from pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        usecols=lambda c: _fold(str(c)) in keep,
        chunksize=_CHUNK_ROWS,
        **opts,
    )


def _species_spellings(species: str) -> set[str]:
    """``Homo sapiens`` and ``hsa`` (miRTarBase 10 uses the code) are one species."""
    from exomir.species import load_species_table

    names = {species}
    for code, entry in load_species_table()["species"].items():
        if species in (code, entry.get("name")):
            names |= {str(code), str(entry.get("name"))}
    return names


def convert_mirtarbase(
    path: str | os.PathLike[str],
    species: str = "Homo sapiens",
    evidence: Sequence[str] | None = ("Functional MTI",),
) -> pd.DataFrame:
    """Convert a user-downloaded miRTarBase table into the interaction layout.

    Parameters
    ----------
    path
        miRTarBase export as TSV, CSV (miRTarBase 10 ``hsa_MTI.csv``) or
        Excel (``.xlsx``, miRTarBase 7-9; needs openpyxl), by extension, with
        the columns ``miRTarBase ID, miRNA, Species (miRNA), Target Gene,
        Target Gene (Entrez ID), Species (Target Gene), Experiments, Support
        Type, References (PMID)``; ``_`` instead of spaces/brackets is accepted.
    species
        Species kept (both miRNA and target): the Latin name or the miRBase
        code (``Homo sapiens`` and ``hsa`` match either spelling in the table).
    evidence
        Support types kept (default strong experimental evidence,
        ``Functional MTI``); ``None`` keeps all.

    Returns
    -------
    pandas.DataFrame
        Unique interactions in :data:`INTERACTION_COLUMNS` order, PMIDs of
        duplicate records joined with ``;``, sorted by miRNA and gene.

    Raises
    ------
    ValidationError
        If required columns are missing or nothing is left after filtering.
    """
    label = os.fspath(path)
    spellings = _species_spellings(species)
    n0 = n_species = 0
    parts = []
    for raw in _read_chunks(path):
        cols = {_fold(str(c)): c for c in raw.columns}
        need = ["mirna", "target_gene", "support_type"]
        missing = [c for c in need if c not in cols]
        if missing:
            raise ValidationError(
                [
                    Issue(
                        label,
                        f"not a miRTarBase table: column(s) {missing} missing; "
                        "expected miRNA, Target Gene, Target Gene (Entrez ID), "
                        "Support Type, ...",
                    )
                ]
            )
        df = pd.DataFrame(
            {new: raw[cols[old]] for old, new in _MIRTARBASE.items() if old in cols}
        )
        n0 += len(df)
        for col in ("species_mirna", "species_target"):
            if col in df:
                df = df[df[col].str.strip().isin(spellings)]
        n_species += len(df)
        df = df.assign(evidence=df["evidence"].str.strip())
        if evidence is not None:
            df = df[df["evidence"].isin(list(evidence))]
        parts.append(df)
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    log.info(
        "miRTarBase %s: %d records, %d of species %s, %d with evidence in %s",
        label,
        n0,
        n_species,
        species,
        len(df),
        list(evidence) if evidence is not None else "any",
    )
    if df.empty:
        raise ValidationError(
            [
                Issue(
                    label,
                    f"no interactions left for species {species!r} and "
                    f"evidence {list(evidence) if evidence else 'any'}",
                )
            ]
        )
    df = df.assign(
        mirna=df["mirna"].str.strip(),
        target_symbol=df["target_symbol"].str.strip(),
        target_entrez=df.get("target_entrez", pd.Series("", index=df.index))
        .fillna("")
        .str.strip()
        .str.replace(r"\.0$", "", regex=True),
        reference=df.get("reference", pd.Series("", index=df.index)).fillna(""),
        source="miRTarBase",
    )
    keys = ["mirna", "target_symbol", "target_entrez", "evidence", "source"]
    out = (
        df.groupby(keys, sort=True)["reference"]
        .agg(lambda s: ";".join(sorted({x.strip() for x in s if x.strip()})))
        .reset_index()
    )
    return out[list(INTERACTION_COLUMNS)]


def read_interactions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an interaction table in the documented layout.

    Parameters
    ----------
    path
        TSV with at least ``mirna`` and ``target_symbol``; missing optional
        columns are added empty (``source`` = file name).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INTERACTION_COLUMNS`.

    Raises
    ------
    ValidationError
        If a required column is missing, a required cell is empty, or the
        table has no rows.
    """
    label = os.fspath(path)
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    missing = [c for c in ("mirna", "target_symbol") if c not in df.columns]
    if missing:
        raise ValidationError(
            [
                Issue(
                    label,
                    f"column(s) {missing} missing; the layout is "
                    f"{', '.join(INTERACTION_COLUMNS)} (see docs/pathways.md)",
                )
            ]
        )
    issues = []
    for col in ("mirna", "target_symbol"):
        blank = df.index[df[col].str.strip() == ""]
        for i in blank[:5]:
            issues.append(Issue(label, "empty value", line=int(i) + 2, column=col))
    if df.empty:
        issues.append(Issue(label, "the interaction table has no rows"))
    if issues:
        raise ValidationError(issues)
    for col in INTERACTION_COLUMNS:
        if col not in df.columns:
            df[col] = os.path.basename(label) if col == "source" else ""
    for col in INTERACTION_COLUMNS:
        df[col] = df[col].str.strip()
    return df[list(INTERACTION_COLUMNS)].reset_index(drop=True)


def filter_evidence(
    df: pd.DataFrame, evidence: Sequence[str] | None, label: str
) -> pd.DataFrame:
    """Keep interactions whose evidence class is listed (``None`` keeps all).

    Raises
    ------
    ValidationError
        If no interaction is left.
    """
    if evidence is None:
        return df
    keep = df["evidence"].isin(list(evidence))
    log.info(
        "%s: %d of %d interactions have evidence in %s",
        label,
        int(keep.sum()),
        len(df),
        list(evidence),
    )
    if not keep.any():
        found = sorted(df["evidence"].unique())[:10]
        raise ValidationError(
            [
                Issue(
                    label,
                    f"no interaction has evidence in {list(evidence)}; the table has "
                    f"{found}",
                    column="evidence",
                )
            ]
        )
    return df[keep].reset_index(drop=True)


def mature_names(path: str | os.PathLike[str]) -> dict[str, str]:
    """Names -> accessions of the mature miRNAs in a miRBase FASTA file.

    Headers look like ``>hsa-miR-126-3p MIMAT0000445 Homo sapiens ...``; the
    accession is empty when the header has none.
    """
    names: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(">"):
                parts = line[1:].split()
                acc = (
                    parts[1] if len(parts) > 1 and parts[1].startswith("MIMAT") else ""
                )
                names[parts[0]] = acc
    return names


@dataclass(frozen=True)
class NameMapping:
    """Result of mapping interaction miRNA names onto a reference.

    Attributes
    ----------
    table
        One row per distinct input name: ``input``, ``mapped`` (empty if not
        mapped) and ``rule`` (exact, case, arm_added, star_arm, arm_dropped,
        unmapped_ambiguous, unmapped).
    """

    table: pd.DataFrame

    def as_dict(self) -> dict[str, str]:
        """Input name -> mapped name, mapped names only."""
        t = self.table[self.table["mapped"] != ""]
        return dict(zip(t["input"], t["mapped"], strict=True))


_ARM = re.compile(r"-(5p|3p)$")


def map_mirna_names(
    names: Iterable[str],
    reference: Iterable[str],
    accessions: Mapping[str, str] | None = None,
) -> NameMapping:
    """Map miRNA names (any miRBase version) onto the names of a reference.

    Parameters
    ----------
    names
        Names to map (e.g. the miRNAs of an interaction table).
    reference
        Names of the analysis (mature FASTA names and/or the expression
        matrix's miRNAs).
    accessions
        Reference name -> miRBase accession (MIMAT...). With it, an arm-less
        name whose locus has both arms maps to the arm with the older (lower)
        accession: the arm that carried the arm-less name before miRBase
        named both arms (rule ``arm_added_oldest``).

    Returns
    -------
    NameMapping
        Mapping table; rules tried in order: exact; case-insensitive; an
        arm-less name whose locus has exactly one arm (``-5p``/``-3p``) in the
        reference; a ``*`` name (old minor arm) when the locus has one arm in
        the reference that is not the other, unstarred name's mapping; an arm
        name whose reference has only the arm-less name. Anything else is
        ``unmapped`` (or ``unmapped_ambiguous`` when both arms exist).
    """
    ref = sorted(set(reference))
    ref_set = set(ref)
    lower: dict[str, str] = {}
    for r in ref:
        lower.setdefault(r.lower(), r)
    arms: dict[str, list[str]] = {}
    for r in ref:
        m = _ARM.search(r)
        if m:
            arms.setdefault(r[: m.start()].lower(), []).append(r)
    rows = []
    for name in sorted(set(names)):
        mapped, rule = "", "unmapped"
        if name in ref_set:
            mapped, rule = name, "exact"
        elif name.lower() in lower:
            mapped, rule = lower[name.lower()], "case"
        elif name.endswith("*"):
            base = name[:-1].lower()
            cand = arms.get(base, [])
            if len(cand) == 1:
                mapped, rule = cand[0], "star_arm"
            elif len(cand) == 2:
                rule = "unmapped_ambiguous"
        elif _ARM.search(name) is None:
            cand = arms.get(name.lower(), [])
            if len(cand) == 1:
                mapped, rule = cand[0], "arm_added"
            elif len(cand) == 2:
                rule = "unmapped_ambiguous"
                acc = [(accessions or {}).get(c, "") for c in cand]
                if all(acc) and acc[0] != acc[1]:
                    oldest = min(zip(acc, cand, strict=True))[1]
                    mapped, rule = oldest, "arm_added_oldest"
        else:
            base = name[: _ARM.search(name).start()]  # type: ignore[union-attr]
            if base.lower() in lower and base.lower() not in arms:
                mapped, rule = lower[base.lower()], "arm_dropped"
        rows.append({"input": name, "mapped": mapped, "rule": rule})
    return NameMapping(pd.DataFrame(rows, columns=["input", "mapped", "rule"]))


def _cmd_convert(args: Any) -> int:
    import sys

    from exomir.tables import write_table

    try:
        df = convert_mirtarbase(
            args.input,
            species=args.species,
            evidence=None if args.all_evidence else args.evidence,
        )
    except ValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.mature:
        ref = mature_names(args.mature)
        mapping = map_mirna_names(df["mirna"], ref, ref)
        m = mapping.as_dict()
        n_unm = int((~df["mirna"].isin(m)).sum())
        print(
            f"{n_unm} of {len(df)} interactions have a miRNA name that does not map "
            f"onto {args.mature}; they are left out",
            file=sys.stderr,
        )
        df = df[df["mirna"].isin(m)].assign(mirna=lambda d: d["mirna"].map(m))
    write_table(
        df.sort_values(["mirna", "target_symbol"], kind="mergesort"), args.output
    )
    print(f"{args.output}: {len(df)} interactions, {df['mirna'].nunique()} miRNAs")
    return 0


def add_cli(sub: Any) -> None:
    """Add ``exomir convert-mirtarbase`` to the command line's subparsers."""
    p = sub.add_parser(
        "convert-mirtarbase",
        help="convert a downloaded miRTarBase table into exomir's interaction TSV layout",
    )
    p.add_argument("input", help="miRTarBase export saved as TSV (or .csv)")
    p.add_argument("output", help="interaction TSV to write (docs/pathways.md layout)")
    p.add_argument(
        "--evidence",
        nargs="+",
        default=["Functional MTI"],
        help="Support Types kept (default: Functional MTI, strong evidence)",
    )
    p.add_argument(
        "--all-evidence", action="store_true", help="keep every Support Type"
    )
    p.add_argument("--species", default="Homo sapiens", help="species kept")
    p.add_argument(
        "--mature",
        default=None,
        help="miRBase mature FASTA: map miRNA names onto it and drop unmapped ones",
    )
    p.set_defaults(func=_cmd_convert)
