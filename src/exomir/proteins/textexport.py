"""Low-level reading of plate-reader text files: cells, wells, grid blocks.

Shared by the plate-map and the optical-density readers
(:mod:`exomir.proteins.platemap`, :mod:`exomir.proteins.plates`): decoding
(UTF-8, UTF-16, Latin-1), the separator (tab, semicolon, comma; a semicolon
file may use a decimal comma), well names, and the 8 x 12 / 16 x 24 grid
blocks with the wavelength that labels each.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    row_lines: tuple[int, ...] = ()

    def line_of(self, well: str) -> int:
        """File line (1-based) of the row holding ``well``."""
        return self.row_lines[ROW_LETTERS.index(well[0])]


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
    """First wavelength (200-1000 nm) named by ``cells`` (``450``, ``450.0``, ``OD450``, ``450 nm``)."""
    for c in cells:
        text = c.strip()
        if re.fullmatch(
            r"\d+\.\d*", text
        ):  # a plain number: a wavelength only in range
            value = float(text)
            if 200 <= value <= 1000:
                return value
            continue
        m = _WAVELENGTH_RE.search(text)
        if m:
            return float(m.group(1))
    return None


def _grid_fail(label: str, size: int, head: int, r: int, li: int) -> ValidationError:
    return ValidationError(
        [
            _issue(
                label,
                f"the {size}-well grid starting on line {head} has only {r} of its "
                f"{SHAPES[size][0]} rows (expected row {ROW_LETTERS[r]} here)",
                line=li + 1,
            )
        ]
    )


def _row_letter(row: Sequence[str], start: int) -> str:
    return next((c for c in row[:start] if len(c) == 1 and c.isalpha()), "")


def _find_grids(rows: list[list[str]], label: str) -> list[_Grid]:
    """Every 8x12 / 16x24 block of ``rows``.

    Row letters are optional (SoftMax Pro puts the temperature there); with
    row letters, lines without a letter right after a row are further reads of
    that row (Gen5's interleaved multi-wavelength layout, each line labelled
    by a trailing wavelength cell) and give one grid per read.
    """
    grids: list[_Grid] = []
    i = 0
    while i < len(rows):
        head = _grid_header(rows[i])
        if head is None:
            i += 1
            continue
        start, size = head
        nrow, ncol = SHAPES[size]
        first = rows[i + 1] if i + 1 < len(rows) else []
        lettered = bool(_row_letter(first, start))
        reads: list[dict[str, str]] = []
        tails: list[list[str]] = []
        row_lines: list[int] = []
        li = i + 1
        for r in range(nrow):
            row = rows[li] if li < len(rows) else []
            letter = _row_letter(row, start)
            if (
                li >= len(rows)
                or (lettered and letter.upper() != ROW_LETTERS[r])
                or (not lettered and (letter or not any(row[start : start + ncol])))
            ):
                raise _grid_fail(label, size, i + 1, r, li)
            row_lines.append(li + 1)
            k = 0
            while True:
                if k == len(reads):
                    reads.append({})
                    tails.append([])
                for c in range(ncol):
                    reads[k][f"{ROW_LETTERS[r]}{c + 1}"] = (
                        row[start + c] if start + c < len(row) else ""
                    )
                tails[k] += row[start + ncol :]
                li += 1
                nxt = rows[li] if li < len(rows) else []
                if (
                    not lettered
                    or _row_letter(nxt, start)
                    or not any(nxt[start : start + ncol])
                ):
                    break
                k += 1
                row = nxt
        before = [c for k in range(max(0, i - 3), i) for c in rows[k]]
        for k, cells in enumerate(reads):
            if len(cells) != nrow * ncol:
                raise ValidationError(
                    [
                        _issue(
                            label,
                            f"the grid on line {i + 1} has a different number of reads per row",
                            line=i + 1,
                        )
                    ]
                )
            wl = _wavelength_in(tails[k])
            if wl is None and len(reads) == 1:
                wl = _wavelength_in(before + rows[i][:start])
            grids.append(_Grid(size, cells, i + 1, wl, tuple(row_lines)))
        i = li
    return grids


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
