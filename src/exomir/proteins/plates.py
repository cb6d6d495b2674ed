"""Immunoassay plates: the shared :class:`PlateData` and the ELISA text readers.

An ELISA plate arrives as two text files: the plate map (which well holds a
standard, a blank, a QC or a sample, at which dilution) and the plate reader's
export of optical densities. Both come in two shapes that readers write:

* a grid, 8 x 12 (96 wells) or 16 x 24 (384 wells), a header line of column
  numbers and one line per row letter (Gen5 / SoftMax Pro / Magellan "plate"
  exports); an OD export may hold one grid per wavelength;
* a long list, one line per well (``Well<TAB>OD``, or one column per
  wavelength, or ``Well, Wavelength, OD``).

Tab, comma and semicolon separators are recognised; semicolon files may use a
decimal comma. The readers return :class:`PlateData`, which the Luminex reader
returns too, so that :func:`exomir.proteins.quant.quantify` works on both.
Every problem raises :class:`~exomir.errors.ValidationError` naming the file,
line, plate and well. Formats with examples: docs/proteins.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.proteins.platemap import read_plate_map
from exomir.proteins.textexport import (
    LAYOUT_COLUMNS,
    READ_COLUMNS,
    ROLES,
    SHAPES,
    _find_grids,
    _Grid,
    _header_index,
    _issue,
    _number,
    _split_lines,
    _wavelength_in,
    normalise_well,
    well_names,
    well_sort_key,
)

__all__ = [
    "LAYOUT_COLUMNS",
    "READ_COLUMNS",
    "ROLES",
    "SHAPES",
    "PlateData",
    "read_elisa_plate",
    "read_od",
    "read_plate_map",
    "well_names",
    "well_sort_key",
]


@dataclass(frozen=True)
class PlateData:
    """One immunoassay plate: its raw signals and its layout.

    Attributes
    ----------
    plate_id
        Plate identifier (``protein_plates.tsv``).
    assay
        ``elisa``, ``luminex`` or ``olink``.
    source
        File the signals were read from (named in messages).
    reads
        ``well, analyte, signal``: raw OD or MFI (not blank-subtracted; a
        saturated read is ``inf``).
    layout
        ``well, role, protein_sample_id, level, nominal, dilution, replicate,
        analyte``; ``analyte`` is empty for a row that holds for every analyte,
        or names the analyte a row's ``nominal`` belongs to (multiplex
        standards with a nominal per analyte).
    size
        Number of wells of the plate format (96 or 384).
    map_source
        File the layout was read from.
    """

    plate_id: str
    assay: str
    source: Path
    reads: pd.DataFrame
    layout: pd.DataFrame
    size: int = 96
    map_source: Path | None = None

    @property
    def analytes(self) -> list[str]:
        """Analytes read on the plate, in first-seen order."""
        return list(dict.fromkeys(self.reads["analyte"]))

    def layout_for(self, analyte: str) -> pd.DataFrame:
        """Layout as seen by one analyte: one row per well.

        Rows naming ``analyte`` replace the generic row of the same well.
        """
        lay = self.layout
        own = lay[lay["analyte"] == analyte]
        generic = lay[lay["analyte"].isna() & ~lay["well"].isin(set(own["well"]))]
        out = pd.concat([generic, own], ignore_index=True)
        return out.sort_values("well", key=well_sort_key).reset_index(drop=True)


def read_od(
    path: str | Path,
    *,
    wavelength: float | None = 450.0,
    reference: float | None = None,
    label: str | None = None,
    plate_id: str = "",
) -> tuple[pd.DataFrame, int | None]:
    """Read optical densities from a plate-reader text export.

    Parameters
    ----------
    path
        Grid export (one block per wavelength) or long well list.
    wavelength
        Wavelength (nm) whose block or column is taken; a file with a single
        unlabelled block or column is taken whatever this says.
    reference
        Reference wavelength (nm) subtracted well by well (e.g. 570 or 630 to
        remove plate imperfections), or ``None``.
    label, plate_id
        Names used in messages.

    Returns
    -------
    (DataFrame, int or None)
        ``well, od`` (row-major order) and the plate size the grid implies
        (``None`` for a long list).

    Raises
    ------
    ValidationError
        For no recognisable layout, a missing wavelength, text in a well or a
        duplicated well.
    """
    path = Path(path)
    name = label or str(path)
    rows, dec = _split_lines(path, name)
    grids = _find_grids(rows, name)
    if grids:
        blocks = {g.wavelength: g for g in grids}
        size = grids[0].size
        if any(g.size != size for g in grids):
            raise ValidationError(
                [
                    _issue(
                        name,
                        "grids of different plate sizes in one file",
                        plate=plate_id,
                    )
                ]
            )
        values = {wl: _grid_values(g, name, dec, plate_id) for wl, g in blocks.items()}
    else:
        values, size = _long_values(rows, name, dec, plate_id), None
    main = _pick(values, wavelength, name, plate_id, "wavelength")
    od = main.copy()
    if reference is not None:
        ref = _pick(
            values, reference, name, plate_id, "reference wavelength", single_ok=False
        )
        od = od - ref.reindex(od.index)
    out = pd.DataFrame({"well": od.index, "od": od.to_numpy(dtype=float)})
    out = out.sort_values("well", key=well_sort_key, kind="stable").reset_index(
        drop=True
    )
    return out, size


def _pick(
    values: dict[float | None, pd.Series],
    wl: float | None,
    name: str,
    plate: str,
    what: str,
    single_ok: bool = True,
) -> pd.Series:
    if wl in values:
        return values[wl]
    if single_ok and len(values) == 1 and None in values:
        return values[None]
    found = (
        ", ".join(f"{w:g} nm" for w in values if w is not None)
        or "no labelled wavelength"
    )
    raise ValidationError(
        [
            _issue(
                name,
                f"no {what} {wl:g} nm block in the export (found: {found})",
                plate=plate,
            )
        ]
    )


def _grid_values(g: _Grid, name: str, dec: bool, plate: str) -> pd.Series:
    vals: dict[str, float] = {}
    issues = []
    for well, cell in g.cells.items():
        if not cell:
            continue
        v = _number(cell, dec)
        if v is None:
            issues.append(
                _issue(
                    name,
                    f"'{cell}' is not an optical density",
                    g.line_of(well),
                    plate,
                    well,
                )
            )
        else:
            vals[well] = v
    if issues:
        raise ValidationError(issues)
    return pd.Series(vals, dtype=float)


def _long_values(
    rows: list[list[str]], name: str, dec: bool, plate: str
) -> dict[float | None, pd.Series]:
    """Long list: ``Well, OD`` / ``Well, 450, 630`` / ``Well, Wavelength, OD``."""
    h = _header_index(rows)
    if h is None:
        raise ValidationError(
            [
                _issue(
                    name,
                    "no plate grid (a line of column numbers 1..12 or 1..24) and no "
                    "'Well' header line: not a recognised plate-reader export",
                    line=1,
                    plate=plate,
                )
            ]
        )
    header = [c.lower() for c in rows[h]]
    wl_col = next((i for i, c in enumerate(header) if c.startswith("wavelength")), None)
    if wl_col is not None:
        val_col = next(
            (i for i, c in enumerate(header) if i not in (0, wl_col) and c), None
        )
        cols: list[tuple[int, float | None]] = []
    else:
        cols = [(i, _wavelength_in([c])) for i, c in enumerate(header) if i > 0 and c]
        if not cols:
            raise ValidationError(
                [_issue(name, "the 'Well' header names no OD column", h + 1, plate)]
            )
    out: dict[float | None, dict[str, float]] = {}
    seen: dict[tuple[float | None, str], int] = {}
    issues = []
    for li in range(h + 1, len(rows)):
        row = rows[li]
        if not row or not any(row):
            continue
        well = normalise_well(row[0])
        if well is None:
            issues.append(
                _issue(name, f"'{row[0]}' is not a well name (A1..P24)", li + 1, plate)
            )
            continue
        pairs: list[tuple[float | None, str]]
        if wl_col is not None and val_col is not None:
            wl_text = row[wl_col] if wl_col < len(row) else ""
            pairs = [
                (_wavelength_in([wl_text]), row[val_col] if val_col < len(row) else "")
            ]
        else:
            pairs = [(wl, row[i] if i < len(row) else "") for i, wl in cols]
        for wl, cell in pairs:
            v = _number(cell, dec)
            if v is None:
                issues.append(
                    _issue(
                        name, f"'{cell}' is not an optical density", li + 1, plate, well
                    )
                )
                continue
            if (wl, well) in seen:
                issues.append(
                    _issue(
                        name,
                        f"well {well} appears twice (lines {seen[(wl, well)]} and {li + 1})",
                        li + 1,
                        plate,
                        well,
                    )
                )
                continue
            seen[(wl, well)] = li + 1
            out.setdefault(wl, {})[well] = v
    if issues:
        raise ValidationError(issues)
    return {wl: pd.Series(v, dtype=float) for wl, v in out.items()}


def read_elisa_plate(
    plate_id: str,
    map_path: str | Path,
    reads_path: str | Path,
    analyte: str,
    *,
    size: int | None = None,
    wavelength: float | None = 450.0,
    reference: float | None = None,
    map_label: str | None = None,
    reads_label: str | None = None,
) -> PlateData:
    """Read one ELISA plate (map + OD export) into :class:`PlateData`.

    Parameters
    ----------
    plate_id
        Plate identifier.
    map_path, reads_path
        Plate map and OD export.
    analyte
        Analyte the plate measures (one per ELISA plate).
    size
        96 or 384 from the plate sheet's ``format``; ``None`` = from the files.
    wavelength, reference
        See :func:`read_od`.
    map_label, reads_label
        Names used in messages (as written in the sheet).

    Raises
    ------
    ValidationError
        Map and reads of different plate shapes, a map well without a read, or
        any reader error.
    """
    mname = map_label or str(map_path)
    rname = reads_label or str(reads_path)
    lay, msize = read_plate_map(map_path, label=mname, plate_id=plate_id)
    od, rsize = read_od(
        reads_path,
        wavelength=wavelength,
        reference=reference,
        label=rname,
        plate_id=plate_id,
    )
    issues: list[Issue] = []
    known = [s for s in (size, msize, rsize) if s is not None]
    if len(set(known)) > 1:
        issues.append(
            _issue(
                rname,
                f"map and reads disagree in shape: the sheet says {size or '-'} wells, the map "
                f"{mname} is {msize or 'a list'}, the reads are {rsize or 'a list'}",
                plate=plate_id,
            )
        )
        raise ValidationError(issues)
    plate_size = (
        known[0] if known else (384 if _needs_384(lay["well"], od["well"]) else 96)
    )
    valid = set(well_names(plate_size))
    for w, line in zip(lay["well"], lay["_line"], strict=True):
        if w not in valid:
            issues.append(
                _issue(
                    mname,
                    f"well {w} is outside a {plate_size}-well plate",
                    line,
                    plate_id,
                    w,
                )
            )
    for w in od["well"]:
        if w not in valid:
            issues.append(
                _issue(
                    rname,
                    f"well {w} is outside a {plate_size}-well plate",
                    None,
                    plate_id,
                    w,
                )
            )
    have = set(od.loc[od["od"].notna(), "well"])
    missing = [w for w in lay["well"] if w not in have]
    if missing:
        issues.append(
            _issue(
                rname,
                f"map and reads disagree: {len(missing)} well(s) of the map have no OD "
                f"({', '.join(missing[:8])}{'...' if len(missing) > 8 else ''})",
                plate=plate_id,
                well=missing[0],
            )
        )
    if issues:
        raise ValidationError(issues)
    reads = od[od["well"].isin(set(lay["well"]))].rename(columns={"od": "signal"})
    reads.insert(1, "analyte", analyte)
    return PlateData(
        plate_id=plate_id,
        assay="elisa",
        source=Path(reads_path),
        reads=reads[READ_COLUMNS].reset_index(drop=True),
        layout=lay[LAYOUT_COLUMNS].reset_index(drop=True),
        size=plate_size,
        map_source=Path(map_path),
    )


def _needs_384(*wells: pd.Series) -> bool:
    return any(w[0] > "H" or int(w[1:]) > 12 for s in wells for w in s)
