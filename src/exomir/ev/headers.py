"""Check NTA export headers before anything runs (``exomir validate``).

The EV step only finds some problems of an export when it reads it: a
NanoSight dilution written ``Not recorded`` (or a ZetaView size export with no
``Dilution`` on its ``Number of Traces`` line) while the run sheet's
``dilution`` cell is empty, a dilution that contradicts the sheet, or an
export written by a software version the readers were never checked against.
:func:`check_nta_exports` reads only the headers of every export listed in
``ev_nta_runs.tsv`` and reports these as :class:`~exomir.errors.Issue` objects
naming the export file and line, so ``exomir validate`` (and the Snakefile's
validation) stops before the workflow runs.

The dilution rule is :func:`exomir.ev.resolve_dilution`, the very function the
EV step applies, so validation and the run cannot disagree.

Verified versions: ZetaView 8.06.01 (:data:`exomir.ev.zetaview.VERIFIED_VERSIONS`)
and NanoSight NTA 3.3 (:data:`exomir.ev.nanosight.VERIFIED_VERSIONS`), plus
any prefixes listed in ``ev.nta.verified_software``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.config import resolve_path
from exomir.errors import Issue
from exomir.ev import nanosight as ns
from exomir.ev import zetaview as zv
from exomir.ev.export import NtaFormatError, decode_export, read_bytes
from exomir.ev.record import resolve_dilution

_ZV_VERSION = re.compile(r"version\s*([0-9][0-9.]*)", re.IGNORECASE)


@dataclass
class ExportHeader:
    """Header facts of one NTA export.

    Attributes
    ----------
    file
        File label used in messages.
    instrument
        ``"NanoSight"`` or ``"ZetaView"``.
    kind
        ``"size"``, ``"profile"`` or ``"positions"``.
    software
        Software text as written.
    version
        Version number (ZetaView ``8.06.01``, NanoSight ``3.3``), ``""`` if
        none was found.
    version_line
        Line of the software version.
    dilution
        Dilution recorded in the file (``None`` if not recorded).
    dilution_line
        Line of the dilution (or of where ZetaView writes it).
    dilution_text
        The dilution cell as written (e.g. ``Not recorded``), ``""`` if absent.
    """

    file: str
    instrument: str
    kind: str
    software: str
    version: str
    version_line: int
    dilution: float | None
    dilution_line: int | None
    dilution_text: str


def read_export_header(path: str | Path, label: str | None = None) -> ExportHeader:
    """Read the header of a NanoSight or ZetaView export.

    Parameters
    ----------
    path
        The export.
    label
        Name used in messages (defaults to ``path``).

    Returns
    -------
    ExportHeader
        The header facts.

    Raises
    ------
    NtaFormatError
        For a file of neither instrument, or a NanoSight file whose videos
        record different dilutions.
    """
    name = label or str(path)
    lines, _ = decode_export(read_bytes(path, name))
    if ns.looks_like_nanosight(lines):
        h = ns.read_header(path, name)
        return ExportHeader(
            name,
            "NanoSight",
            "size",
            h.software,
            h.version,
            h.version_line,
            h.dilution,
            h.dilution_line,
            h.dilution_text,
        )
    kind = zv.sniff(lines)
    if kind is None:
        first = next((s for s in lines if s.strip()), "")[:60]
        raise NtaFormatError(
            name,
            1,
            "unknown instrument export: neither a NanoSight NTA Experiment "
            f"Summary nor a ZetaView export (first line: '{first}')",
        )
    if kind == "positions":
        return ExportHeader(name, "ZetaView", kind, "", "", 1, None, None, "")
    zh = zv.parse_header(lines, ("Size Distribution", "ZP Profile:"))
    software = zh.get("Software") or ""
    m = _ZV_VERSION.search(software)
    return ExportHeader(
        name,
        "ZetaView",
        "profile" if kind == "profile" else "size",
        software,
        m.group(1).rstrip(".") if m else "",
        zh.line_of("Software") or 1,
        zh.number("Dilution"),
        zh.line_of("Dilution") or zh.line_of("Number of Traces"),
        zh.get("Dilution") or "",
    )


def is_verified(instrument: str, version: str, extra: Iterable[str] = ()) -> bool:
    """Whether exports of this software version were checked with the readers.

    Parameters
    ----------
    instrument
        ``"NanoSight"`` or ``"ZetaView"``.
    version
        Version number from the header.
    extra
        Further version prefixes the lab has verified
        (``ev.nta.verified_software``).

    Returns
    -------
    bool
        True if ``version`` starts with a verified version (compared at a
        dot boundary: ``8.06.01`` matches ``8.06`` but ``8.061`` does not).
    """
    known = zv.VERIFIED_VERSIONS if instrument == "ZetaView" else ns.VERIFIED_VERSIONS
    for prefix in (*known, *extra):
        prefix = prefix.strip()
        if prefix and (version == prefix or version.startswith(prefix + ".")):
            return True
    return False


def check_nta_exports(
    runs: pd.DataFrame,
    base: str | os.PathLike[str],
    sheet_label: str,
    nta: Mapping[str, Any],
) -> list[Issue]:
    """Check the headers of every export listed in ``ev_nta_runs.tsv``.

    Reports, each with the export file and line: an export of neither
    instrument or of the other instrument than the sheet says, an unverified
    software version, and a dilution that is missing from both the file and
    the sheet or that disagrees between them (:func:`exomir.ev.resolve_dilution`).
    Files that do not exist are skipped (reported by the caller).

    Parameters
    ----------
    runs
        ``ev_nta_runs.tsv`` as read by :func:`exomir.tables.read_table`.
    base
        Scenario directory (paths in the sheet are relative to it).
    sheet_label
        Name of the run sheet for messages.
    nta
        The ``ev.nta`` configuration (``verified_software``,
        ``dilution_tolerance``).

    Returns
    -------
    list[Issue]
        Problems found, in sheet order.
    """
    issues: list[Issue] = []
    extra = [str(v) for v in nta.get("verified_software") or []]
    tol = float(nta.get("dilution_tolerance", 1e-3))
    seen: set[Path] = set()
    for _, row in runs.iterrows():
        rel = str(row["file"])
        path = resolve_path(rel, base)
        line = int(row["_line"])
        where = f"{sheet_label} line {line}"
        if not path.is_file():
            continue
        try:
            h = read_export_header(path, rel)
        except NtaFormatError as exc:
            issues.append(
                Issue(exc.file, f"{exc.reason} (listed in {where})", exc.line)
            )
            continue
        sheet_inst = row.get("instrument")
        if sheet_inst and sheet_inst != h.instrument:
            issues.append(
                Issue(
                    rel,
                    f"a {h.instrument} export but {where} says {sheet_inst}",
                    1,
                )
            )
            continue
        if h.kind == "positions":
            continue  # rejected with its own message by the EV step
        if path not in seen and not is_verified(h.instrument, h.version, extra):
            known = (
                zv.VERIFIED_VERSIONS
                if h.instrument == "ZetaView"
                else ns.VERIFIED_VERSIONS
            )
            issues.append(
                Issue(
                    rel,
                    f"{h.instrument} software version "
                    f"'{h.version or h.software or 'not stated'}' has not been "
                    f"verified with exomir's reader (verified: {', '.join(known)}"
                    f"{', ' + ', '.join(extra) if extra else ''}); check that "
                    "the export's layout and statistics read correctly, then add "
                    "the version to ev.nta.verified_software "
                    f"(listed in {where})",
                    h.version_line,
                )
            )
        seen.add(path)
        if h.kind != "size":
            continue
        dil = row.get("dilution")
        sheet_dil = float(dil) if dil is not None and not pd.isna(dil) else None
        try:
            resolve_dilution(rel, h.dilution_line, h.dilution, sheet_dil, where, tol)
        except NtaFormatError as exc:
            said = f" (the file says '{h.dilution_text}')" if h.dilution_text else ""
            issues.append(Issue(exc.file, exc.reason + said, exc.line))
    return issues
