"""Dose per participant: particles, protein and endotoxin delivered."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.ev.cells import cell_num, cell_text


def _lot_dose(
    out: dict[str, Any],
    p: Mapping[str, Any],
    s: Mapping[str, Any],
    rec: Mapping[str, Any],
    fixed: float | None,
    tol: float | None,
) -> None:
    """Fill the dose of a participant given a characterised lot, with its flags."""
    lot = out["ev_lot_id"]
    labelled = out["dose_particles_labelled"]
    out["lot_verdict"] = s["verdict"]
    out["lot_release_ok"] = s["verdict"] == "pass"
    conc = cell_num(s.get("conc_per_ml"))
    label = cell_num(s.get("conc_label_per_ml"))
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
    out["dose_protein_ug"] = cell_num(rec.get("protein_ug_per_ml")) * vol
    out["dose_endotoxin_eu"] = cell_num(rec.get("endotoxin_eu_per_ml")) * vol
    if np.isfinite(labelled) and labelled > 0:
        out["dose_ratio_to_label"] = dose / labelled
    reasons = []
    randomised = cell_text(p.get("randomization_date"))
    expiry = cell_text(rec.get("expiry_date"))
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
        reasons.append("dose cannot be computed (no NTA concentration or no volume)")
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
        lot = cell_text(p.get("ev_lot_id"))
        labelled = cell_num(p.get("dose_particles"))
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
            _lot_dose(out, p, summ[lot], sheet[lot], fixed, tol)
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
