"""EV lot characterisation: run summaries, certificate, MISEV checklist, dose.

Entry point for the workflow: :func:`run_ev_qc`, which reads ``ev_lots.tsv``,
``ev_nta_runs.tsv`` and ``participants.tsv`` and writes under ``results/ev/``:

``nta_runs.tsv``
    One row per NTA run: dilution used, stock concentration with replicate
    statistics (videos or positions), size statistics (recomputed, and the
    instrument's own with ``d50_agreement``/``mode_agreement``), traced
    particles, run-quality gates (``run_qc`` pass/warn/fail; a ZetaView run
    under ``ev.nta.min_traces`` fails its lot); a run whose export could not
    be read has ``status = error`` and the message.
``nta_distributions.tsv``
    Number-weighted size distribution of every readable run of every
    characterised lot, as stock particles/mL per bin (long format).
``lot_summary.tsv``
    One row per lot: the verdict, the NTA results (mean over runs, with the
    between-run CV), protein, purity, zeta potential, safety results, MISEV
    completeness and the number of participants dosed.
``lot_qc.tsv``
    The lot certificate: one row per lot and criterion with the value, the
    limit, the status (``pass``, ``fail``, ``missing``, ``warn``, ``info`` or
    ``error``), whether it is required, and the reason; each lot ends with a
    ``verdict`` row.
``misev_checklist.tsv``
    MISEV2023 minimal-information items per lot: reported, partial or missing.
``dose_per_participant.tsv``
    Particles, protein and endotoxin delivered to each participant, with a flag
    for participants dosed from a lot that did not pass.
``size_distributions.png``, ``lot_metrics.png``
    See :mod:`exomir.ev.plots`.

Bad input (decided here, see also :func:`run_ev_qc`):

* An export that cannot be read (unknown instrument or software version,
  truncated or damaged table, missing or conflicting dilution) makes its lot
  **not characterised**: the certificate carries
  ``not characterised: <file>:<line>: <reason>``, nothing of that lot is
  written to ``nta_distributions.tsv`` or to the lot's NTA results (one bad
  export among several is a data-integrity problem to investigate, not a
  replicate to drop), and every other lot is processed normally.
* A lot referenced by a participant but absent from ``ev_lots.tsv``, or
  present with neither an NTA export nor a reported size or concentration, is
  reported as an error naming the lot; its participants are flagged and get
  no dose. (A lot with only the sheet's reported values is judged on them,
  with a ``warn`` row saying so.)
* Participants randomised after their lot's expiry date, and exports listed
  twice in the run sheet, are flagged / reported.
* Only sheets that cannot be read at all (schema errors) stop the step, with
  :class:`~exomir.errors.ValidationError` listing file, line and column.

Verdicts, in order of precedence: ``fail`` (a release criterion failed),
``not_characterised`` (an export could not be read, or no size/concentration
data), ``incomplete`` (a required result is missing), ``pass``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.config import load_schema, resolve_path
from exomir.ev import (
    NtaFormatError,
    NtaRun,
    agreement,
    decode_export,
    read_bytes,
    size_stats,
)
from exomir.ev.nanosight import looks_like_nanosight, read_nanosight
from exomir.ev.zetaview import (
    ZetaProfile,
    positions_path,
    read_profile,
    read_zetaview,
    sniff,
)
from exomir.tables import read_table, write_table

log = logging.getLogger("exomir.ev")

#: Output keys of :func:`run_ev_qc` and their default file names.
OUTPUT_NAMES = {
    "lot_qc": "lot_qc.tsv",
    "lot_summary": "lot_summary.tsv",
    "nta_runs": "nta_runs.tsv",
    "distributions": "nta_distributions.tsv",
    "misev": "misev_checklist.tsv",
    "dose": "dose_per_participant.tsv",
    "fig_sizes": "size_distributions.png",
    "fig_lots": "lot_metrics.png",
}

VERDICT_ORDER = ("fail", "not_characterised", "incomplete", "pass")


# ---------------------------------------------------------------------------
# Configuration


def _defaults_from_schema(schema: Mapping[str, Any]) -> Any:
    if "default" in schema and schema.get("type") != "object":
        return schema["default"]
    if schema.get("type") == "object":
        out = dict(schema.get("default", {}))
        for key, sub in schema.get("properties", {}).items():
            value = _defaults_from_schema(sub)
            if value is not None or "default" in sub:
                out.setdefault(key, value)
        return out
    return None


def ev_config(cfg: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the ``ev`` configuration with every default filled in.

    Defaults come from ``config.schema.yaml`` (the single source), so a test
    or a notebook can call the functions of this module without a full
    workflow configuration.

    Parameters
    ----------
    cfg
        The ``ev`` section of a configuration (possibly partial), or ``None``.

    Returns
    -------
    dict
        ``acceptance``, ``nta`` and ``dose`` sub-sections.
    """
    defaults = _defaults_from_schema(load_schema("config")["properties"]["ev"])
    out: dict[str, Any] = {k: dict(v) for k, v in defaults.items()}
    for section, values in (cfg or {}).items():
        if isinstance(values, Mapping):
            out.setdefault(section, {}).update(values)
        else:
            out[section] = values
    return out


# ---------------------------------------------------------------------------
# Runs


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
    acc = cfg["acceptance"]
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
        factor, dilution, source = run.stock_factor(
            sheet_dil, f"{sheet_label} line {line}", nta["dilution_tolerance"]
        )
    except NtaFormatError as exc:
        res.error = exc
        res.summary = {**base_summary, "kind": "", "status": "error", "error": str(exc)}
        return res
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


# ---------------------------------------------------------------------------
# Lots


