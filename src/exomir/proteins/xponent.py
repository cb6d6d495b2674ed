"""The Luminex xPONENT CSV batch export: header and ``DataType:`` blocks.

An xPONENT export is a header of ``key, value`` lines (``Program``,
``Build``, ``Date``, ``SN``, ``Batch``, ``Operator``, ``ProtocolName`` ...,
calibration results, ``Samples``) followed by ``Results`` and data blocks,
each introduced by a ``DataType:`` line and ended by a blank line::

    "DataType:","Median"
    "Location","Sample","IL-6","VEGF-A","Total Events"
    "1(1,A1)","Background0","12","15","310"

Blocks whose header starts with ``Location, Sample`` hold one row per well
(``Median``, ``Net MFI``, ``Count``, ``Mean``, ``Dilution Factor`` ...); a
``Location`` is ``<acquisition order>(<plate>,<well>)``. Other blocks
(``Avg Net MFI``, ``Units``, ``Per Bead Count``, ``Warnings/Errors``,
``Audit Logs``) are kept as text. This module splits the file and reads
per-well blocks; :mod:`exomir.proteins.luminex` turns them into a plate.

Tolerated: quoted or unquoted cells, comma/semicolon/tab separators (decimal
commas with the latter two), trailing empty columns, CRLF or CR line ends, a
UTF-8 BOM, Latin-1 text, ``NaN`` values (a well without beads).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.ev.export import decode_export, parse_number

_LOCATION = re.compile(
    r"^\s*(\d+)\s*\(\s*(\d+)\s*,\s*([A-Pa-p])\s*0*(\d{1,2})\s*\)\s*$"
)
_MISSING = {"", "nan", "na"}


@dataclass
class XponentBlock:
    """One ``DataType:`` block as text.

    Attributes
    ----------
    datatype
        Name after ``DataType:`` (e.g. ``Median``).
    line
        Line of the ``DataType:`` line.
    header
        Cells of the block's header line (trailing empty cells removed).
    rows
        ``(line, cells)`` of every non-empty line of the block.
    """

    datatype: str
    line: int
    header: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


@dataclass
class XponentExport:
    """An xPONENT export split into header and blocks.

    Attributes
    ----------
    file
        Name used in messages.
    header
        Header key -> value cells joined by a space (``Program``,
        ``Build``, ``Batch``, ``ProtocolName``, ``SN``, ``Operator`` ...).
    blocks
        Data type -> block, in file order.
    decimal_comma
        Whether numbers use a decimal comma (semicolon or tab files).
    repeated
        Data type -> line of a second block of that type (the first is kept;
        reading a repeated type is an error, other blocks are unaffected).
    """

    file: str
    header: dict[str, str]
    blocks: dict[str, XponentBlock]
    decimal_comma: bool = False
    repeated: dict[str, int] = field(default_factory=dict)


def _cells(line: str, sep: str) -> list[str]:
    cells = [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _sniff(lines: list[str]) -> str:
    for line in lines[:5]:
        for sep in (",", ";", "\t"):
            cells = _cells(line, sep)
            if len(cells) > 1 and cells[0].lstrip("\ufeff") in ("Program", "DataType:"):
                return sep
    return ","


def parse_xponent(path: str | Path, label: str | None = None) -> XponentExport:
    """Split an xPONENT export into its header and ``DataType:`` blocks.

    Parameters
    ----------
    path
        The CSV export.
    label
        Name used in messages (defaults to ``path``).

    Returns
    -------
    XponentExport
        Header and blocks (text only; see :func:`well_table`).

    Raises
    ------
    ValidationError
        Unreadable file or no ``DataType:`` block.
    """
    name = label or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(
            [Issue(name, f"cannot read the Luminex export ({exc.strerror})")]
        ) from exc
    lines, _ = decode_export(data)
    sep = _sniff(lines)
    header: dict[str, str] = {}
    blocks: dict[str, XponentBlock] = {}
    repeated: dict[str, int] = {}
    block: XponentBlock | None = None
    in_results = False
    for lineno, raw in enumerate(lines, start=1):
        cells = _cells(raw, sep)
        if cells:
            cells[0] = cells[0].lstrip("\ufeff")
        if not cells:
            block = None
            continue
        key = cells[0]
        if key.rstrip(":").lower() == "datatype":
            dtype = cells[1] if len(cells) > 1 else ""
            block = XponentBlock(dtype, lineno)
            if dtype in blocks:
                repeated.setdefault(dtype, lineno)
                in_results = True
                continue
            blocks[dtype] = block
            in_results = True
        elif block is not None:
            if not block.header:
                block.header = cells
            else:
                block.rows.append((lineno, cells))
        elif key == "Results" or key.startswith("-- CRC"):
            in_results = True
        elif not in_results and key not in header:
            header[key] = " ".join(c for c in cells[1:] if c)
    if not blocks:
        raise ValidationError(
            [
                Issue(
                    name,
                    "not an xPONENT export: no 'DataType:' block (expected "
                    '"DataType:","Median" followed by a Location/Sample table)',
                )
            ]
        )
    return XponentExport(name, header, blocks, sep != ",", repeated)


def name_key(name: str) -> str:
    """Return a name lower-cased with everything but letters and digits removed."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _well(location: str) -> tuple[int, str] | None:
    m = _LOCATION.match(location)
    if not m or int(m.group(4)) < 1 or int(m.group(4)) > 24:
        return None
    return int(m.group(2)), f"{m.group(3).upper()}{int(m.group(4))}"


