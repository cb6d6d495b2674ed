"""Reference sequences of the read simulator (miRBase, contaminants).

Loads the FASTA files shipped in ``resources/`` and places every mature
miRNA in its hairpin, so that templated isomiR extensions can be drawn.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MatureLocus",
    "References",
    "load_fasta",
    "load_references",
    "locate_mature_in_hairpins",
]


class MatureLocus(tuple):
    """``(hairpin name, 0-based start)`` of a mature miRNA in a hairpin.

    Behaves exactly like a 2-tuple and also carries the mature ``sequence``
    so that :func:`simulate_library` knows the canonical insert.
    """

    sequence: str

    def __new__(cls, hairpin: str, start: int, sequence: str) -> MatureLocus:
        """Create the locus; ``sequence`` is kept as an attribute."""
        self = super().__new__(cls, (hairpin, int(start)))
        self.sequence = sequence
        return self

    def __getnewargs__(self) -> tuple[str, int, str]:  # for pickle/copy
        """Return constructor arguments (pickling support)."""
        return (self[0], self[1], self.sequence)


def load_fasta(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a FASTA file into a dict.

    Parameters
    ----------
    path
        FASTA file (plain or gzip-compressed).

    Returns
    -------
    dict[str, str]
        First word of each header -> sequence, uppercase, ``U`` replaced by
        ``T``, in file order. Other characters (gaps, ``N``) are kept.
    """
    from xopen import xopen

    out: dict[str, list[str]] = {}
    name: str | None = None
    with xopen(path, "rt") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                name = line[1:].split()[0] if len(line) > 1 else ""
                out[name] = []
            elif name is None:
                raise ValueError(f"{path}: sequence before the first header")
            else:
                out[name].append(line)
    return {k: "".join(v).upper().replace("U", "T") for k, v in out.items()}


def locate_mature_in_hairpins(
    mature: Mapping[str, str], hairpins: Mapping[str, str]
) -> dict[str, tuple[str, int]]:
    """Find each mature miRNA in a hairpin by exact substring search.

    Parameters
    ----------
    mature
        Mature name -> sequence (DNA alphabet).
    hairpins
        Hairpin name -> sequence (DNA alphabet).

    Returns
    -------
    dict[str, tuple[str, int]]
        Mature name -> ``(hairpin name, 0-based start)``. The hairpin whose
        name shares the mature's stem (``hsa-miR-16-5p`` -> ``hsa-mir-16-*``)
        is preferred, then file order; matures found in no hairpin are left
        out. Values are :class:`MatureLocus` (a 2-tuple that also carries the
        mature sequence).
    """
    hp_items = list(hairpins.items())
    # hairpins grouped by stem: "hsa-mir-16-2" -> "hsa-mir-16" and itself
    by_stem: dict[str, list[int]] = {}
    for order, (hname, _) in enumerate(hp_items):
        hl = hname.lower()
        keys = {hl, re.sub(r"-\d+$", "", hl)}
        for key in keys:
            by_stem.setdefault(key, []).append(order)
    out: dict[str, tuple[str, int]] = {}
    for name, seq in mature.items():
        stem = re.sub(r"-[35]p$", "", name).lower()
        found: tuple[int, int] | None = None
        for order in sorted(by_stem.get(stem, [])):
            pos = hp_items[order][1].find(seq)
            if pos >= 0:
                found = (order, pos)
                break
        if found is None:
            for order, (_, hseq) in enumerate(hp_items):
                pos = hseq.find(seq)
                if pos >= 0:
                    found = (order, pos)
                    break
        if found is not None:
            out[name] = MatureLocus(hp_items[found[0]][0], found[1], seq)
    return out


@dataclass
class References:
    """Sequences the read simulator needs.

    Attributes
    ----------
    mature
        Mature miRNA name -> DNA sequence (the miRNA universe).
    hairpins
        Hairpin name -> DNA sequence.
    mature_in_hairpin
        Mature name -> (hairpin, start).
    contaminants
        ``trna``, ``rrna``, ``snorna_snrna`` -> name -> sequence.
    """

    mature: dict[str, str]
    hairpins: dict[str, str]
    mature_in_hairpin: dict[str, Any]
    contaminants: dict[str, dict[str, str]]


def load_references(params: Mapping[str, Any]) -> References:
    """Load miRBase and contaminant sequences shipped in ``resources/``.

    Parameters
    ----------
    params
        Resolved parameters (``reference`` section).

    Returns
    -------
    refs : References
        The loaded sequences.
    """
    from exomir.config import resources_dir

    res = resources_dir()
    ref = params["reference"]
    mature = load_fasta(res / ref["mature"])
    hairpins = load_fasta(res / ref["hairpin"])
    cont = res / "contaminants"
    contaminants = {
        "trna": load_fasta(cont / "trna_hsa.fa"),
        "rrna": load_fasta(cont / "rrna_hsa.fa"),
        "snorna_snrna": load_fasta(cont / "snorna_snrna_hsa.fa"),
    }
    return References(
        mature=mature,
        hairpins=hairpins,
        mature_in_hairpin=locate_mature_in_hairpins(mature, hairpins),
        contaminants=contaminants,
    )
