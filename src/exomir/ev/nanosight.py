"""Read Malvern NanoSight NTA 3.x ``*-ExperimentSummary.csv`` exports.

Layout: ``EV_FORMATS.md`` §2. The reader walks the file once, tracking the
``[Section]`` it is in and, inside ``[Size Data]``, the ``Weighting`` block;
nothing depends on line numbers or on the number of videos.

What is taken from the file:

* the video names (``Filename:`` row) and per-video ``[Conditions]`` and
  ``[Settings]`` (temperature, viscosity, camera level, detection threshold);
* ``[Results]``: the dilution factor, the per-video concentration, particles
  per frame and completed tracks; the ``Average``/``Standard Error`` columns
  are ignored and recomputed (autosampler exports omit them);
* ``[Concentration Warnings]``: the validity flag of each video;
* ``[Size Data]``, ``Weighting,Number`` block: the reported Mean/Mode/SD/
  D10/D50/D90 averages and the per-video 1-nm bin table.

Tolerated variation: Latin-1 or UTF-8; LF, CRLF or CR; NUL bytes; comma,
semicolon or tab separators (with semicolon or tab, decimal commas are
accepted); ragged rows and trailing separators; comma-only separator rows;
missing optional sections (conditions, warnings, other weightings, diffusion
data, percentiles); any number of videos.

Rejected, with the file and line: a file that is not an NTA Experiment Summary,
an NTA major version other than 3, a missing number-weighted size table, a
truncated or malformed bin row, unevenly spaced bins, videos recording
different dilutions.
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
from exomir.ev.stats import size_stats

TITLE = "NTA Experiment Summary File"
SUPPORTED_MAJOR = (3,)
#: NTA versions whose exports the reader was checked against (EV_FORMATS.md §2:
#: NTA 3.3, Dev Build 3.3.203). ``exomir validate`` reports any other version.
VERIFIED_VERSIONS = ("3.3",)
#: NTA 3.x size tables have 1000 bins of 1 nm (0.5 ... 999.5 nm).
EXPECTED_BINS = 1000
_SECTION = re.compile(r"^\[(.+)\]$")
_VERSION = re.compile(r"NTA\s*([0-9]+)\.([0-9]+)")
_STAT_ROWS = {
    "mean": "mean_nm",
    "mode": "mode_nm",
    "sd": "sd_nm",
    "d10": "d10_nm",
    "d50": "d50_nm",
    "d90": "d90_nm",
}


def looks_like_nanosight(lines: list[str]) -> bool:
    """Whether decoded lines start like an NTA Experiment Summary.

    Parameters
    ----------
    lines
        Decoded lines.

    Returns
    -------
    bool
        True if the first non-empty line is the NTA summary title.
    """
    for line in lines[:5]:
        if line.strip(" ,;\t"):
            return line.strip().lstrip("\ufeff").startswith(TITLE)
    return False


def _separator(first: str) -> str:
    rest = first.strip()[len(TITLE) :]
    for sep in (",", ";", "\t"):
        if rest.startswith(sep):
            return sep
    return ","


@dataclass
class _Row:
    line: int
    cells: list[str]

    @property
    def key(self) -> str:
        return self.cells[0] if self.cells else ""


@dataclass
class _Parsed:
    software: str = ""
    version_line: int = 2
    details: dict[str, str] = field(default_factory=dict)
    videos: list[str] = field(default_factory=list)
    videos_line: int | None = None
    per_video: dict[tuple[str, str], _Row] = field(default_factory=dict)
    stats: dict[str, _Row] = field(default_factory=dict)
    bin_header: _Row | None = None
    bins: list[_Row] = field(default_factory=list)
    bins_closed: bool = False
    percentiles: list[_Row] = field(default_factory=list)
    percentiles_closed: bool = True
    size_section_line: int | None = None
    weightings_seen: list[str] = field(default_factory=list)


def _split(line: str, sep: str) -> list[str]:
    cells = [c.strip() for c in line.split(sep)]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _walk(lines: list[str], sep: str, label: str) -> _Parsed:
    p = _Parsed()
    section = ""
    weighting = ""
    mode = "rows"  # rows | bin_header | bins | percentiles
    # Blank lines at the end of the file do not close a table: a file cut at
    # a line boundary must still be recognised as truncated.
    end = max((i for i, s in enumerate(lines) if s.strip(sep + " \t")), default=-1)
    for idx, raw in enumerate(lines[: end + 1], start=1):
        cells = _split(raw, sep)
        if cells and not p.software and cells[0].lower().startswith("created with"):
            p.software = cells[0]
            p.version_line = idx
        blank = not cells
        in_number = section == "size data" and weighting == "number"
        if mode == "bins":
            if blank:
                p.bins_closed = p.bins_closed or in_number
                mode = "after_bins"
                continue
            if parse_number(cells[0], sep != ",") is not None:
                if in_number:
                    p.bins.append(_Row(idx, cells))
                continue
            p.bins_closed = p.bins_closed or in_number
            mode = "rows"
        elif mode == "percentiles":
            if not blank and parse_number(cells[0], sep != ",") is not None:
                if in_number:
                    p.percentiles.append(_Row(idx, cells))
                continue
            mode = "rows"
            if in_number:
                p.percentiles_closed = True
        if blank:
            continue
        key = cells[0]
        m = _SECTION.match(key)
        if m:
            section = m.group(1).strip().lower()
            weighting = ""
            mode = "rows"
            if section == "size data":
                p.size_section_line = idx
            continue
        low = key.lower()
        if mode == "bin_header":
            if section == "size data" and weighting == "number":
                p.bin_header = _Row(idx, cells)
            mode = "bins"
            continue
        if low == "graph data":
            mode = "bin_header"
            continue
        if low == "percentile":
            mode = "percentiles"
            if section == "size data" and weighting == "number":
                p.percentiles_closed = False
            continue
        if low == "weighting" and len(cells) > 1:
            weighting = cells[1].strip().lower()
            if section == "size data":
                p.weightings_seen.append(cells[1])
            continue
        if low == "filename:" and not p.videos:
            p.videos = cells[1:]
            p.videos_line = idx
            continue
        if section == "experiment details":
            p.details[key] = cells[1] if len(cells) > 1 else ""
            continue
        if section == "size data" and weighting == "number":
            if low in _STAT_ROWS or low == "valid tracks":
                p.stats[low] = _Row(idx, cells)
            continue
        if section in ("conditions", "settings", "results", "concentration warnings"):
            p.per_video.setdefault((section, low), _Row(idx, cells))
    return p


def _values(row: _Row, n: int, decimal_comma: bool) -> list[float | None]:
    cells = row.cells[1 : 1 + n]
    cells += [""] * (n - len(cells))
    return [parse_number(c, decimal_comma) for c in cells]


def _texts(row: _Row | None, n: int) -> list[str]:
    if row is None:
        return []
    cells = row.cells[1 : 1 + n]
    return cells + [""] * (n - len(cells))


def _version_match(p: _Parsed) -> re.Match[str] | None:
    m = _VERSION.search(p.software)
    if m is None:
        m = re.match(r"([0-9]+)\.([0-9]+)", p.details.get("Software Version", ""))
    return m


def _file_dilution(
    p: _Parsed, n: int, dc: bool, name: str
) -> tuple[float | None, _Row | None]:
    """Return the ``[Results]`` dilution factor (``None`` if ``Not recorded``)."""
    dil_row = next(
        (
            r
            for (s, k), r in p.per_video.items()
            if s == "results" and k.startswith("dilution factor")
        ),
        None,
    )
    if dil_row is None:
        return None, None
    nums = [parse_number(t, dc) for t in _texts(dil_row, n)]
    given = {v for v in nums if v is not None}
    if len(given) > 1:
        raise NtaFormatError(
            name,
            dil_row.line,
            f"videos record different dilution factors ({', '.join(f'{g:g}' for g in sorted(given))})",
        )
    if given and any(v is None for v in nums):
        raise NtaFormatError(
            name,
            dil_row.line,
            "the dilution factor is recorded for some videos only",
        )
    return (given.pop() if given else None), dil_row


@dataclass
class NanoSightHeader:
    """What ``exomir validate`` needs from an Experiment Summary.

    Attributes
    ----------
    software
        The ``Created with NTA ...`` text (or ``Software Version``).
    version
        ``major.minor`` (e.g. ``3.3``), ``""`` if not found.
    version_line
        Line of the version.
    dilution
        Recorded dilution, ``None`` if ``Not recorded`` or absent.
    dilution_line
        Line of the ``Dilution factor`` row (``None`` if absent).
    dilution_text
        The row's first video cell as written (e.g. ``Not recorded``).
    """

    software: str
    version: str
    version_line: int
    dilution: float | None
    dilution_line: int | None
    dilution_text: str


def read_header(path: str | Path, label: str | None = None) -> NanoSightHeader:
    """Read the version and the dilution of an NTA Experiment Summary.

    Used by ``exomir validate`` so that an unverified software version or a
    ``Not recorded`` dilution is reported before anything runs; the same
    helpers serve :func:`read_nanosight`.

    Parameters
    ----------
    path
        The ``*ExperimentSummary.csv`` file.
    label
        Name used in messages.

    Returns
    -------
    NanoSightHeader
        The header values.

    Raises
    ------
    NtaFormatError
        If the file is not an NTA Experiment Summary, or its videos record
        different dilutions.
    """
    name = label or str(path)
    lines, _ = decode_export(read_bytes(path, name))
    if not looks_like_nanosight(lines):
        raise NtaFormatError(name, 1, "not a NanoSight 'NTA Experiment Summary File'")
    sep = _separator(lines[0])
    p = _walk(lines, sep, name)
    m = _version_match(p)
    n = len(p.videos) if p.videos else 1
    dilution, row = _file_dilution(p, n, sep != ",", name)
    return NanoSightHeader(
        software=p.software or p.details.get("Software Version", ""),
        version=f"{m.group(1)}.{m.group(2)}" if m else "",
        version_line=p.version_line,
        dilution=dilution,
        dilution_line=row.line if row is not None else None,
        dilution_text=_texts(row, n)[0] if row is not None else "",
    )


def _software(p: _Parsed, name: str) -> str:
    """Software version text; an unsupported version is an error."""
    m = _version_match(p)
    if m is None or int(m.group(1)) not in SUPPORTED_MAJOR:
        found = p.software or p.details.get("Software Version", "") or "no version"
        raise NtaFormatError(
            name,
            p.version_line,
            f"unsupported NanoSight software version ('{found}'); this reader "
            "knows NTA 3.x Experiment Summary files",
        )
    software = f"NTA {m.group(1)}.{m.group(2)}"
    if p.details.get("Software Version"):
        software = f"NTA {p.details['Software Version']}"
    return software


def _video_names(p: _Parsed, name: str, n_lines: int) -> list[str]:
    """Names of the videos (columns of the size table), checked against the table."""
    if p.size_section_line is None:
        raise NtaFormatError(
            name,
            n_lines,
            "no [Size Data] section: the file is truncated or was exported "
            "without the size distribution",
        )
    if p.bin_header is None:
        seen = ", ".join(p.weightings_seen) or "none"
        raise NtaFormatError(
            name,
            p.size_section_line,
            "no number-weighted size table ('Weighting,Number' followed by "
            f"'Graph Data') in [Size Data] (weightings found: {seen})",
        )
    header = p.bin_header.cells
    n_cols = sum(
        1 for h in header[1:] if h.lower().startswith("concentration (particles")
    )
    n = len(p.videos) if p.videos else n_cols
    if n_cols and n_cols != n:
        raise NtaFormatError(
            name,
            p.bin_header.line,
            f"the size table has {n_cols} video columns but the Filename: row "
            f"(line {p.videos_line}) lists {n} videos",
        )
    if n < 1:
        raise NtaFormatError(
            name, p.bin_header.line, "no video columns in the size table"
        )
    videos = p.videos or [f"video{i + 1}" for i in range(n)]
    return videos


def _bin_table(
    p: _Parsed, n: int, dc: bool, name: str, n_lines: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Bin centres, per-video bins (videos x bins) and bin width, checked."""
    assert p.bin_header is not None
    if not p.bins:
        raise NtaFormatError(
            name, p.bin_header.line, "the number-weighted size table has no rows"
        )
    centres = np.empty(len(p.bins))
    bins = np.empty((n, len(p.bins)))
    for j, row in enumerate(p.bins):
        vals = [parse_number(c, dc) for c in row.cells[: 1 + n]]
        if len(row.cells) < 1 + n or any(v is None for v in vals):
            raise NtaFormatError(
                name,
                row.line,
                f"size-table row has {len(row.cells)} cells; expected {1 + n} numbers "
                f"(the bin centre and {n} video values): truncated or damaged row",
            )
        centres[j] = vals[0]
        bins[:, j] = vals[1:]
    steps = np.diff(centres)
    width = float(steps[0]) if len(steps) else 1.0
    if len(steps) and (
        width <= 0 or np.any(np.abs(steps - width) > 1e-6 * max(1.0, width))
    ):
        bad = int(np.flatnonzero(np.abs(steps - width) > 1e-6 * max(1.0, width))[0]) + 1
        raise NtaFormatError(
            name, p.bins[bad].line, "size-table bin centres are not evenly spaced"
        )
    if np.any(bins < 0):
        j = int(np.flatnonzero((bins < 0).any(axis=0))[0])
        raise NtaFormatError(
            name, p.bins[j].line, "negative concentration in the size table"
        )
    if not p.bins_closed and len(p.bins) < EXPECTED_BINS:
        raise NtaFormatError(
            name,
            p.bins[-1].line,
            f"the file ends inside the size table after {len(p.bins)} of "
            f"{EXPECTED_BINS} bins (truncated file)",
        )
    if not p.percentiles_closed and len(p.percentiles) < 101:
        raise NtaFormatError(
            name,
            p.percentiles[-1].line if p.percentiles else n_lines,
            f"the file ends inside the percentile table after {len(p.percentiles)} "
            "of 101 rows (truncated file)",
        )
    return centres, bins, width


