"""One NTA run: read its export, stock concentration, size statistics, run QC."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.config import resolve_path
from exomir.ev.export import NtaFormatError, decode_export, read_bytes
from exomir.ev.nanosight import looks_like_nanosight, read_nanosight
from exomir.ev.record import NtaRun, agreement
from exomir.ev.stats import size_stats
from exomir.ev.zetaview import (
    ZetaProfile,
    positions_path,
    read_profile,
    read_zetaview,
    sniff,
)


@dataclass
class RunResult:
    """One row of ``ev_nta_runs.tsv`` after reading its export.

    Attributes
    ----------
    lot_id, instrument, replicate, file
        From the sheet.
    line
        Line of the row in the sheet.
    kind
        ``size``, ``profile`` or ``positions``.
    run
        The parsed size run (size exports only).
    profile
        The parsed zeta profile (profile exports only).
    summary
        Row of ``nta_runs.tsv``.
    stock_bins
        Stock particles/mL per bin (size exports only).
    error
        The reading error, if any.
    """

    lot_id: str
    instrument: str
    replicate: int | None
    file: str
    line: int
    kind: str = "size"
    run: NtaRun | None = None
    profile: ZetaProfile | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    stock_bins: np.ndarray | None = None
    error: NtaFormatError | None = None


def read_nta(
    path: str | Path, label: str | None = None, instrument: str | None = None
) -> NtaRun | ZetaProfile:
    """Read any supported NTA export, recognising its layout from the content.

    Parameters
    ----------
    path
        Export file.
    label
        Name used in messages (defaults to ``path``).
    instrument
        Instrument the sheet names; a file of the other instrument is an error.

    Returns
    -------
    NtaRun or ZetaProfile
        A size run (NanoSight or ZetaView) or a ZetaView zeta profile.

    Raises
    ------
    NtaFormatError
        For an unknown layout, a mismatch with ``instrument`` or a file the
        reader rejects.
    """
    name = label or str(path)
    lines, _ = decode_export(read_bytes(path, name))
    if looks_like_nanosight(lines):
        found = "NanoSight"
    else:
        kind = sniff(lines)
        if kind is None:
            first = next((s for s in lines if s.strip()), "")[:60]
            raise NtaFormatError(
                name,
                1,
                "unknown instrument export: neither a NanoSight NTA Experiment "
                f"Summary nor a ZetaView export (first line: '{first}')",
            )
        found = "ZetaView"
        if kind == "profile":
            if instrument not in (None, "ZetaView"):
                raise NtaFormatError(
                    name,
                    1,
                    f"a ZetaView profile export, but the sheet says {instrument}",
                )
            return read_profile(path, name)
        if kind == "positions":
            raise NtaFormatError(
                name,
                1,
                "a ZetaView 11-position summary; list the *_size_<laser>.txt export "
                "instead (its position summary is read from beside it)",
            )
    if instrument is not None and instrument != found:
        raise NtaFormatError(
            name, 1, f"the file is a {found} export but the sheet says {instrument}"
        )
    if found == "NanoSight":
        return read_nanosight(path, name)
    return read_zetaview(path, name)


def nta_input_files(
    runs: pd.DataFrame, base: str | os.PathLike[str] = "."
) -> list[str]:
    """Files the EV step reads: every export and the ZetaView position summaries.

    Used by the workflow rule to declare its inputs.

    Parameters
    ----------
    runs
        ``ev_nta_runs.tsv``.
    base
        Scenario directory.

    Returns
    -------
    list[str]
        Sorted, unique paths (position summaries only when they exist).
    """
    files: set[str] = set()
    for rel in runs["file"]:
        path = resolve_path(str(rel), base)
        files.add(str(path))
        pos = positions_path(path)
        if pos.is_file():
            files.add(str(pos))
    return sorted(files)


def _sd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


def _run_fail(run: NtaRun, nta: Mapping[str, Any]) -> list[str]:
    """Hard run-quality failures: the run's statistics cannot be trusted.

    ZetaView: fewer traced particles (``Number of Traces``, all retained
    positions) than ``ev.nta.min_traces``. With n traces the 95% confidence
    interval of the median spans the quantiles 0.5 ± 0.98/sqrt(n): ±0.03
    (about ±3% in size for a typical EV log-SD of 0.4) at 1000 traces, but
    ±0.13 (about ±13%) at 59, where the mode is one or two bins of noise.
    """
    notes = []
    if run.instrument == "ZetaView":
        traces = run.qc.get("traces", math.nan)
        if np.isfinite(traces) and traces < nta["min_traces"]:
            notes.append(
                f"only {traces:g} traced particles (Number of Traces) < "
                f"{nta['min_traces']:g} required (ev.nta.min_traces): size "
                "statistics are not reliable; re-measure with more positions, "
                "cycles or a higher concentration"
            )
    return notes


def _run_qc(run: NtaRun, nta: Mapping[str, Any]) -> list[str]:
    notes = []
    q = run.qc
    if run.instrument == "NanoSight":
        if q["n_replicates"] < nta["min_videos"]:
            notes.append(f"{q['n_replicates']} videos < {nta['min_videos']}")
        lo, hi = nta["particles_per_frame"]
        if (
            np.isfinite(q["particles_per_frame_min"])
            and q["particles_per_frame_min"] < lo
        ):
            notes.append(
                f"particles per frame {q['particles_per_frame_min']:g} < {lo:g}"
            )
        if (
            np.isfinite(q["particles_per_frame_max"])
            and q["particles_per_frame_max"] > hi
        ):
            notes.append(
                f"particles per frame {q['particles_per_frame_max']:g} > {hi:g}"
            )
        if (
            np.isfinite(q["completed_tracks_min"])
            and q["completed_tracks_min"] < nta["min_completed_tracks"]
        ):
            notes.append(
                f"completed tracks {q['completed_tracks_min']:g} < {nta['min_completed_tracks']:g}"
            )
        if q["invalid_videos"]:
            notes.append(
                "concentration flagged invalid in " + ", ".join(q["invalid_videos"])
            )
    else:
        kept = q.get("positions_retained", math.nan)
        if np.isfinite(kept) and kept < nta["min_positions"]:
            notes.append(f"{kept:g} retained positions < {nta['min_positions']}")
        rsd = q.get("position_rsd_pct", math.nan)
        if np.isfinite(rsd) and rsd > nta["max_position_rsd_pct"]:
            notes.append(f"position RSD {rsd:.1f}% > {nta['max_position_rsd_pct']:g}%")
        if q.get("cell_check") and q["cell_check"].lower() != "good":
            notes.append(f"cell check '{q['cell_check']}'")
    return notes


def _measure_size(
    res: RunResult,
    run: NtaRun,
    stock_factor: tuple[float, float, str],
    cfg: Mapping[str, Any],
    base_summary: dict[str, Any],
) -> RunResult:
    """Fill a size run's result: stock bins, size statistics, run QC, agreement."""
    factor, dilution, source = stock_factor
    nta = cfg["nta"]
    acc = cfg["acceptance"]
    res.run = run
    stock = run.conc * factor
    res.stock_bins = stock
    lo, hi = acc["size_window_nm"]
    # Size statistics from the trace counts when the export has them (the
    # instrument's own basis); the shape is that of the stock bins.
    st = size_stats(
        run.centres,
        run.counts if run.counts is not None else stock,
        run.width,
        (float(lo), float(hi)),
        nta["mode_smoothing_nm"],
        convention=run.percentile_convention,
    )
    rep_conc = run.replicate_conc * factor
    conc = run.conc_total * factor
    n = len(rep_conc)
    sd = _sd(rep_conc)
    fail_notes = _run_fail(run, nta)
    qc_notes = fail_notes + _run_qc(run, nta)
    inst_d50 = run.reported.get("d50_nm", math.nan)
    inst_mode = run.reported.get("mode_nm", math.nan)
    d50_agree = agreement(
        st["d50_nm"], inst_d50, rel_tol=nta["instrument_d50_tolerance"]
    )
    mode_agree = agreement(
        st["mode_nm"],
        inst_mode,
        abs_tol=nta["instrument_mode_tolerance_bins"] * run.width,
    )
    # The ZetaView D50 is recomputed by the instrument's own definition, so a
    # disagreement means an inconsistent export: a run-QC note. The modes are
    # different estimators (ZetaView: mean of per-position peaks; NanoSight:
    # the software's smoothing), so a disagreement is flagged in the
    # agreement column (and, for ZetaView, the warnings), not gated.
    # NanoSight D50s are only flagged (its interpolation is not documented).
    zv = run.instrument == "ZetaView"
    warnings = list(run.warnings)
    if zv and d50_agree == "disagree":
        qc_notes.append(
            f"recomputed D50 {st['d50_nm']:.1f} nm differs from the instrument's "
            f"{inst_d50:.1f} nm by more than "
            f"{nta['instrument_d50_tolerance'] * 100:g}%"
        )
    if zv and mode_agree == "disagree":
        warnings.append(
            f"recomputed mode {st['mode_nm']:.1f} nm differs from the instrument's "
            f"{inst_mode:.1f} nm by more than "
            f"{nta['instrument_mode_tolerance_bins']:g} bin(s)"
        )
    res.summary = {
        **base_summary,
        "kind": "size",
        "status": "ok",
        "error": "",
        "software": run.software,
        "encoding": run.encoding,
        "dilution": dilution,
        "dilution_source": source,
        "n_replicates": n,
        "conc_per_ml": conc,
        "conc_sd_per_ml": sd,
        "conc_cv_pct": sd / conc * 100 if conc > 0 and np.isfinite(sd) else math.nan,
        "conc_se_per_ml": sd / math.sqrt(n) if np.isfinite(sd) else math.nan,
        "mean_nm": st["mean_nm"],
        "sd_nm": st["sd_nm"],
        "mode_nm": st["mode_nm"],
        "d10_nm": st["d10_nm"],
        "d50_nm": st["d50_nm"],
        "d90_nm": st["d90_nm"],
        "span": st["span"],
        "frac_in_window": st["frac_in_window"],
        "mode_sd_nm": _sd(run.replicate_mode_nm),
        "d50_sd_nm": _sd(run.replicate_d50_nm),
        "reported_mode_nm": run.reported.get("mode_nm", math.nan),
        "reported_d50_nm": run.reported.get("d50_nm", math.nan),
        "particles_per_frame_min": run.qc.get("particles_per_frame_min", math.nan),
        "particles_per_frame_max": run.qc.get("particles_per_frame_max", math.nan),
        "completed_tracks_min": run.qc.get("completed_tracks_min", math.nan),
        "positions_retained": run.qc.get("positions_retained", math.nan),
        "position_rsd_pct": run.qc.get("position_rsd_pct", math.nan),
        "temperature_c": run.settings.get("temperature_c"),
        "viscosity_cp": run.settings.get("viscosity_cp"),
        "camera_level": run.settings.get("camera_level", ""),
        "detection_threshold": run.settings.get("detection_threshold", ""),
        "run_qc": "fail" if fail_notes else "warn" if qc_notes else "pass",
        "run_qc_notes": "; ".join(qc_notes),
        "warnings": "; ".join(warnings),
        "traces": run.qc.get("traces", math.nan),
        "d50_agreement": d50_agree,
        "mode_agreement": mode_agree,
    }
    return res