def _num(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        f = float(value)
    except (TypeError, ValueError):
        return math.nan
    return f


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def marker_call(value: Any) -> str | None:
    """Read a marker cell as ``"pos"``, ``"neg"`` or ``None`` (not reported).

    Parameters
    ----------
    value
        Cell value, e.g. ``pos``, ``Negative``, ``+``, ``pos (92%)``,
        ``not detected``.

    Returns
    -------
    str or None
        The call.
    """
    t = _text(value).lower()
    if not t:
        return None
    if t.startswith(("not detected", "nd", "neg", "-")):
        return "neg"
    if t.startswith(("pos", "+", "detected")):
        return "pos"
    return None


def _words(value: Any) -> str:
    return " ".join(_text(value).lower().replace("_", " ").split())


def _mean_over(results: list[RunResult], key: str) -> float:
    vals = [_num(r.summary.get(key)) for r in results]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def _settings(runs: list[RunResult], key: str) -> str:
    """Instrument setting per instrument, e.g. ``NanoSight 15; ZetaView 80``."""
    parts = []
    for inst in sorted({r.instrument for r in runs}):
        vals = set()
        for r in runs:
            if r.instrument != inst:
                continue
            for v in str(r.summary.get(key) or "").split(";"):
                f = _num(v)
                if v:
                    vals.add(f"{f:g}" if np.isfinite(f) else v)
        if vals:
            parts.append(f"{inst} {'/'.join(sorted(vals))}")
    return "; ".join(parts)


def summarise_lots(
    lots: pd.DataFrame,
    results: list[RunResult],
    cfg: Mapping[str, Any],
) -> pd.DataFrame:
    """One row per lot: NTA results from the runs plus the sheet's values.

    NTA results are the mean over the lot's readable size runs (or over the
    runs of ``ev.nta.primary_instrument`` when the lot has some); a lot with
    an unreadable export gets no NTA results and ``nta_error`` is set. A lot
    without any export falls back to the sheet's reported values
    (``nta_source = ev_lots.tsv``).

    Parameters
    ----------
    lots
        ``ev_lots.tsv`` as read by :func:`exomir.tables.read_table`.
    results
        Run results of every row of ``ev_nta_runs.tsv``.
    cfg
        The ``ev`` configuration.

    Returns
    -------
    pandas.DataFrame
        One row per lot, in sheet order.
    """
    primary = cfg["nta"]["primary_instrument"]
    rows = []
    for rec in lots.to_dict("records"):
        lot = str(rec["lot_id"])
        mine = [r for r in results if r.lot_id == lot]
        errors = [r for r in mine if r.error is not None]
        size_runs = [r for r in mine if r.kind == "size" and r.error is None]
        profiles = [r for r in mine if r.kind == "profile" and r.error is None]
        if primary != "any" and any(r.instrument == primary for r in size_runs):
            used = [r for r in size_runs if r.instrument == primary]
        else:
            used = size_runs
        label = _num(rec.get("particle_conc_per_ml"))
        if not np.isfinite(label):
            label = _num(rec.get("particles_per_ml"))
        out: dict[str, Any] = {"lot_id": lot}
        if errors:
            out["nta_source"] = ""
            out["nta_error"] = " | ".join(
                f"not characterised: {r.error}" for r in errors
            )
            used = []
        elif used:
            out["nta_source"] = "NTA exports"
            out["nta_error"] = ""
        elif any(
            np.isfinite(_num(rec.get(k))) for k in ("mode_nm", "d50_nm")
        ) or np.isfinite(label):
            out["nta_source"] = "ev_lots.tsv"
            out["nta_error"] = ""
        else:
            out["nta_source"] = ""
            out["nta_error"] = (
                "not characterised: no NTA export in ev_nta_runs.tsv and no size or concentration in ev_lots.tsv"
            )
        out["n_runs"] = len(used)
        out["instruments"] = ";".join(sorted({r.instrument for r in used}))
        if used:
            concs = np.array([_num(r.summary["conc_per_ml"]) for r in used])
            out["conc_per_ml"] = float(concs.mean())
            out["conc_between_run_cv_pct"] = (
                float(concs.std(ddof=1) / concs.mean() * 100)
                if len(concs) > 1
                else math.nan
            )
            for key in (
                "mean_nm",
                "sd_nm",
                "mode_nm",
                "d10_nm",
                "d50_nm",
                "d90_nm",
                "span",
                "frac_in_window",
            ):
                out[key] = _mean_over(used, key)
            qcs = {r.summary.get("run_qc") for r in used}
            out["run_qc"] = (
                "fail" if "fail" in qcs else "warn" if "warn" in qcs else "pass"
            )
            out["run_qc_notes"] = "; ".join(
                f"{r.instrument} r{r.replicate or 1}: {r.summary['run_qc_notes']}"
                for r in used
                if r.summary.get("run_qc_notes")
            )
            out["camera_level"] = _settings(used, "camera_level")
            out["detection_threshold"] = _settings(used, "detection_threshold")
        elif out["nta_source"] == "ev_lots.tsv":
            out["conc_per_ml"] = label
            out["conc_between_run_cv_pct"] = math.nan
            for key in (
                "mean_nm",
                "sd_nm",
                "mode_nm",
                "d10_nm",
                "d50_nm",
                "d90_nm",
                "span",
            ):
                out[key] = _num(rec.get(key))
            out["frac_in_window"] = math.nan
            out["run_qc"] = ""
            out["run_qc_notes"] = ""
            out["camera_level"] = _text(rec.get("camera_level"))
            out["detection_threshold"] = _text(rec.get("detection_threshold"))
        else:
            for key in (
                "conc_per_ml",
                "conc_between_run_cv_pct",
                "mean_nm",
                "sd_nm",
                "mode_nm",
                "d10_nm",
                "d50_nm",
                "d90_nm",
                "span",
                "frac_in_window",
            ):
                out[key] = math.nan
            out["run_qc"] = ""
            out["run_qc_notes"] = ""
            out["camera_level"] = ""
            out["detection_threshold"] = ""
        out["conc_label_per_ml"] = label
        out["conc_ratio_to_label"] = (
            out["conc_per_ml"] / label if np.isfinite(label) and label > 0 else math.nan
        )
        protein = _num(rec.get("protein_ug_per_ml"))
        out["protein_ug_per_ml"] = protein
        if (
            np.isfinite(out["conc_per_ml"])
            and np.isfinite(protein)
            and protein > 0
            and out["nta_source"] == "NTA exports"
        ):
            out["particles_per_ug"] = out["conc_per_ml"] / protein
            out["particles_per_ug_source"] = "NTA / protein"
        else:
            out["particles_per_ug"] = _num(rec.get("particles_per_ug"))
            if (
                not np.isfinite(out["particles_per_ug"])
                and np.isfinite(out["conc_per_ml"])
                and protein > 0
            ):
                out["particles_per_ug"] = out["conc_per_ml"] / protein
            out["particles_per_ug_source"] = (
                "ev_lots.tsv" if np.isfinite(out["particles_per_ug"]) else ""
            )
        if profiles:
            vals = [
                p.profile.value
                for p in profiles
                if p.profile is not None and p.profile.value is not None
            ]
            out["zeta_mv"] = float(np.mean(vals)) if vals else math.nan
            out["zeta_source"] = "ZetaView profile"
        else:
            z = _num(rec.get("zeta_mv"))
            if not np.isfinite(z):
                z = _num(rec.get("zeta_potential_mv"))
            out["zeta_mv"] = z
            out["zeta_source"] = "ev_lots.tsv" if np.isfinite(z) else ""
        out["endotoxin_eu_per_ml"] = _num(rec.get("endotoxin_eu_per_ml"))
        out["sterility"] = _text(rec.get("sterility"))
        out["mycoplasma"] = _text(rec.get("mycoplasma"))
        out["release_decision"] = _text(rec.get("release_decision"))
        out["storage"] = _text(rec.get("storage"))
        out["expiry_date"] = _text(rec.get("expiry_date"))
        rows.append(out)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Certificate


def _crit(
    lot: str,
    criterion: str,
    category: str,
    method: str,
    value: Any,
    unit: str,
    limit: str,
    status: str,
    reason: str,
    required: bool = True,
) -> dict[str, Any]:
    if isinstance(value, float):
        value = "" if math.isnan(value) else float(f"{value:.6g}")
    return {
        "lot_id": lot,
        "criterion": criterion,
        "category": category,
        "method": method,
        "value": value,
        "unit": unit,
        "limit": limit,
        "status": status,
        "required": required,
        "reason": reason,
    }


def _result_crit(
    lot: str, criterion: str, method: str, raw: Any, passing: Sequence[str]
) -> dict[str, Any]:
    """Judge a pass/fail criterion on a text result (e.g. sterility)."""
    words = _words(raw)
    allowed = {_words(w) for w in passing}
    if not words:
        status, reason = "missing", "no result"
    elif words in allowed:
        status, reason = "pass", ""
    else:
        status, reason = "fail", f"'{_text(raw)}' is not a passing result"
    return _crit(
        lot,
        criterion,
        criterion,
        method,
        _text(raw),
        "",
        " or ".join(passing),
        status,
        reason,
    )


def _numeric(
    lot: str,
    criterion: str,
    category: str,
    method: str,
    value: float,
    unit: str,
    op: str,
    limit: float,
    missing_reason: str = "",
) -> dict[str, Any]:
    text = f"{op} {limit:g}"
    if not np.isfinite(value):
        return _crit(
            lot,
            criterion,
            category,
            method,
            value,
            unit,
            text,
            "missing",
            missing_reason or "no value",
        )
    ok = {
        "<": value < limit,
        "<=": value <= limit,
        ">": value > limit,
        ">=": value >= limit,
    }[op]
    reason = "" if ok else f"{value:.4g} is not {op} {limit:g}"
    return _crit(
        lot,
        criterion,
        category,
        method,
        value,
        unit,
        text,
        "pass" if ok else "fail",
        reason,
    )


def certify_lots(
    summary: pd.DataFrame, lots: pd.DataFrame, cfg: Mapping[str, Any]
) -> pd.DataFrame:
    """Judge every lot against the release criteria (the lot certificate).

    Parameters
    ----------
    summary
        From :func:`summarise_lots`.
    lots
        ``ev_lots.tsv``.
    cfg
        The ``ev`` configuration.

    Returns
    -------
    pandas.DataFrame
        ``lot_id``, ``criterion``, ``category``, ``method``, ``value``,
        ``unit``, ``limit``, ``status``, ``required``, ``reason``; the last row
        of each lot is the criterion ``verdict``.
    """
    acc = cfg["acceptance"]
    nta_cfg = cfg["nta"]
    sheet = {str(r["lot_id"]): r for r in lots.to_dict("records")}
    lo, hi = acc["size_window_nm"]
    frac_name = f"frac_{lo:g}_{hi:g}nm"
    rows: list[dict[str, Any]] = []
    for s in summary.to_dict("records"):
        lot = s["lot_id"]
        rec = sheet.get(lot, {})
        crit: list[dict[str, Any]] = []
        nta_err = s.get("nta_error") or ""
        nta_method = (
            f"NTA ({s['instruments']}, {s['n_runs']} run{'s' if s['n_runs'] != 1 else ''})"
            if s.get("nta_source") == "NTA exports"
            else "ev_lots.tsv (reported; no NTA export)"
        )
        if nta_err:
            crit.append(
                _crit(
                    lot,
                    "nta_characterisation",
                    "characterisation",
                    "NTA exports",
                    "",
                    "",
                    "readable export",
                    "error",
                    nta_err,
                )
            )
            for name, cat, unit in (
                ("mode_nm", "size", "nm"),
                (frac_name, "size", "fraction"),
                ("particles_per_ug", "purity", "particles/ug"),
            ):
                crit.append(
                    _crit(
                        lot,
                        name,
                        cat,
                        "NTA",
                        "",
                        unit,
                        "",
                        "error",
                        "not characterised (see nta_characterisation)",
                    )
                )
        else:
            if s.get("nta_source") == "ev_lots.tsv":
                crit.append(
                    _crit(
                        lot,
                        "nta_characterisation",
                        "characterisation",
                        "ev_lots.tsv",
                        "",
                        "",
                        "readable export",
                        "warn",
                        "no NTA export listed in ev_nta_runs.tsv; size and concentration are the sheet's reported values",
                        required=False,
                    )
                )
            crit.append(
                _numeric(
                    lot,
                    "mode_nm",
                    "size",
                    nta_method,
                    s["mode_nm"],
                    "nm",
                    "<",
                    acc["max_mode_nm"],
                )
            )
            crit.append(
                _numeric(
                    lot,
                    frac_name,
                    "size",
                    nta_method,
                    s["frac_in_window"],
                    "fraction",
                    ">=",
                    acc["min_fraction_in_window"],
                    "the share in the size window needs an NTA export",
                )
            )
            crit.append(
                _numeric(
                    lot,
                    "particles_per_ug",
                    "purity",
                    f"{s.get('particles_per_ug_source') or 'NTA / protein'}",
                    s["particles_per_ug"],
                    "particles/ug",
                    ">=",
                    acc["min_particles_per_ug"],
                )
            )
            tol = acc.get("label_tolerance")
            if tol is not None and s.get("nta_source") == "NTA exports":
                ratio = s["conc_ratio_to_label"]
                text = f"within ±{tol * 100:g}% of particle_conc_per_ml"
                if np.isfinite(ratio):
                    ok = abs(ratio - 1) <= tol + 1e-12
                    crit.append(
                        _crit(
                            lot,
                            "conc_vs_label",
                            "particle dose",
                            nta_method,
                            ratio,
                            "ratio",
                            text,
                            "pass" if ok else "fail",
                            ""
                            if ok
                            else f"NTA {s['conc_per_ml']:.3g}/mL is {100 * (ratio - 1):+.0f}% from the label {s['conc_label_per_ml']:.3g}/mL",
                            required=True,
                        )
                    )
                else:
                    crit.append(
                        _crit(
                            lot,
                            "conc_vs_label",
                            "particle dose",
                            nta_method,
                            "",
                            "ratio",
                            text,
                            "info",
                            "no labelled particle_conc_per_ml",
                            required=False,
                        )
                    )
            if s.get("run_qc") in ("warn", "fail"):
                hard = s.get("run_qc") == "fail"
                status = "fail" if hard or nta_cfg["run_qc"] == "fail" else "warn"
                crit.append(
                    _crit(
                        lot,
                        "nta_run_quality",
                        "characterisation",
                        nta_method,
                        "",
                        "",
                        "run-quality gates (config ev.nta)",
                        status,
                        s["run_qc_notes"],
                        required=hard or nta_cfg["run_qc"] == "fail",
                    )
                )
        # Safety.
        crit.append(
            _result_crit(
                lot,
                "sterility",
                "compendial sterility (USP<71> / Ph. Eur. 2.6.1)",
                rec.get("sterility"),
                acc["sterility_pass"],
            )
        )
        crit.append(
            _numeric(
                lot,
                "endotoxin_eu_per_ml",
                "endotoxin",
                "LAL",
                _num(rec.get("endotoxin_eu_per_ml")),
                "EU/mL",
                "<",
                acc["max_endotoxin_eu_per_ml"],
            )
        )
        crit.append(
            _result_crit(
                lot, "mycoplasma", "qPCR", rec.get("mycoplasma"), acc["mycoplasma_pass"]
            )
        )
        # Identity and purity markers.
        for marker, want in [(m, "pos") for m in acc["positive_markers"]] + [
            (m, "neg") for m in acc["negative_markers"]
        ]:
            call = marker_call(rec.get(marker))
            raw = _text(rec.get(marker))
            if call is None:
                status, reason = (
                    "missing",
                    ("no result" if not raw else f"'{raw}' is neither pos nor neg"),
                )
            else:
                status = "pass" if call == want else "fail"
                reason = "" if call == want else f"{marker} is {call}, expected {want}"
            crit.append(
                _crit(
                    lot,
                    f"marker_{marker}",
                    "identity",
                    "WB / flow / ExoView",
                    raw,
                    "",
                    "positive" if want == "pos" else "negative",
                    status,
                    reason,
                )
            )
        # Morphology and residuals.
        tem = rec.get("tem_ok")
        if acc["require_tem"] or tem is not None:
            required = bool(acc["require_tem"])
            if tem is None:
                crit.append(
                    _crit(
                        lot,
                        "tem_ok",
                        "morphology",
                        "TEM / cryo-EM",
                        "",
                        "",
                        "true",
                        "missing",
                        "no result",
                        required,
                    )
                )
            else:
                crit.append(
                    _crit(
                        lot,
                        "tem_ok",
                        "morphology",
                        "TEM / cryo-EM",
                        bool(tem),
                        "",
                        "true",
                        "pass" if tem else ("fail" if required else "warn"),
                        "" if tem else "vesicle morphology not confirmed",
                        required,
                    )
                )
        bsa = _num(rec.get("bsa_ng_per_ml"))
        if acc.get("max_bsa_ng_per_ml") is not None:
            crit.append(
                _numeric(
                    lot,
                    "bsa_ng_per_ml",
                    "residuals",
                    "ELISA",
                    bsa,
                    "ng/mL",
                    "<=",
                    acc["max_bsa_ng_per_ml"],
                )
            )
        elif np.isfinite(bsa):
            crit.append(
                _crit(
                    lot,
                    "bsa_ng_per_ml",
                    "residuals",
                    "ELISA",
                    bsa,
                    "ng/mL",
                    "reported only",
                    "info",
                    "",
                    required=False,
                )
            )
        zr = acc.get("zeta_mv_range")
        z = _num(s.get("zeta_mv"))
        zmethod = s.get("zeta_source") or "ZetaView profile"
        if zr is not None:
            zlo, zhi = sorted(zr)
            if not np.isfinite(z):
                status, reason = "missing", "no value"
            elif zlo <= z <= zhi:
                status, reason = "pass", ""
            else:
                status, reason = "fail", f"{z:g} mV is outside {zlo:g} to {zhi:g}"
            crit.append(
                _crit(
                    lot,
                    "zeta_mv",
                    "surface charge",
                    zmethod,
                    z,
                    "mV",
                    f"{zlo:g} to {zhi:g}",
                    status,
                    reason,
                )
            )
        elif np.isfinite(z):
            crit.append(
                _crit(
                    lot,
                    "zeta_mv",
                    "surface charge",
                    zmethod,
                    z,
                    "mV",
                    "reported only",
                    "info",
                    "",
                    required=False,
                )
            )
        verdict, reason = _verdict(crit)
        decision = _words(rec.get("release_decision"))
        if decision:
            released = decision.startswith("releas") or decision in (
                "pass",
                "accepted",
                "approved",
            )
            consistent = released == (verdict == "pass")
            crit.append(
                _crit(
                    lot,
                    "release_decision",
                    "consistency",
                    "ev_lots.tsv",
                    _text(rec.get("release_decision")),
                    "",
                    f"agrees with the verdict ({verdict})",
                    "info" if consistent else "warn",
                    ""
                    if consistent
                    else f"the manufacturer's decision '{_text(rec.get('release_decision'))}' differs from this certificate's verdict '{verdict}'",
                    required=False,
                )
            )
        crit.append(
            _crit(
                lot,
                "verdict",
                "verdict",
                "all required criteria",
                verdict,
                "",
                "pass",
                verdict,
                reason,
            )
        )
        rows.extend(crit)
    cols = [
        "lot_id",
        "criterion",
        "category",
        "method",
        "value",
        "unit",
        "limit",
        "status",
        "required",
        "reason",
    ]
    return pd.DataFrame(rows, columns=cols)


def _verdict(crit: list[dict[str, Any]]) -> tuple[str, str]:
    req = [c for c in crit if c["required"]]
    failed = [c for c in req if c["status"] == "fail"]
    errors = [
        c
        for c in crit
        if c["status"] == "error" and c["criterion"] == "nta_characterisation"
    ]
    missing = [c for c in req if c["status"] == "missing"]
    if failed:
        return "fail", "failed: " + "; ".join(
            f"{c['criterion']} ({c['reason']})" for c in failed
        )
    if errors:
        return "not_characterised", errors[0]["reason"]
    if missing:
        return "incomplete", "missing: " + ", ".join(c["criterion"] for c in missing)
    return "pass", ""


# ---------------------------------------------------------------------------
# MISEV checklist

#: (item, level, requirement, lot-table columns) of the MISEV2023 checklist.
MISEV_ITEMS: list[tuple[str, str, str, list[str]]] = [
    ("source_quantity", "mandatory", "conditioned-medium volume or producer cell number", ["cm_volume_ml", "producer_cells_n"]),
    ("source_description", "recommended", "donor and passage of the producer cells", ["donor_id", "passage"]),
    ("isolation_method", "mandatory", "separation / concentration method", ["isolation_method"]),
    ("storage", "recommended", "storage temperature and buffer", ["storage"]),
    ("particle_number", "mandatory", "particle concentration with instrument settings (NTA)", ["conc_per_ml", "camera_level", "detection_threshold"]),
    ("size_distribution", "mandatory", "mode, mean, SD and D10/D50/D90", ["mode_nm", "mean_nm", "sd_nm", "d10_nm", "d50_nm", "d90_nm"]),
    ("protein", "mandatory", "total protein (micro-BCA / BCA)", ["protein_ug_per_ml"]),
    ("purity_ratio", "mandatory", "particles per microgram protein", ["particles_per_ug"]),
    ("transmembrane_marker", "mandatory", ">= 1 transmembrane/GPI EV marker positive", ["cd9", "cd63", "cd81"]),
    ("cytosolic_marker", "mandatory", ">= 1 cytosolic EV marker positive", ["tsg101", "alix", "syntenin"]),
    ("non_ev_marker", "mandatory", ">= 1 non-EV / contaminant marker assessed", ["calnexin", "gm130", "apoa1", "albumin"]),
    ("single_ev_imaging", "mandatory", "single-vesicle imaging (TEM / cryo-EM)", ["tem_ok", "tem_image"]),
    ("msc_origin", "recommended", "MSC markers on EVs and haematopoietic marker absent", ["cd73", "cd90", "cd105", "cd44", "cd45"]),
    ("surface_charge", "optional", "zeta potential", ["zeta_mv"]),
    ("cargo", "optional", "cargo identity (miR-126-3p, VEGF-A)", ["mir126_copies_per_1e9", "vegfa_pg_per_1e9"]),
    ("potency", "recommended", "functional assay against a reference lot", ["potency_pct_of_ref"]),
    ("safety", "mandatory", "sterility, endotoxin and mycoplasma", ["sterility", "endotoxin_eu_per_ml", "mycoplasma"]),
]  # fmt: skip


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float):
        return not math.isnan(value)
    return str(value).strip() != ""


