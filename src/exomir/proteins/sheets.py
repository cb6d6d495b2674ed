"""The protein sheets: cross-checks (``exomir validate``) and reading every plate.

``protein_samples.tsv`` and ``protein_plates.tsv`` are read and typed by
:func:`exomir.tables.read_table` against their schemas; this module checks
what a schema cannot: unique IDs, participants and visits that exist,
analytes of the configured panel, files that exist, and that each
plate's files read cleanly: ELISA map and export agree in shape and name only
known protein samples; a Luminex export (and map) reads, its analytes are in
the panel and the row, its samples are known; the Olink NPX tables (read
together, as the step does) hold panel assays, known samples and the plates of
the sheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.config import post_dose_visits, resolve_path
from exomir.errors import Issue, ValidationError
from exomir.proteins.luminex import LuminexSettings
from exomir.proteins.multiplex_run import read_luminex_row, run_olink
from exomir.proteins.npx import NpxSettings
from exomir.proteins.plates import PlateData, read_elisa_plate
from exomir.proteins.settings import CurveSettings, panel, quant_settings


def plate_analytes(row: Mapping[str, Any]) -> list[str]:
    """Analytes of one ``protein_plates.tsv`` row (``;``-separated)."""
    return [a.strip() for a in str(row["analyte"]).split(";") if a.strip()]


def _given(value: Any) -> Any:
    """``None`` for an empty cell (``None``, ``""`` or NaN), else the value."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return value


def _size(row: Mapping[str, Any]) -> int | None:
    fmt = _given(row.get("format"))
    if fmt is None:
        return None
    return int(str(fmt).strip())


def read_plate_row(
    row: Mapping[str, Any], directory: Path, curve: CurveSettings
) -> PlateData:
    """Read the plate of one ``protein_plates.tsv`` row (ELISA).

    Parameters
    ----------
    row
        The sheet row (``map``, ``reads``, ``analyte``, ``format``, wavelengths).
    directory
        Scenario directory the paths are relative to.
    curve
        Curve settings (default wavelength and reference wavelength).

    Raises
    ------
    ValidationError
        Whatever the readers find (file, line, plate and well named).
    """
    wl = _given(row.get("wavelength")) or curve.wavelength
    ref = _given(row.get("reference_wavelength")) or curve.reference_wavelength
    return read_elisa_plate(
        str(row["plate_id"]),
        resolve_path(str(row["map"]), directory),
        resolve_path(str(row["reads"]), directory),
        plate_analytes(row)[0],
        size=_size(row),
        wavelength=wl,
        reference=ref,
        map_label=str(row["map"]),
        reads_label=str(row["reads"]),
    )


def _check_samples(
    samples: pd.DataFrame, cfg: dict[str, Any], known: set[str] | None, label: str
) -> list[Issue]:
    issues: list[Issue] = []
    design = cfg.get("design") or {}
    visits = {
        *(design.get("timepoints") or []),
        *(design.get("visits") or []),
        *post_dose_visits(cfg),
    }
    seen: dict[str, int] = {}
    for _, r in samples.iterrows():
        line, sid = int(r["_line"]), str(r["protein_sample_id"])
        rid = f"protein_sample_id={sid}"
        if sid in seen:
            issues.append(
                Issue(
                    label,
                    f"protein_sample_id also on line {seen[sid]}; it must be unique",
                    line,
                    "protein_sample_id",
                    rid,
                )
            )
        seen.setdefault(sid, line)
        if known is not None and r["participant_id"] not in known:
            issues.append(
                Issue(
                    label,
                    f"participant '{r['participant_id']}' is not in participants.tsv",
                    line,
                    "participant_id",
                    rid,
                )
            )
        if visits and r["visit"] not in visits:
            issues.append(
                Issue(
                    label,
                    f"visit '{r['visit']}' is not a configured visit ({', '.join(sorted(visits))})",
                    line,
                    "visit",
                    rid,
                )
            )
    return issues


