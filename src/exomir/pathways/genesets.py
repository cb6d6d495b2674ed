"""Pathway gene sets (GMT) and the sign file of pathway roles.

Gene sets come from GMT files named in config ``pathways.gene_sets``, each with
its identifier type (``symbol`` or ``entrez``). exomir ships WikiPathways
WP4172 (PI3K-Akt) and WP382 (MAPK) (CC0, Entrez IDs) and three MSigDB v7.0
sets (hallmark PI3K/AKT/mTOR, Reactome PI3K/AKT in cancer, Reactome MAPK
family cascades; CC BY 4.0). KEGG sets may be given as a user GMT path.

The pathway identifier is the last ``%``-separated field of the GMT name
column (``PI3K-Akt Signaling Pathway%WikiPathways%WP4172`` -> ``WP4172``) or
the whole name when it has no ``%``. Entrez sets are mapped to symbols with
the Entrez/symbol pairs of the interaction table (and the roles file); IDs
with no symbol cannot be targets of any miRNA in the network and are counted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exomir.errors import Issue, ValidationError

__all__ = ["GeneSet", "read_gmt", "read_roles", "to_symbols"]

log = logging.getLogger("exomir.pathways")


@dataclass(frozen=True)
class GeneSet:
    """One pathway gene set.

    Attributes
    ----------
    id
        Pathway identifier.
    name
        Human-readable name (GMT column 1 before the first ``%``).
    genes
        Gene identifiers as in the file.
    id_type
        ``symbol`` or ``entrez``.
    source
        GMT file it came from.
    """

    id: str
    name: str
    genes: frozenset[str]
    id_type: str
    source: str
    symbols: frozenset[str] = field(default_factory=frozenset)


def read_gmt(path: str | os.PathLike[str], id_type: str) -> list[GeneSet]:
    """Read a GMT file.

    Parameters
    ----------
    path
        GMT file: name, description, genes (tab-separated).
    id_type
        ``symbol`` or ``entrez``.

    Returns
    -------
    list of GeneSet
        In file order.

    Raises
    ------
    ValidationError
        For lines with no genes, duplicate identifiers or a non-numeric
        Entrez ID.
    """
    label = os.fspath(path)
    if id_type not in ("symbol", "entrez"):
        raise ValidationError(
            [Issue(label, f"id_type {id_type!r}; allowed: symbol, entrez")]
        )
    out: list[GeneSet] = []
    issues: list[Issue] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            parts = [p.strip() for p in line.rstrip("\n").split("\t")]
            if not parts[0] or parts[0].startswith("#"):
                continue
            genes = {g for g in parts[2:] if g}
            pid = parts[0].split("%")[-1]
            if not genes:
                issues.append(Issue(label, "gene set without genes", line=i))
                continue
            if pid in seen:
                issues.append(Issue(label, f"duplicate gene set {pid!r}", line=i))
                continue
            bad = sorted(g for g in genes if id_type == "entrez" and not g.isdigit())
            if bad:
                issues.append(
                    Issue(
                        label,
                        f"{len(bad)} gene(s) are not Entrez IDs (e.g. {bad[0]!r}); "
                        "set id_type: symbol for symbol GMTs",
                        line=i,
                    )
                )
                continue
            seen.add(pid)
            out.append(
                GeneSet(pid, parts[0].split("%")[0], frozenset(genes), id_type, label)
            )
    if issues:
        raise ValidationError(issues)
    return out


def to_symbols(gs: GeneSet, entrez_to_symbol: Mapping[str, str]) -> GeneSet:
    """Return the gene set with its ``symbols`` filled in.

    Entrez IDs without a symbol are logged with their count.
    """
    if gs.id_type == "symbol":
        syms = frozenset(gs.genes)
    else:
        syms = frozenset(entrez_to_symbol[g] for g in gs.genes if g in entrez_to_symbol)
        n_miss = len(gs.genes) - sum(g in entrez_to_symbol for g in gs.genes)
        if n_miss:
            log.info(
                "%s: %d of %d Entrez IDs have no symbol in the interaction table "
                "(no miRNA in the network targets them)",
                gs.id,
                n_miss,
                len(gs.genes),
            )
    return GeneSet(gs.id, gs.name, gs.genes, gs.id_type, gs.source, syms)


def read_roles(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the pathway roles (sign) file.

    Parameters
    ----------
    path
        TSV with ``family``, ``gene`` (symbol), ``entrez`` (optional),
        ``role`` (+1 effector, -1 negative regulator; any non-zero number
        is accepted to weight a gene), ``note``; ``#`` lines are comments.

    Returns
    -------
    pandas.DataFrame
        Columns family, gene, entrez, role (float).

    Raises
    ------
    ValidationError
        On missing columns, zero or non-numeric roles or duplicate gene rows.
    """
    label = os.fspath(path)
    df = pd.read_csv(path, sep="\t", dtype=str, comment="#", keep_default_na=False)
    missing = [c for c in ("family", "gene", "role") if c not in df.columns]
    if missing:
        raise ValidationError([Issue(label, f"column(s) {missing} missing")])
    if "entrez" not in df.columns:
        df["entrez"] = ""
    issues = []
    for i, r in df.iterrows():
        try:
            ok = float(r["role"]) != 0 and np.isfinite(float(r["role"]))
        except ValueError:
            ok = False
        if not ok:
            issues.append(
                Issue(
                    label,
                    f"role {r['role']!r}; allowed: a non-zero number (+1 effector, "
                    "-1 negative regulator; larger magnitudes weight a gene more)",
                    line=int(i) + 2,
                    column="role",
                )
            )
    dup = df.duplicated(["family", "gene"], keep=False)
    for i in df.index[dup]:
        issues.append(Issue(label, "duplicate family/gene row", line=int(i) + 2))
    if issues:
        raise ValidationError(issues)
    df = df.assign(role=df["role"].str.strip().astype(float))
    return df[["family", "gene", "entrez", "role"]].reset_index(drop=True)