def misev_checklist(lots: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """MISEV2023 minimal-information completeness checklist per lot.

    NTA-derived items use the pipeline's results (``lot_summary``) and fall
    back to the sheet.

    Parameters
    ----------
    lots
        ``ev_lots.tsv``.
    summary
        From :func:`summarise_lots`.

    Returns
    -------
    pandas.DataFrame
        ``lot_id``, ``item``, ``level`` (mandatory, recommended, optional),
        ``requirement``, ``status`` (reported, partial, missing), ``columns``
        and ``detail`` (the columns that are empty).
    """
    summ = {str(r["lot_id"]): r for r in summary.to_dict("records")}
    rows = []
    for rec in lots.to_dict("records"):
        lot = str(rec["lot_id"])
        s = summ.get(lot, {})
        merged = {**rec, **{k: v for k, v in s.items() if _present(v)}}
        for item, level, requirement, cols in MISEV_ITEMS:
            have = [c for c in cols if _present(merged.get(c))]
            lacking = [c for c in cols if c not in have]
            if item in ("transmembrane_marker", "cytosolic_marker"):
                pos = [c for c in cols if marker_call(merged.get(c)) == "pos"]
                status = "reported" if pos else ("partial" if have else "missing")
                detail = (
                    f"positive: {', '.join(pos)}"
                    if pos
                    else ("none positive" if have else "no result")
                )
            elif item in (
                "source_quantity",
                "non_ev_marker",
                "single_ev_imaging",
                "cargo",
            ):
                status = "reported" if have else "missing"
                detail = "" if have else "no result"
            elif item == "msc_origin":
                status = (
                    "reported"
                    if len(have) == len(cols)
                    else ("partial" if have else "missing")
                )
                detail = f"empty: {', '.join(lacking)}" if lacking else ""
            else:
                status = (
                    "reported" if not lacking else ("partial" if have else "missing")
                )
                detail = f"empty: {', '.join(lacking)}" if lacking else ""
            rows.append(
                {
                    "lot_id": lot,
                    "item": item,
                    "level": level,
                    "requirement": requirement,
                    "status": status,
                    "columns": ", ".join(cols),
                    "detail": detail,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "lot_id",
            "item",
            "level",
            "requirement",
            "status",
            "columns",
            "detail",
        ],
    )


# ---------------------------------------------------------------------------
# Dose


def dose_per_participant(
    participants: pd.DataFrame,
    summary: pd.DataFrame,
    lots: pd.DataFrame,
    cfg: Mapping[str, Any],
) -> tuple[pd.DataFrame, list[str]]:
    """Particles, protein and endotoxin delivered to each participant.

    The volume of stock product given is ``ev.dose.product_volume_ml`` when
    set, else ``dose_particles / particle_conc_per_ml`` (the labelled dose
    divided by the labelled concentration), else ``dose_particles /`` the NTA
    concentration. The delivered dose multiplies that volume by the lot's NTA
    concentration, protein and endotoxin. Participants without a lot keep their
    sheet ``dose_particles`` (0 for placebo) and zero protein.

    Parameters
    ----------
    participants
        ``participants.tsv``.
    summary
        From :func:`summarise_lots`, with a ``verdict`` and ``verdict_reason``
        column added.
    lots
        ``ev_lots.tsv``.
    cfg
        The ``ev`` configuration.

    Returns
    -------
    dose : pandas.DataFrame
        One row per participant (sheet order).
    errors : list[str]
        Lots referenced by participants but not characterised.
    """
    summ = {str(r["lot_id"]): r for r in summary.to_dict("records")}
    sheet = {str(r["lot_id"]): r for r in lots.to_dict("records")}
    fixed = cfg["dose"].get("product_volume_ml")
    tol = cfg["acceptance"].get("label_tolerance")
    rows = []
    missing_lots: dict[str, list[str]] = {}
    for p in participants.to_dict("records"):
        pid = str(p["participant_id"])
        lot = _text(p.get("ev_lot_id"))
        labelled = _num(p.get("dose_particles"))
        out: dict[str, Any] = {
            "participant_id": pid,
            "arm": p.get("arm"),
            "route": p.get("route"),
            "ev_lot_id": lot,
            "lot_verdict": "",
            "lot_release_ok": None,
            "dose_particles_labelled": labelled,
            "stock_volume_ml": math.nan,
            "stock_volume_source": "",
            "dose_particles": math.nan,
            "dose_1e9_particles": math.nan,
            "dose_log10_particles": math.nan,
            "dose_protein_ug": math.nan,
            "dose_endotoxin_eu": math.nan,
            "dose_ratio_to_label": math.nan,
            "flag": False,
            "flag_reason": "",
        }
        if not lot:
            if np.isfinite(labelled):
                out["dose_particles"] = labelled
                if labelled == 0:
                    out["dose_protein_ug"] = 0.0
                    out["dose_endotoxin_eu"] = 0.0
        elif lot not in summ:
            missing_lots.setdefault(lot, []).append(pid)
            out["flag"] = True
            out["flag_reason"] = f"lot {lot} is not in ev_lots.tsv (not characterised)"
        else:
            s = summ[lot]
            rec = sheet[lot]
            out["lot_verdict"] = s["verdict"]
            out["lot_release_ok"] = s["verdict"] == "pass"
            conc = _num(s.get("conc_per_ml"))
            label = _num(s.get("conc_label_per_ml"))
            if fixed is not None:
                vol, src = float(fixed), "config ev.dose.product_volume_ml"
            elif np.isfinite(labelled) and np.isfinite(label) and label > 0:
                vol, src = labelled / label, "dose_particles / labelled concentration"
            elif np.isfinite(labelled) and np.isfinite(conc) and conc > 0:
                vol, src = labelled / conc, "dose_particles / NTA concentration"
            else:
                vol, src = math.nan, ""
            out["stock_volume_ml"] = vol
            out["stock_volume_source"] = src
            dose = conc * vol
            out["dose_particles"] = dose
            out["dose_protein_ug"] = _num(rec.get("protein_ug_per_ml")) * vol
            out["dose_endotoxin_eu"] = _num(rec.get("endotoxin_eu_per_ml")) * vol
            if np.isfinite(labelled) and labelled > 0:
                out["dose_ratio_to_label"] = dose / labelled
            reasons = []
            randomised = _text(p.get("randomization_date"))
            expiry = _text(rec.get("expiry_date"))
            if randomised and expiry and randomised > expiry:
                reasons.append(
                    f"randomised on {randomised}, after lot {lot} expired ({expiry})"
                )
            if s["verdict"] != "pass":
                reasons.append(
                    f"dosed from lot {lot} whose certificate verdict is {s['verdict']}"
                    + (f" ({s['verdict_reason']})" if s.get("verdict_reason") else "")
                )
            if not np.isfinite(dose):
                reasons.append(
                    "dose cannot be computed (no NTA concentration or no volume)"
                )
            elif (
                tol is not None
                and np.isfinite(out["dose_ratio_to_label"])
                and abs(out["dose_ratio_to_label"] - 1) > tol
            ):
                reasons.append(
                    f"delivered dose is {100 * (out['dose_ratio_to_label'] - 1):+.0f}% from the labelled dose"
                )
            out["flag"] = bool(reasons)
            out["flag_reason"] = "; ".join(reasons)
        d = out["dose_particles"]
        if np.isfinite(d):
            out["dose_1e9_particles"] = d / 1e9
            out["dose_log10_particles"] = math.log10(d) if d > 0 else math.nan
        rows.append(out)
    errors = [
        f"participants.tsv: lot {lot} is referenced by {', '.join(pids)} but is not in ev_lots.tsv (not characterised)"
        for lot, pids in sorted(missing_lots.items())
    ]
    for lot, s in summ.items():
        users = [r["participant_id"] for r in rows if r["ev_lot_id"] == lot]
        if users and s["verdict"] == "not_characterised":
            errors.append(
                f"lot {lot}, given to {', '.join(users)}, is {s['verdict_reason']}"
            )
    return pd.DataFrame(rows, columns=DOSE_COLUMNS), errors


DOSE_COLUMNS = [
    "participant_id", "arm", "route", "ev_lot_id", "lot_verdict", "lot_release_ok",
    "dose_particles_labelled", "stock_volume_ml", "stock_volume_source",
    "dose_particles", "dose_1e9_particles", "dose_log10_particles", "dose_protein_ug",
    "dose_endotoxin_eu", "dose_ratio_to_label", "flag", "flag_reason",
]  # fmt: skip


# ---------------------------------------------------------------------------
# AnnData


def _uns_safe(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index.astype(str))
    for col in df.columns:
        s = df[col]
        num = pd.to_numeric(s, errors="coerce")
        if s.isna().all() or num.notna().sum() == s.notna().sum():
            out[col] = num.astype(float).to_numpy()
        else:
            out[col] = (
                s.map(
                    lambda v: (
                        ""
                        if v is None or (isinstance(v, float) and math.isnan(v))
                        else str(v)
                    )
                )
                .astype(str)
                .to_numpy()
            )
    return out


def add_lots_to_anndata(
    adata: Any,
    lot_summary_df: pd.DataFrame,
    dose_df: pd.DataFrame | None = None,
    key: str = "ev_lots",
) -> Any:
    """Store the lot table in ``adata.uns`` (and the dose in ``obs``).

    The table is indexed by ``lot_id``; numeric columns are float and the rest
    text ('' for missing), so that the object writes to ``.h5ad``.

    Parameters
    ----------
    adata
        An :class:`anndata.AnnData` (observations = libraries).
    lot_summary_df
        ``results/ev/lot_summary.tsv`` as a DataFrame.
    dose_df
        ``results/ev/dose_per_participant.tsv``; when given and ``adata.obs``
        has ``participant_id``, the columns ``ev_lot_id``, ``ev_dose_particles``,
        ``ev_dose_protein_ug`` and ``ev_lot_release_ok`` (text ``true``/
        ``false``/'') are added to ``obs``.
    key
        Key in ``uns``.

    Returns
    -------
    anndata.AnnData
        The same object, modified in place.
    """
    df = lot_summary_df.copy()
    if "lot_id" in df.columns:
        df = df.set_index("lot_id", drop=True)
    df.index = df.index.astype(str)
    df.index.name = "lot_id"
    adata.uns[key] = _uns_safe(df)
    if dose_df is not None and "participant_id" in adata.obs.columns:
        d = dose_df.set_index(dose_df["participant_id"].astype(str))
        pid = adata.obs["participant_id"].astype(str)
        adata.obs["ev_lot_id"] = (
            pid.map(d["ev_lot_id"].fillna("").astype(str)).fillna("").to_numpy()
        )
        adata.obs["ev_dose_particles"] = (
            pid.map(pd.to_numeric(d["dose_particles"], errors="coerce"))
            .astype(float)
            .to_numpy()
        )
        adata.obs["ev_dose_protein_ug"] = (
            pid.map(pd.to_numeric(d["dose_protein_ug"], errors="coerce"))
            .astype(float)
            .to_numpy()
        )
        ok = d["lot_release_ok"].map(
            lambda v: (
                ""
                if v is None or (isinstance(v, float) and math.isnan(v))
                else ("true" if bool(v) else "false")
            )
        )
        adata.obs["ev_lot_release_ok"] = pid.map(ok).fillna("").to_numpy()
    return adata


# ---------------------------------------------------------------------------
# Entry point


@dataclass
class EvQcResult:
    """Everything :func:`run_ev_qc` computed.

    Attributes
    ----------
    runs, distributions, lot_summary, lot_qc, misev, dose
        The output tables.
    errors
        Problems that made a lot not characterised or a participant's dose
        unknown (also in the tables and the log).
    """

    runs: pd.DataFrame
    distributions: pd.DataFrame
    lot_summary: pd.DataFrame
    lot_qc: pd.DataFrame
    misev: pd.DataFrame
    dose: pd.DataFrame
    errors: list[str]


def evaluate(
    lots: pd.DataFrame,
    runs: pd.DataFrame,
    participants: pd.DataFrame | None,
    base: str | os.PathLike[str],
    cfg: Mapping[str, Any] | None = None,
    runs_label: str = "ev_nta_runs.tsv",
) -> EvQcResult:
    """Compute every EV table from already-read sheets (no files written).

    Parameters
    ----------
    lots, runs, participants
        The sheets as read by :func:`exomir.tables.read_table`
        (``participants`` may be ``None``).
    base
        Scenario directory (NTA paths are relative to it).
    cfg
        The ``ev`` configuration (defaults filled in by :func:`ev_config`).
    runs_label
        Name of the run sheet for messages.

    Returns
    -------
    EvQcResult
        The tables and the list of errors.
    """
    cfg = ev_config(cfg)
    errors: list[str] = []
    known = set(lots["lot_id"].astype(str))
    results = []
    seen: dict[str, int] = {}
    for row in runs.to_dict("records"):
        line = int(row.get("_line") or 0)
        if str(row["file"]) in seen:
            errors.append(
                f"{runs_label}:{line}: export {row['file']} is already listed on line "
                f"{seen[str(row['file'])]}; the same measurement would count twice"
            )
        seen.setdefault(str(row["file"]), line)
        if str(row["lot_id"]) not in known:
            msg = f"{runs_label}:{row.get('_line')}: lot {row['lot_id']} is not in ev_lots.tsv; run ignored"
            errors.append(msg)
            continue
        r = measure_run(row, base, cfg, runs_label)
        if r.error is not None:
            errors.append(f"lot {r.lot_id} not characterised: {r.error}")
        results.append(r)
    runs_df = pd.DataFrame([r.summary for r in results], columns=RUN_COLUMNS)
    summary = summarise_lots(lots, results, cfg)
    cert = certify_lots(summary, lots, cfg)
    verdicts = cert[cert["criterion"] == "verdict"].set_index("lot_id")
    summary.insert(1, "verdict", summary["lot_id"].map(verdicts["status"]))
    summary.insert(2, "verdict_reason", summary["lot_id"].map(verdicts["reason"]))
    misev = misev_checklist(lots, summary)
    mand = misev[misev["level"] == "mandatory"].groupby("lot_id")["status"]
    summary["misev_mandatory_reported"] = summary["lot_id"].map(
        mand.apply(lambda s: f"{(s == 'reported').sum()}/{len(s)}")
    )
    summary["misev_complete"] = summary["lot_id"].map(
        mand.apply(lambda s: bool((s == "reported").all()))
    )
    # Any unreadable export withholds all of its lot's distributions.
    bad = {r.lot_id for r in results if r.error is not None}
    dist = distributions_table(
        [r for r in results if r.lot_id not in bad], cfg["nta"]["distribution_max_nm"]
    )
    if participants is not None:
        dose, dose_errors = dose_per_participant(participants, summary, lots, cfg)
        errors += dose_errors
        counts = dose[dose["ev_lot_id"] != ""].groupby("ev_lot_id").size()
        summary["participants_dosed"] = (
            summary["lot_id"].map(counts).fillna(0).astype(int)
        )
    else:
        dose = pd.DataFrame(columns=DOSE_COLUMNS)
        summary["participants_dosed"] = 0
    rounded = summary.copy()
    for col in rounded.columns:
        if rounded[col].dtype.kind == "f":
            rounded[col] = rounded[col].map(
                lambda v: v if not np.isfinite(v) else float(f"{v:.6g}")
            )
    return EvQcResult(
        runs=_round_frame(runs_df),
        distributions=dist,
        lot_summary=rounded,
        lot_qc=cert,
        misev=misev,
        dose=_round_frame(dose),
        errors=errors,
    )


def _round_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col].map(
                lambda v: v if not np.isfinite(v) else float(f"{v:.6g}")
            )
        elif out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: (
                    float(f"{v:.6g}") if isinstance(v, float) and np.isfinite(v) else v
                )
            )
    return out


