"""Luminex and Olink rows of the plates sheet inside the ``protein_quant`` step.

* **Luminex** (``assay: luminex``): the xPONENT export (and plate map, when
  the row gives one) is read by :func:`exomir.proteins.luminex.read_luminex`
  and the plate is quantified by :func:`exomir.proteins.quant.quantify`,
  exactly like an ELISA plate (a curve per analyte, LLOQ/ULOQ, QC, verdict).
  **Low bead counts**: a read (well x analyte) of fewer than
  ``proteins.luminex.min_bead_count`` beads, or with no beads, is excluded
  from its replicate group for that analyte (its layout role becomes
  ``excluded``, so it is listed in ``wells.tsv`` with its signal but takes no
  part in the blank, the curve, the QCs or the sample mean); the sample is
  quantified from its other replicate(s). A sample (at one dilution) whose
  every replicate is excluded gets the flag ``low_bead_count`` and no
  concentration. Every excluded read is named in the plate's ``notes``
  (``plate_qc.tsv``) and in ``bead_counts.tsv`` (``excluded`` column).
* **Olink** (``assay: olink``): all Olink rows are read together by
  :func:`exomir.proteins.npx_qc.process_npx` (bridging is across plates),
  against the panel's ``assay: olink`` analytes and the protein samples sheet;
  their rows join ``concentrations.tsv`` with ``unit: NPX`` (flags ``ok``,
  ``below_lod``, ``qc_warning``, ``not_measured``) and the NPX QC tables are
  written beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.config import resolve_path
from exomir.errors import Issue, ValidationError
from exomir.proteins.luminex import LuminexPlate, LuminexSettings, read_luminex
from exomir.proteins.npx import CONCENTRATION_COLUMNS, NpxResult, NpxSettings
from exomir.proteins.npx_qc import DETAIL_COLUMNS, process_npx
from exomir.proteins.plates import PlateData
from exomir.proteins.quant import SAMPLE_COLUMNS, PlateResult, quantify
from exomir.proteins.settings import QuantSettings

BEAD_COLUMNS = ["plate_id", "well", "analyte", "count", "low_count", "excluded"]
NPX_PLATE_QC_COLUMNS = [
    "plate_id", "file", "n_samples", "n_controls", "n_assays", "n_values", "n_missing",
    "n_below_lod", "pct_below_lod", "n_qc_warning", "qc_warning_samples", "reference",
    "n_bridge", "bridge_missing", "adjustment_median", "adjustment_min", "adjustment_max",
]  # fmt: skip
NPX_ADJUSTMENT_COLUMNS = [
    "plate_id", "olink_id", "assay", "analyte", "reference_plate", "n_bridge", "adjustment",
]  # fmt: skip
NPX_OUTPUT_COLUMNS = {
    "npx_plate_qc": NPX_PLATE_QC_COLUMNS,
    "npx_bridge_adjustments": NPX_ADJUSTMENT_COLUMNS,
    "npx_detail": DETAIL_COLUMNS,
}


def _given(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return value


def assay_analytes(panel: Mapping[str, Mapping[str, Any]], assay: str) -> list[str]:
    """Panel analytes measured by one platform (``assay`` key, default elisa)."""
    return [a for a, v in panel.items() if (v or {}).get("assay", "elisa") == assay]


def read_luminex_row(
    row: Mapping[str, Any],
    directory: Path,
    panel: Mapping[str, Mapping[str, Any]],
    settings: LuminexSettings,
) -> LuminexPlate:
    """Read the Luminex plate of one ``protein_plates.tsv`` row.

    Parameters
    ----------
    row
        The sheet row (``reads`` = xPONENT export, optional ``map``).
    directory
        Scenario directory the paths are relative to.
    panel
        Config ``proteins.panel`` (only its ``assay: luminex`` analytes are
        accepted in the export).
    settings
        Config ``proteins.luminex``.

    Raises
    ------
    ValidationError
        A reader problem (file, line, well named), a missing file, or an
        analyte of the export that the row does not list.
    """
    pid = str(row["plate_id"])
    reads = str(row["reads"])
    map_cell = _given(row.get("map"))
    for label in (reads, map_cell):
        if label is not None and not resolve_path(str(label), directory).is_file():
            raise ValidationError(
                [
                    Issue(
                        "protein_plates.tsv",
                        f"luminex file '{label}' does not exist (looked for "
                        f"{resolve_path(str(label), directory)})",
                        row_id=f"plate_id={pid}",
                    )
                ]
            )
    lum = read_luminex(
        pid,
        resolve_path(reads, directory),
        map_path=resolve_path(str(map_cell), directory) if map_cell else None,
        panel=assay_analytes(panel, "luminex"),
        settings=settings,
        reads_label=reads,
        map_label=str(map_cell) if map_cell else None,
    )
    listed = {a.strip() for a in str(row["analyte"]).split(";") if a.strip()}
    extra = [a for a in lum.plate.analytes if a not in listed]
    if extra:
        raise ValidationError(
            [
                Issue(
                    reads,
                    f"analyte(s) {', '.join(extra)} of the export are not in the "
                    f"plate row's analyte list ({';'.join(sorted(listed))})",
                    row_id=f"plate={pid}",
                )
            ]
        )
    return lum


def exclude_low_beads(lum: LuminexPlate) -> tuple[PlateData, pd.DataFrame]:
    """Plate with every low-bead read excluded, and the bead-count table.

    An excluded read gets a per-analyte layout row of role ``excluded``
    (replacing the well's row for that analyte only), so the other analytes
    of the well are untouched.

    Returns
    -------
    plate : PlateData
        The plate to quantify.
    beads : pandas.DataFrame
        :data:`BEAD_COLUMNS`.
    """
    plate = lum.plate
    mapped = set(plate.layout["well"])
    beads = lum.bead_counts[lum.bead_counts["well"].isin(mapped)].copy()
    beads["excluded"] = beads["low_count"].astype(bool)
    beads.insert(0, "plate_id", plate.plate_id)
    low = beads[beads["excluded"]]
    if low.empty:
        return plate, beads[BEAD_COLUMNS].reset_index(drop=True)
    lay = plate.layout
    extra = []
    drop = pd.Series(False, index=lay.index)
    for r in low.itertuples(index=False):
        seen = plate.layout_for(str(r.analyte))
        row = seen[seen["well"] == r.well].iloc[0].copy()
        row["role"] = "excluded"
        row["analyte"] = r.analyte
        extra.append(row)
        drop |= (lay["well"] == r.well) & (lay["analyte"] == r.analyte)
    layout = pd.concat([lay[~drop], pd.DataFrame(extra)], ignore_index=True)
    return replace(plate, layout=layout), beads[BEAD_COLUMNS].reset_index(drop=True)


def _low_bead_samples(
    original: PlateData, res: PlateResult, beads: pd.DataFrame
) -> pd.DataFrame:
    """Sample rows (:data:`SAMPLE_COLUMNS`) of samples whose every read was excluded."""
    rows = []
    excluded = beads[beads["excluded"]]
    for analyte, ex in excluded.groupby("analyte", sort=True):
        lay = original.layout_for(str(analyte))
        smp = lay[lay["role"] == "sample"]
        got = res.samples[res.samples["analyte"] == analyte]
        done = set(
            zip(got["protein_sample_id"], got["dilution"].astype(float), strict=True)
        )
        qc = res.plate_qc[res.plate_qc["analyte"] == analyte]
        failed = bool(len(qc)) and qc["verdict"].iloc[0] == "fail"
        curve = res.curves[res.curves["analyte"] == analyte]
        lloq = float(curve["lloq"].iloc[0]) if len(curve) else float("nan")
        uloq = float(curve["uloq"].iloc[0]) if len(curve) else float("nan")
        for (sid, dil), g in smp.groupby(["protein_sample_id", "dilution"], sort=True):
            if (sid, float(dil)) in done or not g["well"].isin(set(ex["well"])).all():
                continue
            flag = "plate_failed" if failed else "low_bead_count"
            rows.append(
                [
                    *(original.plate_id, analyte, sid, float(dil), 0, np.nan, np.nan),
                    *(flag, np.nan, lloq * float(dil), uloq * float(dil)),
                ]
            )
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def quantify_luminex(
    lum: LuminexPlate, settings: QuantSettings
) -> tuple[PlateResult, pd.DataFrame]:
    """Quantify a Luminex plate with its low-bead reads excluded (module docstring).

    Returns
    -------
    result : PlateResult
        As :func:`~exomir.proteins.quant.quantify`, plus ``low_bead_count``
        sample rows and the excluded reads in the plate notes.
    beads : pandas.DataFrame
        :data:`BEAD_COLUMNS`.
    """
    plate, beads = exclude_low_beads(lum)
    res = quantify(plate, settings)
    extra = _low_bead_samples(lum.plate, res, beads)
    if len(extra):
        res.samples = (
            pd.concat([res.samples, extra], ignore_index=True)
            .sort_values(["analyte", "protein_sample_id", "dilution"], kind="stable")
            .reset_index(drop=True)
        )
    qc = res.plate_qc.copy()
    for i, r in qc.iterrows():
        ex = beads[beads["excluded"] & (beads["analyte"] == r["analyte"])]
        notes = [r["notes"]] if r["notes"] else []
        if len(ex):
            reads = ", ".join(
                f"{w} ({int(c)})" for w, c in zip(ex["well"], ex["count"], strict=True)
            )
            notes.append(f"reads with too few beads excluded: {reads}")
        if lum.unmapped_wells:
            notes.append(
                f"acquired wells not in the map: {', '.join(lum.unmapped_wells)}"
            )
        qc.at[i, "notes"] = "; ".join(notes)
    res.plate_qc = qc
    return res, beads


def npx_inputs(plates: pd.DataFrame, directory: Path) -> list[tuple[Path, str]]:
    """``(path, label)`` of every Olink row's NPX table (sheet order)."""
    rows = plates[plates["assay"] == "olink"]
    return [(resolve_path(str(p), directory), str(p)) for p in rows["reads"]]


def run_olink(
    plates: pd.DataFrame,
    samples: pd.DataFrame,
    directory: Path,
    settings: NpxSettings,
    panel: Mapping[str, Mapping[str, Any]],
) -> NpxResult | None:
    """Process every Olink row of the plates sheet (``None`` when there is none).

    Raises
    ------
    ValidationError
        A missing file (naming the plate row) or anything
        :func:`~exomir.proteins.npx_qc.process_npx` rejects (file and line).
    """
    rows = plates[plates["assay"] == "olink"]
    if rows.empty:
        return None
    missing = [
        Issue(
            "protein_plates.tsv",
            f"olink NPX file '{r['reads']}' does not exist (looked for "
            f"{resolve_path(str(r['reads']), directory)})",
            int(r["_line"]) if "_line" in r and _given(r["_line"]) else None,
            "reads",
            f"plate_id={r['plate_id']}",
        )
        for _, r in rows.iterrows()
        if not resolve_path(str(r["reads"]), directory).is_file()
    ]
    if missing:
        raise ValidationError(missing)
    return process_npx(
        npx_inputs(plates, directory),
        settings,
        panel=assay_analytes(panel, "olink"),
        samples=samples,
        plates=[str(p) for p in rows["plate_id"]],
    )


def npx_rows(result: NpxResult | None, samples: pd.DataFrame) -> pd.DataFrame:
    """NPX rows of the concentrations table, one per sheet sample x Olink analyte.

    A sample of the sheet on no Olink plate gets ``not_measured`` for every
    Olink analyte (as a sample without a well does for ELISA / Luminex).
    ``lloq`` / ``uloq`` are empty (NPX has an LOD, in ``npx_detail.tsv``).
    """
    cols = [*CONCENTRATION_COLUMNS, "lloq", "uloq"]
    if result is None or result.concentrations.empty:
        return pd.DataFrame(columns=cols)
    got = result.concentrations.set_index(["protein_sample_id", "analyte"])
    rows = []
    for _, s in samples.sort_values("protein_sample_id", kind="stable").iterrows():
        for a in sorted(set(result.concentrations["analyte"])):
            key = (s["protein_sample_id"], a)
            if key in got.index:
                r = got.loc[key]
                rows.append(
                    [
                        *(s["protein_sample_id"], s["participant_id"], s["visit"], a),
                        *(r["concentration"], "NPX", r["flag"], r["plate_id"]),
                        *(np.nan, np.nan, np.nan),
                    ]
                )
            else:
                rows.append(
                    [
                        *(s["protein_sample_id"], s["participant_id"], s["visit"], a),
                        *(np.nan, "NPX", "not_measured", None, np.nan, np.nan, np.nan),
                    ]
                )
    return pd.DataFrame(rows, columns=cols)


def npx_tables(result: NpxResult | None) -> dict[str, pd.DataFrame]:
    """Return the NPX QC tables (empty with their header when there is no Olink row)."""
    if result is None:
        return {k: pd.DataFrame(columns=c) for k, c in NPX_OUTPUT_COLUMNS.items()}
    return {
        "npx_plate_qc": result.plate_qc,
        "npx_bridge_adjustments": result.adjustments,
        "npx_detail": result.detail,
    }