def measure_run(
    row: Mapping[str, Any],
    base: str | os.PathLike[str],
    cfg: Mapping[str, Any],
    sheet_label: str = "ev_nta_runs.tsv",
) -> RunResult:
    """Read one run's export and compute its stock-concentration results.

    Parameters
    ----------
    row
        A row of ``ev_nta_runs.tsv`` (``lot_id``, ``instrument``, ``file``,
        optional ``dilution``, ``replicate``, ``_line``).
    base
        Scenario directory (paths in the sheet are relative to it).
    cfg
        The ``ev`` configuration (see :func:`ev_config`).
    sheet_label
        Name of the run sheet for messages.

    Returns
    -------
    RunResult
        With ``error`` set (and no values) when the export is rejected.
    """
    nta = cfg["nta"]
    line = int(row.get("_line") or 0)
    rep = row.get("replicate")
    res = RunResult(
        lot_id=str(row["lot_id"]),
        instrument=str(row["instrument"]),
        replicate=int(rep) if rep is not None and not pd.isna(rep) else None,
        file=str(row["file"]),
        line=line,
    )
    base_summary = {
        "lot_id": res.lot_id,
        "instrument": res.instrument,
        "replicate": res.replicate,
        "file": res.file,
    }
    dil = row.get("dilution")
    sheet_dil = float(dil) if dil is not None and not pd.isna(dil) else None
    try:
        parsed = read_nta(resolve_path(res.file, base), res.file, res.instrument)
        if isinstance(parsed, ZetaProfile):
            res.kind = "profile"
            res.profile = parsed
            res.summary = {
                **base_summary,
                "kind": "zeta_profile",
                "status": "ok",
                "software": parsed.software,
                "zeta_mv": parsed.value,
                "temperature_c": parsed.temperature_c,
            }
            return res
        run = parsed
        stock_factor = run.stock_factor(
            sheet_dil, f"{sheet_label} line {line}", nta["dilution_tolerance"]
        )
    except NtaFormatError as exc:
        res.error = exc
        res.summary = {**base_summary, "kind": "", "status": "error", "error": str(exc)}
        return res
    return _measure_size(res, run, stock_factor, cfg, base_summary)


