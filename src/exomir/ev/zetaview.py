"""Read Particle Metrix ZetaView 8.x exports.

Layouts: ``EV_FORMATS.md`` §1. Three files come out of one measurement:

* ``*_size_<laser>.txt`` (:func:`read_zetaview`): a ``Key:<TAB>value`` header
  then the size table (1200 linear 5-nm bins, a ``-1`` sentinel row, 200
  log-spaced bins). The linear bins give the number distribution; its
  ``Concentration / cm-3`` column is for the **diluted** sample.
* ``*_size_<laser>_11pos.txt`` (:func:`read_positions`): one row per cell
  position with ``Use`` = ``X`` for retained positions; gives the replicate
  (per-position) statistics. :func:`read_zetaview` picks it up from beside the
  size file when it exists.
* ``*_prof_<laser>.txt`` (:func:`read_profile`): the zeta-potential profile.

Convention: stock concentration = sum of the linear ``Concentration / cm-3``
column x ``Dilution`` x ``Concentration Correction Factor``.

Statistics (``docs/ev.md``): the run carries the trace counts (``Number``)
and asks for ZetaView's own D50 definition (cumulative fraction placed at bin
centres, which reproduces the header's ``Median Number (D50)``). The
instrument's values are kept in ``reported``: the
header D50 and the mean ``Peak`` of the retained positions. A table holding
only the ``-1`` end row (every position rejected) is an error naming the
``Number of Traces`` line.

Header lines are parsed field by field (:func:`parse_header_line`), which
handles the irregular lines of the format: trailing qualifiers (``entered``,
``sensed``), several keys on one line, a key separated by a space instead of a
TAB, doubled colons (``Dilution::``), unlabelled ``(at ...)`` fields, keys
without values and ``NaN``. Decimal commas are accepted in numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exomir.ev.export import NtaFormatError, decode_export, parse_number, read_bytes
from exomir.ev.record import NtaRun

SUPPORTED_MAJOR = (8,)
#: Software versions whose exports the reader was checked against (layout of
#: EV_FORMATS.md §1 and public 8.06.01 SP1 exports whose header D50 the
#: reader reproduces). ``exomir validate`` reports any other version.
VERIFIED_VERSIONS = ("8.06.01",)
LINEAR_BINS = 1200
LOG_BINS = 200
_VERSION = re.compile(r"version\s*([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", re.IGNORECASE)


@dataclass
class HeaderEntry:
    """One key of a ZetaView header.

    Attributes
    ----------
    key
        Key with trailing colons and spaces removed.
    value
        First field after the key ('' if none).
    qualifiers
        Further fields that are not keys (e.g. ``sensed``, ``(at 0.1)``).
    line
        1-based line number.
    """

    key: str
    value: str
    qualifiers: list[str]
    line: int


def parse_header_line(line: str, number: int) -> list[HeaderEntry]:
    """Split one header line into its key/value pairs.

    A field ending in ``:`` starts a key; the next field is its value unless it
    is itself a key; further fields are qualifiers of the last key. A first
    field that holds ``:`` but does not end in one (``Conductivity: 53.0``) is
    split at its first colon.

    Parameters
    ----------
    line
        The line (without line end).
    number
        Its 1-based line number.

    Returns
    -------
    list[HeaderEntry]
        Entries in line order (empty for a line without a key).
    """
    fields = line.split("\t")
    out: list[HeaderEntry] = []
    i = 0
    first = fields[0].strip()
    if first and not first.endswith(":") and ":" in first:
        key, _, value = first.partition(":")
        out.append(HeaderEntry(key.strip(), value.strip(), [], number))
        i = 1
    while i < len(fields):
        f = fields[i].strip()
        if f.endswith(":"):
            key = f.rstrip(":").strip()
            value = ""
            if i + 1 < len(fields) and not fields[i + 1].strip().endswith(":"):
                value = fields[i + 1].strip()
                i += 1
            out.append(HeaderEntry(key, value, [], number))
        elif out and f:
            out[-1].qualifiers.append(f)
        i += 1
    return out


@dataclass
class ZetaViewHeader:
    """Parsed header of a ZetaView export.

    Attributes
    ----------
    entries
        Every entry in file order.
    first
        Key -> first entry with that key.
    end_line
        Line (1-based) of the line that ended the header (e.g.
        ``Size Distribution``), or ``None``.
    """

    entries: list[HeaderEntry] = field(default_factory=list)
    first: dict[str, HeaderEntry] = field(default_factory=dict)
    end_line: int | None = None

    def get(self, key: str) -> str | None:
        """Return the value of a key (case-insensitive), or ``None``."""
        e = self.first.get(key.lower())
        return e.value if e is not None else None

    def number(self, key: str) -> float | None:
        """Return the numeric value of a key, or ``None`` (also for ``NaN``)."""
        return parse_number(self.get(key), decimal_comma=True)

    def line_of(self, key: str) -> int | None:
        """Return the line of a key, or ``None``."""
        e = self.first.get(key.lower())
        return e.line if e is not None else None


def parse_header(lines: list[str], stop: tuple[str, ...]) -> ZetaViewHeader:
    """Parse header lines up to the first line equal to one of ``stop``.

    Parameters
    ----------
    lines
        Decoded lines.
    stop
        Lines (stripped) that end the header, e.g. ``("Size Distribution",)``.

    Returns
    -------
    ZetaViewHeader
        The header.
    """
    h = ZetaViewHeader()
    for idx, line in enumerate(lines, start=1):
        if line.strip() in stop:
            h.end_line = idx
            break
        for e in parse_header_line(line, idx):
            h.entries.append(e)
            h.first.setdefault(e.key.lower(), e)
    return h


def sniff(lines: list[str]) -> str | None:
    """Tell which ZetaView export the lines are, if any.

    Parameters
    ----------
    lines
        Decoded lines.

    Returns
    -------
    str or None
        ``"size"``, ``"profile"``, ``"positions"`` or ``None``.
    """
    head = [s for s in lines[:150] if s.strip()]
    if head and head[0].startswith("Use\tPosition"):
        return "positions"
    if not any(
        s.startswith(("Original File:", "Software:\tZetaView")) for s in head[:10]
    ):
        return None
    for s in head:
        if s.startswith("Type of Measurement:"):
            kind = s.split(":", 1)[1].strip().lower()
            if kind.startswith("size"):
                return "size"
            if kind.startswith("profile"):
                return "profile"
    if any(s.strip() == "Size Distribution" for s in lines):
        return "size"
    return "unknown"


def _check_software(h: ZetaViewHeader, label: str) -> str:
    sw = h.get("Software")
    m = _VERSION.search(sw or "")
    if m is None or int(m.group(1)) not in SUPPORTED_MAJOR:
        raise NtaFormatError(
            label,
            h.line_of("Software") or 1,
            f"unsupported ZetaView software version ('{sw or 'no Software line'}'); "
            "this reader knows ZetaView 8.x exports",
        )
    return sw or ""


@dataclass
class PositionSummary:
    """The 11-position summary of a ZetaView size measurement.

    Attributes
    ----------
    file
        File label.
    positions
        Cell position of each row.
    used
        Whether each position was retained (``Use`` = ``X``).
    conc
        ``Conc. (p./mL)`` per position (diluted sample).
    traces
        ``No. of Traces`` per position.
    x50_nm
        ``X50 (nm)`` per position.
    peak_nm
        ``Peak`` per position (nm).
    removal
        Removal reason per position ('' if retained).
    """

    file: str
    positions: np.ndarray
    used: np.ndarray
    conc: np.ndarray
    traces: np.ndarray
    x50_nm: np.ndarray
    peak_nm: np.ndarray
    removal: list[str]

    @property
    def n_retained(self) -> int:
        """Number of retained positions."""
        return int(self.used.sum())

    @property
    def rsd_pct(self) -> float:
        """Relative SD (%) of the retained positions' concentrations."""
        c = self.conc[self.used]
        if len(c) < 2 or c.mean() <= 0:
            return math.nan
        return float(c.std(ddof=1) / c.mean() * 100)


