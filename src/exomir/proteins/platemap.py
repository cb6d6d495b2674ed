"""Plate maps: which well holds a standard, a blank, a QC or a sample.

A grid (the plate as pipetted) or a long well list; see
:func:`read_plate_map` and docs/proteins.md for the cell syntax.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.proteins.textexport import (
    LAYOUT_COLUMNS,
    ROLES,
    _find_grids,
    _Grid,
    _header_index,
    _issue,
    _number,
    _split_lines,
    normalise_well,
    well_sort_key,
)


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
            issues.append(_issue(name, parsed, g.line_of(well), plate, well))
            continue
        recs.append({"well": well, "_line": g.line_of(well), **parsed})
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
            num = _number(text, dec)
            if (
                num is None
                or not math.isfinite(num)
                or num < 0
                or (col == "dilution" and num == 0)
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
            out[col] = num
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
