"""Simulated ELISA plates: plate maps and reader exports from true concentrations.

:func:`render_plates` takes true protein concentrations (one row per protein
sample and analyte) and writes what a laboratory would send: per plate a
grid plate map and an optical-density export, in three reader layouts in turn
(Gen5-style grids at 450 and 570 nm, SoftMax Pro-style plate block, a long
``Well``/OD list). Each plate has its own 4PL truth (plate-to-plate variation
of slope, top and inflection), a blank offset, duplicate noise, and the
planted problems the quantification must catch:

* one outlier well (a duplicate read 60% high: ``high_cv``);
* one sample far above the standards (``above_uloq``, its true value kept in
  the truth file);
* one failing plate: its standard stock was made up twice too strong, so the
  curve is shifted and the QCs read about half their nominal (the plate fails
  and its samples are ``plate_failed``).

Truth: ``truth/protein_plates.tsv`` (each plate's curve and what was planted)
and ``truth/protein_concentrations.tsv`` (protein_sample_id, analyte,
true_conc, plate_id, dilution, planted). Randomness comes only from the ``rng``
passed in, so the caller keeps it apart from every other stream.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.proteins.curves import ll5

ROWS = "ABCDEFGH"
#: Demo panel: analyte -> (label, unit, top standard, population median of the true concentration).
DEMO_PANEL: dict[str, tuple[str, str, float, float]] = {
    "sFlt1": ("sFlt-1", "pg/mL", 20000.0, 6000.0),
    "PlGF": ("PlGF", "pg/mL", 2000.0, 150.0),
    "sEng": ("soluble endoglin", "ng/mL", 100.0, 20.0),
    "IL6": ("IL-6", "pg/mL", 300.0, 6.0),
    "TNFa": ("TNF-alpha", "pg/mL", 500.0, 12.0),
    "VEGF": ("VEGF-A", "pg/mL", 2000.0, 120.0),
}
LAYOUTS = ("gen5", "softmax", "long")


@dataclass(frozen=True)
class PlateSimParams:
    """How plates are rendered (simulator parameters ``proteins.*``)."""

    analytes: Mapping[str, tuple[str, str, float, float]] = field(
        default_factory=lambda: dict(DEMO_PANEL)
    )
    n_standards: int = 8
    standard_step: float = 2.0
    replicates: int = 2
    well_cv: float = 0.04
    plate_cv: float = 0.08
    blank_od: float = 0.045
    reference_od: float = 0.04
    outlier: bool = True
    out_of_range: bool = True
    failing_plate: bool = True

    @classmethod
    def from_params(cls, p: Mapping[str, Any]) -> PlateSimParams:
        """Build from the ``proteins`` simulator section (unknown keys ignored)."""
        names = p.get("analytes") or list(DEMO_PANEL)
        unknown = [a for a in names if a not in DEMO_PANEL]
        if unknown:
            raise ValueError(
                f"proteins.analytes: unknown {unknown}; known: {list(DEMO_PANEL)}"
            )
        keys = {f for f in cls.__dataclass_fields__ if f != "analytes"}
        kw = {k: v for k, v in p.items() if k in keys}
        return cls(analytes={a: DEMO_PANEL[a] for a in names}, **kw)


def _standards(top: float, n: int, step: float) -> list[float]:
    return [top / step**i for i in range(n)]


def _dilution(median: float, top: float, n: int, step: float) -> float:
    """Sample dilution that puts the median sample near the curve's geometric middle."""
    mid = top / step ** ((n - 1) / 2)
    d = median / mid
    return float(max(1.0, 2 ** round(math.log2(d)))) if d > 1 else 1.0


def _curve(
    rng: np.random.Generator, top: float, n: int, step: float, cv: float
) -> dict[str, float]:
    mid = top / step ** ((n - 1) / 2)
    return {
        "b": float(-0.95 * math.exp(rng.normal(0, cv / 2))),
        "c": 0.0,
        "d": float(3.2 * math.exp(rng.normal(0, cv))),
        "e": float(3.0 * mid * math.exp(rng.normal(0, cv * 2))),
        "f": 1.0,
    }