def _col(header: list[str], *prefixes: str) -> int | None:
    for i, h in enumerate(header):
        low = h.strip().lower()
        if any(low.startswith(p) for p in prefixes):
            return i
    return None


def read_positions(path: str | Path, label: str | None = None) -> PositionSummary:
    """Read a ZetaView ``*_11pos.txt`` position summary.

    Parameters
    ----------
    path
        The file.
    label
        Name used in messages.

    Returns
    -------
    PositionSummary
        Per-position values (the footer rows are ignored and recomputed).

    Raises
    ------
    NtaFormatError
        If the header or a position row cannot be read.
    """
    name = label or str(path)
    lines, _ = decode_export(read_bytes(path, name))
    start = next((i for i, s in enumerate(lines) if s.strip()), 0)
    header = lines[start].split("\t")
    cols = {
        "use": _col(header, "use"),
        "pos": _col(header, "position"),
        "conc": _col(header, "conc."),
        "traces": _col(header, "no. of traces"),
        "x50": _col(header, "x50"),
        "peak": _col(header, "peak"),
        "removal": _col(header, "removal"),
    }
    missing = [k for k in ("use", "pos", "conc") if cols[k] is None]
    if missing:
        raise NtaFormatError(
            name,
            start + 1,
            "not a ZetaView position summary (no Use/Position/Conc. columns)",
        )
    use_col, pos_col = int(cols["use"] or 0), int(cols["pos"] or 0)
    rows: list[tuple[float, bool, float, float, float, float, str]] = []
    for idx in range(start + 1, len(lines)):
        cells = lines[idx].split("\t")
        if not any(c.strip() for c in cells):
            continue

        def get(key: str, cells: list[str] = cells) -> float:
            j = cols[key]
            v = (
                parse_number(cells[j], True)
                if j is not None and j < len(cells)
                else None
            )
            return math.nan if v is None else v

        pos = get("pos") if pos_col < len(cells) else math.nan
        if math.isnan(pos):
            continue  # Mean / St.Dev. / Rel.St.Dev. footer
        conc = get("conc")
        if math.isnan(conc):
            raise NtaFormatError(
                name, idx + 1, "position row without a readable Conc. value"
            )
        use = cells[use_col].strip().upper() == "X"
        rj = cols["removal"]
        removal = cells[rj].strip() if rj is not None and rj < len(cells) else ""
        rows.append((pos, use, conc, get("traces"), get("x50"), get("peak"), removal))
    if not rows:
        raise NtaFormatError(
            name, start + 1, "the position summary has no position rows"
        )
    arr = list(zip(*rows, strict=True))
    return PositionSummary(
        file=name,
        positions=np.array(arr[0], dtype=float),
        used=np.array(arr[1], dtype=bool),
        conc=np.array(arr[2], dtype=float),
        traces=np.array(arr[3], dtype=float),
        x50_nm=np.array(arr[4], dtype=float),
        peak_nm=np.array(arr[5], dtype=float),
        removal=list(arr[6]),
    )


