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
of the sheet with no well for an analyte is ``not_measured``.

Luminex rows are read from their xPONENT export and quantified like ELISA
plates (reads with too few beads excluded, :mod:`exomir.proteins.multiplex_run`;
``bead_counts.tsv``); Olink rows are read, flagged and bridged together by
:func:`exomir.proteins.npx_qc.process_npx` and their rows (``unit: NPX``)
appended to ``concentrations.tsv``, with ``npx_plate_qc.tsv``,
``npx_bridge_adjustments.tsv`` and ``npx_detail.tsv`` beside it. The
concentrations table is sorted by protein sample, then analyte.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.proteins.luminex import LuminexSettings
from exomir.proteins.multiplex_run import (
    BEAD_COLUMNS,
    npx_rows,
    npx_tables,
    quantify_luminex,
    read_luminex_row,
    run_olink,
)
from exomir.proteins.npx import NpxSettings
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
FLAG_RANK = {
    "ok": 0, "high_cv": 1, "above_uloq": 2, "below_lloq": 3, "low_bead_count": 4,
    "plate_failed": 5,
}  # fmt: skip
OUTPUT_NAMES = ("concentrations", "wells", "standards", "curves", "plate_qc")
#: Outputs of the Luminex / Olink rows (written, possibly empty, on every run).
MULTIPLEX_OUTPUT_NAMES = (
    "bead_counts", "npx_plate_qc", "npx_bridge_adjustments", "npx_detail",
)  # fmt: skip


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
    luminex: LuminexSettings | None = None,
    npx_settings: NpxSettings | None = None,
) -> dict[str, pd.DataFrame]:
    """Quantify every plate (ELISA, Luminex, Olink) and write the tables and figures.

    Parameters
    ----------
    samples_path, plates_path
        The two protein sheets.
    outputs
        Name in :data:`OUTPUT_NAMES` (and :data:`MULTIPLEX_OUTPUT_NAMES`,
        written when given) -> path.
    figures_dir
        Folder of the standard-curve figures (``<plate>_<analyte>.png``).
    settings
        Curve and acceptance settings.
    panel
        Config ``proteins.panel`` (units).
    base
        Scenario directory the sheet's paths are relative to.
    luminex, npx_settings
        Config ``proteins.luminex`` / ``proteins.npx`` (default: the defaults).

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
    beads: list[pd.DataFrame] = []
    for _, row in plates.iterrows():
        if row["assay"] == "olink":
            continue
        if row["assay"] == "luminex":
            lum = read_luminex_row(row, Path(base), panel, luminex or LuminexSettings())
            plate = lum.plate
            res, bead_table = quantify_luminex(lum, settings)
            beads.append(bead_table)
        else:
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
    npx = run_olink(plates, samples, Path(base), npx_settings or NpxSettings(), panel)
    if npx is not None:
        LOG.info(
            "olink: %d plate(s), %d NPX values", len(npx.plate_qc), len(npx.detail)
        )
        tables["concentrations"] = (
            pd.concat(
                [tables["concentrations"], npx_rows(npx, samples)], ignore_index=True
            )
            .sort_values(["protein_sample_id", "analyte"], kind="stable")
            .reset_index(drop=True)
        )
    tables["bead_counts"] = (
        pd.concat(beads, ignore_index=True)
        if beads
        else pd.DataFrame(columns=BEAD_COLUMNS)
    )
    tables.update(npx_tables(npx))
    for name in OUTPUT_NAMES:
        write_table(tables[name], outputs[name])
    for name in MULTIPLEX_OUTPUT_NAMES:
        if name in outputs:
            write_table(tables[name], outputs[name])
    return tables