def _slots(replicates: int) -> list[list[str]]:
    """Wells in column pairs (duplicates side by side), A1/A2, B1/B2, ..."""
    wells = [f"{r}{c}" for c0 in range(1, 13, replicates) for r in ROWS for c in [c0]]
    return [[f"{w[0]}{int(w[1:]) + k}" for k in range(replicates)] for w in wells]


@dataclass
class _Plate:
    plate_id: str
    analyte: str
    cells: dict[str, str] = field(default_factory=dict)
    od: dict[str, float] = field(default_factory=dict)


def _render_one(
    plate_id: str,
    analyte: str,
    chunk: pd.DataFrame,
    sp: PlateSimParams,
    rng: np.random.Generator,
    *,
    dilution: float,
    stock_factor: float,
) -> tuple[_Plate, dict[str, Any]]:
    """Lay out and read one plate; returns it and its truth row."""
    _, _, top, _ = sp.analytes[analyte]
    truth = _curve(rng, top, sp.n_standards, sp.standard_step, sp.plate_cv)
    blank = sp.blank_od * math.exp(rng.normal(0, 0.1))
    plate = _Plate(plate_id, analyte)
    slots = iter(_slots(sp.replicates))

    def put(label: str, conc_in_well: float) -> list[str]:
        wells = next(slots)
        mu = float(ll5(np.array([conc_in_well]), **truth)[0])
        for w in wells:
            plate.cells[w] = label
            noise = math.exp(rng.normal(0, sp.well_cv))
            plate.od[w] = round(blank + mu * noise + rng.normal(0, 0.003), 4)
        return wells

    for i, nominal in enumerate(_standards(top, sp.n_standards, sp.standard_step)):
        put(f"std:S{i + 1}:{nominal:g}", nominal * stock_factor)
    put("blank", 0.0)
    qc_levels = (("QC_low", top / 40), ("QC_mid", top / 10), ("QC_high", top / 4))
    for name, nominal in qc_levels:
        put(f"qc:{name}:{nominal:g}", nominal)
    sample_wells: dict[str, list[str]] = {}
    for _, r in chunk.iterrows():
        label = f"smp:{r['protein_sample_id']}" + (
            f":{dilution:g}" if dilution != 1 else ""
        )
        sample_wells[str(r["protein_sample_id"])] = put(
            label, float(r["true_conc"]) / dilution
        )
    row = {
        "plate_id": plate_id,
        "analyte": analyte,
        **truth,
        "blank_od": blank,
        "sample_dilution": dilution,
        "standard_stock_factor": stock_factor,
        "planted": "failing plate: standard stock made up 2x too strong"
        if stock_factor != 1
        else "",
        "_sample_wells": sample_wells,
    }
    return plate, row


def _write_map(plate: _Plate, path: Path) -> None:
    lines = ["\t" + "\t".join(str(c) for c in range(1, 13))]
    for r in ROWS:
        lines.append(
            "\t".join([r, *(plate.cells.get(f"{r}{c}", "") for c in range(1, 13))])
        )
    _write(path, lines)


def _write_od(
    plate: _Plate, path: Path, layout: str, ref_od: float, rng: np.random.Generator
) -> None:
    def grid(vals: dict[str, float], tail: str = "") -> list[str]:
        out = ["\t" + "\t".join(str(c) for c in range(1, 13))]
        for r in ROWS:
            cells = [
                f"{vals[f'{r}{c}']:.4f}" if f"{r}{c}" in vals else ""
                for c in range(1, 13)
            ]
            out.append("\t".join([r, *cells]) + (f"\t{tail}" if tail else ""))
        return out

    if layout == "gen5":
        ref = {w: round(ref_od + abs(rng.normal(0, 0.003)), 4) for w in plate.od}
        main = {w: round(v + ref[w], 4) for w, v in plate.od.items()}
        lines = [
            "Software Version\t3.11.19",
            f"Plate Number\t{plate.plate_id}",
            "Read\tAbsorbance Endpoint",
            "",
        ]
        lines += ["Results", *grid(main, "450"), "", *grid(ref, "570")]
    elif layout == "softmax":
        lines = [
            "##BLOCKS= 1",
            f"Plate:\t{plate.plate_id}\t1.3\tPlateFormat\tEndpoint\tAbsorbance\tRaw\tFALSE\t1\t\t\t\t\t\t1\t450\t1\t12\t96",
            "\tTemperature(C)\t" + "\t".join(str(c) for c in range(1, 13)),
        ]
        for i, r in enumerate(ROWS):
            cells = [
                f"{plate.od[f'{r}{c}']:.4f}" if f"{r}{c}" in plate.od else ""
                for c in range(1, 13)
            ]
            lines.append("\t".join(["", "23.9" if i == 0 else "", *cells]))
        lines += ["", "~End"]
    else:
        order = sorted(plate.od, key=lambda w: (ROWS.index(w[0]), int(w[1:])))
        lines = ["Well\t450", *(f"{w}\t{plate.od[w]:.4f}" for w in order)]
    _write(path, lines)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")


