"""Simulated NanoSight NTA 3.x ``*-ExperimentSummary.csv`` exports."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from exomir.simulate.ev.formats import (
    _f1,
    fmt_ns_conc,
    lognormal_bin_mass,
    percentiles,
    water_viscosity_cp,
    weighted_stats,
)
from exomir.simulate.ev.truth import LotTruth

#: Boltzmann constant (J/K), for the diffusion coefficients.
KB = 1.380649e-23


@dataclass
class NanoSightRun:
    """A simulated NanoSight run and its export text.

    Attributes
    ----------
    text
        File content (to be encoded as Latin-1).
    conc_avg
        Average concentration over videos as written (diluted sample).
    stats
        Number-weighted averages as written: mean, mode, sd, d10, d50, d90.
    frac_50_400
        Share of particles (number) between 50 and 400 nm (average bins).
    camera_level
        Camera level.
    detection_threshold
        Detection threshold.
    """

    text: str
    conc_avg: float
    stats: dict[str, float]
    frac_50_400: float
    camera_level: int
    detection_threshold: int


def _row(label: str, values: list[str], n_cols: int) -> str:
    cells = [label, *values]
    cells += [""] * max(0, n_cols + 1 - len(cells))
    return ",".join(cells) + ","


#: (weighting, column, average column, power of the diameter) of the exports.
_WEIGHTINGS = [
    ("Number", "Concentration (particles / ml)", "Concentration average", 0),
    ("Surface Area", "Surface area conc. (nm\u00b2 / ml)", "Surface area average", 2),
    ("Volume", "Volume conc. (nm\u00b3 / ml)", "Volume average", 3),
]


def _avg_se(x: np.ndarray) -> tuple[float, float]:
    """Average and standard error of the videos' values (SE 0 for one video)."""
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(
        x
    ) > 1 else 0.0