def positions_path(size_path: str | Path) -> Path:
    """Path of the 11-position summary that belongs to a size export.

    Parameters
    ----------
    size_path
        ``..._size_<laser>.txt``.

    Returns
    -------
    Path
        ``..._size_<laser>_11pos.txt`` (may not exist).
    """
    p = Path(size_path)
    return p.with_name(p.stem + "_11pos" + p.suffix)


def _table_columns(header: list[str], label: str, line: int) -> dict[str, int]:
    cols = {
        "size": _col(header, "size"),
        "number": _col(header, "number"),
        "conc": _col(header, "concentration"),
    }
    missing = [k for k, v in cols.items() if v is None]
    if missing:
        raise NtaFormatError(
            label,
            line,
            "the size table header must have 'Size / nm', 'Number' and "
            f"'Concentration / cm-3' columns (missing: {', '.join(missing)})",
        )
    return {k: int(v) for k, v in cols.items() if v is not None}


def _g(value: float | None, text: str | None) -> str:
    """Return a setting as short text: ``80`` for ``80.000000``."""
    return f"{value:g}" if value is not None else (text or "")


def _row_line(lines: list[str], header_line: int, j: int) -> int:
    """Line number of the ``j``-th non-blank row after the table header."""
    seen = -1
    for idx in range(header_line + 1, len(lines) + 1):
        if lines[idx - 1].strip():
            seen += 1
            if seen == j:
                return idx
    return header_line


