"""MISEV2023 minimal-information checklist per lot."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from exomir.ev.cells import marker_call

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
