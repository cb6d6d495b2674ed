"""The ``protein_quant`` step: every plate of the sheet -> results/proteins/ tables.

Reads ``protein_samples.tsv`` and ``protein_plates.tsv``, quantifies each ELISA
plate (:func:`exomir.proteins.quant.quantify`), and writes:

* ``concentrations.tsv``: one row per protein sample x analyte measured on
  any plate (the table the analysis reads; columns in :data:`CONC_COLUMNS`);
* ``wells.tsv``, ``standards.tsv``, ``curves.tsv``, ``plate_qc.tsv``;
* one standard-curve figure per plate and analyte.

A sample measured more than once (several dilutions or a re-assay) keeps the
best result: ok, then high_cv, above_uloq, below_lloq, plate_failed; among
equals the smallest dilution, then the first plate in sheet order. A sample
of the sheet with no well for an analyte is ``not_measured``. Plates of other
assays (Luminex, Olink) are left to their own readers and logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.proteins.quant import (
    CURVE_COLUMNS,
    QC_COLUMNS,
    SAMPLE_COLUMNS,
    STANDARD_COLUMNS,
    WELL_COLUMNS,
    PlateResult,
    quantify,
)
from exomir.proteins.settings import QuantSettings
from exomir.proteins.sheets import read_plate_row
from exomir.tables import read_table, write_table

LOG = logging.getLogger("exomir.proteins")
CONC_COLUMNS = [
    "protein_sample_id", "participant_id", "visit", "analyte", "concentration", "unit",
    "flag", "plate_id", "cv", "lloq", "uloq",
]  # fmt: skip
FLAG_RANK = {"ok": 0, "high_cv": 1, "above_uloq": 2, "below_lloq": 3, "plate_failed": 4}
OUTPUT_NAMES = ("concentrations", "wells", "standards", "curves", "plate_qc")


def combine(
    samples: pd.DataFrame,
    per_plate: pd.DataFrame,
    units: Mapping[str, str],
    plate_order: list[str],
) -> pd.DataFrame:
    """Build the concentrations table (module docstring) from per-plate sample rows.

    Parameters
    ----------
    samples
        ``protein_samples.tsv``.
    per_plate
        :data:`~exomir.proteins.quant.SAMPLE_COLUMNS` rows of every plate.
    units
        Analyte -> unit (config ``proteins.panel``).
    plate_order
        Plate IDs in sheet order (the last tie-break).
    """
    analytes = sorted(set(per_plate["analyte"]))
    order = {p: i for i, p in enumerate(plate_order)}
    best = per_plate.assign(
        _rank=per_plate["flag"].map(FLAG_RANK), _plate=per_plate["plate_id"].map(order)
    ).sort_values(
        ["protein_sample_id", "analyte", "_rank", "dilution", "_plate"], kind="stable"
    )
    best = best.drop_duplicates(["protein_sample_id", "analyte"]).set_index(
        ["protein_sample_id", "analyte"]
    )
    rows = []
    for _, s in samples.sort_values("protein_sample_id", kind="stable").iterrows():
        for a in analytes:
            key = (s["protein_sample_id"], a)
            base = [s["protein_sample_id"], s["participant_id"], s["visit"], a]
            if key not in best.index:
                rows.append(
                    [
                        *base,
                        None,
                        units.get(a, ""),
                        "not_measured",
                        None,
                        None,
                        None,
                        None,
                    ]
                )
                continue
            r = best.loc[key]
            conc = r["concentration"] if r["flag"] in ("ok", "high_cv") else None
            rows.append(
                [
                    *base,
                    conc,
                    units.get(a, ""),
                    r["flag"],
                    r["plate_id"],
                    r["cv"],
                    r["lloq"],
                    r["uloq"],
                ]
            )
    return pd.DataFrame(rows, columns=CONC_COLUMNS)


def run_protein_quant(
    samples_path: str | os.PathLike[str],
    plates_path: str | os.PathLike[str],
    outputs: Mapping[str, str],
    figures_dir: str | os.PathLike[str],
    settings: QuantSettings,
    panel: Mapping[str, Mapping[str, Any]],
    base: str | os.PathLike[str] = ".",
) -> dict[str, pd.DataFrame]:
    """Quantify every ELISA plate and write the results tables and figures.

    Parameters
    ----------
    samples_path, plates_path
        The two protein sheets.
    outputs
        Name in :data:`OUTPUT_NAMES` -> path.
    figures_dir
        Folder of the standard-curve figures (``<plate>_<analyte>.png``).
    settings
        Curve and acceptance settings.
    panel
        Config ``proteins.panel`` (units).
    base
        Scenario directory the sheet's paths are relative to.

    Returns
    -------
    dict of DataFrame
        The tables written.
    """
    from exomir.proteins.plots import plot_standard_curve

    samples = read_table(samples_path, "protein_samples")
    plates = read_table(plates_path, "protein_plates")
    results: list[PlateResult] = []
    fig_dir = Path(figures_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    units = {a: str(v.get("unit", "")) for a, v in panel.items()}
    for _, row in plates.iterrows():
        if row["assay"] != "elisa":
            LOG.warning(
                "plate %s: %s plates are not quantified by this step",
                row["plate_id"],
                row["assay"],
            )
            continue
        plate = read_plate_row(row, Path(base), settings.curve)
        res = quantify(plate, settings)
        for a, fit in res.fits.items():
            plot_standard_curve(
                res, a, fit, units.get(a, ""), fig_dir / f"{plate.plate_id}_{a}.png"
            )
        verdict = res.plate_qc.iloc[0]
        LOG.info(
            "plate %s: %s %s", plate.plate_id, verdict["verdict"], verdict["reasons"]
        )
        results.append(res)
    columns = {
        "wells": WELL_COLUMNS,
        "standards": STANDARD_COLUMNS,
        "curves": CURVE_COLUMNS,
        "samples": SAMPLE_COLUMNS,
        "plate_qc": QC_COLUMNS,
    }
    tables = {
        k: pd.concat([getattr(r, k) for r in results], ignore_index=True)
        if results
        else pd.DataFrame(columns=cols)
        for k, cols in columns.items()
    }
    tables["concentrations"] = combine(
        samples, tables.pop("samples"), units, list(plates["plate_id"])
    )
    for name in OUTPUT_NAMES:
        write_table(tables[name], outputs[name])
    return tables