def render_plates(
    levels: pd.DataFrame,
    params: PlateSimParams | Mapping[str, Any],
    rng: np.random.Generator,
    out_dir: str | Path,
    *,
    prefix: str = "data/proteins",
) -> dict[str, pd.DataFrame]:
    """Render true concentrations as ELISA plates (module docstring).

    Parameters
    ----------
    levels
        ``protein_sample_id, analyte, true_conc`` (analyte unit of the panel).
    params
        :class:`PlateSimParams` or the simulator's ``proteins`` section.
    rng
        Generator used for everything random here (keep it separate).
    out_dir
        Scenario directory; files go to ``<out_dir>/<prefix>/``.
    prefix
        Folder of the plate files relative to ``out_dir`` (as the sheet names them).

    Returns
    -------
    dict of DataFrame
        ``protein_plates`` (the sheet), ``truth_plates`` and ``truth_concentrations``.
    """
    sp = (
        params
        if isinstance(params, PlateSimParams)
        else PlateSimParams.from_params(params)
    )
    out = Path(out_dir)
    per_plate = (96 - (sp.n_standards + 4) * sp.replicates) // sp.replicates
    sheet, truth_rows, conc_rows = [], [], []
    n = 0
    analytes = [a for a in sp.analytes if a in set(levels["analyte"])]
    failing = analytes[-1] if sp.failing_plate and analytes else None
    for a_i, analyte in enumerate(analytes):
        _, _, top, median = sp.analytes[analyte]
        dil = _dilution(median, top, sp.n_standards, sp.standard_step)
        lv = (
            levels[levels["analyte"] == analyte]
            .sort_values("protein_sample_id")
            .reset_index(drop=True)
        )
        lv["planted"] = ""
        if sp.out_of_range and a_i == 0 and len(lv):
            k = len(lv) // 2
            lv.loc[k, "true_conc"] = top * dil * 20.0
            lv.loc[k, "planted"] = "above_uloq"
        chunks = [lv.iloc[i : i + per_plate] for i in range(0, len(lv), per_plate)]
        for c_i, chunk in enumerate(chunks):
            n += 1
            pid = f"ELISA{n:02d}"
            stock = 2.0 if (analyte == failing and c_i == len(chunks) - 1) else 1.0
            plate, trow = _render_one(
                pid, analyte, chunk, sp, rng, dilution=dil, stock_factor=stock
            )
            sample_wells = trow.pop("_sample_wells")
            if sp.outlier and a_i == 0 and c_i == 0 and len(chunk):
                sid = str(chunk.iloc[0]["protein_sample_id"])
                w = sample_wells[sid][-1]
                plate.od[w] = round(plate.od[w] * 1.6, 4)
                trow["planted"] = f"outlier well {w} ({sid}, read 60% high)"
                chunk = chunk.copy()
                chunk.loc[chunk.index[0], "planted"] = "outlier_well"
            layout = LAYOUTS[(n - 1) % len(LAYOUTS)]
            map_rel, od_rel = f"{prefix}/{pid}_map.tsv", f"{prefix}/{pid}_od.txt"
            _write_map(plate, out / map_rel)
            _write_od(plate, out / od_rel, layout, sp.reference_od, rng)
            sheet.append(
                {
                    "plate_id": pid, "assay": "elisa", "format": "96", "map": map_rel,
                    "reads": od_rel, "analyte": analyte, "wavelength": 450.0,
                    "reference_wavelength": 570.0 if layout == "gen5" else None,
                    "kit_lot": f"K{a_i + 1:03d}", "run_date": None, "operator": "sim",
                    "notes": f"{layout} export",
                }
            )  # fmt: skip
            truth_rows.append({**trow, "layout": layout})
            for _, r in chunk.iterrows():
                conc_rows.append(
                    [
                        r["protein_sample_id"],
                        analyte,
                        float(r["true_conc"]),
                        pid,
                        dil,
                        r["planted"],
                    ]
                )
    conc = pd.DataFrame(
        conc_rows,
        columns=[
            "protein_sample_id",
            "analyte",
            "true_conc",
            "plate_id",
            "dilution",
            "planted",
        ],
    ).sort_values(["protein_sample_id", "analyte"], kind="stable")
    return {
        "protein_plates": pd.DataFrame(sheet),
        "truth_plates": pd.DataFrame(truth_rows),
        "truth_concentrations": conc.reset_index(drop=True),
    }


