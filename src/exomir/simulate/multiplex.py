"""Simulated multiplex protein inputs with known truth.

Two writers, so the readers (:mod:`exomir.proteins.luminex`,
:mod:`exomir.proteins.npx`) are tested on data whose every value is known:

* :func:`luminex_plate` + :func:`write_xponent`: a 96-well Luminex plate
  (blanks, a standard series in duplicate, a control, samples in duplicate at
  a dilution) whose median MFI follows a 4PL curve per analyte of the in-well
  concentration, with multiplicative well noise; bead counts around a mean,
  with planted low-count and no-bead reads; written as an xPONENT CSV export.
* :func:`npx_study` + :func:`write_npx`: an Olink-style NPX long table over
  several plates with bridge samples on every plate, a planted offset per plate
  and assay, sample noise and an LOD per assay.

:func:`simulate_multiplex` writes both with their truth tables. Nothing here
draws from the trial simulator's random stream: callers pass their own
generator (``np.random.default_rng([seed, k])``), so the default
``exomir simulate`` output is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.tables import write_table

ROWS = "ABCDEFGH"


@dataclass(frozen=True)
class Curve4PL:
    """A four-parameter logistic MFI curve: ``d + (a - d) / (1 + (x / c) ** b)``.

    Attributes
    ----------
    a
        MFI at zero concentration (background).
    b
        Slope.
    c
        Concentration at the inflection point.
    d
        MFI at saturation.
    """

    a: float
    b: float
    c: float
    d: float

    def mfi(self, x: np.ndarray) -> np.ndarray:
        """Return the MFI at concentrations ``x`` (>= 0)."""
        x = np.asarray(x, dtype=float)
        return self.d + (self.a - self.d) / (1.0 + (x / self.c) ** self.b)


#: Default curves (pg/mL scale) of the simulated analytes.
DEFAULT_CURVES: dict[str, Curve4PL] = {
    "IL6": Curve4PL(a=18.0, b=1.05, c=900.0, d=24000.0),
    "VEGF-A": Curve4PL(a=25.0, b=0.95, c=1500.0, d=30000.0),
    "PlGF": Curve4PL(a=15.0, b=1.1, c=600.0, d=18000.0),
}


@dataclass
class LuminexSim:
    """One simulated Luminex plate.

    Attributes
    ----------
    wells
        well, sample (the name written in the export), role, dilution,
        in acquisition order (A1, B1, ..., H1, A2, ...).
    reads
        well, analyte, concentration (in the well, after dilution), mfi
        (written value, rounded to 0.5 as xPONENT medians are; NaN for a
        read without beads), count (beads).
    standards
        analyte -> {top, dilution_factor} of the standard series.
    """

    wells: pd.DataFrame
    reads: pd.DataFrame
    standards: dict[str, dict[str, float]]


def _well_order(n: int) -> list[str]:
    if n > 96:
        raise ValueError(f"{n} wells do not fit a 96-well plate")
    return [f"{ROWS[i % 8]}{i // 8 + 1}" for i in range(n)]


def luminex_plate(
    rng: np.random.Generator,
    samples: Mapping[str, Mapping[str, float]],
    *,
    curves: Mapping[str, Curve4PL] | None = None,
    top: float = 10000.0,
    dilution_factor: float = 4.0,
    n_standards: int = 7,
    controls: Mapping[str, float] | None = None,
    dilution: float = 2.0,
    well_cv: float = 0.04,
    bead_mean: float = 70.0,
    low_count: int = 1,
    no_beads: int = 1,
) -> LuminexSim:
    """Simulate one plate from true sample concentrations.

    Parameters
    ----------
    rng
        Random generator (the caller's own stream).
    samples
        Protein sample ID -> analyte -> true concentration (neat).
    curves
        Analyte -> 4PL curve (default :data:`DEFAULT_CURVES`); every analyte
        of ``samples`` needs one.
    top, dilution_factor, n_standards
        Standard series: ``S<k>`` = top / dilution_factor^(k-1), same for all
        analytes, in duplicate.
    controls
        Analyte -> concentration of ``Control1`` (default: top / 20).
    dilution
        Dilution of every sample (in duplicate).
    well_cv
        Multiplicative log-normal noise of each read.
    bead_mean
        Mean bead count of a read (Poisson).
    low_count, no_beads
        Number of sample reads given 20 beads, and 0 beads (MFI ``NaN``).

    Returns
    -------
    LuminexSim
        Wells, reads and the standard series.
    """
    curves = dict(curves or DEFAULT_CURVES)
    analytes = list(dict.fromkeys(a for conc in samples.values() for a in conc))
    layout: list[tuple[str, str, float, dict[str, float]]] = []
    zero = dict.fromkeys(analytes, 0.0)
    layout += [("Background0", "blank", 1.0, zero)] * 2
    for k in range(1, n_standards + 1):
        std = dict.fromkeys(analytes, top / dilution_factor ** (k - 1))
        layout += [(f"Standard{k}", "standard", 1.0, std)] * 2
    ctrl = {a: (controls or {}).get(a, top / 20) for a in analytes}
    layout += [("Control1", "qc", 1.0, ctrl)] * 2
    for sid, neat in samples.items():
        in_well = {a: neat[a] / dilution for a in analytes}
        layout += [(sid, "sample", dilution, in_well)] * 2
    names = _well_order(len(layout))
    wells = pd.DataFrame(
        {
            "well": names,
            "sample": [x[0] for x in layout],
            "role": [x[1] for x in layout],
            "dilution": [x[2] for x in layout],
        }
    )
    rows = []
    for well, (_, _, _, conc) in zip(names, layout, strict=True):
        for a in analytes:
            true = float(curves[a].mfi(np.array([conc[a]]))[0])
            noisy = true * float(np.exp(rng.normal(0.0, well_cv)))
            rows.append(
                {
                    "well": well,
                    "analyte": a,
                    "concentration": conc[a],
                    "mfi": round(noisy * 2) / 2,
                    "count": int(max(rng.poisson(bead_mean), 36)),
                }
            )
    reads = pd.DataFrame(rows)
    sample_reads = reads.index[
        reads["well"].isin(wells.loc[wells["role"] == "sample", "well"])
    ]
    picks = rng.choice(sample_reads, size=low_count + no_beads, replace=False)
    reads.loc[picks[:low_count], "count"] = 20
    reads.loc[picks[low_count:], "count"] = 0
    reads.loc[picks[low_count:], "mfi"] = np.nan
    standards = {a: {"top": top, "dilution_factor": dilution_factor} for a in analytes}
    return LuminexSim(wells=wells, reads=reads, standards=standards)


def _fmt_mfi(v: float) -> str:
    if not np.isfinite(v):
        return "NaN"
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def write_xponent(
    path: str | Path, sim: LuminexSim, *, batch: str = "SIM_PLATE", crlf: bool = False
) -> None:
    """Write a simulated plate as an xPONENT CSV export (every cell quoted).

    Parameters
    ----------
    path
        Destination (written atomically).
    sim
        From :func:`luminex_plate`.
    batch
        Batch name of the header.
    crlf
        Windows line ends.
    """
    analytes = list(dict.fromkeys(sim.reads["analyte"]))
    mfi = sim.reads.pivot(index="well", columns="analyte", values="mfi")
    cnt = sim.reads.pivot(index="well", columns="analyte", values="count")
    lines: list[list[str]] = [
        ["Program", "xPONENT", "", "MAGPIX"],
        ["Build", "4.3.229.0"],
        ["Batch", batch],
        ["Operator", "simulator"],
        ["ProtocolName", "exomir_simulated_panel"],
        ["Samples", str(len(sim.wells)), "Min Events", "50", "Per Bead"],
        [],
        ["Results"],
        [],
    ]

    def block(name: str, values: pd.DataFrame | None, fmt: str) -> None:
        lines.append(["DataType:", name])
        cols = analytes if values is not None else ["Dilution Factor"]
        tail = ["Total Events"] if values is not None else []
        lines.append(["Location", "Sample", *cols, *tail])
        for i, w in enumerate(sim.wells.itertuples(index=False), start=1):
            loc = f"{i}(1,{w.well})"
            if values is None:
                lines.append([loc, w.sample, f"{w.dilution:g}"])
                continue
            cells = [
                _fmt_mfi(values.at[w.well, a])
                if fmt == "mfi"
                else str(values.at[w.well, a])
                for a in analytes
            ]
            total = int(cnt.loc[w.well].sum()) + 30
            lines.append([loc, w.sample, *cells, str(total)])
        lines.append([])

    block("Median", mfi, "mfi")
    block("Count", cnt, "count")
    block("Dilution Factor", None, "")
    end = "\r\n" if crlf else "\n"
    text = end.join(",".join(f'"{c}"' for c in row) for row in lines) + end
    with atomic_open(path) as fh:
        fh.write(text)


#: Default Olink-like assays: analyte -> (OlinkID, UniProt, LOD in NPX).
DEFAULT_ASSAYS: dict[str, tuple[str, str, float]] = {
    "IL6": ("OID90001", "P05231", 2.0),
    "VEGFA": ("OID90002", "P15692", 1.5),
    "PGF": ("OID90003", "P49763", 1.0),
    "TNF": ("OID90004", "P01375", 2.5),
    "FLT1": ("OID90005", "P17948", 1.2),
}


def npx_study(
    rng: np.random.Generator,
    true_npx: pd.DataFrame,
    plates: Mapping[str, Sequence[str]],
    bridge_samples: Sequence[str],
    offsets: Mapping[tuple[str, str], float],
    *,
    assays: Mapping[str, tuple[str, str, float]] | None = None,
    noise_sd: float = 0.08,
    qc_warnings: Sequence[str] = (),
) -> pd.DataFrame:
    """Simulate NPX measurements of samples on plates with planted offsets.

    Parameters
    ----------
    rng
        Random generator (the caller's own stream).
    true_npx
        sample_id, assay, npx: true level of every sample (bridge samples
        included) on the scale of the reference plate (offset 0).
    plates
        Plate ID -> trial sample IDs run on it (bridge samples are added to
        every plate).
    bridge_samples
        Samples run on every plate.
    offsets
        (plate, assay) -> planted additive offset (missing = 0).
    assays
        Assay -> (OlinkID, UniProt, LOD) (default :data:`DEFAULT_ASSAYS`).
    noise_sd
        SD of the measurement noise of each value.
    qc_warnings
        Sample IDs written with ``QC_Warning = Warning``.

    Returns
    -------
    pandas.DataFrame
        The NPX long table (SampleID, OlinkID, UniProt, Assay, Panel, PlateID,
        QC_Warning, LOD, NPX, Normalization) with values rounded to 4
        decimals, plus ``true_npx`` and ``offset`` (truth, not written).
    """
    assays = dict(assays or DEFAULT_ASSAYS)
    truth = true_npx.set_index(["sample_id", "assay"])["npx"]
    rows = []
    for plate, members in plates.items():
        for sid in [*bridge_samples, *members]:
            for assay, (oid, uniprot, lod) in assays.items():
                off = float(offsets.get((plate, assay), 0.0))
                true = float(truth[(sid, assay)])
                value = true + off + float(rng.normal(0.0, noise_sd))
                rows.append(
                    {
                        "SampleID": sid,
                        "OlinkID": oid,
                        "UniProt": uniprot,
                        "Assay": assay,
                        "Panel": "Simulated Inflammation",
                        "PlateID": plate,
                        "QC_Warning": "Warning" if sid in qc_warnings else "Pass",
                        "LOD": round(lod + off, 4),
                        "NPX": round(value, 4),
                        "Normalization": "Intensity",
                        "true_npx": true,
                        "offset": off,
                    }
                )
    return pd.DataFrame(rows)


def write_npx(
    path: str | Path, table: pd.DataFrame, *, semicolon: bool = False
) -> None:
    """Write an NPX table like Olink software (comma, or ``;`` + decimal comma).

    Parameters
    ----------
    path
        Destination (written atomically).
    table
        From :func:`npx_study` (truth columns are not written).
    semicolon
        European-locale variant: ``;`` separators and decimal commas.
    """
    cols = [c for c in table.columns if c not in ("true_npx", "offset")]
    sep = ";" if semicolon else ","
    out = [sep.join(cols)]
    for row in table[cols].itertuples(index=False):
        cells = []
        for v in row:
            text = f"{v:.4f}" if isinstance(v, float) else str(v)
            cells.append(
                text.replace(".", ",") if semicolon and isinstance(v, float) else text
            )
        out.append(sep.join(cells))
    with atomic_open(path) as fh:
        fh.write("\n".join(out) + "\n")


def simulate_multiplex(outdir: str | Path, seed: int = 20261207) -> dict[str, Path]:
    """Write a simulated Luminex export and NPX table with their truth.

    Two plates' worth of inputs for 16 protein samples: one Luminex plate
    (IL6, VEGF-A, PlGF) and three Olink plates with 8 bridge samples and
    planted plate offsets.

    Parameters
    ----------
    outdir
        Directory; files ``luminex_plate1.csv``, ``npx.csv`` and
        ``truth_luminex.tsv``, ``truth_npx.tsv`` are written there.
    seed
        Seed of this simulator's own generators.

    Returns
    -------
    dict[str, Path]
        The four paths by key (luminex, npx, truth_luminex, truth_npx).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    rng_l = np.random.default_rng([seed, 1])
    rng_n = np.random.default_rng([seed, 2])
    samples = [f"PS{i:03d}" for i in range(1, 17)]
    conc = {
        s: {
            a: float(np.exp(rng_l.normal(np.log(c.c), 0.8)))
            for a, c in DEFAULT_CURVES.items()
        }
        for s in samples
    }
    lum = luminex_plate(rng_l, conc)
    paths = {
        "luminex": out / "luminex_plate1.csv",
        "npx": out / "npx.csv",
        "truth_luminex": out / "truth_luminex.tsv",
        "truth_npx": out / "truth_npx.tsv",
    }
    write_xponent(paths["luminex"], lum, batch="SIM_LUMINEX_1")
    write_table(lum.wells.merge(lum.reads, on="well"), paths["truth_luminex"])
    bridges = [f"BRIDGE{i}" for i in range(1, 9)]
    true = pd.DataFrame(
        [
            {"sample_id": s, "assay": a, "npx": float(rng_n.normal(6.0, 1.5))}
            for s in [*bridges, *samples]
            for a in DEFAULT_ASSAYS
        ]
    )
    plates = {"PLATE1": samples[:6], "PLATE2": samples[6:11], "PLATE3": samples[11:]}
    offsets = {
        (p, a): float(base + rng_n.normal(0.0, 0.1))
        for p, base in (("PLATE2", 0.6), ("PLATE3", -0.45))
        for a in DEFAULT_ASSAYS
    }
    npx = npx_study(rng_n, true, plates, bridges, offsets)
    write_npx(paths["npx"], npx)
    write_table(
        npx[["SampleID", "Assay", "PlateID", "true_npx", "offset"]], paths["truth_npx"]
    )
    return paths
