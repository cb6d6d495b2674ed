"""The common NTA run record, the dilution rule and instrument agreement.

Every size reader returns an :class:`NtaRun`; :func:`resolve_dilution` is the
one dilution rule of the EV step and of ``exomir validate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exomir.ev.export import NtaFormatError


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