def simple_levels(
    samples: pd.DataFrame,
    analytes: Mapping[str, tuple[str, str, float, float]],
    rng: np.random.Generator,
    sd: float = 0.5,
) -> pd.DataFrame:
    """Draw true concentrations without arm effects: log-normal around each analyte's median.

    Stand-in until the protein-analysis simulator (participant-level levels
    with arm effects) feeds :func:`render_plates`; one level per participant
    and analyte plus a small visit-to-visit change.
    """
    rows = []
    person: dict[tuple[str, str], float] = {}
    for _, s in samples.sort_values("protein_sample_id").iterrows():
        for a, (_, _, _, median) in analytes.items():
            key = (str(s["participant_id"]), a)
            if key not in person:
                person[key] = math.log(median) + rng.normal(0, sd)
            rows.append(
                [
                    s["protein_sample_id"],
                    a,
                    float(math.exp(person[key] + rng.normal(0, 0.15))),
                ]
            )
    return pd.DataFrame(rows, columns=["protein_sample_id", "analyte", "true_conc"])


def panel_config(
    analytes: Mapping[str, tuple[str, str, float, float]],
) -> dict[str, dict[str, str]]:
    """``proteins.panel`` entries of the simulated analytes."""
    return {
        a: {"label": lab, "unit": unit, "assay": "elisa", "transform": "log"}
        for a, (lab, unit, _, _) in analytes.items()
    }


#: Analyte codes of the participant-level simulator (exomir.simulate.proteins)
#: -> the plate panel's codes, and the factor from its pg/mL to the panel unit.
LEVEL_CODES: dict[str, tuple[str, float]] = {
    "SFLT1": ("sFlt1", 1.0),
    "PLGF": ("PlGF", 1.0),
    "SENG": ("sEng", 1e-3),
    "IL6": ("IL6", 1.0),
    "TNFA": ("TNFa", 1.0),
    "VEGF": ("VEGF", 1.0),
}