def _video_conc(
    p: _Parsed, n: int, dc: bool, name: str, bins: np.ndarray, videos: list[str]
) -> tuple[np.ndarray, list[str]]:
    """Per-video concentration from [Results] (else the bin sums), with warnings."""
    warnings: list[str] = []
    # Per-video concentration ([Results]).
    conc_row = p.per_video.get(("results", "concentration (particles / ml)"))
    bin_sums = bins.sum(axis=1)
    if conc_row is not None:
        conc_vals = _values(conc_row, n, dc)
        if any(v is None for v in conc_vals):
            raise NtaFormatError(
                name,
                conc_row.line,
                f"the concentration row needs a number for each of the {n} videos",
            )
        video_conc = np.array(conc_vals, dtype=float)
        for v in range(n):
            if video_conc[v] > 0 and abs(bin_sums[v] / video_conc[v] - 1) > 0.05:
                warnings.append(
                    f"video {videos[v]}: size bins sum to {bin_sums[v]:.3g}/mL but "
                    f"[Results] says {video_conc[v]:.3g}/mL"
                )
    else:
        video_conc = bin_sums
        warnings.append(
            "no [Results] concentration row; concentration from the size bins"
        )
    return video_conc, warnings


def _reported(p: _Parsed, n: int, dc: bool) -> dict[str, float]:
    """Statistics the software printed (Average column, else mean of the videos)."""
    reported: dict[str, float] = {}
    for low, key in _STAT_ROWS.items():
        stat_row = p.stats.get(low)
        if stat_row is None:
            continue
        vals = [v for v in _values(stat_row, n, dc) if v is not None]
        if vals:
            reported[key] = float(np.mean(vals))
    return reported