def _sample_videos(
    lot: LotTruth,
    dilution: float,
    cv: float,
    nv: int,
    centres: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Particles per 1-nm bin of each video (videos x 1000) of a diluted sample."""
    edges = np.arange(1001, dtype=float)
    num = np.zeros((nv, 1000))
    for v in range(nv):
        target = lot.conc / dilution * (1 + cv * rng.normal())
        d50 = lot.d50 * math.exp(rng.normal(0, 0.02))
        sig = lot.sigma * (1 + rng.normal(0, 0.03))
        mass = lognormal_bin_mass(edges, d50, sig)
        mass = mass * np.exp(rng.normal(0, 0.02, 1000))
        mass[centres < 20] = 0.0
        num[v] = np.round(target * mass / mass.sum())
    return num


def _header_lines(
    lot: LotTruth,
    name: str,
    videos: list[str],
    when: dt.datetime,
    conditions: tuple[np.ndarray, np.ndarray, int, int],
    rng: np.random.Generator,
) -> list[str]:
    """Title, [Experiment Details], [Conditions], [Settings], exclusion regions."""
    temp, visc, cam, thr = conditions
    nv = len(videos)
    lines: list[str] = []
    nc = nv + 2
    lines += [
        "NTA Experiment Summary File,",
        "Created with NTA 3.3 - Sample Assistant Dev Build 3.3.203,",
        ",",
    ]
    lines.append("[Experiment Details],")
    lines.append("Software Version,3.3.203,")
    lines.append(f"Experiment Name,{name}.nano,")
    lines.append("Operator Name,QC lab,")
    lines.append(f"Time Captured,{when:%H:%M:%S}  {when:%d/%m/%Y},")
    lines.append(f"Sample Description,MSC-EV lot {lot.lot_id},")
    lines.append("Pre-treatment,None,")
    lines.append("Diluent,PBS (0.02 um filtered),")
    lines.append("Remarks,,")
    lines += [",", ","]
    lines.append(_row("Filename:", videos, nv))
    lines.append(",")
    lines.append(_row("[Conditions]", [], nc))
    cond = [
        ("Temperature/C", [f"{x:.1f}" for x in temp]),
        ("Viscosity/cP", [f"{x:.2f}" for x in visc]),
        ("Camera Type", ["sCMOS"] * nv),
        ("Laser Type", ["Blue488"] * nv),
        ("Camera Level", [str(cam)] * nv),
        ("Slider Shutter", ["1259"] * nv),
        ("Slider Gain", ["366"] * nv),
        ("Shutter/ms", ["25"] * nv),
        ("Camera Histogram Upper Limit", ["6400"] * nv),
        ("Camera Histogram Lower Limit", ["0"] * nv),
        ("Frame rate/fps", ["25.0"] * nv),
        ("Syringe Pump Speed/AU", ["50"] * nv),
    ]
    lines += [_row(k, v, nv) for k, v in cond]
    lines.append("," * (nc + 1))
    lines.append(_row("[Settings]", [], nc))
    frames = [str(int(x)) for x in rng.integers(1490, 1500, nv)]
    sett = [
        ("Detection Threshold", [str(thr)] * nv),
        ("Max Jump Mode", ["Auto"] * nv),
        ("Max Jump Distance", [f"{x:.1f}" for x in rng.uniform(14.5, 16.5, nv)]),
        ("Blur", ["Auto"] * nv),
        ("Min Track Length", ["Auto"] * nv),
        ("First frame", ["0"] * nv),
        ("Total frames analysed", frames),
    ]
    lines += [_row(k, v, nv) for k, v in sett]
    lines.append("," * (nc + 1))
    lines.append("[Exclusion Regions],")
    lines.append("No Exclusion Regions Used,")
    lines.append("," * (nc + 1))
    return lines


def _results_lines(
    videos: list[str], conc_txt: list[str], conc_w: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """[Results] to [Data Included] sections; also returns the completed tracks."""
    nv = len(videos)
    nc = nv + 2
    lines = [",".join(["[Results]", *[""] * nv, "Average", "Standard Error"]) + ","]
    ppf = conc_w * 2.0e-7
    cpf = ppf * rng.uniform(1.02, 1.08, nv)
    tracks = np.round(conc_w * 1.0e-5 * rng.uniform(0.9, 1.1, nv)).astype(int)
    a, s = _avg_se(conc_w)
    lines.append(
        _row(
            "Dilution factor (concentrations adjusted for this factor)",
            ["Not recorded"] * nv,
            nc,
        )
    )
    lines.append(
        _row(
            "Concentration (Particles / ml)",
            [*conc_txt, fmt_ns_conc(a), fmt_ns_conc(s)],
            nc,
        )
    )
    lines.append(_row("Concentration Upgrade?", ["No"] * nv, nc))
    for label, vals in (("Particles per frame", ppf), ("Centres per frame", cpf)):
        va, vs = _avg_se(np.round(vals, 1))
        lines.append(
            _row(label, [*(f"{x:.1f}" for x in vals), f"{va:.1f}", f"{vs:.1f}"], nc)
        )
    lines.append(_row("Completed tracks", [str(x) for x in tracks], nc))
    lines.append(
        _row("X-Drift (pix/frame)", [f"{x:.1f}" for x in rng.normal(0, 0.05, nv)], nc)
    )
    lines.append(
        _row("Y-Drift (pix/frame)", [f"{x:.1f}" for x in rng.normal(0, 0.05, nv)], nc)
    )
    lines.append("," * (nc + 1))
    lines.append("[Concentration Warnings],")
    for k in (
        "Validity of concentration measurement",
        "Completed Tracks",
        "Particles per frame",
        "Noise level",
        "Brightness",
        "Detection Threshold",
        "Camera Histogram Lower Limit",
    ):
        lines.append(_row(k, ["OK"] * nv, nv))
    lines.append("," * (nc + 1))
    lines.append("[Information],")
    info = [
        ("Completed Tracks", "OK"),
        ("Concentration", "OK"),
        ("Video length", "OK"),
        ("Noise level", "OK"),
        ("Vibration detected", "No"),
        ("Vibration correction applied", "No"),
        ("Settings changed?", "No"),
        ("Errors (1)", "None"),
        ("Errors (2)", "None"),
    ]
    lines += [_row(k, [v] * nv, nv) for k, v in info]
    lines.append("," * (nc + 1))
    lines.append("[Data Included],")
    for kind in ("Size distribution", "Diffusion distribution"):
        for wname in ("Number weighting", "Surface area weighting", "Volume weighting"):
            lines.append(f"{kind} - {wname} - With Percentiles,")
    lines.append("," * (nc + 1))
    return lines, tracks


def _size_lines(
    videos: list[str], centres: np.ndarray, num: np.ndarray, valid: np.ndarray
) -> tuple[list[str], dict[str, float], float]:
    """[Size Data] in the three weightings; also the number-weighted statistics.

    Returns the lines, the averages over videos of the number-weighted
    statistics and the share of particles between 50 and 400 nm.
    """
    nv = len(videos)
    nc = nv + 2
    lines: list[str] = []
    number_stats: dict[str, float] = {}
    frac = 0.0
    # Size data.
    lines.append("[Size Data],")
    lines.append("Analysis Method,FTLA,")
    for wi, (wname, col, avg_col, power) in enumerate(_WEIGHTINGS):
        if wi:
            lines.append("," * (nc + 1))
        fac = {0: 1.0, 2: math.pi, 3: math.pi / 6}[power]
        vals = np.round(num * fac * centres**power)
        lines += _dist_block(
            wname,
            videos,
            centres,
            1.0,
            vals,
            col,
            avg_col,
            "Bin centre (nm)",
            "Size (nm)",
            valid,
        )
        if power == 0:
            st = [weighted_stats(centres, vals[v], 1.0) for v in range(nv)]
            number_stats = {
                k: float(f"{np.mean([float(_f1(x[k])) for x in st]):.1f}")
                for k in st[0]
            }
            avg_bins = vals.mean(axis=0)
            frac = float(
                avg_bins[(centres >= 50) & (centres <= 400)].sum() / avg_bins.sum()
            )
    lines.append("," * (nc + 1))
    return lines, number_stats, frac


def _diffusion_lines(
    videos: list[str],
    centres: np.ndarray,
    num: np.ndarray,
    conditions: tuple[np.ndarray, np.ndarray],
    valid: np.ndarray,
) -> list[str]:
    """[Diffusion Coefficient Data]: D (E4 nm^2/s) = kT / (3 pi eta d)."""
    temp, visc = conditions
    nv = len(videos)
    nc = nv + 2
    lines: list[str] = []
    lines.append("[Diffusion Coefficient Data],")
    lines.append("Analysis Method,FTLA,")
    dcent = 2.0 + 4.0 * np.arange(1000)
    dedges = np.concatenate([[0.0], dcent + 2.0])
    for wi, (wname, _col, _avg, power) in enumerate(_WEIGHTINGS):
        if wi:
            lines.append("," * (nc + 1))
        vals = np.zeros((nv, 1000))
        for v in range(nv):
            k_e4 = KB * (temp[v] + 273.15) / (3 * math.pi * visc[v] * 1e-3) * 1e27 / 1e4
            # Diameter edges (nm) of each diffusion bin, decreasing with D.
            d_hi = k_e4 / np.clip(dedges[:-1], 1e-9, None)
            d_lo = k_e4 / dedges[1:]
            d_mid = k_e4 / dcent
            mass_hi = _interp_cum(centres, num[v], np.minimum(d_hi, 1000.0))
            mass_lo = _interp_cum(centres, num[v], np.minimum(d_lo, 1000.0))
            m = np.clip(mass_hi - mass_lo, 0, None)
            fac = {0: 1.0, 2: math.pi, 3: math.pi / 6}[power]
            vals[v] = np.round(m * fac * d_mid**power)
        col = {
            0: "Concentration (particles / ml)",
            2: "Surface area conc. (nm\u00b2 / ml)",
            3: "Volume conc. (nm\u00b3 / ml)",
        }[power]
        avg_col = {
            0: "Concentration average",
            2: "Surface area average",
            3: "Volume average",
        }[power]
        lines += _dist_block(
            wname,
            videos,
            dcent,
            4.0,
            vals,
            col,
            avg_col,
            "Bin centre (E4 nm\u00b2/s)",
            "Diffusion Coefficient (E4 nm\u00b2/s)",
            valid,
        )
    lines.append("," * (nc + 1))
    return lines


def simulate_nanosight(
    lot: LotTruth,
    dilution: float,
    replicate: int,
    when: dt.datetime,
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> NanoSightRun:
    """Simulate one NanoSight run of a lot and render its ExperimentSummary.

    Parameters
    ----------
    lot
        Lot truth.
    dilution
        Dilution of the measured sample.
    replicate
        Replicate number (in names only).
    when
        Capture time.
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    NanoSightRun
        Export text and the values a parser reads back.
    """
    ev = params["ev"]
    nv = int(ev["nanosight_videos"])
    name = f"{lot.lot_id}_d{int(dilution)}_r{replicate}"
    videos = [f"{name}_{v + 1:03d}" for v in range(nv)]
    centres = np.arange(1000) + 0.5
    temp = np.round(23.0 + rng.normal(0, 0.1, nv), 1)
    visc = np.round([water_viscosity_cp(x) for x in temp], 2)
    cam = int(rng.choice([14, 15, 16]))
    thr = int(rng.choice([4, 5, 6]))
    num = _sample_videos(lot, dilution, float(ev["nta_conc_cv"]), nv, centres, rng)
    conc = num.sum(axis=1)
    conc_txt = [fmt_ns_conc(c) for c in conc]
    conc_w = np.array([float(c) for c in conc_txt])
    lines = _header_lines(lot, name, videos, when, (temp, visc, cam, thr), rng)
    results, tracks = _results_lines(videos, conc_txt, conc_w, rng)
    lines += results
    valid = np.round(tracks * rng.uniform(0.55, 0.7, nv))
    size, number_stats, frac = _size_lines(videos, centres, num, valid)
    lines += size
    lines += _diffusion_lines(videos, centres, num, (temp, visc), valid)
    text = "\n".join(lines) + "\n"
    return NanoSightRun(
        text=text,
        conc_avg=float(fmt_ns_conc(float(np.mean(conc_w)))),
        stats=number_stats,
        frac_50_400=frac,
        camera_level=cam,
        detection_threshold=thr,
    )


def _interp_cum(centres: np.ndarray, bins: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Cumulative mass of 1-nm size bins up to diameter ``d`` (linear in bins)."""
    cum = np.concatenate([[0.0], np.cumsum(bins)])
    edges = np.concatenate([centres - 0.5, [centres[-1] + 0.5]])
    return np.interp(d, edges, cum)


def _dist_block(
    wname: str,
    videos: list[str],
    centres: np.ndarray,
    width: float,
    vals: np.ndarray,
    col: str,
    avg_col: str,
    bin_header: str,
    pct_header: str,
    valid: np.ndarray,
) -> list[str]:
    nv = len(videos)
    nc = nv + 2
    out = [
        f"Weighting,{wname},",
        ",".join(["Filename", *videos, "Average", "Standard Error"]) + ",",
    ]
    st = [weighted_stats(centres, vals[v], width) for v in range(nv)]
    for key, label in (
        ("mean", "Mean"),
        ("mode", "Mode"),
        ("sd", "SD"),
        ("d10", "D10"),
        ("d50", "D50"),
        ("d90", "D90"),
    ):
        x = np.array([float(_f1(s[key])) for s in st])
        se = float(np.std(x, ddof=1) / math.sqrt(nv)) if nv > 1 else 0.0
        out.append(
            _row(label, [*(_f1(v) for v in x), _f1(float(x.mean())), _f1(se)], nc)
        )
    out.append(_row("Valid Tracks", [f"{v:.1f}" for v in valid], nc))
    out.append("Graph Data,")
    out.append(",".join([bin_header, *[col] * nv, avg_col, "Standard Error"]) + ",")
    avg = vals.mean(axis=0)
    se_bins = (
        vals.std(axis=0, ddof=1) / math.sqrt(nv) if nv > 1 else np.zeros(len(centres))
    )
    for i, c in enumerate(centres):
        cells = [f"{c:g}" if width == 1.0 else f"{c:.1f}"]
        cells += [f"{int(v)}" for v in vals[:, i]]
        cells += [_num(avg[i]), _num(se_bins[i])]
        out.append(",".join(cells) + ",")
    out.append("")
    out.append(",".join(["Percentile", *[pct_header] * nv]) + ",")
    pct = [percentiles(centres, vals[v], width, np.arange(101)) for v in range(nv)]
    for q in range(101):
        out.append(",".join([str(q), *(_f1(pct[v][q]) for v in range(nv))]) + ",")
    return out


def _num(x: float) -> str:
    if x == int(x):
        return str(int(x))
    return f"{x:.1f}"