def _tsv_ready(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
        elif out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: (
                    ("true" if v else "false") if isinstance(v, bool | np.bool_) else v
                )
            )
    return out


def default_outputs(outdir: str | os.PathLike[str]) -> dict[str, Path]:
    """Default output paths under ``outdir`` (``results/ev`` in the workflow).

    Parameters
    ----------
    outdir
        Output folder.

    Returns
    -------
    dict
        Key of :data:`OUTPUT_NAMES` -> path.
    """
    return {k: Path(outdir) / v for k, v in OUTPUT_NAMES.items()}


def run_ev_qc(
    lots_path: str | os.PathLike[str],
    runs_path: str | os.PathLike[str],
    participants_path: str | os.PathLike[str] | None,
    outputs: Mapping[str, str | os.PathLike[str]],
    base: str | os.PathLike[str] = ".",
    cfg: Mapping[str, Any] | None = None,
    plots: bool = True,
) -> EvQcResult:
    """Read the EV sheets and exports, and write every EV output.

    Parameters
    ----------
    lots_path, runs_path, participants_path
        The sheets (``participants_path`` may be ``None``).
    outputs
        Output key (see :data:`OUTPUT_NAMES`) -> path; keys left out are not
        written. :func:`default_outputs` gives the usual names.
    base
        Scenario directory (NTA paths in the run sheet are relative to it).
    cfg
        The ``ev`` configuration section.
    plots
        Whether to draw the figures.

    Returns
    -------
    EvQcResult
        The tables and the errors (each also logged as an error). Lots with
        errors are reported in the outputs; the function does not raise for
        them.

    Raises
    ------
    exomir.errors.ValidationError
        If a sheet cannot be read or fails its schema.
    """
    lots = read_table(lots_path, "ev_lots", str(lots_path))
    runs = read_table(runs_path, "ev_nta_runs", str(runs_path))
    parts = (
        read_table(participants_path, "participants", str(participants_path))
        if participants_path
        else None
    )
    res = evaluate(lots, runs, parts, base, cfg, runs_label=str(runs_path))
    for msg in res.errors:
        log.error(msg)
    for r in res.lot_summary.to_dict("records"):
        log.info(
            "lot %s: %s %s", r["lot_id"], r["verdict"], r.get("verdict_reason") or ""
        )
    tables = {
        "lot_qc": res.lot_qc,
        "lot_summary": res.lot_summary,
        "nta_runs": res.runs,
        "distributions": res.distributions,
        "misev": res.misev,
        "dose": res.dose,
    }
    for key, df in tables.items():
        if key in outputs:
            write_table(_tsv_ready(df), outputs[key], exact=True)
    if plots and ("fig_sizes" in outputs or "fig_lots" in outputs):
        from exomir.ev.plots import plot_lot_metrics, plot_size_distributions

        c = ev_config(cfg)
        if "fig_sizes" in outputs:
            plot_size_distributions(
                res.distributions,
                res.lot_summary,
                outputs["fig_sizes"],
                c["nta"]["distribution_max_nm"],
            )
        if "fig_lots" in outputs:
            plot_lot_metrics(
                res.lot_summary,
                outputs["fig_lots"],
                c["acceptance"]["min_particles_per_ug"],
            )
    return res