def well_table(
    export: XponentExport, datatype: str, *, required: bool = True
) -> pd.DataFrame | None:
    """Read one per-well block into a long table.

    Parameters
    ----------
    export
        From :func:`parse_xponent`.
    datatype
        Block to read (``Median``, ``Count``, ``Dilution Factor`` ...).
    required
        Whether a missing block is an error (else ``None`` is returned).

    Returns
    -------
    pandas.DataFrame or None
        line, plate_no, well, sample, column, value (float; NaN for ``NaN``
        or an empty cell), one row per well x value column; ``Total Events``
        and ``Sample`` are not value columns.

    Raises
    ------
    ValidationError
        Missing block (when required), a header without ``Location`` and
        ``Sample``, a Location that is not a well, a well twice, a
        non-numeric value or a row longer than the header.
    """
    name = export.file
    block = export.blocks.get(datatype)
    if block is None:
        if not required:
            return None
        found = ", ".join(export.blocks) or "none"
        raise ValidationError(
            [
                Issue(
                    name,
                    f"no 'DataType: {datatype}' block (blocks found: {found}); "
                    "re-export the batch with this data type or set "
                    "proteins.luminex.datatype",
                )
            ]
        )
    if datatype in export.repeated:
        raise ValidationError(
            [
                Issue(
                    name,
                    f"a second 'DataType: {datatype}' block (the first is at line "
                    f"{block.line}): which one to read is ambiguous",
                    export.repeated[datatype],
                )
            ]
        )
    head = [name_key(h) for h in block.header]
    if head[:2] != ["location", "sample"]:
        raise ValidationError(
            [
                Issue(
                    name,
                    f"the '{datatype}' block must start with Location, Sample "
                    f"(found: {', '.join(block.header[:3])})",
                    block.line + 1,
                )
            ]
        )
    value_cols = [
        i for i, h in enumerate(head) if h not in ("location", "sample", "totalevents")
    ]
    issues: list[Issue] = []
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, cells in block.rows:
        loc = _well(cells[0])
        if loc is None:
            issues.append(
                Issue(
                    name,
                    f"Location '{cells[0]}' is not a well (expected e.g. 1(1,A1))",
                    lineno,
                    "Location",
                )
            )
            continue
        plate_no, well = loc
        if well in seen:
            issues.append(
                Issue(
                    name,
                    f"well {well} appears twice in the '{datatype}' block (also "
                    f"line {seen[well]})",
                    lineno,
                    "Location",
                    f"well={well}",
                )
            )
            continue
        seen[well] = lineno
        if len(cells) > len(block.header):
            issues.append(
                Issue(
                    name,
                    f"{len(cells)} cells but the block header has {len(block.header)}",
                    lineno,
                    row_id=f"well={well}",
                )
            )
            continue
        cells = cells + [""] * (len(block.header) - len(cells))
        for i in value_cols:
            text = cells[i]
            value = (
                math.nan
                if text.lower() in _MISSING
                else parse_number(text, export.decimal_comma)
            )
            if value is None:
                issues.append(
                    Issue(
                        name,
                        f"'{text}' is not a number",
                        lineno,
                        block.header[i],
                        f"well={well}",
                    )
                )
                continue
            records.append(
                {
                    "line": lineno,
                    "plate_no": plate_no,
                    "well": well,
                    "sample": cells[1],
                    "column": block.header[i],
                    "value": value,
                }
            )
    if issues:
        raise ValidationError(issues)
    return pd.DataFrame.from_records(
        records, columns=["line", "plate_no", "well", "sample", "column", "value"]
    )