def _check_plate_row(
    r: pd.Series,
    cfg: dict[str, Any],
    label: str,
    directory: Path,
    check_files: bool,
    sample_ids: set[str] | None,
) -> list[Issue]:
    issues: list[Issue] = []
    line, pid = int(r["_line"]), str(r["plate_id"])
    rid = f"plate_id={pid}"
    known = panel(cfg)
    for a in plate_analytes(r):
        if a not in known:
            allowed = ", ".join(sorted(known)) or "none configured"
            issues.append(
                Issue(
                    label,
                    f"analyte '{a}' is not in the panel config proteins.panel ({allowed})",
                    line,
                    "analyte",
                    rid,
                )
            )
        elif known[a].get("assay", "elisa") != r["assay"]:
            issues.append(
                Issue(
                    label,
                    f"analyte '{a}' is measured by {known[a].get('assay', 'elisa')} in proteins.panel but the plate's assay is {r['assay']}",
                    line,
                    "assay",
                    rid,
                )
            )
    if r["assay"] == "elisa" and not r.get("map"):
        issues.append(
            Issue(label, f"an {r['assay']} plate needs a plate map", line, "map", rid)
        )
    if r["assay"] == "elisa" and len(plate_analytes(r)) != 1:
        issues.append(
            Issue(label, "an ELISA plate measures one analyte", line, "analyte", rid)
        )
    if (
        r.get("format") not in (None, "")
        and r["assay"] == "elisa"
        and str(r["format"]).strip() not in ("96", "384")
    ):
        issues.append(
            Issue(
                label, f"format '{r['format']}' is not 96 or 384", line, "format", rid
            )
        )
    for col in ("map", "reads"):
        if (
            check_files
            and r.get(col)
            and not resolve_path(str(r[col]), directory).is_file()
        ):
            issues.append(
                Issue(
                    label,
                    f"{col} file '{r[col]}' does not exist (looked for {resolve_path(str(r[col]), directory)})",
                    line,
                    col,
                    rid,
                )
            )
    if issues or not check_files or r["assay"] == "olink":
        return issues
    try:
        if r["assay"] == "luminex":
            lum = read_luminex_row(
                r, directory, known, LuminexSettings.from_config(cfg)
            )
            return unknown_sample_issues(
                lum.plate, sample_ids, str(_given(r.get("map")) or r["reads"])
            )
        plate = read_plate_row(r, directory, quant_settings(cfg).curve)
    except ValidationError as exc:
        return list(exc.issues)
    return unknown_sample_issues(plate, sample_ids, str(r["map"]))


def unknown_sample_issues(
    plate: PlateData, sample_ids: set[str] | None, map_label: str
) -> list[Issue]:
    """Sample wells naming a protein sample that is not in ``protein_samples.tsv``."""
    if sample_ids is None:
        return []
    lay = plate.layout
    bad = lay[(lay["role"] == "sample") & ~lay["protein_sample_id"].isin(sample_ids)]
    return [
        Issue(
            map_label,
            f"protein sample '{r['protein_sample_id']}' is not in the protein samples sheet",
            row_id=f"plate={plate.plate_id}, well={r['well']}",
        )
        for _, r in bad.iterrows()
    ]


def check_protein_sheets(
    tables: dict[str, pd.DataFrame],
    cfg: dict[str, Any],
    labels: dict[str, str],
    directory: Path,
    check_files: bool,
) -> list[Issue]:
    """Cross-check the protein sheets (module docstring); returns every problem."""
    issues: list[Issue] = []
    parts = tables.get("participants")
    known = set(parts["participant_id"]) if parts is not None else None
    samples = tables.get("protein_samples")
    if samples is not None:
        issues += _check_samples(samples, cfg, known, labels["protein_samples"])
    plates = tables.get("protein_plates")
    if plates is None:
        return issues
    label = labels["protein_plates"]
    if samples is None:
        issues.append(
            Issue(
                label,
                "sheets.protein_plates needs sheets.protein_samples (the samples the plate maps name)",
            )
        )
    ids = set(samples["protein_sample_id"]) if samples is not None else None
    seen: dict[str, int] = {}
    for _, r in plates.iterrows():
        pid, line = str(r["plate_id"]), int(r["_line"])
        if pid in seen:
            issues.append(
                Issue(
                    label,
                    f"plate_id also on line {seen[pid]}; it must be unique",
                    line,
                    "plate_id",
                    f"plate_id={pid}",
                )
            )
            continue
        seen[pid] = line
        issues += _check_plate_row(r, cfg, label, directory, check_files, ids)
    if check_files and samples is not None and not issues:
        try:  # every Olink row at once: bridging is across plates
            run_olink(
                plates, samples, directory, NpxSettings.from_config(cfg), panel(cfg)
            )
        except ValidationError as exc:
            issues += list(exc.issues)
    return issues


def plate_input_files(plates: pd.DataFrame, directory: str | Path = ".") -> list[str]:
    """Map and export files of every plate (inputs of the workflow rule), sorted, unique."""
    files = {
        str(resolve_path(str(r[c]), Path(directory)))
        for _, r in plates.iterrows()
        for c in ("map", "reads")
        if _given(r.get(c)) is not None
    }
    return sorted(files)