def _qc_and_settings(
    p: _Parsed, n: int, dc: bool, videos: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run-quality measures and instrument settings of the videos."""

    def per_video_floats(section: str, key: str) -> list[float]:
        row = p.per_video.get((section, key))
        if row is None:
            return []
        return [v for v in _values(row, n, dc) if v is not None]

    ppf = per_video_floats("results", "particles per frame")
    tracks = per_video_floats("results", "completed tracks")
    validity = _texts(
        p.per_video.get(
            ("concentration warnings", "validity of concentration measurement")
        ),
        n,
    )
    temps = per_video_floats("conditions", "temperature/c")
    visc = per_video_floats("conditions", "viscosity/cp")
    cam = _texts(p.per_video.get(("conditions", "camera level")), n)
    thr = _texts(p.per_video.get(("settings", "detection threshold")), n)

    def single(values: list[str]) -> str:
        uniq = sorted({v for v in values if v})
        return ";".join(uniq)

    qc = {
        "n_replicates": n,
        "particles_per_frame_min": min(ppf) if ppf else math.nan,
        "particles_per_frame_max": max(ppf) if ppf else math.nan,
        "completed_tracks_min": min(tracks) if tracks else math.nan,
        "invalid_videos": [
            videos[i] for i, t in enumerate(validity) if t and t.upper() != "OK"
        ],
    }
    settings = {
        "temperature_c": float(np.mean(temps)) if temps else math.nan,
        "viscosity_cp": float(np.mean(visc)) if visc else math.nan,
        "camera_level": single(cam),
        "detection_threshold": single(thr),
        "experiment": p.details.get("Experiment Name", ""),
        "time_captured": p.details.get("Time Captured", ""),
        "sample": p.details.get("Sample Description", ""),
    }
    return qc, settings


def read_nanosight(
    path: str | Path, label: str | None = None, smooth_nm: float = 5.0
) -> NtaRun:
    """Read one NanoSight NTA 3.x Experiment Summary.

    Parameters
    ----------
    path
        The ``*ExperimentSummary.csv`` file.
    label
        Name used in messages (defaults to ``path``).
    smooth_nm
        Smoothing used to locate the mode of each video (nm).

    Returns
    -------
    NtaRun
        The run; ``conc`` is the mean of the per-video bins, ``conc_total`` the
        mean of the per-video ``[Results]`` concentrations.

    Raises
    ------
    NtaFormatError
        If the file is not a supported, complete NTA 3.x summary.
    """
    name = label or str(path)
    lines, encoding = decode_export(read_bytes(path, name))
    if not looks_like_nanosight(lines):
        first = next((s for s in lines if s.strip()), "")[:60]
        raise NtaFormatError(
            name,
            1,
            f"not a NanoSight 'NTA Experiment Summary File' (starts with '{first}')",
        )
    sep = _separator(lines[0])
    dc = sep != ","
    p = _walk(lines, sep, name)
    software = _software(p, name)
    videos = _video_names(p, name, len(lines))
    n = len(videos)
    centres, bins, width = _bin_table(p, n, dc, name, len(lines))
    video_conc, warnings = _video_conc(p, n, dc, name, bins, videos)
    file_dilution, dil_row = _file_dilution(p, n, dc, name)
    per_video = [
        size_stats(centres, bins[v], width, smooth_nm=smooth_nm) for v in range(n)
    ]
    reported = _reported(p, n, dc)
    qc, settings = _qc_and_settings(p, n, dc, videos)
    return NtaRun(
        file=name,
        instrument="NanoSight",
        software=software,
        encoding=encoding,
        centres=centres,
        width=width,
        conc=bins.mean(axis=0),
        replicate_bins=bins,
        replicate_labels=list(videos),
        replicate_conc=video_conc,
        replicate_mode_nm=np.array([s["mode_nm"] for s in per_video]),
        replicate_d50_nm=np.array([s["d50_nm"] for s in per_video]),
        conc_total=float(video_conc.mean()),
        file_dilution=file_dilution,
        file_dilution_line=dil_row.line if dil_row is not None else None,
        conc_includes_file_dilution=True,
        reported=reported,
        settings=settings,
        qc=qc,
        warnings=warnings,
    )
