"""Lot summary: one row per lot from its runs and the lot sheet."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.ev.cells import cell_num, cell_text
from exomir.ev.runs import RunResult

#: Size statistics of a lot, from its NTA runs or from the lots sheet.
SIZE_KEYS = ("mean_nm", "sd_nm", "mode_nm", "d10_nm", "d50_nm", "d90_nm", "span")


def _mean_over(results: list[RunResult], key: str) -> float:
    vals = [cell_num(r.summary.get(key)) for r in results]
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
                f = cell_num(v)
                if v:
                    vals.add(f"{f:g}" if np.isfinite(f) else v)
        if vals:
            parts.append(f"{inst} {'/'.join(sorted(vals))}")
    return "; ".join(parts)


def _nta_results(
    out: dict[str, Any], rec: Mapping[str, Any], used: list[RunResult], label: float
) -> None:
    """Add the NTA results of a lot: mean over its runs, else the sheet's values."""
    if used:
        concs = np.array([cell_num(r.summary["conc_per_ml"]) for r in used])
        out["conc_per_ml"] = float(concs.mean())
        out["conc_between_run_cv_pct"] = (
            float(concs.std(ddof=1) / concs.mean() * 100)
            if len(concs) > 1
            else math.nan
        )
        for key in (*SIZE_KEYS, "frac_in_window"):
            out[key] = _mean_over(used, key)
        qcs = {r.summary.get("run_qc") for r in used}
        out["run_qc"] = "fail" if "fail" in qcs else "warn" if "warn" in qcs else "pass"
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
        for key in SIZE_KEYS:
            out[key] = cell_num(rec.get(key))
        out["frac_in_window"] = math.nan
        out["run_qc"] = ""
        out["run_qc_notes"] = ""
        out["camera_level"] = cell_text(rec.get("camera_level"))
        out["detection_threshold"] = cell_text(rec.get("detection_threshold"))
    else:
        for key in ("conc_per_ml", "conc_between_run_cv_pct", *SIZE_KEYS):
            out[key] = math.nan
        out["frac_in_window"] = math.nan
        out["run_qc"] = ""
        out["run_qc_notes"] = ""
        out["camera_level"] = ""
        out["detection_threshold"] = ""


def _product_results(
    out: dict[str, Any],
    rec: Mapping[str, Any],
    profiles: list[RunResult],
    label: float,
) -> None:
    """Add the label ratio, protein, particles per microgram and zeta potential."""
    out["conc_label_per_ml"] = label
    out["conc_ratio_to_label"] = (
        out["conc_per_ml"] / label if np.isfinite(label) and label > 0 else math.nan
    )
    protein = cell_num(rec.get("protein_ug_per_ml"))
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
        out["particles_per_ug"] = cell_num(rec.get("particles_per_ug"))
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
        z = cell_num(rec.get("zeta_mv"))
        if not np.isfinite(z):
            z = cell_num(rec.get("zeta_potential_mv"))
        out["zeta_mv"] = z
        out["zeta_source"] = "ev_lots.tsv" if np.isfinite(z) else ""


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
        label = cell_num(rec.get("particle_conc_per_ml"))
        if not np.isfinite(label):
            label = cell_num(rec.get("particles_per_ml"))
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
            np.isfinite(cell_num(rec.get(k))) for k in ("mode_nm", "d50_nm")
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
        _nta_results(out, rec, used, label)
        _product_results(out, rec, profiles, label)
        out["endotoxin_eu_per_ml"] = cell_num(rec.get("endotoxin_eu_per_ml"))
        out["sterility"] = cell_text(rec.get("sterility"))
        out["mycoplasma"] = cell_text(rec.get("mycoplasma"))
        out["release_decision"] = cell_text(rec.get("release_decision"))
        out["storage"] = cell_text(rec.get("storage"))
        out["expiry_date"] = cell_text(rec.get("expiry_date"))
        rows.append(out)
    return pd.DataFrame(rows)
