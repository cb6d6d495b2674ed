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

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exomir.errors import Issue, ValidationError

ROLES = ("standard", "blank", "qc", "sample", "empty")
LAYOUT_COLUMNS = [
    "well",
    "role",
    "protein_sample_id",
    "level",
    "nominal",
    "dilution",
    "replicate",
    "analyte",
]
READ_COLUMNS = ["well", "analyte", "signal"]
SHAPES = {96: (8, 12), 384: (16, 24)}
ROW_LETTERS = "ABCDEFGHIJKLMNOP"
SATURATED = ("ovrflw", "overflow", "over", "sat", "saturated", "****")
_WELL_RE = re.compile(r"^\s*([A-Pa-p])\s*0*(\d{1,2})\s*$")
_WAVELENGTH_RE = re.compile(r"(?<!\d)([2-9]\d\d|1000)(?!\d)\s*(?:nm)?", re.IGNORECASE)


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


def _issue(
    file: str | Path, msg: str, line: int | None = None, plate: str = "", well: str = ""
) -> Issue:
    rid = ", ".join(
        p for p in (f"plate={plate}" if plate else "", well and f"well={well}") if p
    )
    return Issue(str(file), msg, line=line, row_id=rid or None)


def normalise_well(text: str) -> str | None:
    """Return ``A1``-style well name (``a01`` -> ``A1``), or ``None`` if not a well."""
    m = _WELL_RE.match(str(text))
    if not m:
        return None
    return f"{m.group(1).upper()}{int(m.group(2))}"


def well_sort_key(wells: pd.Series) -> pd.Series:
    """Sort key putting wells in row-major plate order (A1, A2, ..., B1)."""
    return wells.map(lambda w: ROW_LETTERS.index(w[0]) * 100 + int(w[1:]))


def well_names(size: int) -> list[str]:
    """All wells of a 96- or 384-well plate in row-major order."""
    rows, cols = SHAPES[size]
    return [f"{ROW_LETTERS[r]}{c + 1}" for r in range(rows) for c in range(cols)]


