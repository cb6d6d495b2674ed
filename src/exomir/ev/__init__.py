"""EV product characterisation: NTA exports, lot certificate and dose.

The package reads nanoparticle-tracking exports of the MSC-exosome product
(analysis_spec §4, layouts in ``EV_FORMATS.md``), turns them into one common
representation, and judges each lot against the release criteria of the
configuration:

* :mod:`exomir.ev.nanosight`: NanoSight NTA 3.x ``*ExperimentSummary.csv``;
* :mod:`exomir.ev.zetaview`: ZetaView 8.x size ``.txt`` exports, the
  11-position summary and the zeta-potential profile;
* :mod:`exomir.ev.lots`: per-run and per-lot summaries, the lot certificate,
  the MISEV2023 checklist, the dose per participant and the workflow entry
  point :func:`exomir.ev.lots.run_ev_qc`;
* :mod:`exomir.ev.plots`: figures.

This module holds what the readers share: the error type, text decoding,
number parsing, the statistics of a binned size distribution and the
:class:`NtaRun` record every reader returns.

Conventions
-----------
* Sizes are hydrodynamic diameters in nm; concentrations are particles/mL.
* A bin value is the concentration of particles whose size falls in that bin
  (not a density per nm), as both instruments export it.
* Percentiles (D10/D50/D90) interpolate linearly inside a bin, i.e. particles
  are taken as spread evenly across their bin; ZetaView runs use the
  instrument's own definition instead (cumulative fraction at bin centres,
  ``convention="centres"``), which reproduces the D50 the export prints.
* The mode is the vertex of a quadratic fitted to log(density) against
  log(size) over the peak (see :func:`estimate_mode`); for a log-normal
  distribution this is exact, and for any smooth peak it is a local fit that is
  insensitive to bin-to-bin noise (for ZetaView too: it is closer to the
  population mode than a smoothed-peak estimate at every trace count tried,
  see ``docs/ev.md``).
* :func:`resolve_dilution` is the one dilution rule of the EV step and of
  ``exomir validate``; :func:`agreement` compares a recomputed statistic with
  the instrument's own. See ``docs/ev.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NtaFormatError",
    "NtaRun",
    "agreement",
    "cdf_at",
    "decode_export",
    "estimate_mode",
    "parse_number",
    "percentile",
    "resolve_dilution",
    "size_stats",
]

#: Size window of the "≥ 90 % of particles in 50-400 nm" criterion (nm).
DEFAULT_WINDOW = (50.0, 400.0)


class NtaFormatError(ValueError):
    """An instrument export that cannot be read, with the place of the problem.

    Parameters
    ----------
    file
        The file as the user named it (e.g. the path in ``ev_nta_runs.tsv``).
    line
        1-based line number of the problem, or ``None`` for the whole file.
    reason
        What is wrong, in words a lab scientist can act on.

    Attributes
    ----------
    file, line, reason
        As given.
    """

    def __init__(self, file: str, line: int | None, reason: str):
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


def decode_export(data: bytes) -> tuple[list[str], str]:
    """Decode an instrument export into lines.

    Both instruments write Latin-1, but files that went through a text editor
    or a LIMS may be UTF-8 (with or without a byte-order mark). The bytes are
    tried as UTF-8 first (which fails on any Latin-1 byte above 0x7F that does
    not form a valid UTF-8 sequence) and read as Latin-1 otherwise. NUL bytes
    (ZetaView profile exports contain some) are removed; LF, CRLF and CR line
    ends are all accepted.

    Parameters
    ----------
    data
        Raw file content.

    Returns
    -------
    lines : list[str]
        Text lines without line ends.
    encoding : str
        ``"utf-8"`` or ``"latin-1"``.
    """
    data = data.replace(b"\x00", b"")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        encoding = "latin-1"
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), encoding


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def parse_number(text: str | None, decimal_comma: bool = False) -> float | None:
    """Parse a number as instruments write it, or return ``None``.

    Accepts ``2.08e+08``, ``2.500E+0``, ``-0.0`` and, with a decimal comma,
    ``2,500E+0``. ``NaN``, ``Not recorded``, empty cells and words give
    ``None``.

    Parameters
    ----------
    text
        Cell text.
    decimal_comma
        Whether ``,`` is the decimal separator. Even when false, a lone comma
        in a tab- or semicolon-separated cell is read as a decimal comma.

    Returns
    -------
    float or None
        The value, or ``None`` if the cell holds no finite number.
    """
    if text is None:
        return None
    s = text.strip().replace(" ", "")
    if not s or not _NUMBER.match(s):
        return None
    if "," in s:
        if not decimal_comma and "." in s:
            return None
        s = s.replace(",", ".")
    value = float(s)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------
# Statistics of a binned distribution


def _edges(centres: np.ndarray, width: float) -> np.ndarray:
    return np.concatenate([centres - width / 2.0, [centres[-1] + width / 2.0]])


def percentile(
    centres: np.ndarray,
    conc: np.ndarray,
    width: float,
    q: float,
    convention: str = "edges",
) -> float:
    """Size below which a fraction ``q`` of the particles lie.

    Two conventions:

    * ``"edges"`` (default; NanoSight and generic use): particles are taken as
      spread evenly across their bin, so the value interpolates linearly
      between the bin's lower and upper edge.
    * ``"centres"`` (ZetaView 8.x): the cumulative fraction up to and
      including a bin is placed at that bin's *centre*, and the size is
      interpolated linearly between consecutive centres (below the first bin's
      cumulative fraction the first centre is returned). This reproduces the
      ``Median Number (D50)`` / ``X50`` that ZetaView 8.06 writes to its
      exports to all printed digits (checked on public 8.06.01 SP1 exports);
      it lies half a bin (2.5 nm) below the ``"edges"`` value.

    Parameters
    ----------
    centres
        Bin centres (nm), increasing, evenly spaced.
    conc
        Particles per bin (any non-negative weight).
    width
        Bin width (nm).
    q
        Fraction in (0, 1), e.g. 0.5 for D50.
    convention
        ``"edges"`` or ``"centres"`` (see above).

    Returns
    -------
    float
        The size in nm (NaN if the distribution is empty).
    """
    w = np.asarray(conc, dtype=float)
    total = w.sum()
    if not total > 0:
        return float("nan")
    cum = np.cumsum(w) / total
    if convention == "centres":
        c = np.asarray(centres, dtype=float)
        j = int(np.searchsorted(cum, q - 1e-12, side="left"))
        j = min(j, len(cum) - 1)
        if j == 0:
            return float(c[0])
        step = cum[j] - cum[j - 1]
        frac = 0.0 if step <= 0 else (q - cum[j - 1]) / step
        return float(c[j - 1] + min(max(frac, 0.0), 1.0) * (c[j] - c[j - 1]))
    if convention != "edges":
        raise ValueError(f"unknown percentile convention '{convention}'")
    i = int(np.searchsorted(cum, q - 1e-12, side="left"))
    i = min(i, len(cum) - 1)
    prev = cum[i - 1] if i > 0 else 0.0
    frac = 0.0 if cum[i] <= prev else (q - prev) / (cum[i] - prev)
    frac = min(max(frac, 0.0), 1.0)
    return float(centres[i] - width / 2.0 + frac * width)


def cdf_at(centres: np.ndarray, conc: np.ndarray, width: float, x: float) -> float:
    """Fraction of particles smaller than ``x`` (linear inside bins).

    Parameters
    ----------
    centres
        Bin centres (nm).
    conc
        Particles per bin.
    width
        Bin width (nm).
    x
        Size (nm).

    Returns
    -------
    float
        Cumulative fraction in [0, 1] (NaN if the distribution is empty).
    """
    w = np.asarray(conc, dtype=float)
    total = w.sum()
    if not total > 0:
        return float("nan")
    cum = np.concatenate([[0.0], np.cumsum(w)]) / total
    return float(np.interp(x, _edges(np.asarray(centres, float), width), cum))


def _smooth(y: np.ndarray, sigma_bins: float) -> np.ndarray:
    if sigma_bins <= 0:
        return y.copy()
    half = math.ceil(4 * sigma_bins)
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_bins) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.zeros(half), y, np.zeros(half)])
    return np.convolve(padded, k, mode="valid")


def estimate_mode(
    centres: np.ndarray,
    conc: np.ndarray,
    width: float,
    smooth_nm: float = 5.0,
    level: float = 0.5,
) -> float:
    """Mode (peak size) of a binned number distribution.

    1. The density is lightly smoothed (Gaussian kernel, SD ``smooth_nm``) to
       find the highest bin robustly.
    2. The peak region is the run of contiguous bins around it whose smoothed
       density is at least ``level`` times the maximum.
    3. A quadratic in log(size) is fitted to log(density) of the *unsmoothed*
       bins of that region, weighted by the bin values (Poisson-like noise),
       and the mode is the size at its vertex (clamped to the region).

    A log-normal density is exactly quadratic in these coordinates, so its
    mode is recovered without bias; for other unimodal peaks the fit is local.
    When the region has fewer than 3 bins or an empty bin (very narrow,
    sparse or hand-made distributions), the centre of its highest bin is
    returned instead.

    Parameters
    ----------
    centres
        Bin centres (nm), increasing.
    conc
        Particles per bin.
    width
        Bin width (nm).
    smooth_nm
        SD of the smoothing kernel used to locate the peak (0 = none).
    level
        Fraction of the peak height that bounds the fitted region.

    Returns
    -------
    float
        Mode in nm (NaN if the distribution is empty).
    """
    c = np.asarray(centres, dtype=float)
    y = np.asarray(conc, dtype=float)
    if not y.sum() > 0:
        return float("nan")
    ys = _smooth(y, smooth_nm / width)
    top = int(np.argmax(ys))
    lo = top
    while lo > 0 and ys[lo - 1] >= level * ys[top]:
        lo -= 1
    hi = top
    while hi < len(ys) - 1 and ys[hi + 1] >= level * ys[top]:
        hi += 1
    sel = np.arange(lo, hi + 1)
    if len(sel) < 3 or np.any(y[sel] <= 0) or c[lo] <= 0:
        # Too narrow, or gaps inside the peak (sparse or hand-made data):
        # the highest bin of the peak region is the honest answer.
        return float(c[lo + int(np.argmax(y[sel]))])
    u = np.log(c[sel])
    v = np.log(y[sel])
    a, b, _ = np.polyfit(u, v, 2, w=np.sqrt(y[sel] / y[sel].max()))
    if a >= 0:
        return float(c[top])
    u_star = -b / (2 * a)
    u_star = min(max(u_star, math.log(c[lo])), math.log(c[hi]))
    return float(math.exp(u_star))


def size_stats(
    centres: np.ndarray,
    conc: np.ndarray,
    width: float,
    window: tuple[float, float] = DEFAULT_WINDOW,
    smooth_nm: float = 5.0,
    convention: str = "edges",
) -> dict[str, float]:
    """Summary statistics of a number-weighted size distribution.

    Parameters
    ----------
    centres
        Bin centres (nm), increasing, evenly spaced by ``width``.
    conc
        Particles (or particles/mL) per bin.
    width
        Bin width (nm).
    window
        Size window for ``frac_in_window`` (nm).
    smooth_nm
        Smoothing used to locate the mode (see :func:`estimate_mode`).
    convention
        Percentile convention (see :func:`percentile`); ZetaView runs use
        ``"centres"``, the instrument's own.

    Returns
    -------
    dict
        ``total`` (sum of bins), ``mean_nm``, ``sd_nm`` (population SD of the
        bin centres), ``mode_nm``, ``d10_nm``, ``d50_nm``, ``d90_nm``,
        ``span`` = (D90 - D10) / D50 and ``frac_in_window``. Values are NaN
        for an empty distribution.
    """
    c = np.asarray(centres, dtype=float)
    y = np.asarray(conc, dtype=float)
    total = float(y.sum())
    nan = float("nan")
    if not total > 0:
        keys = ["mean_nm", "sd_nm", "mode_nm", "d10_nm", "d50_nm", "d90_nm"]
        return {
            "total": total,
            **dict.fromkeys(keys, nan),
            "span": nan,
            "frac_in_window": nan,
        }
    mean = float((c * y).sum() / total)
    sd = float(math.sqrt(max(((c - mean) ** 2 * y).sum() / total, 0.0)))
    d10, d50, d90 = (percentile(c, y, width, q, convention) for q in (0.1, 0.5, 0.9))
    frac = cdf_at(c, y, width, window[1]) - cdf_at(c, y, width, window[0])
    return {
        "total": total,
        "mean_nm": mean,
        "sd_nm": sd,
        "mode_nm": estimate_mode(c, y, width, smooth_nm=smooth_nm),
        "d10_nm": d10,
        "d50_nm": d50,
        "d90_nm": d90,
        "span": (d90 - d10) / d50 if d50 > 0 else nan,
        "frac_in_window": frac,
    }


# ---------------------------------------------------------------------------
# The common record


@dataclass
class NtaRun:
    """One NTA measurement as read from an instrument export.

    Concentrations are as exported: NanoSight values are already multiplied by
    the dilution recorded in the file (``conc_includes_file_dilution``), or are
    those of the measured (diluted) sample when the file says ``Not recorded``;
    ZetaView values are always those of the diluted sample. Use
    :meth:`stock_factor` to get the stock concentration.

    Attributes
    ----------
    file
        File label used in messages.
    instrument
        ``"NanoSight"`` or ``"ZetaView"``.
    software
        Software version text from the file.
    encoding
        Encoding the file was decoded with.
    centres
        Bin centres of the number-weighted size distribution (nm).
    width
        Bin width (nm).
    conc
        Mean particles/mL per bin over the replicates (videos).
    replicate_bins
        Per-replicate bins (replicates x bins) when the export has them
        (NanoSight videos), else ``None``.
    replicate_labels
        Names of the replicates (NanoSight video names, ZetaView positions).
    replicate_conc
        Total concentration of each replicate as exported (NanoSight:
        ``[Results]`` row per video; ZetaView: ``Conc.`` of each retained
        position).
    replicate_mode_nm, replicate_d50_nm
        Per-replicate size statistics (NanoSight: computed from each video's
        bins; ZetaView: ``Peak`` and ``X50`` of each retained position).
    conc_total
        Run concentration as exported (mean over replicates).
    file_dilution
        Dilution factor recorded in the file (``None`` if not recorded).
    file_dilution_line
        Line of the recorded dilution (for messages).
    conc_includes_file_dilution
        Whether exported concentrations already include ``file_dilution``.
    correction_factor
        Extra multiplicative factor of the instrument (ZetaView
        ``Concentration Correction Factor``; 1 otherwise).
    reported
        Statistics the instrument printed (e.g. ``mode_nm``, ``d50_nm``).
    settings
        Instrument settings for MISEV reporting (camera level, detection
        threshold, temperature, viscosity, ...).
    qc
        Run-quality measures (``n_replicates``, ``particles_per_frame_min``,
        ``completed_tracks_min``, ``positions_retained``, ...).
    warnings
        Non-fatal problems noticed while reading.
    counts
        Traces per bin when the export has them (ZetaView ``Number``); size
        statistics use them, as the instrument does, rather than the
        concentrations printed to 4 significant digits.
    percentile_convention
        How this instrument computes D10/D50/D90 (see :func:`percentile`);
        ZetaView runs use the instrument's own definition so that the
        recomputed D50 can be compared with the one printed in the export.
    """

    file: str
    instrument: str
    software: str
    encoding: str
    centres: np.ndarray
    width: float
    conc: np.ndarray
    replicate_bins: np.ndarray | None
    replicate_labels: list[str]
    replicate_conc: np.ndarray
    replicate_mode_nm: np.ndarray
    replicate_d50_nm: np.ndarray
    conc_total: float
    file_dilution: float | None
    file_dilution_line: int | None
    conc_includes_file_dilution: bool
    correction_factor: float = 1.0
    reported: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    qc: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    percentile_convention: str = "edges"
    counts: np.ndarray | None = None

    def stock_factor(
        self,
        sheet_dilution: float | None,
        sheet_label: str = "ev_nta_runs.tsv",
        rel_tol: float = 1e-3,
    ) -> tuple[float, float, str]:
        """Factor that turns exported concentrations into stock concentrations.

        Rules (the sheet is ``ev_nta_runs.tsv``'s ``dilution`` column):

        * the file and the sheet both give a dilution: they must agree within
          ``rel_tol``, otherwise the run is rejected (a data-integrity problem
          that a person must resolve);
        * only one gives it: that one is used;
        * neither gives it: the run is rejected ("missing dilution").

        NanoSight concentrations already include a dilution recorded in the
        file; ZetaView concentrations never do, and are also multiplied by the
        instrument's concentration correction factor.

        Parameters
        ----------
        sheet_dilution
            Dilution from the run sheet, or ``None``.
        sheet_label
            Name of the sheet (and line) for messages.
        rel_tol
            Relative tolerance for file and sheet to agree.

        Returns
        -------
        factor : float
            Multiply exported concentrations by this.
        dilution : float
            The dilution used.
        source : str
            ``"file"``, ``"sheet"`` or ``"file+sheet"``.

        Raises
        ------
        NtaFormatError
            For a missing or conflicting dilution.
        """
        fd = self.file_dilution
        dilution, source = resolve_dilution(
            self.file, self.file_dilution_line, fd, sheet_dilution, sheet_label, rel_tol
        )
        if self.conc_includes_file_dilution and fd is not None:
            factor = 1.0
        else:
            factor = dilution
        return factor * self.correction_factor, dilution, source


def resolve_dilution(
    file: str,
    file_line: int | None,
    file_dilution: float | None,
    sheet_dilution: float | None,
    sheet_label: str = "ev_nta_runs.tsv",
    rel_tol: float = 1e-3,
) -> tuple[float, str]:
    """Decide the dilution of a run from the export and the run sheet.

    The one rule used both when the EV step runs (:meth:`NtaRun.stock_factor`)
    and by ``exomir validate`` (:func:`exomir.ev.headers.check_nta_exports`),
    so a missing or conflicting dilution is reported before anything runs:

    * the file and the sheet both give a dilution: they must agree within
      ``rel_tol`` (otherwise a data-integrity problem a person must resolve);
    * only one gives it: that one is used;
    * neither (NanoSight ``Not recorded``, or no ``Dilution`` on the ZetaView
      ``Number of Traces`` line, and an empty sheet cell): an error.

    Parameters
    ----------
    file, file_line
        The export and the line of its dilution (for messages).
    file_dilution, sheet_dilution
        The two dilutions, ``None`` when not given.
    sheet_label
        Name (and line) of the sheet for messages.
    rel_tol
        Relative tolerance for file and sheet to agree.

    Returns
    -------
    dilution : float
        The dilution to use.
    source : str
        ``"file"``, ``"sheet"`` or ``"file+sheet"``.

    Raises
    ------
    NtaFormatError
        For a missing or conflicting dilution.
    """
    fd, sd = file_dilution, sheet_dilution
    if fd is not None and sd is not None:
        if abs(fd / sd - 1.0) > rel_tol:
            raise NtaFormatError(
                file,
                file_line,
                f"the file records dilution {fd:g} but {sheet_label} says "
                f"{sd:g}; correct whichever is wrong",
            )
        return fd, "file+sheet"
    if fd is not None:
        return fd, "file"
    if sd is not None:
        return sd, "sheet"
    raise NtaFormatError(
        file,
        file_line,
        "the dilution is not recorded in the file and the dilution "
        f"column of {sheet_label} is empty; the stock concentration "
        "cannot be computed",
    )


def agreement(
    recomputed: float, instrument: float, abs_tol: float = 0.0, rel_tol: float = 0.0
) -> str:
    """Whether a recomputed statistic agrees with the instrument's own value.

    Parameters
    ----------
    recomputed, instrument
        The two values (NaN when unavailable).
    abs_tol, rel_tol
        Agreement holds when ``|recomputed - instrument|`` is at most
        ``max(abs_tol, rel_tol * |instrument|)``.

    Returns
    -------
    str
        ``"agree"``, ``"disagree"`` or ``""`` when either value is missing.
    """
    if not (math.isfinite(recomputed) and math.isfinite(instrument)):
        return ""
    tol = max(abs_tol, rel_tol * abs(instrument))
    return "agree" if abs(recomputed - instrument) <= tol + 1e-9 else "disagree"


def read_bytes(path: str | Path, label: str) -> bytes:
    """Read a file, turning a missing or unreadable file into an NTA error.

    Parameters
    ----------
    path
        File to read.
    label
        Name used in messages.

    Returns
    -------
    bytes
        The content.

    Raises
    ------
    NtaFormatError
        If the file is missing, unreadable or empty.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise NtaFormatError(
            label, None, f"cannot read the file ({exc.strerror})"
        ) from exc
    if not data.strip(b"\x00\r\n\t ,;"):
        raise NtaFormatError(label, 1, "the file is empty")
    return data
