"""Checksums of the per-library files, recorded by their writer, checked by readers.

The library job (rule ``library``) writes six files per library. After it has
written them it records, in the ``outputs`` block of the library's annotation
JSON (``results/annotate/{sample}.json``), the size in bytes, the SHA-256 and,
for text files, the number of lines of each sibling file it wrote. Every
consumer of per-library files (``merge_counts``, ``read_qc``) calls
:func:`verify_library_outputs` before reading them.

A file that does not match what its writer recorded (truncated by a full
disk, cut by a copy, edited by hand) is never used: the check raises
:class:`DamagedIntermediateError` naming the file, what was recorded and the
rule that makes it, and removes the damaged file, so that a plain rerun of the
workflow rebuilds it (Snakemake reruns a job whose output is missing) and,
after it, every result downstream.

Why a block in the JSON rather than a separate manifest file: the JSON is
already an output of the same job and an input of the QC stage, so no rule
gains an output; the block is an extra key that readers of the annotation
categories ignore (it is not a number).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exomir.atomic import atomic_open

log = logging.getLogger(__name__)

__all__ = [
    "OUTPUTS_KEY",
    "DamagedIntermediateError",
    "check_sizes",
    "file_record",
    "record_outputs",
    "verify_library_outputs",
]

#: Key of the block in the annotation JSON.
OUTPUTS_KEY = "outputs"
_CHUNK = 1 << 20


class DamagedIntermediateError(ValueError):
    """A per-library file differs from what the job that wrote it recorded.

    Parameters
    ----------
    path
        The damaged file.
    problem
        What differs.
    rule
        The workflow rule that makes the file.
    removed
        Whether the file was removed (so that a rerun rebuilds it).
    """

    def __init__(self, path: str, problem: str, rule: str, removed: bool):
        self.path = str(path)
        self.problem = problem
        self.rule = rule
        self.removed = removed
        action = (
            "it was removed; run the workflow again to rebuild it"
            if removed
            else "remove it and run the workflow again to rebuild it"
        )
        super().__init__(
            f"{self.path} is damaged ({problem}); it is made by rule {rule}; {action}"
        )

    def __reduce__(self):  # keep picklable (Snakemake, multiprocessing)
        """Return the constructor arguments for pickling."""
        return (type(self), (self.path, self.problem, self.rule, self.removed))


def file_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe one file: name, size, SHA-256 and (text files) line count.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        ``file`` (base name), ``bytes``, ``sha256`` and, unless the name ends
        in ``.gz``, ``lines`` (number of newline characters).
    """
    p = Path(path)
    digest = hashlib.sha256()
    lines = 0
    size = 0
    with open(p, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            size += len(chunk)
    rec: dict[str, Any] = {"file": p.name, "bytes": size, "sha256": digest.hexdigest()}
    if not p.name.endswith(".gz"):
        rec["lines"] = lines
    return rec


def record_outputs(
    manifest: str | os.PathLike[str], files: Mapping[str, str | os.PathLike[str]]
) -> None:
    """Add the ``outputs`` block describing ``files`` to a JSON object file.

    Parameters
    ----------
    manifest
        JSON file holding an object (the library's annotation JSON); it is
        rewritten atomically with the block added (other keys unchanged).
    files
        Role -> path of every sibling file the job wrote (``collapsed``,
        ``stats``, ``mirna``, ``isomir``, ``gff``).
    """
    with open(manifest, encoding="utf-8") as fh:
        data = json.load(fh)
    data[OUTPUTS_KEY] = {role: file_record(p) for role, p in sorted(files.items())}
    with atomic_open(manifest) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _damaged(path: Path, problem: str, rule: str, remove: bool) -> None:
    removed = False
    if remove:
        try:
            path.unlink(missing_ok=True)
            removed = True
        except OSError as exc:  # read-only results folder: say so, keep going
            log.warning("could not remove damaged %s: %s", path, exc)
    raise DamagedIntermediateError(str(path), problem, rule, removed)


def _load_manifest(path: Path, rule: str, remove: bool) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _damaged(path, f"not a complete JSON file: {exc}", rule, remove)
    if not isinstance(data, dict):
        _damaged(path, "not a JSON object", rule, remove)
    block = data.get(OUTPUTS_KEY)
    return block if isinstance(block, dict) else None


def verify_library_outputs(
    manifest: str | os.PathLike[str],
    files: Mapping[str, str | os.PathLike[str]],
    rule: str = "library",
    remove: bool = True,
    checksum: bool = True,
    warn: bool = True,
) -> None:
    """Check per-library files against the ``outputs`` block of their JSON.

    Parameters
    ----------
    manifest
        The library's annotation JSON (written by the same job).
    files
        Role -> path of the files about to be read (roles as in
        :func:`record_outputs`).
    rule
        Rule that makes the files, for the message.
    remove
        Remove a damaged file so that a rerun rebuilds it.
    checksum
        Compare SHA-256 too (otherwise sizes only: a cheap check that catches
        truncation).
    warn
        Log a warning when the JSON has no ``outputs`` block (results written
        before the block existed); they are used unchecked.

    Raises
    ------
    DamagedIntermediateError
        The first file (or the JSON itself) that does not match.
    """
    mpath = Path(manifest)
    block = _load_manifest(mpath, rule, remove)
    if block is None:
        if warn:
            log.warning("%s has no '%s' block; files not verified", mpath, OUTPUTS_KEY)
        return
    for role, path in files.items():
        want = block.get(role)
        if not isinstance(want, dict):
            continue
        p = Path(path)
        if not p.is_file():
            continue  # the reader reports a missing file itself
        size = p.stat().st_size
        if size != want.get("bytes"):
            _damaged(
                p,
                f"{size:,} bytes, but the job wrote {want.get('bytes'):,} bytes "
                f"(recorded in {mpath})",
                rule,
                remove,
            )
        if checksum:
            got = file_record(p)
            if got["sha256"] != want.get("sha256"):
                _damaged(
                    p,
                    f"content differs from what the job wrote (SHA-256 "
                    f"{got['sha256'][:12]}..., recorded {str(want.get('sha256'))[:12]}"
                    f"... in {mpath})",
                    rule,
                    remove,
                )


def check_sizes(
    manifest: str | os.PathLike[str],
    files: Mapping[str, str | os.PathLike[str]],
    rule: str = "library",
) -> list[tuple[str, str]]:
    """Remove per-library files whose size differs from the recorded one.

    The cheap check the workflow runs when it starts (one ``stat`` per file),
    so that a truncated intermediate is never used, even when it kept its old
    modification time; the workflow adds the removed files to its default
    target, so the same run rebuilds them and everything downstream.

    Parameters
    ----------
    manifest
        The library's annotation JSON; nothing is done if it does not exist.
    files
        Role -> path, as in :func:`verify_library_outputs`.
    rule
        Rule that makes the files, for the message.

    Returns
    -------
    list[tuple[str, str]]
        Path and message of each damaged file (empty when all match).
    """
    if not Path(manifest).is_file():
        return []
    try:
        verify_library_outputs(
            manifest, files, rule, remove=True, checksum=False, warn=False
        )
    except DamagedIntermediateError as exc:
        action = "removed, so that" if exc.removed else "could not be removed;"
        msg = f"{exc.path} is damaged ({exc.problem}); {action} rule {exc.rule} rebuilds it"
        return [(exc.path, msg), *check_sizes(manifest, files, rule)]
    return []


def verify_samples(
    manifests: Mapping[str, str | os.PathLike[str]],
    files: Mapping[str, Mapping[str, str | os.PathLike[str]]],
    rule: str = "library",
) -> None:
    """Verify the per-library files of every sample before a cohort step reads them.

    Parameters
    ----------
    manifests
        Sample -> annotation JSON.
    files
        Role -> (sample -> path); samples without a manifest are skipped.
    rule
        Rule that makes the files, for the message.

    Raises
    ------
    DamagedIntermediateError
        At the first damaged file (after removing it).
    """
    for sample, manifest in manifests.items():
        own = {role: paths[sample] for role, paths in files.items() if sample in paths}
        verify_library_outputs(manifest, own, rule=f"{rule} (sample {sample})")