def _table_rows(
    lines: list[str], hline: int, cols: dict[str, int], name: str
) -> tuple[
    list[tuple[float, float, float]], list[tuple[float, float, float]], int | None, int
]:
    """Rows of the linear and logarithmic size tables (split at the -1 row).

    Returns the linear and log bins as (size, number, conc), the line of the
    end-of-table row (``None`` if absent) and the last line read.
    """
    need = max(cols.values()) + 1
    linear: list[tuple[float, float, float]] = []
    logbins: list[tuple[float, float, float]] = []
    sentinel_line: int | None = None
    last_line = hline
    for idx in range(hline + 1, len(lines) + 1):
        raw = lines[idx - 1]
        if not raw.strip():
            continue
        cells = raw.split("\t")
        vals = [parse_number(c, True) for c in cells[:need]]
        if len(cells) < need or any(v is None for v in vals):
            raise NtaFormatError(
                name,
                idx,
                f"size-table row has {len(cells)} fields, expected at least {need} "
                "numbers (truncated or damaged row)",
            )
        size = float(vals[cols["size"]] or 0.0)
        number = float(vals[cols["number"]] or 0.0)
        conc = float(vals[cols["conc"]] or 0.0)
        last_line = idx
        if size == -1 and number == -1:
            if sentinel_line is not None:
                raise NtaFormatError(name, idx, "a second end-of-table (-1) row")
            sentinel_line = idx
            continue
        (logbins if sentinel_line is not None else linear).append((size, number, conc))
    return linear, logbins, sentinel_line, last_line


def _size_table(
    lines: list[str], h: ZetaViewHeader, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, list[str]]:
    """Read the linear size table, checked: centres, traces, conc per bin, width.

    Also returns the warnings noticed (missing log table, trace-count mismatch).
    """
    if h.end_line is None:
        raise NtaFormatError(
            name, len(lines), "no 'Size Distribution' table: the file is truncated"
        )
    hline = h.end_line + 1
    if hline > len(lines) or not lines[hline - 1].strip():
        raise NtaFormatError(
            name, h.end_line, "the size table header is missing (truncated file)"
        )
    cols = _table_columns(lines[hline - 1].split("\t"), name, hline)
    linear, logbins, sentinel_line, last_line = _table_rows(lines, hline, cols, name)
    if not linear and sentinel_line is not None:
        traces_hdr = h.number("Number of Traces")
        raise NtaFormatError(
            name,
            h.line_of("Number of Traces") or sentinel_line,
            "the export holds no traced particles (Number of Traces "
            f"{traces_hdr if traces_hdr is not None else 0:g}: every cell position was "
            "rejected, see the 11-position summary); re-measure the sample",
        )
    if not linear:
        raise NtaFormatError(name, hline, "the size table has no rows (truncated file)")
    if sentinel_line is None and len(linear) < LINEAR_BINS:
        raise NtaFormatError(
            name,
            last_line,
            f"the file ends inside the linear size table after {len(linear)} of "
            f"{LINEAR_BINS} bins, before the -1 end-of-table row (truncated file)",
        )
    warnings: list[str] = []
    if sentinel_line is not None and 0 < len(logbins) < LOG_BINS:
        raise NtaFormatError(
            name,
            last_line,
            f"the file ends inside the logarithmic size table after {len(logbins)} "
            f"of {LOG_BINS} bins (truncated file)",
        )
    if sentinel_line is not None and not logbins:
        warnings.append("no logarithmic size table after the -1 row")
    lin = np.array(linear, dtype=float)
    centres, number, conc = lin[:, 0], lin[:, 1], lin[:, 2]
    # Centres are printed with 4 significant digits (1002.5 nm -> 1.002E+3):
    # check them against an even grid within that rounding, then use the grid.
    width = float(np.median(np.diff(centres[:50]))) if len(centres) > 1 else 5.0
    ideal = centres[0] + width * np.arange(len(centres))
    off = np.abs(centres - ideal) > np.maximum(1e-3 * width, 6e-4 * np.abs(ideal))
    if width <= 0 or off.any():
        j = int(np.flatnonzero(off)[0]) if off.any() else 0
        raise NtaFormatError(
            name,
            _row_line(lines, hline, j),
            "linear size-table bin centres are not evenly spaced",
        )
    centres = ideal
    if np.any(conc < 0) or np.any(number < 0):
        raise NtaFormatError(name, hline + 1, "negative values in the size table")
    traces = h.number("Number of Traces")
    if traces is not None and abs(number.sum() - traces) > 0.5 + 1e-3 * traces:
        warnings.append(
            f"linear bins hold {number.sum():g} traces but the header says {traces:g}"
        )
    return centres, number, conc, width, warnings


