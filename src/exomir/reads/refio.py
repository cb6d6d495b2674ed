"""FASTA reading and writing, bowtie index building and tool versions.

Low-level pieces of the reference build (:mod:`exomir.reads.reference`):
sequences are upper-cased with U written as T.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import dnaio

logger = logging.getLogger(__name__)


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
