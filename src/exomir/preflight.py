"""Checks of the inputs that need more than the sheets: FASTQ files, miRBase, contrasts.

:mod:`exomir.validate` calls these so that ``exomir validate`` (and the
workflow when it loads) reports, before anything runs, every problem that
would otherwise stop a run late:

* **one FASTQ, one library**: a FASTQ listed for two libraries, by the same
  path (after resolving links and ``..``) or with the same content under two
  names, is an error naming both rows, unless config ``shared_fastq`` lists it
  (a file deliberately reused, e.g. technical replicates or a test scenario).
  The content fingerprint is the file size plus the SHA-256 of its first and
  last 64 KiB: the last bytes of a gzip file hold the CRC-32 and length of the
  whole uncompressed content, so two different gzip FASTQs practically never
  share it. Plain (uncompressed) files and ``--deep`` use the SHA-256 of the
  whole file;
* **the first records of every FASTQ** (:func:`exomir.reads.fastq.read_head`
  on the first :data:`HEAD_RECORDS`): gzip magic, ``@`` headers, ``+`` lines,
  sequence and quality of equal length, ``ACGTN`` alphabet, Phred+33
  qualities, Unix line ends, with the file and record number;
* with ``deep``: every record of every FASTQ is parsed and the gzip stream is
  decompressed to its end, so a truncated or corrupt file is found before the
  run (with the record number where it becomes unreadable);
* **the primary miRNA** (``trial.primary_mirna``) is a mature miRNA of the
  configured miRBase ``mature.fa``;
* **contrasts** (``de.contrasts``) name arms and timepoints of the design and
  covariates that are columns of the sample or participant sheet.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.config import is_trial_study, resolve_path
from exomir.errors import Issue, ValidationError

__all__ = [
    "HEAD_RECORDS",
    "check_contrasts",
    "check_fastq_files",
    "check_primary_mirna",
    "fastq_fingerprint",
    "preflight_issues",
]

#: Records of each FASTQ parsed by the quick check.
HEAD_RECORDS = 1000
_EDGE = 64 * 1024
_CHUNK = 1 << 20
CONFIG_LABEL = "config/config.yaml"


def fastq_fingerprint(path: str | os.PathLike[str], full: bool = False) -> str:
    """Return a content fingerprint of a (gzip) FASTQ file.

    Parameters
    ----------
    path
        The file.
    full
        SHA-256 of the whole file. Otherwise size + SHA-256 of the first and
        last 64 KiB for gzip files (whose trailer holds the CRC-32 of the whole
        content), the whole file for anything else.

    Returns
    -------
    str
        Equal for files with equal content.
    """
    p = Path(path)
    size = p.stat().st_size
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        if full or not gz or size <= 2 * _EDGE:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
            return f"sha256:{digest.hexdigest()}"
        digest.update(fh.read(_EDGE))
        fh.seek(size - _EDGE)
        digest.update(fh.read(_EDGE))
    return f"edges:{size}:{digest.hexdigest()}"


def _describe(rows: list[tuple[int, str]]) -> str:
    return ", ".join(f"line {line} ({sid})" for line, sid in rows)


def _shared(cfg: dict[str, Any], directory: Path) -> set[str]:
    return {
        os.path.realpath(resolve_path(str(v), directory))
        for v in cfg.get("shared_fastq") or []
    }


def _deep_parse(path: Path) -> None:
    """Parse every record and decompress the whole stream (``--deep``)."""
    from exomir.reads.fastq import iter_fastq

    for _ in iter_fastq(path, threads=1):
        pass


def check_fastq_files(
    samples: pd.DataFrame,
    cfg: dict[str, Any],
    directory: Path,
    label: str,
    deep: bool = False,
) -> list[Issue]:
    """Check the FASTQ files of the sample sheet: duplicates and their records.

    Parameters
    ----------
    samples
        Sample sheet (:func:`exomir.tables.read_table`), with ``_line``.
    cfg
        Validated configuration (``shared_fastq`` lists deliberately reused
        files).
    directory
        Scenario directory.
    label
        Sample sheet name for messages.
    deep
        Parse every record and decompress each file to its end, and compare
        whole-file SHA-256 checksums.

    Returns
    -------
    list[Issue]
        Problems found; files that do not exist are skipped (reported by the
        sheet check).
    """
    from exomir.reads.fastq import FastqFormatError, read_head

    issues: list[Issue] = []
    shared = _shared(cfg, directory)
    by_path: dict[str, list[tuple[int, str]]] = {}
    by_content: dict[str, list[tuple[int, str, str]]] = {}
    for rec in samples.to_dict("records"):
        line, sid, value = int(rec["_line"]), str(rec["sample_id"]), str(rec["fastq"])
        fq = resolve_path(value, directory)
        if not fq.is_file():
            continue
        real = os.path.realpath(fq)
        first = real not in by_path
        by_path.setdefault(real, []).append((line, sid))
        if not first:
            continue  # same file: read once, reported below
        try:
            by_content.setdefault(fastq_fingerprint(fq, full=deep), []).append(
                (line, sid, real)
            )
            read_head(fq, sample_reads=HEAD_RECORDS, quality_check_reads=HEAD_RECORDS)
            if deep:
                _deep_parse(fq)
        except FastqFormatError as exc:
            issues.append(
                Issue(
                    label,
                    f"FASTQ '{value}' record {exc.record}: {exc.problem}",
                    line=line,
                    column="fastq",
                    row_id=f"sample_id={sid}",
                )
            )
        except OSError as exc:
            issues.append(
                Issue(
                    label,
                    f"FASTQ '{value}' cannot be read: {exc.strerror or exc}",
                    line=line,
                    column="fastq",
                    row_id=f"sample_id={sid}",
                )
            )
    listed = {
        os.path.realpath(resolve_path(str(v), directory)) for v in samples["fastq"]
    }
    for value in cfg.get("shared_fastq") or []:
        if os.path.realpath(resolve_path(str(value), directory)) not in listed:
            issues.append(
                Issue(
                    CONFIG_LABEL,
                    f"'{value}' is not a FASTQ of {label} (column fastq); remove it "
                    "or write it as in the sheet",
                    column="shared_fastq",
                )
            )
    hint = (
        "each library needs its own FASTQ; if the file is reused on purpose "
        "(technical replicates), list it in config shared_fastq"
    )
    for real, rows in by_path.items():
        if len(rows) > 1 and real not in shared:
            issues.append(
                Issue(
                    label,
                    f"the same FASTQ file ({real}) is listed for {len(rows)} libraries: "
                    f"{_describe(rows)}; {hint}",
                    line=rows[1][0],
                    column="fastq",
                    row_id=f"sample_id={rows[1][1]}",
                )
            )
    for rows3 in by_content.values():
        if len(rows3) > 1 and not all(r[2] in shared for r in rows3):
            files = ", ".join(r[2] for r in rows3)
            issues.append(
                Issue(
                    label,
                    f"FASTQ files with the same content ({files}) are listed for "
                    f"{_describe([(r[0], r[1]) for r in rows3])}; {hint}",
                    line=rows3[1][0],
                    column="fastq",
                    row_id=f"sample_id={rows3[1][1]}",
                )
            )
    return issues


def check_primary_mirna(cfg: dict[str, Any], directory: Path) -> list[Issue]:
    """Check that the primary miRNA is a mature miRNA of the configured miRBase.

    Parameters
    ----------
    cfg
        Validated configuration.
    directory
        Scenario directory (for relative reference paths).

    Returns
    -------
    list[Issue]
        One issue if the name is not in ``reference.mature`` (with the closest
        names), or if that file cannot be read.
    """
    from exomir.reads.reference import read_species_fasta

    primary = str(cfg["trial"]["primary_mirna"])
    species = str(cfg["reference"]["species"])
    if not cfg["reference"].get("mature"):
        return []  # no mature FASTA configured: checked where it is resolved
    rel = str(cfg["reference"]["mature"])
    mature = resolve_path(rel, directory)
    if not mature.is_file():
        return [
            Issue(
                CONFIG_LABEL,
                f"the miRBase mature FASTA '{rel}' does not exist (looked for {mature})",
                column="reference.mature",
            )
        ]
    try:
        names = list(read_species_fasta(mature, species))
    except (ValueError, OSError) as exc:
        return [
            Issue(CONFIG_LABEL, f"cannot read {rel}: {exc}", column="reference.mature")
        ]
    if primary in names:
        return []
    close = difflib.get_close_matches(primary, names, n=3, cutoff=0.8)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return [
        Issue(
            CONFIG_LABEL,
            f"the primary miRNA '{primary}' is not a mature miRNA of {rel} "
            f"(miRBase {cfg['reference'].get('mirbase_version', '')}){hint}",
            column="trial.primary_mirna",
        )
    ]


def check_contrasts(
    cfg: dict[str, Any], tables: dict[str, pd.DataFrame]
) -> list[Issue]:
    """Check the DE contrasts against the design and the sheets' columns.

    Parameters
    ----------
    cfg
        Validated configuration.
    tables
        Loaded sheets (``samples`` and ``participants`` are used for the
        covariate columns when present).

    Returns
    -------
    list[Issue]
        Unknown arm or timepoint levels, one-level contrasts, malformed specs
        (from :func:`exomir.de.settings.de_settings`) and covariates that are no column
        of the sample or participant sheet.
    """
    from exomir.de.settings import de_settings, default_contrasts

    issues: list[Issue] = []
    try:
        de_settings(cfg)
    except ValidationError as exc:
        issues += exc.issues
    if "samples" not in tables or "participants" not in tables:
        return issues
    columns = set(tables["samples"].columns) | set(tables["participants"].columns)
    design = cfg["design"]
    specs = (cfg.get("de") or {}).get("contrasts") or default_contrasts(
        design["arms"], design["timepoints"]
    )
    for name, spec in specs.items():
        covs = spec.get("covariates") if isinstance(spec, dict) else None
        for cov in covs if isinstance(covs, list) else []:
            if isinstance(cov, str) and cov not in columns:
                issues.append(
                    Issue(
                        CONFIG_LABEL,
                        f"covariate '{cov}' of contrast '{name}' is not a column of "
                        "samples.tsv or participants.tsv",
                        column=f"de.contrasts.{name}.covariates",
                    )
                )
    return issues


def preflight_issues(
    tables: dict[str, pd.DataFrame],
    cfg: dict[str, Any],
    labels: dict[str, str],
    base: Path,
    check_files: bool,
    deep: bool = False,
) -> list[Issue]:
    """Run every check of this module on a scenario (called by exomir.validate).

    Parameters
    ----------
    tables
        Loaded sheets by kind.
    cfg
        Validated configuration.
    labels
        Sheet kind -> file name for messages.
    base
        Scenario directory.
    check_files
        Whether to read the FASTQ files (duplicates and first records).
    deep
        Parse every record and decompress every gzip file to its end.

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    if is_trial_study(cfg):  # a QC-only study has no primary miRNA or contrasts
        issues += check_primary_mirna(cfg, base) + check_contrasts(cfg, tables)
    if check_files and "samples" in tables:
        issues += check_fastq_files(
            tables["samples"], cfg, base, labels["samples"], deep=deep
        )
    return issues