def _replicates(
    pos: PositionSummary | None, total: float, h: ZetaViewHeader, warnings: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per-position concentration, peak and D50 of the retained positions.

    Without a position summary the run is one replicate (the whole table).
    """
    if pos is not None and pos.n_retained:
        rep_conc = pos.conc[pos.used]
        rep_mode = pos.peak_nm[pos.used]
        rep_d50 = pos.x50_nm[pos.used]
        labels = [f"pos {p:.2f}" for p in pos.positions[pos.used]]
        mean_pos = float(rep_conc.mean())
        if mean_pos > 0 and abs(total / mean_pos - 1) > 0.05:
            warnings.append(
                f"size table sums to {total:.3g}/mL but the retained positions "
                f"average {mean_pos:.3g}/mL"
            )
    else:
        rep_conc = np.array([total])
        rep_mode = np.array([math.nan])
        rep_d50 = np.array([h.number("Median Number (D50)") or math.nan])
        labels = ["all positions"]
        warnings.append(
            "no 11-position summary beside the size file; no per-position statistics"
        )
    return rep_conc, rep_mode, rep_d50, labels


def _settings(h: ZetaViewHeader, pos: PositionSummary | None) -> dict[str, Any]:
    """Instrument settings of the run, for MISEV reporting."""
    return {
        "temperature_c": h.number("Temperature"),
        "viscosity_cp": h.number("Viscosity"),
        "camera_level": _g(h.number("Sensitivity"), h.get("Sensitivity")),
        "detection_threshold": _g(
            h.number("Minimum Brightness"), h.get("Minimum Brightness")
        ),
        "shutter": _g(h.number("Shutter"), h.get("Shutter")),
        "laser_nm": h.number("Laser Wavelength nm"),
        "experiment": h.get("Experiment") or "",
        "time_captured": f"{h.get('Date') or ''} {h.get('Time') or ''}".strip(),
        "sample": h.get("Sample") or "",
        "positions_file": pos.file if pos is not None else "",
    }


def _qc_and_reported(
    h: ZetaViewHeader, pos: PositionSummary | None, n_rep: int, traces_total: float
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run-quality measures and the instrument's own statistics.

    Reported: the header D50 (of the pooled retained positions) and the mean of
    the retained positions' Peak (the 11-position summary's "Mean" row).
    """
    qc: dict[str, Any] = {
        "n_replicates": n_rep,
        "traces": float(traces_total),
        "positions_total": len(pos.positions) if pos is not None else math.nan,
        "positions_retained": pos.n_retained if pos is not None else math.nan,
        "position_rsd_pct": pos.rsd_pct if pos is not None else math.nan,
        "cell_check": h.get("Cell Check Result") or "",
    }
    reported: dict[str, float] = {}
    d50_rep = h.number("Median Number (D50)")
    if d50_rep is not None and d50_rep > 0:
        reported["d50_nm"] = d50_rep
    if pos is not None and pos.n_retained:
        peaks = pos.peak_nm[pos.used]
        peaks = peaks[np.isfinite(peaks) & (peaks > 0)]
        if len(peaks):
            reported["mode_nm"] = float(peaks.mean())
    return qc, reported


def read_zetaview(
    path: str | Path,
    label: str | None = None,
    positions: str | Path | None = None,
    smooth_nm: float = 5.0,
) -> NtaRun:
    """Read a ZetaView size-distribution export (and its position summary).

    Parameters
    ----------
    path
        ``*_size_<laser>.txt``.
    label
        Name used in messages (defaults to ``path``).
    positions
        The 11-position summary; by default ``<stem>_11pos.txt`` beside the
        size file when it exists.
    smooth_nm
        Unused here (kept for a uniform reader signature); statistics are
        computed by the caller.

    Returns
    -------
    NtaRun
        The run. ``conc`` holds the linear bins' concentrations of the diluted
        sample; replicate statistics come from the retained positions.

    Raises
    ------
    NtaFormatError
        For a file that is not a supported, complete ZetaView size export.
    """
    del smooth_nm
    name = label or str(path)
    lines, encoding = decode_export(read_bytes(path, name))
    kind = sniff(lines)
    if kind != "size":
        what = {
            "profile": "a ZetaView zeta-potential profile, not a size export",
            "positions": "a ZetaView 11-position summary, not the size export",
            "unknown": "a ZetaView export without a size distribution",
            None: "not a ZetaView export (no 'Original File:' header)",
        }[kind]
        raise NtaFormatError(name, 1, f"the file is {what}")
    h = parse_header(lines, ("Size Distribution",))
    software = _check_software(h, name)
    centres, number, conc, width, warnings = _size_table(lines, h, name)
    traces = h.number("Number of Traces")
    dilution = h.number("Dilution")
    ccf = h.number("Concentration Correction Factor")
    pos_file = Path(positions) if positions is not None else positions_path(path)
    pos: PositionSummary | None = None
    if pos_file.is_file():
        pos_label = (
            str(Path(name).with_name(pos_file.name))
            if positions is None
            else str(positions)
        )
        pos = read_positions(pos_file, pos_label)
    total = float(conc.sum())
    rep_conc, rep_mode, rep_d50, labels = _replicates(pos, total, h, warnings)
    settings = _settings(h, pos)
    traces_total = traces if traces is not None else float(number.sum())
    qc, reported = _qc_and_reported(h, pos, len(rep_conc), traces_total)
    return NtaRun(
        file=name,
        instrument="ZetaView",
        software=software,
        encoding=encoding,
        centres=centres,
        width=width,
        conc=conc,
        replicate_bins=None,
        replicate_labels=labels,
        replicate_conc=np.asarray(rep_conc, dtype=float),
        replicate_mode_nm=np.asarray(rep_mode, dtype=float),
        replicate_d50_nm=np.asarray(rep_d50, dtype=float),
        conc_total=total,
        file_dilution=dilution,
        file_dilution_line=h.line_of("Dilution") or h.line_of("Number of Traces"),
        conc_includes_file_dilution=False,
        correction_factor=ccf if ccf is not None and ccf > 0 else 1.0,
        reported=reported,
        settings=settings,
        qc=qc,
        warnings=warnings,
        percentile_convention="centres",
        counts=number,
    )


@dataclass
class ZetaProfile:
    """Zeta potential from a ZetaView profile export.

    Attributes
    ----------
    file
        File label.
    software
        Software text.
    zeta_mv
        ``Zeta Potential / mV`` (at the measured temperature).
    zeta_mv_25c
        ``Zeta Potential @ 25°C / mV`` when present.
    temperature_c
        Measured temperature.
    line
        Line of the value used.
    """

    file: str
    software: str
    zeta_mv: float | None
    zeta_mv_25c: float | None
    temperature_c: float | None
    line: int | None

    @property
    def value(self) -> float | None:
        """The value to report: at 25 °C when given, else as measured."""
        return self.zeta_mv_25c if self.zeta_mv_25c is not None else self.zeta_mv


def read_profile(path: str | Path, label: str | None = None) -> ZetaProfile:
    """Read the zeta potential from a ZetaView ``*_prof_<laser>.txt`` export.

    Parameters
    ----------
    path
        The profile export.
    label
        Name used in messages.

    Returns
    -------
    ZetaProfile
        The zeta potential.

    Raises
    ------
    NtaFormatError
        If the file is not a ZetaView 8.x profile or has no zeta potential.
    """
    name = label or str(path)
    lines, _ = decode_export(read_bytes(path, name))
    if sniff(lines) != "profile":
        raise NtaFormatError(name, 1, "not a ZetaView zeta-potential profile export")
    h = parse_header(lines, ("ZP Profile:",))
    software = _check_software(h, name)
    z = z25 = None
    line = None
    for e in h.entries:
        k = e.key.lower()
        if k.startswith("zeta potential"):
            v = parse_number(e.value, True)
            if "25" in k and z25 is None:
                z25, line = v, e.line
            elif "25" not in k and z is None:
                z = v
                line = line or e.line
    if z is None and z25 is None:
        raise NtaFormatError(
            name,
            h.end_line or len(lines),
            "no 'Zeta Potential' result in the profile export",
        )
    return ZetaProfile(name, software, z, z25, h.number("Temperature"), line)