def _split_lines(path: Path, label: str) -> tuple[list[list[str]], bool]:
    """Read a text export into cells; returns (rows, decimal_comma)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            [_issue(label, f"cannot be read: {exc.strerror}")]
        ) from exc
    for enc in ("utf-8-sig", "utf-16", "latin-1"):
        try:
            text = raw.decode(enc)
            if "\x00" in text:
                continue
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()
    sample = "\n".join(lines[:200])
    if "\t" in sample:
        delim = "\t"
    elif sample.count(";") > sample.count(","):
        delim = ";"
    else:
        delim = ","
    rows = [
        [c.strip() for c in r]
        for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)
    ]
    return rows, delim == ";"


def _number(cell: str, decimal_comma: bool) -> float | None:
    """Parse one signal cell; saturated markers give ``inf``, text gives ``None``."""
    s = cell.strip()
    if not s:
        return None
    if s.lower() in SATURATED or s.startswith(">"):
        return math.inf
    if decimal_comma:
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Grid:
    """One grid block found in a file: its cells and where it was."""

    size: int
    cells: dict[str, str]
    line: int
    wavelength: float | None


def _grid_header(row: Sequence[str]) -> tuple[int, int] | None:
    """If ``row`` is a grid header (1..12 or 1..24), return (first column, size)."""
    for start, cell in enumerate(row):
        if cell != "1":
            continue
        n = 0
        while start + n < len(row) and row[start + n] == str(n + 1):
            n += 1
        if n in (12, 24):
            return start, 96 if n == 12 else 384
        return None
    return None


def _wavelength_in(cells: Iterable[str]) -> float | None:
    for c in cells:
        m = _WAVELENGTH_RE.search(c)
        if m and not re.fullmatch(r"\d+\.\d+", c.strip()):
            return float(m.group(1))
    return None


def _find_grids(rows: list[list[str]], label: str) -> list[_Grid]:
    """Every 8x12 / 16x24 block of ``rows`` (row letters optional, SoftMax style)."""
    grids: list[_Grid] = []
    i = 0
    while i < len(rows):
        head = _grid_header(rows[i])
        if head is None:
            i += 1
            continue
        start, size = head
        nrow, ncol = SHAPES[size]
        cells: dict[str, str] = {}
        trailing: list[str] = []
        for r in range(nrow):
            li = i + 1 + r
            row = rows[li] if li < len(rows) else []
            letter = next((c for c in row[:start] if len(c) == 1 and c.isalpha()), "")
            if (
                li >= len(rows)
                or (letter and letter.upper() != ROW_LETTERS[r])
                or (not letter and not any(row[start : start + ncol]))
            ):
                raise ValidationError(
                    [
                        _issue(
                            label,
                            f"the {size}-well grid starting on line {i + 1} has only {r} "
                            f"of its {nrow} rows (expected row {ROW_LETTERS[r]} here)",
                            line=li + 1,
                        )
                    ]
                )
            for c in range(ncol):
                cells[f"{ROW_LETTERS[r]}{c + 1}"] = (
                    row[start + c] if start + c < len(row) else ""
                )
            trailing += row[start + ncol :]
        before = [c for k in range(max(0, i - 3), i) for c in rows[k]]
        wl = _wavelength_in(trailing) or _wavelength_in(before + rows[i][:start])
        grids.append(_Grid(size, cells, i + 1, wl))
        i += 1 + nrow
    return grids


def _reject_duplicates(wells: list[tuple[str, int]], label: str, plate: str) -> None:
    seen: dict[str, int] = {}
    issues = []
    for w, line in wells:
        if w in seen:
            issues.append(
                _issue(
                    label,
                    f"well {w} appears twice (lines {seen[w]} and {line})",
                    line,
                    plate,
                    w,
                )
            )
        else:
            seen.setdefault(w, line)
    if issues:
        raise ValidationError(issues)


def _header_index(rows: list[list[str]]) -> int | None:
    for i, row in enumerate(rows):
        if row and row[0].strip().lower() in (
            "well",
            "wells",
            "well id",
            "well position",
        ):
            return i
    return None


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
            r = ROW_LETTERS.index(well[0])
            issues.append(
                _issue(
                    name,
                    f"'{cell}' is not an optical density",
                    g.line + 1 + r,
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


def _natural_key(text: str) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def _parse_map_cell(cell: str, dec: bool) -> dict[str, object] | str:
    """One grid map cell -> layout fields, or an error text."""
    s = cell.strip()
    low = s.lower()
    if low in ("", "-", "empty", "x"):
        return {"role": "empty"}
    if low in ("blank", "blk", "b"):
        return {"role": "blank"}
    parts = [p.strip() for p in s.split(":")]
    kind = parts[0].lower()

    def num(t: str) -> float | None:
        return _number(t, dec)

    if kind in ("std", "standard", "qc"):
        if (
            len(parts) != 3
            or not parts[1]
            or num(parts[2]) is None
            or not math.isfinite(num(parts[2]) or 0.0)
        ):
            return f"'{s}' must be {kind}:<level>:<nominal concentration>, e.g. {kind}:S1:1000"
        role = "qc" if kind == "qc" else "standard"
        return {"role": role, "level": parts[1], "nominal": num(parts[2])}
    if kind in ("smp", "sample"):
        parts = parts[1:]
    if not parts or not parts[0] or len(parts) > 2:
        return f"'{s}' must be smp:<protein_sample_id>[:<dilution>]"
    dil = 1.0
    if len(parts) == 2:
        d = num(parts[1])
        if d is None or not math.isfinite(d) or d <= 0:
            return f"'{s}': the dilution '{parts[1]}' must be a positive number"
        dil = d
    return {"role": "sample", "protein_sample_id": parts[0], "dilution": dil}


def _map_from_grid(g: _Grid, name: str, dec: bool, plate: str) -> pd.DataFrame:
    recs, issues = [], []
    for well, cell in g.cells.items():
        parsed = _parse_map_cell(cell, dec)
        if isinstance(parsed, str):
            r = ROW_LETTERS.index(well[0])
            issues.append(_issue(name, parsed, g.line + 1 + r, plate, well))
            continue
        recs.append(
            {"well": well, "_line": g.line + 1 + ROW_LETTERS.index(well[0]), **parsed}
        )
    if issues:
        raise ValidationError(issues)
    return pd.DataFrame.from_records(recs)


_MAP_ALIASES = {
    "sample_id": "protein_sample_id",
    "sample": "protein_sample_id",
    "type": "role",
    "concentration": "nominal",
    "nominal_concentration": "nominal",
    "dilution_factor": "dilution",
}


def _map_from_list(
    rows: list[list[str]], name: str, dec: bool, plate: str
) -> pd.DataFrame:
    h = _header_index(rows)
    if h is None:
        raise ValidationError(
            [
                _issue(
                    name,
                    "not a plate map: neither a grid (a line of column numbers 1..12 or "
                    "1..24) nor a well list with a 'well' header",
                    line=1,
                    plate=plate,
                )
            ]
        )
    header = [_MAP_ALIASES.get(c.lower(), c.lower()) for c in rows[h]]
    header[0] = "well"
    if "role" not in header:
        raise ValidationError(
            [_issue(name, "the well list has no 'role' column", h + 1, plate)]
        )
    recs, issues = [], []
    for li in range(h + 1, len(rows)):
        row = rows[li]
        if not row or not any(row):
            continue
        rec: dict[str, object] = dict(
            zip(header, row + [""] * (len(header) - len(row)), strict=False)
        )
        well = normalise_well(str(rec["well"]))
        if well is None:
            issues.append(
                _issue(
                    name, f"'{rec['well']}' is not a well name (A1..P24)", li + 1, plate
                )
            )
            continue
        role = str(rec.get("role", "")).strip().lower()
        if role not in ROLES:
            issues.append(
                _issue(
                    name,
                    f"role '{rec.get('role')}' is not one of {', '.join(ROLES)}",
                    li + 1,
                    plate,
                    well,
                )
            )
            continue
        out: dict[str, object] = {"well": well, "role": role, "_line": li + 1}
        for col in ("protein_sample_id", "level", "analyte"):
            v = str(rec.get(col, "") or "").strip()
            out[col] = v or None
        for col in ("nominal", "dilution", "replicate"):
            text = str(rec.get(col, "") or "").strip()
            if not text:
                continue
            v = _number(text, dec)
            if (
                v is None
                or not math.isfinite(v)
                or v < 0
                or (col == "dilution" and v == 0)
            ):
                issues.append(
                    _issue(
                        name,
                        f"{col} '{text}' is not a valid number",
                        li + 1,
                        plate,
                        well,
                    )
                )
                continue
            out[col] = v
        recs.append(out)
    if issues:
        raise ValidationError(issues)
    return pd.DataFrame.from_records(recs)


def read_plate_map(
    path: str | Path, *, label: str | None = None, plate_id: str = ""
) -> tuple[pd.DataFrame, int | None]:
    """Read a plate map (grid or long well list) and check it.

    Grid cells: ``std:<level>:<nominal>``, ``qc:<level>:<nominal>``,
    ``blank``, empty (or ``empty``/``-``), ``smp:<protein_sample_id>[:<dilution>]``
    or a bare protein sample ID. A well list has columns ``well, role`` and any
    of ``protein_sample_id, level, nominal, dilution, replicate, analyte``.

    Returns
    -------
    (DataFrame, int or None)
        The layout (:data:`LAYOUT_COLUMNS`, row-major) and the grid's plate
        size (``None`` for a list).

    Raises
    ------
    ValidationError
        Unknown cells or roles, duplicate wells, a standard or QC without a
        level or nominal, a sample without an ID, a level with two nominals or
        a standard series whose nominals are not monotone in level order.
    """
    path = Path(path)
    name = label or str(path)
    rows, dec = _split_lines(path, name)
    grids = _find_grids(rows, name)
    if len(grids) > 1:
        raise ValidationError(
            [
                _issue(
                    name,
                    f"{len(grids)} grids found; a plate map holds one",
                    grids[1].line,
                    plate_id,
                )
            ]
        )
    if grids:
        lay, size = _map_from_grid(grids[0], name, dec, plate_id), grids[0].size
    else:
        lay, size = _map_from_list(rows, name, dec, plate_id), None
    for col in LAYOUT_COLUMNS:
        if col not in lay.columns:
            lay[col] = None
    lay["dilution"] = lay["dilution"].where(lay["dilution"].notna(), 1.0).astype(float)
    lay["nominal"] = lay["nominal"].astype(float)
    lay = lay[lay["role"] != "empty"].reset_index(drop=True)
    _check_layout(lay, name, plate_id)
    lay = _number_replicates(lay)
    lay = lay.sort_values("well", key=well_sort_key, kind="stable").reset_index(
        drop=True
    )
    return lay[[*LAYOUT_COLUMNS, "_line"]], size


def _number_replicates(lay: pd.DataFrame) -> pd.DataFrame:
    lay = lay.copy()
    keys = (
        lay[["role", "protein_sample_id", "level", "dilution", "analyte"]]
        .astype(str)
        .agg("|".join, axis=1)
    )
    auto = lay.groupby(keys, sort=False).cumcount() + 1
    rep = lay["replicate"]
    lay["replicate"] = rep.where(rep.notna(), auto).astype(int)
    return lay


def _check_layout(lay: pd.DataFrame, name: str, plate: str) -> None:
    issues: list[Issue] = []
    dup_key = lay["well"] + "|" + lay["analyte"].astype(str)
    seen: dict[str, int] = {}
    for key, well, line in zip(dup_key, lay["well"], lay["_line"], strict=True):
        if key in seen:
            issues.append(
                _issue(
                    name,
                    f"well {well} appears twice (lines {seen[key]} and {line})",
                    line,
                    plate,
                    well,
                )
            )
        seen.setdefault(key, line)
    for _, r in lay.iterrows():
        if r["role"] in ("standard", "qc") and (
            r["level"] is None or pd.isna(r["nominal"])
        ):
            issues.append(
                _issue(
                    name,
                    f"a {r['role']} needs a level and a nominal concentration",
                    r["_line"],
                    plate,
                    r["well"],
                )
            )
        if r["role"] == "sample" and not r["protein_sample_id"]:
            issues.append(
                _issue(
                    name,
                    "a sample well needs a protein_sample_id",
                    r["_line"],
                    plate,
                    r["well"],
                )
            )
    if issues:
        raise ValidationError(issues)
    for (role, analyte), grp in lay[lay["role"].isin(["standard", "qc"])].groupby(
        ["role", lay["analyte"].fillna("")], sort=False
    ):
        per_level = grp.groupby("level", sort=False)["nominal"].agg(
            lambda s: sorted(set(s))
        )
        for level, noms in per_level.items():
            if len(noms) > 1:
                wells = ", ".join(grp.loc[grp["level"] == level, "well"])
                issues.append(
                    _issue(
                        name,
                        f"{role} level {level} has several nominal concentrations "
                        f"({', '.join(f'{n:g}' for n in noms)}) in wells {wells}",
                        plate=plate,
                        well=wells.split(",")[0],
                    )
                )
        if role == "standard" and not issues:
            issues += _monotone_issues(grp, name, plate, analyte)
    if issues:
        raise ValidationError(issues)


def _monotone_issues(
    grp: pd.DataFrame, name: str, plate: str, analyte: str
) -> list[Issue]:
    """Check that standard levels in natural order (S1, S2, ..., S10) have monotone nominals."""
    first = grp.drop_duplicates("level").copy()
    first = first.iloc[
        sorted(range(len(first)), key=lambda i: _natural_key(first["level"].iloc[i]))
    ]
    noms = first["nominal"].to_numpy(dtype=float)
    if len(noms) < 2:
        return []
    d = np.diff(noms)
    if np.all(d > 0) or np.all(d < 0):
        return []
    bad = int(np.argmax(np.sign(d) != np.sign(d[0]))) + 1 if np.any(d != 0) else 1
    row = first.iloc[bad]
    prev = first.iloc[bad - 1]
    who = f" of {analyte}" if analyte else ""
    return [
        _issue(
            name,
            f"the standard series{who} is not monotone: level {prev['level']} = "
            f"{prev['nominal']:g} then level {row['level']} = {row['nominal']:g} "
            f"(levels in order: {', '.join(first['level'])})",
            int(row["_line"]),
            plate,
            str(row["well"]),
        )
    ]


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
