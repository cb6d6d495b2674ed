"""EV product lots and synthetic NTA exports (NanoSight and ZetaView layouts).

Each lot has a true stock concentration and a log-normal number-weighted size
distribution (median ``d50``, log-SD ``sigma``). Instrument runs measure a
diluted sample with video/position noise, and the exports are written in the
layouts of ``EV_FORMATS.md``:

* NanoSight NTA 3.x ``*-ExperimentSummary.csv`` (Latin-1, ragged comma rows,
  ``[Section]`` markers, 1000 size bins and 1000 diffusion bins per weighting,
  101-row percentile tables);
* ZetaView 8.x ``*_size_<laser>.txt`` (Latin-1 ``Key:<TAB>value`` header with
  its irregular lines, then 1200 linear bins, the sentinel row and 200 log
  bins) and the companion ``*_size_<laser>_11pos.txt`` position summary.

The lot table's size and concentration columns are what a parser reads back
from the primary (NanoSight) export, so the two always agree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open

#: Column order of config/ev_lots.tsv (analysis_spec §4.1 and §5.6).
LOT_COLUMNS = [
    "lot_id",
    "manufacture_date",
    "expiry_date",
    "isolation_method",
    "storage",
    "release_decision",
    "cm_volume_ml",
    "producer_cells_n",
    "donor_id",
    "passage",
    "particle_conc_per_ml",
    "nta_instrument",
    "camera_level",
    "detection_threshold",
    "dilution",
    "mode_nm",
    "mean_nm",
    "sd_nm",
    "d10_nm",
    "d50_nm",
    "d90_nm",
    "span",
    "protein_ug_per_ml",
    "particles_per_ug",
    "cd9",
    "cd63",
    "cd81",
    "tsg101",
    "alix",
    "syntenin",
    "calnexin",
    "gm130",
    "apoa1",
    "albumin",
    "cd73",
    "cd90",
    "cd105",
    "cd45",
    "tem_ok",
    "tem_image",
    "zeta_mv",
    "mir126_copies_per_1e9",
    "vegfa_pg_per_1e9",
    "potency_pct_of_ref",
    "sterility",
    "endotoxin_eu_per_ml",
    "mycoplasma",
    "bsa_ng_per_ml",
]

#: Column order of config/ev_nta_runs.tsv (analysis_spec §5.6).
NTA_RUN_COLUMNS = ["lot_id", "instrument", "file", "dilution", "replicate"]

ZV_POSITIONS = [0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.90]
KB = 1.380649e-23


@dataclass
class LotTruth:
    """True properties of one EV lot.

    Attributes
    ----------
    lot_id
        Lot identifier.
    index
        1-based lot number in manufacturing order.
    conc
        True stock concentration (particles/mL).
    d50
        True median diameter of the number distribution (nm).
    sigma
        Log-SD of the number distribution.
    protein
        Protein (ug/mL).
    zeta
        Zeta potential (mV).
    endotoxin
        Endotoxin (EU/mL).
    sterility
        ``"no growth"`` or ``"growth"``.
    fails
        Whether the lot fails release.
    failed_criterion
        The criterion it fails (empty if it passes).
    manufacture
        Manufacture date.
    measured
        Values read back from the primary NTA export (filled later).
    """

    lot_id: str
    index: int
    conc: float
    d50: float
    sigma: float
    protein: float
    zeta: float
    endotoxin: float
    sterility: str
    fails: bool
    failed_criterion: str
    manufacture: dt.date
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> float:
        """True mode of the log-normal number distribution (nm)."""
        return self.d50 * math.exp(-(self.sigma**2))

    @property
    def release(self) -> dt.date:
        """Release date (30 days after manufacture)."""
        return self.manufacture + dt.timedelta(days=30)


def simulate_lot_truth(
    params: Mapping[str, Any], rng: np.random.Generator
) -> list[LotTruth]:
    """Draw the true properties of every lot, one of which may fail.

    Parameters
    ----------
    params
        Resolved parameters (``ev`` and ``trial`` sections).
    rng
        Random generator.

    Returns
    -------
    list[LotTruth]
        Lots in manufacturing order.
    """
    ev = params["ev"]
    t = params["trial"]
    start = dt.date.fromisoformat(str(t["start_date"]))
    n = int(ev["n_lots"])
    lots = []
    for k in range(n):
        idx = k + 1
        conc = 10 ** rng.uniform(*ev["log10_conc_range"])
        d50 = rng.uniform(*ev["d50_nm_range"])
        sigma = rng.uniform(*ev["sigma_log_range"])
        lo, hi = (math.log10(x) for x in ev["particles_per_ug_range"])
        protein = conc / 10 ** rng.uniform(lo, hi)
        zeta = rng.uniform(*ev["zeta_mv_range"])
        endo = rng.uniform(*ev["endotoxin_range"])
        sterility = "no growth"
        fails = idx == int(ev["failing_lot"])
        crit = ""
        if fails:
            mode = ev["failure_mode"]
            if mode == "size":
                d50 = float(ev["fail_d50_nm"])
                sigma = float(ev["fail_sigma_log"])
                crit = "size"
            elif mode == "endotoxin":
                endo = float(ev["fail_endotoxin"])
                crit = "endotoxin"
            elif mode == "purity":
                protein = conc / float(ev["fail_particles_per_ug"])
                crit = "purity"
            else:
                sterility = "growth"
                crit = "sterility"
        manufacture = start + dt.timedelta(
            days=-60 + round(k * int(t["enrolment_days"]) / n)
        )
        lots.append(
            LotTruth(
                lot_id=f"EVL-{manufacture:%y}{idx:02d}",
                index=idx,
                conc=float(conc),
                d50=float(d50),
                sigma=float(sigma),
                protein=float(protein),
                zeta=float(zeta),
                endotoxin=float(endo),
                sterility=sterility,
                fails=fails,
                failed_criterion=crit,
                manufacture=manufacture,
            )
        )
    return lots


# ---------------------------------------------------------------------------
# Number formats


def fmt_zv(x: float) -> str:
    """Format a number like ZetaView: 4 significant digits, ``2.500E+0``.

    Parameters
    ----------
    x
        Value.

    Returns
    -------
    str
        Mantissa with 3 decimals, ``E``, and an unpadded signed exponent.
    """
    mant, exp = f"{x:.3E}".split("E")
    return f"{mant}E{int(exp):+d}"


def fmt_zv2(x: float) -> str:
    """Format a concentration like the 11-position summary (``2.2E+8``).

    Parameters
    ----------
    x
        Value.

    Returns
    -------
    str
        Two significant digits, unpadded signed exponent.
    """
    mant, exp = f"{x:.1E}".split("E")
    return f"{mant}E{int(exp):+d}"


def fmt_ns_conc(x: float) -> str:
    """Format a NanoSight concentration (``2.08e+08``).

    Parameters
    ----------
    x
        Value.

    Returns
    -------
    str
        Three significant digits, lower-case exponent.
    """
    return f"{x:.2e}"


def _f1(x: float) -> str:
    return f"{x:.1f}"


# ---------------------------------------------------------------------------
# Distribution helpers


def lognormal_bin_mass(edges: np.ndarray, d50: float, sigma: float) -> np.ndarray:
    """Probability mass of a log-normal number distribution in each bin.

    Parameters
    ----------
    edges
        Bin edges (nm), increasing, length ``n + 1``.
    d50
        Median diameter.
    sigma
        Log-SD.

    Returns
    -------
    numpy.ndarray
        Mass per bin (sums to at most 1).
    """
    from math import erf

    z = (np.log(np.clip(edges, 1e-9, None)) - math.log(d50)) / (sigma * math.sqrt(2))
    cdf = 0.5 * (1 + np.array([erf(v) for v in z]))
    cdf[edges <= 0] = 0.0
    return np.diff(cdf)


def weighted_stats(
    centres: np.ndarray, weights: np.ndarray, width: float
) -> dict[str, float]:
    """Mean, mode, SD and D10/D50/D90 of a binned distribution.

    Percentiles interpolate linearly inside bins of the given width.

    Parameters
    ----------
    centres
        Bin centres.
    weights
        Non-negative weight per bin.
    width
        Bin width (same units as the centres).

    Returns
    -------
    dict
        Keys ``mean``, ``mode``, ``sd``, ``d10``, ``d50``, ``d90``.
    """
    w = np.asarray(weights, dtype=float)
    tot = w.sum()
    mean = float((centres * w).sum() / tot)
    sd = float(math.sqrt(max(((centres - mean) ** 2 * w).sum() / tot, 0.0)))
    mode = float(centres[int(np.argmax(w))])
    q = percentiles(centres, w, width, [10, 50, 90])
    return {"mean": mean, "mode": mode, "sd": sd, "d10": q[0], "d50": q[1], "d90": q[2]}


def zetaview_median(centres: np.ndarray, weights: np.ndarray) -> float:
    """Median of a binned distribution the way ZetaView 8.06 prints it.

    The cumulative fraction through bin i is placed at centre i and the 50%
    crossing is interpolated linearly between consecutive centres.

    Parameters
    ----------
    centres
        Bin centres (increasing).
    weights
        Weight per bin.

    Returns
    -------
    float
        The median.
    """
    w = np.asarray(weights, dtype=float)
    cum = np.cumsum(w) / w.sum()
    i = int(np.argmax(cum >= 0.5))
    if i == 0:
        return float(centres[0])
    t = (0.5 - cum[i - 1]) / (cum[i] - cum[i - 1])
    return float(centres[i - 1] + t * (centres[i] - centres[i - 1]))


def percentiles(
    centres: np.ndarray, weights: np.ndarray, width: float, qs: list[float] | np.ndarray
) -> list[float]:
    """Percentiles of a binned distribution with linear interpolation in bins.

    Parameters
    ----------
    centres
        Bin centres.
    weights
        Weight per bin.
    width
        Bin width.
    qs
        Percentiles (0-100).

    Returns
    -------
    list[float]
        Value at each percentile; 0 and 100 give the edges of the outermost
        non-empty bins.
    """
    w = np.asarray(weights, dtype=float)
    nz = np.flatnonzero(w > 0)
    left = centres - width / 2
    cum = np.concatenate([[0.0], np.cumsum(w)]) / w.sum()
    edges = np.concatenate([left, [left[-1] + width]])
    out = []
    for q in qs:
        f = q / 100.0
        if f <= 0:
            out.append(float(left[nz[0]]))
            continue
        if f >= 1:
            out.append(float(left[nz[-1]] + width))
            continue
        i = int(np.searchsorted(cum, f, side="left"))
        i = min(max(i, 1), len(cum) - 1)
        c0, c1 = cum[i - 1], cum[i]
        frac = 0.0 if c1 == c0 else (f - c0) / (c1 - c0)
        out.append(float(edges[i - 1] + frac * width))
    return out


def water_viscosity_cp(temp_c: float) -> float:
    """Viscosity of water (cP) at a temperature (Vogel-type fit).

    Parameters
    ----------
    temp_c
        Temperature in degrees Celsius.

    Returns
    -------
    float
        Viscosity in centipoise.
    """
    t = temp_c + 273.15
    return 2.414e-5 * 10 ** (247.8 / (t - 140.0)) * 1000.0


# ---------------------------------------------------------------------------
# NanoSight


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
    edges = np.arange(1001, dtype=float)
    temp = np.round(23.0 + rng.normal(0, 0.1, nv), 1)
    visc = np.round([water_viscosity_cp(x) for x in temp], 2)
    cam = int(rng.choice([14, 15, 16]))
    thr = int(rng.choice([4, 5, 6]))
    num = np.zeros((nv, 1000))
    conc = np.zeros(nv)
    for v in range(nv):
        target = lot.conc / dilution * (1 + float(ev["nta_conc_cv"]) * rng.normal())
        d50 = lot.d50 * math.exp(rng.normal(0, 0.02))
        sig = lot.sigma * (1 + rng.normal(0, 0.03))
        mass = lognormal_bin_mass(edges, d50, sig)
        mass = mass * np.exp(rng.normal(0, 0.02, 1000))
        mass[centres < 20] = 0.0
        bins = np.round(target * mass / mass.sum())
        num[v] = bins
        conc[v] = bins.sum()
    conc_txt = [fmt_ns_conc(c) for c in conc]
    conc_w = np.array([float(c) for c in conc_txt])

    def avg_se(x: np.ndarray) -> tuple[float, float]:
        return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(
            x
        ) > 1 else 0.0

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
    lines.append(",".join(["[Results]", *[""] * nv, "Average", "Standard Error"]) + ",")
    ppf = conc_w * 2.0e-7
    cpf = ppf * rng.uniform(1.02, 1.08, nv)
    tracks = np.round(conc_w * 1.0e-5 * rng.uniform(0.9, 1.1, nv)).astype(int)
    a, s = avg_se(conc_w)
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
        va, vs = avg_se(np.round(vals, 1))
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

    valid = np.round(tracks * rng.uniform(0.55, 0.7, nv))
    weightings = [
        ("Number", "Concentration (particles / ml)", "Concentration average", 0),
        (
            "Surface Area",
            "Surface area conc. (nm\u00b2 / ml)",
            "Surface area average",
            2,
        ),
        ("Volume", "Volume conc. (nm\u00b3 / ml)", "Volume average", 3),
    ]
    number_stats: dict[str, float] = {}
    frac = 0.0
    # Size data.
    lines.append("[Size Data],")
    lines.append("Analysis Method,FTLA,")
    for wi, (wname, col, avg_col, power) in enumerate(weightings):
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
    # Diffusion coefficient data: D (E4 nm^2/s) = kT / (3 pi eta d).
    lines.append("[Diffusion Coefficient Data],")
    lines.append("Analysis Method,FTLA,")
    dcent = 2.0 + 4.0 * np.arange(1000)
    dedges = np.concatenate([[0.0], dcent + 2.0])
    for wi, (wname, _col, _avg, power) in enumerate(weightings):
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
    se = vals.std(axis=0, ddof=1) / math.sqrt(nv) if nv > 1 else np.zeros(len(centres))
    for i, c in enumerate(centres):
        cells = [f"{c:g}" if width == 1.0 else f"{c:.1f}"]
        cells += [f"{int(v)}" for v in vals[:, i]]
        cells += [_num(avg[i]), _num(se[i])]
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


# ---------------------------------------------------------------------------
# ZetaView


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
    npos = len(ZV_POSITIONS)
    cdil = lot.conc / dilution
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
    kept = ~removed
    # Sample diameters of the kept traces.
    total = int(traces[kept].sum())
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
    conc_txt = [fmt_zv2(c) for c in pos_conc]
    conc_vals = np.array([float(c) for c in conc_txt])
    cmean = float(conc_vals[kept].mean())
    factor = cmean / total
    av_particles = np.round(pos_conc * 2.3e-6 * rng.uniform(0.95, 1.05, npos), 1)
    av_mean = float(av_particles[kept].mean())
    mean_int = np.round(rng.uniform(24, 34, npos), 1)
    peak = np.round(x50 * math.exp(-(lot.sigma**2)) * rng.uniform(0.95, 1.05, npos), 1)
    span = np.round(
        (math.exp(1.2816 * lot.sigma) - math.exp(-1.2816 * lot.sigma))
        * rng.uniform(0.95, 1.05, npos),
        2,
    )
    drift = np.round(rng.uniform(1.5, 4.0, npos), 2)
    x50 = np.round(x50, 1)
    st = weighted_stats(lin_c, n_lin, 5.0)
    vol_w = n_lin * lin_c**3
    # The header medians as ZetaView 8.06 computes them: the cumulative
    # fraction through each bin placed at the bin centre (half a bin below the
    # within-bin interpolation of weighted_stats).
    d50_num = zetaview_median(lin_c, n_lin)
    d50_vol = zetaview_median(lin_c, vol_w)

    # --- 11-position summary -------------------------------------------
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

    # --- size export ----------------------------------------------------
    date = f"{when:%Y-%m-%d}"
    stem = f"{experiment}_{lot.lot_id}_size_{laser}"
    first_pos = ZV_POSITIONS[int(np.flatnonzero(kept)[0])]
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


# ---------------------------------------------------------------------------
# Lots: tables and files


def _dilution(conc: float, target: float) -> float:
    raw = conc / target
    steps = [10, 20, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000]
    return float(min(steps, key=lambda s: abs(math.log(s / raw))))


def simulate_ev(
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> tuple[list[LotTruth], pd.DataFrame, pd.DataFrame, dict[str, bytes]]:
    """Simulate lots, NTA runs and their exports.

    Parameters
    ----------
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    lots : list[LotTruth]
        Lot truth with ``measured`` filled from the primary export.
    ev_lots : pandas.DataFrame
        ``ev_lots.tsv`` (:data:`LOT_COLUMNS`).
    nta_runs : pandas.DataFrame
        ``ev_nta_runs.tsv`` (:data:`NTA_RUN_COLUMNS`).
    files : dict[str, bytes]
        Relative path (under the scenario) -> file content.
    """
    ev = params["ev"]
    lots = simulate_lot_truth(params, rng)
    files: dict[str, bytes] = {}
    runs = []
    rows = []
    for lot in lots:
        ns_runs: list[NanoSightRun] = []
        zv_runs: list[ZetaViewRun] = []
        day = lot.manufacture + dt.timedelta(days=7)
        for r in range(int(ev["nanosight_replicates"])):
            dil = _dilution(lot.conc, float(ev["nta_target_conc"]))
            when = dt.datetime.combine(day, dt.time(10, 0)) + dt.timedelta(
                minutes=int(rng.integers(0, 300)) + 30 * r
            )
            run = simulate_nanosight(lot, dil, r + 1, when, params, rng)
            rel = (
                f"data/nta/{lot.lot_id}/{lot.lot_id}_d{int(dil)}_r{r + 1} "
                f"{when:%Y-%m-%d %H-%M-%S}-ExperimentSummary.csv"
            ).replace(" ", "_")
            files[rel] = run.text.encode("latin-1")
            runs.append(
                {
                    "lot_id": lot.lot_id,
                    "instrument": "NanoSight",
                    "file": rel,
                    "dilution": dil,
                    "replicate": r + 1,
                }
            )
            ns_runs.append(run)
        for r in range(int(ev["zetaview_replicates"])):
            dil = _dilution(lot.conc, float(ev["nta_target_conc"]) / 1.5)
            when = dt.datetime.combine(
                day + dt.timedelta(days=1), dt.time(9, 0)
            ) + dt.timedelta(minutes=int(rng.integers(0, 300)) + 30 * r)
            exp = f"{when:%Y%m%d}_{int(rng.integers(1, 9999)):04d}"
            run = simulate_zetaview(lot, dil, when, exp, params, rng)
            laser = int(ev["zetaview_laser"])
            base = f"data/nta/{lot.lot_id}/{exp}_{lot.lot_id}_size_{laser}"
            files[f"{base}.txt"] = run.size_bytes
            files[f"{base}_11pos.txt"] = run.pos_bytes
            runs.append(
                {
                    "lot_id": lot.lot_id,
                    "instrument": "ZetaView",
                    "file": f"{base}.txt",
                    "dilution": dil,
                    "replicate": r + 1,
                }
            )
            zv_runs.append(run)
        rows.append(_lot_row(lot, ns_runs, zv_runs, runs, params, rng))
    lots_df = pd.DataFrame(rows)[LOT_COLUMNS]
    runs_df = pd.DataFrame(runs)[NTA_RUN_COLUMNS]
    return lots, lots_df, runs_df, files


def _lot_row(
    lot: LotTruth,
    ns: list[NanoSightRun],
    zv: list[ZetaViewRun],
    runs: list[dict[str, Any]],
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    lot_runs = [r for r in runs if r["lot_id"] == lot.lot_id]
    if ns:
        dil = next(r["dilution"] for r in lot_runs if r["instrument"] == "NanoSight")
        conc = float(fmt_ns_conc(float(np.mean([r.conc_avg for r in ns])) * dil))
        st = {k: float(np.mean([r.stats[k] for r in ns])) for k in ns[0].stats}
        instrument = "NanoSight NS300"
        cam: int | None = ns[0].camera_level
        thr: int | None = ns[0].detection_threshold
        frac = float(np.mean([r.frac_50_400 for r in ns]))
    else:
        dil = next(r["dilution"] for r in lot_runs if r["instrument"] == "ZetaView")
        conc = float(fmt_ns_conc(float(np.mean([r.conc_diluted for r in zv])) * dil))
        d50 = float(np.mean([r.d50 for r in zv]))
        st = {
            "mean": d50 * math.exp(lot.sigma**2 / 2),
            "mode": d50 * math.exp(-(lot.sigma**2)),
            "sd": d50
            * math.sqrt((math.exp(lot.sigma**2) - 1) * math.exp(lot.sigma**2)),
            "d10": d50 * math.exp(-1.2816 * lot.sigma),
            "d50": d50,
            "d90": d50 * math.exp(1.2816 * lot.sigma),
        }
        instrument, cam, thr = "ZetaView PMX-120", None, None
        frac = float("nan")
    protein = round(lot.protein, 1)
    ppu = conc / protein
    lot.measured = {
        "particle_conc_per_ml": conc,
        "mode_nm": round(st["mode"], 1),
        "d10_nm": round(st["d10"], 1),
        "d50_nm": round(st["d50"], 1),
        "d90_nm": round(st["d90"], 1),
        "frac_50_400": frac,
        "particles_per_ug": ppu,
        "endotoxin_eu_per_ml": round(lot.endotoxin, 3),
        "sterility": lot.sterility,
    }
    ev = params["ev"]
    decision = "rejected" if lot.fails and not ev["failing_lot_dosed"] else "released"
    return {
        "lot_id": lot.lot_id,
        "manufacture_date": lot.manufacture.isoformat(),
        "expiry_date": (lot.manufacture + dt.timedelta(days=365)).isoformat(),
        "isolation_method": "TFF+SEC",
        "storage": "-80C in PBS with 25 mM trehalose",
        "release_decision": decision,
        "cm_volume_ml": float(rng.choice([2000.0, 3000.0, 4000.0])),
        "producer_cells_n": float(f"{rng.uniform(1.5e8, 4.5e8):.2e}"),
        "donor_id": f"FASC-D{1 + lot.index // 3:02d}",
        "passage": int(rng.integers(3, 6)),
        "particle_conc_per_ml": conc,
        "nta_instrument": instrument,
        "camera_level": cam,
        "detection_threshold": thr,
        "dilution": dil,
        "mode_nm": round(st["mode"], 1),
        "mean_nm": round(st["mean"], 1),
        "sd_nm": round(st["sd"], 1),
        "d10_nm": round(st["d10"], 1),
        "d50_nm": round(st["d50"], 1),
        "d90_nm": round(st["d90"], 1),
        "span": round((st["d90"] - st["d10"]) / st["d50"], 3),
        "protein_ug_per_ml": protein,
        "particles_per_ug": float(f"{ppu:.3e}"),
        "cd9": "pos",
        "cd63": "pos",
        "cd81": "pos",
        "tsg101": "pos",
        "alix": "pos",
        "syntenin": "pos",
        "calnexin": "neg",
        "gm130": "neg",
        "apoa1": "neg",
        "albumin": "neg",
        "cd73": "pos",
        "cd90": "pos",
        "cd105": "pos",
        "cd45": "neg",
        "tem_ok": True,
        "tem_image": None,
        "zeta_mv": round(lot.zeta, 1),
        "mir126_copies_per_1e9": float(f"{10 ** rng.uniform(3.5, 4.5):.3g}"),
        "vegfa_pg_per_1e9": round(float(rng.uniform(5, 40)), 1),
        "potency_pct_of_ref": round(float(rng.uniform(85, 120)), 0),
        "sterility": lot.sterility,
        "endotoxin_eu_per_ml": round(lot.endotoxin, 3),
        "mycoplasma": "negative",
        "bsa_ng_per_ml": round(float(rng.uniform(0.5, 5.0)), 1),
    }


def lot_truth_table(lots: list[LotTruth], params: Mapping[str, Any]) -> pd.DataFrame:
    """Tabulate which lot fails which criterion (``truth/ev_lots.tsv``).

    Parameters
    ----------
    lots
        Lot truth with measured values.
    params
        Resolved parameters (release specification in ``ev``).

    Returns
    -------
    pandas.DataFrame
        One row per lot and criterion: ``lot_id``, ``criterion``, ``spec``,
        ``true_value``, ``measured_value``, ``passes``, plus lot-level
        ``lot_fails``, ``planted_failure`` and ``used_for_dosing``.
    """
    ev = params["ev"]
    rows = []
    for lot in lots:
        m = lot.measured
        dosed = (not lot.fails) or bool(ev["failing_lot_dosed"])
        checks = [
            (
                "mode_nm",
                f"< {ev['spec_max_mode_nm']:g}",
                lot.mode,
                m["mode_nm"],
                m["mode_nm"] < ev["spec_max_mode_nm"],
            ),
            (
                "frac_50_400nm",
                f">= {ev['spec_min_frac_50_400']:g}",
                _lognormal_frac(lot.d50, lot.sigma, 50, 400),
                m["frac_50_400"],
                bool(
                    (
                        m["frac_50_400"]
                        if not math.isnan(m["frac_50_400"])
                        else _lognormal_frac(lot.d50, lot.sigma, 50, 400)
                    )
                    >= ev["spec_min_frac_50_400"]
                ),
            ),
            (
                "endotoxin_eu_per_ml",
                f"< {ev['spec_max_endotoxin']:g}",
                lot.endotoxin,
                m["endotoxin_eu_per_ml"],
                m["endotoxin_eu_per_ml"] < ev["spec_max_endotoxin"],
            ),
            (
                "particles_per_ug",
                f">= {ev['spec_min_particles_per_ug']:g}",
                lot.conc / lot.protein,
                m["particles_per_ug"],
                m["particles_per_ug"] >= ev["spec_min_particles_per_ug"],
            ),
            (
                "sterility",
                "no growth",
                lot.sterility,
                lot.sterility,
                lot.sterility == "no growth",
            ),
        ]
        for crit, spec, true, meas, ok in checks:
            rows.append(
                {
                    "lot_id": lot.lot_id,
                    "lot_index": lot.index,
                    "criterion": crit,
                    "spec": spec,
                    "true_value": _fmt_truth(true),
                    "measured_value": _fmt_truth(meas),
                    "passes": bool(ok),
                    "lot_fails": lot.fails,
                    "planted_failure": lot.failed_criterion,
                    "used_for_dosing": dosed,
                    "true_conc_per_ml": f"{lot.conc:.4e}",
                    "true_d50_nm": round(lot.d50, 2),
                    "true_sigma_log": round(lot.sigma, 4),
                }
            )
    return pd.DataFrame(rows)


def _fmt_truth(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}")
    return x


def _lognormal_frac(d50: float, sigma: float, lo: float, hi: float) -> float:
    from math import erf, log, sqrt

    def cdf(x: float) -> float:
        return 0.5 * (1 + erf((log(x) - log(d50)) / (sigma * sqrt(2))))

    return cdf(hi) - cdf(lo)


def assign_lots(
    roster: pd.DataFrame,
    lots: list[LotTruth],
    lots_df: pd.DataFrame,
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Give each dosed exosome-arm participant a lot and compute the dose.

    A participant receives the most recently released usable lot on her dose
    date (the failing lot is usable only if ``ev.failing_lot_dosed``). The dose
    in particles is the lot's labelled concentration times the product volume.

    Parameters
    ----------
    roster
        Participants (``arm``, ``route``, ``dosed``, ``dose_date``).
    lots
        Lot truth in manufacturing order.
    lots_df
        ``ev_lots.tsv`` (labelled concentration).
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        The roster with ``ev_lot_id``, ``dose_particles``, ``dose_volume_ml``
        and ``infusion_minutes``.
    """
    ev = params["ev"]
    treat = params["trial"]["arms"][1]
    usable = [lot for lot in lots if not lot.fails or ev["failing_lot_dosed"]]
    labelled = dict(
        zip(lots_df["lot_id"], lots_df["particle_conc_per_ml"], strict=True)
    )
    out = roster.copy()
    lot_ids: list[str | None] = []
    dose_p: list[float | None] = []
    vol: list[float | None] = []
    minutes: list[float | None] = []
    for r in out.itertuples(index=False):
        if not r.dosed:
            lot_ids.append(None)
            dose_p.append(None)
            vol.append(None)
            minutes.append(None)
            continue
        iv = r.route == "IV"
        vol.append(float(ev["iv_volume_ml"] if iv else ev["im_volume_ml"]))
        minutes.append(
            float(rng.integers(*ev["infusion_minutes_range"])) if iv else None
        )
        if r.arm != treat:
            lot_ids.append(None)
            dose_p.append(0.0)
            continue
        released = [lot for lot in usable if lot.release <= r.dose_date]
        lot = released[-1] if released else usable[0]
        lot_ids.append(lot.lot_id)
        dose = labelled[lot.lot_id] * float(ev["product_volume_ml"])
        dose_p.append(float(f"{dose:.3e}"))
    out["ev_lot_id"] = lot_ids
    out["dose_particles"] = dose_p
    out["dose_volume_ml"] = vol
    out["infusion_minutes"] = minutes
    return out


def write_files(outdir: Path, files: Mapping[str, bytes]) -> None:
    """Write exported files under the scenario directory, atomically.

    Parameters
    ----------
    outdir
        Scenario directory.
    files
        Relative path -> content.
    """
    for rel, content in sorted(files.items()):
        with atomic_open(outdir / rel, "wb") as fh:
            fh.write(content)