RUN_COLUMNS = [
    "lot_id", "instrument", "replicate", "file", "kind", "status", "error", "software",
    "encoding", "dilution", "dilution_source", "n_replicates", "conc_per_ml",
    "conc_sd_per_ml", "conc_cv_pct", "conc_se_per_ml", "mean_nm", "sd_nm", "mode_nm",
    "d10_nm", "d50_nm", "d90_nm", "span", "frac_in_window", "mode_sd_nm", "d50_sd_nm",
    "reported_mode_nm", "reported_d50_nm", "particles_per_frame_min",
    "particles_per_frame_max", "completed_tracks_min", "positions_retained",
    "position_rsd_pct", "temperature_c", "viscosity_cp", "camera_level",
    "detection_threshold", "zeta_mv", "run_qc", "run_qc_notes", "warnings",
    "traces", "d50_agreement", "mode_agreement",
]  # fmt: skip


def distributions_table(results: list[RunResult], max_nm: float) -> pd.DataFrame:
    """Long table of the stock size distributions of readable runs.

    Parameters
    ----------
    results
        Run results (runs with an error, or of lots that are not
        characterised, should already be left out).
    max_nm
        Largest bin centre written.

    Returns
    -------
    pandas.DataFrame
        ``lot_id``, ``instrument``, ``replicate``, ``size_nm``,
        ``bin_width_nm``, ``conc_per_ml`` (stock particles/mL in the bin),
        ``density_per_ml_per_nm`` and ``cum_fraction`` (of all bins).
    """
    frames = []
    for r in results:
        if r.run is None or r.stock_bins is None:
            continue
        c = r.run.centres
        y = r.stock_bins
        tot = y.sum()
        cum = np.cumsum(y) / tot if tot > 0 else np.full(len(y), np.nan)
        keep = c <= max_nm
        frames.append(
            pd.DataFrame(
                {
                    "lot_id": r.lot_id,
                    "instrument": r.instrument,
                    "replicate": r.replicate,
                    "size_nm": c[keep],
                    "bin_width_nm": r.run.width,
                    "conc_per_ml": _sig(y[keep]),
                    "density_per_ml_per_nm": _sig(y[keep] / r.run.width),
                    "cum_fraction": np.round(cum[keep], 6),
                }
            )
        )
    cols = [
        "lot_id",
        "instrument",
        "replicate",
        "size_nm",
        "bin_width_nm",
        "conc_per_ml",
        "density_per_ml_per_nm",
        "cum_fraction",
    ]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def _sig(x: np.ndarray, digits: int = 6) -> np.ndarray:
    return np.array([float(f"{v:.{digits}g}") for v in x])