def participant_levels(
    samples: pd.DataFrame,
    roster: pd.DataFrame,
    mir126: pd.DataFrame | None,
    params: Mapping[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, Any]:
    """Return the true concentrations of every protein sample (arm effects, coupling).

    The participant-level model of :func:`exomir.simulate.proteins.simulate_protein_levels`
    (planted arm effects, coupling to the simulated change of miR-126-3p) on
    the trial's roster, mapped to the plate panel's analyte codes and units
    and to the protein samples (one per small-RNA library, :func:`protein_samples`).
    Its generator is ``[seed, 2103]``, of its own.

    Returns
    -------
    tuple
        ``levels`` (protein_sample_id, analyte, true_conc) for :func:`render_plates`
        and the :class:`~exomir.simulate.proteins.ProteinSimulation` with its
        truth tables renamed to the panel's codes.
    """
    import dataclasses

    from exomir.simulate.proteins import simulate_protein_levels

    sim = simulate_protein_levels(
        roster[["participant_id", "arm"]].reset_index(drop=True),
        mir126,
        params,
        np.random.default_rng([seed, 2103]),
    )
    code = {k: v[0] for k, v in LEVEL_CODES.items()}
    factor = {k: v[1] for k, v in LEVEL_CODES.items()}
    lv = sim.levels[sim.levels["analyte"].isin(list(code))].copy()
    lv["true_conc"] = lv["concentration"].astype(float) * lv["analyte"].map(factor)
    lv["analyte"] = lv["analyte"].map(code)
    ps = protein_samples(samples)
    levels = ps[["protein_sample_id", "participant_id", "visit"]].merge(
        lv[["participant_id", "visit", "analyte", "true_conc"]],
        on=["participant_id", "visit"],
        how="inner",
    )
    levels = levels[["protein_sample_id", "analyte", "true_conc"]]
    levels = levels.sort_values(["protein_sample_id", "analyte"], kind="stable")

    def rename(df: pd.DataFrame) -> pd.DataFrame:
        df = df[df["analyte"].isin(list(code))].copy()
        df["analyte"] = df["analyte"].map(code)
        return df.reset_index(drop=True)

    truth = dataclasses.replace(
        sim,
        levels=rename(sim.levels),
        effects=rename(sim.effects),
        coupling=rename(sim.coupling),
    )
    return levels.reset_index(drop=True), truth


def protein_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """One protein sample (plasma aliquot) per small-RNA library of the trial.

    ``protein_sample_id`` is ``PS_<sample_id>``; the visit is the library's timepoint.
    """
    out = pd.DataFrame(
        {
            "protein_sample_id": "PS_" + samples["sample_id"].astype(str),
            "participant_id": samples["participant_id"].astype(str),
            "visit": samples["timepoint"].astype(str),
            "matrix": "plasma",
        }
    )
    return out.sort_values("protein_sample_id", kind="stable").reset_index(drop=True)


def write_protein_layer(
    out: Path,
    samples: pd.DataFrame,
    params: Mapping[str, Any],
    seed: int,
    levels: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Write the protein sheets, plates and truth of a simulated scenario.

    The hook of ``exomir simulate`` (simulator parameter ``proteins.enabled``).
    ``levels`` (protein_sample_id, analyte, true_conc) is where the
    protein-analysis simulator feeds participant-level concentrations with arm
    effects; without it :func:`simple_levels` draws them (no arm effect). Both
    generators are derived from ``seed`` alone (``[seed, 2101]`` levels,
    ``[seed, 2102]`` plates), never from the trial's streams, so every other
    file of the scenario is unchanged.

    Parameters
    ----------
    out
        Scenario directory.
    samples
        The trial's ``samples.tsv`` (sample_id, participant_id, timepoint).
    params
        Resolved simulator parameters (section ``proteins``).
    seed
        The scenario seed.
    levels
        True concentrations, or ``None``.

    Returns
    -------
    dict
        Config additions: ``sheets`` entries and the ``proteins`` block.
    """
    from exomir.simulate.truth import write_frame

    p = dict(params.get("proteins") or {})
    sp = PlateSimParams.from_params(p)
    ps = protein_samples(samples)
    if levels is None:
        levels = simple_levels(ps, sp.analytes, np.random.default_rng([seed, 2101]))
    res = render_plates(levels, sp, np.random.default_rng([seed, 2102]), out)
    write_frame(ps, out / "config" / "protein_samples.tsv")
    write_frame(res["protein_plates"], out / "config" / "protein_plates.tsv")
    write_frame(res["truth_plates"], out / "truth" / "protein_plates.tsv")
    write_frame(
        res["truth_concentrations"], out / "truth" / "protein_concentrations.tsv"
    )
    return {
        "sheets": {
            "protein_samples": "config/protein_samples.tsv",
            "protein_plates": "config/protein_plates.tsv",
        },
        "proteins": {"panel": panel_config(sp.analytes)},
    }


TRUTH_README = """
## Protein plates (`proteins.enabled`)

| file | content |
|---|---|
| `protein_plates.tsv` | One row per ELISA plate: analyte, the true 4PL curve (b, c, d, e, f; drc's form, response above the blank), blank OD, sample dilution, standard stock factor (2 on the planted failing plate), reader layout and what was planted. |
| `protein_concentrations.tsv` | One row per protein sample and analyte: the true concentration in the tube (`true_conc`, panel unit), the plate and dilution it was run at, and `planted` (`above_uloq` for the sample put far above the standards, `outlier_well` for the sample with one duplicate read 60% high). |
"""


def append_truth_readme(out: Path) -> None:
    """Add the protein files to ``truth/README.md`` (after the simulator wrote it)."""
    path = out / "truth" / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Simulator truth\n"
    with atomic_open(path) as fh:
        fh.write(text.rstrip("\n") + "\n" + TRUTH_README)
