"""Simulated ZetaView 8.x size exports and their 11-position summaries."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exomir.simulate.ev.formats import (
    fmt_zv,
    fmt_zv2,
    water_viscosity_cp,
    weighted_stats,
    zetaview_median,
)
from exomir.simulate.ev.truth import LotTruth

#: Cell positions of the ZetaView 11-position measurement.
ZV_POSITIONS = [0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.90]


@dataclass
class ZetaViewRun:
    """A simulated ZetaView run: size export and 11-position summary.

    Attributes
    ----------
    size_bytes
        ``*_size_<laser>.txt`` content (Latin-1).
    pos_bytes
        ``*_size_<laser>_11pos.txt`` content (Latin-1).
    conc_diluted
        Sum of the size table's concentration column (= mean kept position
        ``Conc.``), particles/mL of the diluted sample.
    d50
        Number-weighted D50 from the linear bins (nm).
    traces
        Number of traces (header value = sum of Number).
    """

    size_bytes: bytes
    pos_bytes: bytes
    conc_diluted: float
    d50: float
    traces: int


@dataclass
class _Positions:
    """Per-position values of one ZetaView run (11 cell positions)."""

    conc: np.ndarray
    traces: np.ndarray
    x50: np.ndarray
    removed: np.ndarray
    reasons: list[str]
    conc_txt: list[str] = field(default_factory=list)
    conc_vals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    av_particles: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean_int: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak: np.ndarray = field(default_factory=lambda: np.zeros(0))
    span: np.ndarray = field(default_factory=lambda: np.zeros(0))
    drift: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _sample_positions(
    cdil: float, lot: LotTruth, ev: Mapping[str, Any], rng: np.random.Generator
) -> _Positions:
    """Concentration, traces and X50 per position; at most one position removed."""
    npos = len(ZV_POSITIONS)
    pos_conc = cdil * (1 + float(ev["nta_conc_cv"]) * rng.normal(size=npos))
    traces = rng.integers(
        int(ev["zetaview_traces_range"][0]),
        int(ev["zetaview_traces_range"][1]) + 1,
        npos,
    )
    x50 = lot.d50 * np.exp(rng.normal(0, 0.03, npos))
    removed = np.zeros(npos, dtype=bool)
    reasons = [""] * npos
    if rng.random() < 0.7:
        j = int(rng.integers(npos))
        removed[j] = True
        if rng.random() < 0.5:
            reasons[j] = "GRUBBS_SIZE"
            x50[j] *= 1.45
        else:
            reasons[j] = "MIN_TRACES"
            traces[j] = int(rng.integers(5, 20))
    return _Positions(pos_conc, traces, x50, removed, reasons)


def _read_out_positions(
    pos: _Positions, lot: LotTruth, rng: np.random.Generator
) -> None:
    """Add what the position summary prints: intensities, peak, span, drift."""
    npos = len(ZV_POSITIONS)
    x50 = pos.x50
    pos.av_particles = np.round(pos.conc * 2.3e-6 * rng.uniform(0.95, 1.05, npos), 1)
    mean_int = np.round(rng.uniform(24, 34, npos), 1)
    peak = np.round(x50 * math.exp(-(lot.sigma**2)) * rng.uniform(0.95, 1.05, npos), 1)
    span = np.round(
        (math.exp(1.2816 * lot.sigma) - math.exp(-1.2816 * lot.sigma))
        * rng.uniform(0.95, 1.05, npos),
        2,
    )
    drift = np.round(rng.uniform(1.5, 4.0, npos), 2)
    pos.mean_int, pos.peak, pos.span, pos.drift = mean_int, peak, span, drift
    pos.x50 = np.round(x50, 1)


def _positions_text(pos: _Positions, dilution: float) -> str:
    """Render the ``*_11pos.txt`` summary: one row per position, then statistics."""
    npos = len(ZV_POSITIONS)
    removed, kept, reasons = pos.removed, ~pos.removed, pos.reasons
    mean_int, av_particles, traces = pos.mean_int, pos.av_particles, pos.traces
    conc_txt, conc_vals = pos.conc_txt, pos.conc_vals
    x50, peak, span, drift = pos.x50, pos.peak, pos.span, pos.drift
    head = [
        "Use",
        "Position",
        "Mean Int.",
        "Av. No of Particles",
        "Conc. (p./mL)",
        "Orig. Conc. (p./cm^3)",
        "No. of Traces",
        "X50 (nm)",
        "Peak \u00f8 (nm)",
        "Span",
        "Drift (\u00b5m/s)",
        "Removal",
    ]
    plines = ["\t".join(head)]
    for j in range(npos):
        plines.append(
            "\t".join(
                [
                    "" if removed[j] else "X",
                    f"{ZV_POSITIONS[j]:.2f}",
                    f"{mean_int[j]:.1f}",
                    f"{av_particles[j]:.1f}",
                    conc_txt[j],
                    fmt_zv2(conc_vals[j] * dilution),
                    str(int(traces[j])),
                    f"{x50[j]:.1f}",
                    f"{peak[j]:.1f}",
                    f"{span[j]:.2f}",
                    f"{drift[j]:.2f}",
                    reasons[j],
                ]
            )
        )
    cols = {
        "mi": mean_int[kept],
        "av": av_particles[kept],
        "c": conc_vals[kept],
        "oc": conc_vals[kept] * dilution,
        "tr": traces[kept].astype(float),
        "x50": x50[kept],
        "pk": peak[kept],
        "sp": span[kept],
        "dr": drift[kept],
    }
    for label, fn in (
        ("Mean", lambda x: float(np.mean(x))),
        ("St.Dev.", lambda x: float(np.std(x, ddof=1))),
        ("Rel.St.Dev.", lambda x: float(np.std(x, ddof=1) / np.mean(x) * 100)),
    ):
        v = {k: fn(x) for k, x in cols.items()}
        conc_fmt = fmt_zv2 if label != "Rel.St.Dev." else (lambda x: f"{x:.1f}")
        plines.append(
            "\t".join(
                [
                    "",
                    label,
                    f"{v['mi']:.1f}",
                    f"{v['av']:.1f}",
                    conc_fmt(v["c"]),
                    conc_fmt(v["oc"]),
                    f"{v['tr']:.1f}",
                    f"{v['x50']:.1f}",
                    f"{v['pk']:.1f}",
                    f"{v['sp']:.2f}",
                    f"{v['dr']:.2f}",
                    "",
                ]
            )
        )
    pos_text = "\n".join(plines) + "\n"
    return pos_text


def _size_header(
    lot: LotTruth,
    experiment: str,
    laser: int,
    when: dt.datetime,
    first_pos: float,
    counts: tuple[int, float, float],
    medians: tuple[float, float],
    rng: np.random.Generator,
) -> list[str]:
    """Header lines of the size export, down to the size-table header."""
    total, av_mean, dilution = counts
    d50_num, d50_vol = medians
    npos = len(ZV_POSITIONS)
    date = f"{when:%Y-%m-%d}"
    stem = f"{experiment}_{lot.lot_id}_size_{laser}"
    temp = 24.0 + rng.normal(0, 0.4)
    h = [
        f"Original File:\tC:\\ZetaView\\Data\\{experiment}\\{stem}.avi\tSection:\t{first_pos:.6f} [0]",
        "Operator:\tQC lab",
        f"Experiment:\t{experiment}",
        "ZetaView S/N:\t19-411",
        "Cell S/N:\t1907-07",
        "Software:\tZetaView (version 8.06.01 SP1)\tAnalyze:\t8.06.01 SP1",
        f"SOP:\tEV_size_{laser}",
        f"Sample:\t{lot.lot_id}",
        "Electrolyte:\tPBS",
        "pH:\t7.000000\tentered",
        f"Conductivity: {rng.uniform(14000, 16000):.6f}\tsensed",
        "TempControl:\t0",
        "SetTemperature:\tNaN",
        f"Temperature:\t{temp:.2f}\tsensed",
        f"Viscosity:\t{water_viscosity_cp(temp):.6f}",
        f"Date:\t{date}",
        f"Time:\t{when:%H:%M:%S}",
        "General Remarks:\t",
        "Remarks:\t",
        f"Sample Info 1:\tdilution 1:{int(dilution)} in PBS",
        "Sample Info 2:\t",
        "Sample Info 3:",
        f"Scattering Intensity:\t{rng.uniform(20, 40):.1f}",
        f"Detected Particles:\t{av_mean:.1f}",
        f"Particle Drift Checked:\t{date} {(when - dt.timedelta(minutes=15)):%H:%M:%S}",
        "Particle Drift Check Result:\tGood",
        f"Cell Checked:\t{date} 08:30:00",
        "Cell Check Result:\tGood",
        "Type of Measurement:\tSize Distribution",
        f"Positions:\t{npos}",
        f"Microscope Position:\t{rng.integers(300, 400)}",
        f"Number of Traces:\t{total}\t(at {first_pos - 1e-5:.6f})\tAverage Number of Particles:"
        f"\t{av_mean:.1f}\tDilution::\t{dilution:.6f}",
        "Concentration Correction Factor:\t1.000000",
        "Image Evaluation:",
        "Minimum Brightness:\t30",
        "Minimum Area:\t10",
        "Maximum Area:\t1000",
        "Maximum Brightness:\t255",
        "Tracking Radius2:\t100",
        "Minimum Tracelength:\t15",
        "Begin New Traces:\t0",
        "PSD log Correction:\t1",
        "Multi-Threshold:\t0",
        "MultipleAcquisition:\t0",
        "NumberOfExperiments:\t1",
        "DelayTime:\t0",
        "Camera:\tFpSec 30 #Cycles 1 FRate 30.000000",
        "Sensitivity:\t80.000000",
        "Gain:\t0.000000",
        "Offset:\t0",
        "Shutter:\t100",
        "Brightness:\tNaN",
        "Gamma:\tNaN",
        "Auto Exposure:\tNaN",
        "Camera Trigger Mode:\t0",
        "Camera Trigger Duration \u00b5s:\t0",
        "Camera Trigger Delay \u00b5s:\t0",
        f"Laser Wavelength nm:\t{laser:.6f}",
        "Filter Wavelength nm:\tScatter",
        "LowBleach:\t0",
        "LowBleachVolume:\t0",
        "DoseSubVolume:\t0",
        "SubVolumePump:\t0",
        f"Position:\t{first_pos:.6f}",
        f"actual Microscope:\t{rng.integers(300, 400)}\t(Pos\t{first_pos:.6f})",
        f"actual Laser:\t{rng.integers(1000, 1200)}",
        "Position0 Microscope:\t112",
        "Position0 Laser:\t1024",
        "Position1 Microscope:\t604",
        "Position1 Laser:\t1510",
        "Cell Thickness (Microscope Steps):\t492",
        "Cell Thickness (Laser Steps):\t486",
        "SL1 (Stationary Layer 1):\t0.207000",
        "SL2 (Stationary Layer 2):\t0.793000",
        "Cell parameter:",
        "Cell#:\t1",
        "Micrometer per Pixel:\t0.703000",
        "Reference Electrode Distance:\t10.000000",
        "Voltage:\t0",
        "Polarity:\tNaN",
        "OscillatorFrames:\t0",
        "Reference Voltage:\t0",
        "Microscope Magnification:\tx10",
        "ZP Factor:\t12.83 (Smoluchowski)",
        f"Results (Pos {first_pos - 7e-6:.6f}):",
        f"Median Number (D50):\t{d50_num:.6f}",
        f"Median Concentration (D50):\t{d50_num:.6f}",
        f"Median Volume (D50):\t{d50_vol:.6f}",
        "Size Distribution",
        "Size / nm\tNumber\tConcentration / cm-3\tVolume / nm^3\tArea / nm^2",
    ]
    return h


def simulate_zetaview(
    lot: LotTruth,
    dilution: float,
    when: dt.datetime,
    experiment: str,
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> ZetaViewRun:
    """Simulate a ZetaView size measurement and render both exports.

    Parameters
    ----------
    lot
        Lot truth.
    dilution
        Dilution factor.
    when
        Measurement time.
    experiment
        Experiment name (``YYYYMMDD_NNNN``).
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    ZetaViewRun
        Both files and the values a parser reads back.
    """
    ev = params["ev"]
    laser = int(ev["zetaview_laser"])
    cdil = lot.conc / dilution
    pos = _sample_positions(cdil, lot, ev, rng)
    kept = ~pos.removed
    # Sample diameters of the kept traces.
    total = int(pos.traces[kept].sum())
    diam = np.exp(rng.normal(math.log(lot.d50), lot.sigma, total))
    diam = np.clip(diam, 15.0, 5990.0)
    lin_c = 2.5 + 5.0 * np.arange(1200)
    lin_edges = np.arange(1201) * 5.0
    log_c = 4.683 * 10 ** (np.arange(200) / 64.0)
    log_edges = np.concatenate(
        [log_c * 10 ** (-1 / 128), [log_c[-1] * 10 ** (1 / 128)]]
    )
    n_lin = np.histogram(diam, lin_edges)[0].astype(float)
    n_log = np.histogram(diam, log_edges)[0].astype(float)
    pos.conc_txt = [fmt_zv2(c) for c in pos.conc]
    pos.conc_vals = np.array([float(c) for c in pos.conc_txt])
    cmean = float(pos.conc_vals[kept].mean())
    factor = cmean / total
    _read_out_positions(pos, lot, rng)
    av_mean = float(pos.av_particles[kept].mean())
    st = weighted_stats(lin_c, n_lin, 5.0)
    vol_w = n_lin * lin_c**3
    # The header medians as ZetaView 8.06 computes them: the cumulative
    # fraction through each bin placed at the bin centre (half a bin below the
    # within-bin interpolation of weighted_stats).
    d50_num = zetaview_median(lin_c, n_lin)
    d50_vol = zetaview_median(lin_c, vol_w)
    pos_text = _positions_text(pos, dilution)
    first_pos = ZV_POSITIONS[int(np.flatnonzero(kept)[0])]
    h = _size_header(
        lot,
        experiment,
        laser,
        when,
        first_pos,
        (total, av_mean, dilution),
        (d50_num, d50_vol),
        rng,
    )
    body = []
    for c, n in zip(lin_c, n_lin, strict=True):
        body.append(_zv_row(c, n, factor))
    body.append("\t".join([fmt_zv(-1.0)] * 4 + [fmt_zv(0.0)]))
    for c, n in zip(log_c, n_log, strict=True):
        body.append(_zv_row(c, n, factor))
    size_text = "\n".join(h + body) + "\n"
    return ZetaViewRun(
        size_bytes=size_text.encode("latin-1"),
        pos_bytes=pos_text.encode("latin-1"),
        conc_diluted=cmean,
        d50=float(st["d50"]),
        traces=total,
    )


def _zv_row(c: float, n: float, factor: float) -> str:
    return "\t".join(
        [
            fmt_zv(c),
            fmt_zv(n),
            fmt_zv(n * factor),
            fmt_zv(n * math.pi * c**3 / 6),
            fmt_zv(n * math.pi * c**2 / 4),
        ]
    )
