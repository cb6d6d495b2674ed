"""Write the synthetic NTA fixtures of tests/data/ev/ (run from the repository).

    .venv/bin/python tests/data/ev/make_fixtures.py

Every file here is synthetic: the layouts follow ``EV_FORMATS.md`` (NanoSight
NTA 3.x ExperimentSummary.csv, ZetaView 8.x size / 11-position / profile
exports), and every number is computed below from a log-normal size
distribution or chosen by hand, so tests can assert against known values. No
instrument export was copied. The writer is independent of
``exomir.simulate.ev`` so that the two cannot share a mistake.

Fixtures and their known values (see ``TRUTH``):

nanosight_base-ExperimentSummary.csv
    NTA 3.3, Latin-1 (0xB2/0xB3 bytes), LF, 3 videos, dilution "Not recorded"
    (sheet dilution 500), log-normal D50 110 nm, sigma 0.40; all three size
    weightings and a diffusion block (whose Number table must be ignored).
nanosight_semicolon-ExperimentSummary.csv
    The same run written with ';' separators and decimal commas, UTF-8 with a
    byte-order mark, CRLF line ends and a NUL byte.
nanosight_autosampler-ExperimentSummary.csv
    4 videos, no Average / Standard Error columns, an extra unknown section,
    no [Concentration Warnings]; video 2 has 12 particles per frame.
nanosight_mini-ExperimentSummary.csv
    2 videos, four non-empty 1-nm bins (hand-computed statistics), dilution 10
    recorded in the file (concentrations already adjusted).
nanosight_truncated-ExperimentSummary.csv
    The base file cut in the middle of size-table row 400 (line 458).
nanosight_nta23-ExperimentSummary.csv
    A run claiming "NTA 2.3" (unsupported version, line 2).
zv_base_size_488.txt, zv_base_size_488_11pos.txt
    ZetaView 8.06.01 SP1, Latin-1 (0xB5 micro sign), LF, every irregular header
    line of EV_FORMATS.md 1.2, Dilution 1000, 1200 linear + sentinel + 200 log
    bins, 50 000 traces of a log-normal D50 120 nm, sigma 0.35; the position
    summary keeps 10 of 11 positions.
zv_comma_size_488.txt
    The same distribution with decimal commas, CRLF and NUL bytes, Dilution
    200, no position summary beside it.
zv_nodilution_size_488.txt
    No Dilution key (the sheet must give it).
zv_truncated_size_488.txt
    Cut inside the linear table (after 300 bins).
zv_v7_size_488.txt
    Software "ZetaView (version 7.1.2 SP0)" (unsupported version).
zv_lowtraces_size_488.txt, zv_lowtraces_size_488_11pos.txt
    The sparse run of issue 16: 59 traces sampled from a log-normal (D50
    60 nm, sigma 0.45) over 6 retained positions; header D50 and the
    positions' X50/Peak/Span computed from the traces (see zetaview_lowtraces).
zv_prof_488.txt
    Zeta-potential profile, CRLF, micro sign followed by NUL bytes,
    ``Zeta Potential @ 25°C / mV`` = -22.4.
unknown_instrument.csv
    A particle-counter export from another instrument.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: Known values the tests assert against.
TRUTH = {
    "ns_base": {
        "d50": 110.0,
        "sigma": 0.40,
        "video_conc": [1.90e8, 2.00e8, 2.10e8],
        "dilution": 500.0,
    },
    "ns_mini": {"video_conc": [1.0e7, 2.0e7], "file_dilution": 10.0},
    "zv_base": {
        "d50": 120.0,
        "sigma": 0.35,
        "traces": 50000,
        "conc_diluted": 1.5e8,
        "dilution": 1000.0,
    },
    "zv_comma": {"dilution": 200.0},
    "zeta_25c": -22.4,
}


def lognormal_mass(edges: np.ndarray, d50: float, sigma: float) -> np.ndarray:
    """Mass of a log-normal distribution in each bin of ``edges``."""
    z = [
        0.0
        if e <= 0
        else 0.5 * (1 + math.erf(math.log(e / d50) / (sigma * math.sqrt(2))))
        for e in edges
    ]
    return np.diff(np.array(z))


# ---------------------------------------------------------------------------
# NanoSight


def _ns_row(label: str, values: list[str], width: int, sep: str) -> str:
    cells = [label, *values]
    cells += [""] * max(0, width + 1 - len(cells))
    return sep.join(cells) + sep


def _fmt(x: float, decimals: int, dc: bool) -> str:
    s = f"{x:.{decimals}f}"
    return s.replace(".", ",") if dc else s


def nanosight_text(
    videos: list[str],
    bins: np.ndarray,
    *,
    version: str = "Created with NTA 3.3 - Sample Assistant Dev Build 3.3.203",
    dilution: str = "Not recorded",
    sep: str = ",",
    averages: bool = True,
    warnings: bool = True,
    extra_section: bool = False,
    all_weightings: bool = True,
    diffusion: bool = True,
    ppf: list[float] | None = None,
    stats: dict[str, float] | None = None,
) -> str:
    """Render an NTA 3.x Experiment Summary from per-video 1-nm bins."""
    dc = sep != ","
    n = len(videos)
    nc = n + 2 if averages else n
    centres = np.arange(bins.shape[1]) + 0.5
    conc = bins.sum(axis=1)
    conc_txt = [f"{c:.2e}" for c in conc]
    ppf = ppf or [round(c / 5e6, 1) for c in conc]
    tracks = [round(c / 1e5) for c in conc]
    out = [
        "NTA Experiment Summary File" + sep,
        version + sep,
        sep,
        "[Experiment Details]" + sep,
        _ns_row("Software Version", ["3.3.203"], 1, sep),
        _ns_row("Experiment Name", ["EVLOT-A d500 2024-03-01.nano"], 1, sep),
        _ns_row("Operator Name", ["QC"], 1, sep),
        _ns_row("Time Captured", ["10:15:00  01/03/2024"], 1, sep),
        _ns_row("Sample Description", ["MSC-EV lot A"], 1, sep),
        _ns_row("Pre-treatment", ["None"], 1, sep),
        _ns_row("Diluent", ["PBS"], 1, sep),
        _ns_row("Remarks", [""], 1, sep),
        sep,
        sep,
        _ns_row("Filename:", videos, n, sep),
        sep,
        _ns_row("[Conditions]", [], nc, sep),
        _ns_row(
            "Temperature/C", [_fmt(22.0 + 0.1 * i, 1, dc) for i in range(n)], n, sep
        ),
        _ns_row("Viscosity/cP", [_fmt(0.95, 2, dc)] * n, n, sep),
        _ns_row("Camera Type", ["sCMOS"] * n, n, sep),
        _ns_row("Laser Type", ["Blue488"] * n, n, sep),
        _ns_row("Camera Level", ["14"] * n, n, sep),
        _ns_row("Frame rate/fps", [_fmt(25.0, 1, dc)] * n, n, sep),
        sep * (nc + 1),
        _ns_row("[Settings]", [], nc, sep),
        _ns_row("Detection Threshold", ["5"] * n, n, sep),
        _ns_row("Min Track Length", ["Auto"] * n, n, sep),
        _ns_row("Total frames analysed", ["1498"] * n, n, sep),
        sep * (nc + 1),
        "[Exclusion Regions]" + sep,
        "No Exclusion Regions Used" + sep,
        sep * (nc + 1),
    ]
    if extra_section:
        out += [
            "[Autosampler]" + sep,
            _ns_row("Plate position", ["A1"] * n, n, sep),
            sep,
        ]
    results = ["[Results]", *[""] * n] + (
        ["Average", "Standard Error"] if averages else []
    )
    out.append(sep.join(results) + sep)

    def avg_se(values: list[float], fmt: str) -> list[str]:
        if not averages:
            return []
        a = float(np.mean(values))
        se = float(np.std(values, ddof=1) / math.sqrt(len(values)))
        return [fmt.format(a), fmt.format(se)]

    out.append(
        _ns_row(
            "Dilution factor (concentrations adjusted for this factor)",
            [dilution] * n,
            nc,
            sep,
        )
    )
    out.append(
        _ns_row(
            "Concentration (Particles / ml)",
            conc_txt + avg_se(list(conc), "{:.2e}"),
            nc,
            sep,
        )
    )
    out.append(
        _ns_row(
            "Particles per frame",
            [_fmt(p, 1, dc) for p in ppf]
            + [s.replace(".", ",") if dc else s for s in avg_se(ppf, "{:.1f}")],
            nc,
            sep,
        )
    )
    out.append(_ns_row("Completed tracks", [str(t) for t in tracks], nc, sep))
    out.append(sep * (nc + 1))
    if warnings:
        out.append("[Concentration Warnings]" + sep)
        out.append(_ns_row("Validity of concentration measurement", ["OK"] * n, n, sep))
        out.append(_ns_row("Particles per frame", ["OK"] * n, n, sep))
        out.append(sep * (nc + 1))
    out += [
        "[Data Included]" + sep,
        "Size distribution - Number weighting - With Percentiles" + sep,
        sep * (nc + 1),
    ]
    out += ["[Size Data]" + sep, "Analysis Method" + sep + "FTLA" + sep]
    weightings = [
        ("Number", "Concentration (particles / ml)", "Concentration average", 0)
    ]
    if all_weightings:
        weightings += [
            (
                "Surface Area",
                "Surface area conc. (nm\u00b2 / ml)",
                "Surface area average",
                2,
            ),
            ("Volume", "Volume conc. (nm\u00b3 / ml)", "Volume average", 3),
        ]
    stats = stats or {}
    for wi, (wname, col, avg_col, power) in enumerate(weightings):
        if wi:
            out.append(sep * (nc + 1))
        vals = np.round(bins * centres**power) if power else bins
        out += _ns_block(
            wname,
            videos,
            centres,
            vals,
            col,
            avg_col,
            "Bin centre (nm)",
            "Size (nm)",
            sep,
            averages,
            stats if power == 0 else {},
        )
    out.append(sep * (nc + 1))
    if diffusion:
        out += [
            "[Diffusion Coefficient Data]" + sep,
            "Analysis Method" + sep + "FTLA" + sep,
        ]
        dcent = 2.0 + 4.0 * np.arange(bins.shape[1])
        # A deliberately different Number table: a parser that reads it as the
        # size distribution gets a wrong D50.
        dvals = np.roll(bins, 300, axis=1)
        out += _ns_block(
            "Number",
            videos,
            dcent,
            dvals,
            "Concentration (particles / ml)",
            "Concentration average",
            "Bin centre (E4 nm\u00b2/s)",
            "Diffusion Coefficient (E4 nm\u00b2/s)",
            sep,
            averages,
            {},
        )
        out.append(sep * (nc + 1))
    return "\n".join(out) + "\n"


def _ns_block(
    wname: str,
    videos: list[str],
    centres: np.ndarray,
    vals: np.ndarray,
    col: str,
    avg_col: str,
    bin_header: str,
    pct_header: str,
    sep: str,
    averages: bool,
    stats: dict[str, float],
) -> list[str]:
    dc = sep != ","
    n = len(videos)
    nc = n + 2 if averages else n
    tail = ["Average", "Standard Error"] if averages else []
    out = [
        sep.join(["Weighting", wname]) + sep,
        sep.join(["Filename", *videos, *tail]) + sep,
    ]
    for label in ("Mean", "Mode", "SD", "D10", "D50", "D90"):
        v = stats.get(label, 0.0)
        out.append(
            _ns_row(
                label,
                [_fmt(v, 1, dc)] * n
                + ([_fmt(v, 1, dc), _fmt(0.0, 1, dc)] if averages else []),
                nc,
                sep,
            )
        )
    out.append(_ns_row("Valid Tracks", [_fmt(1500.0, 1, dc)] * n, nc, sep))
    out.append("Graph Data" + sep)
    out.append(
        sep.join(
            [bin_header, *[col] * n, *([avg_col, "Standard Error"] if averages else [])]
        )
        + sep
    )
    for i, c in enumerate(centres):
        cells = [_fmt(c, 1, dc) if c != int(c) else f"{c:g}"]
        cells += [str(int(v)) for v in vals[:, i]]
        if averages:
            cells += [
                _fmt(float(vals[:, i].mean()), 1, dc),
                _fmt(float(vals[:, i].std(ddof=1) / math.sqrt(n)), 1, dc),
            ]
        out.append(sep.join(cells) + sep)
    out.append("")
    out.append(sep.join(["Percentile", *[pct_header] * n]) + sep)
    for q in range(101):
        out.append(sep.join([str(q), *[_fmt(float(q), 1, dc)] * n]) + sep)
    return out


def nanosight_base_bins() -> tuple[list[str], np.ndarray]:
    t = TRUTH["ns_base"]
    edges = np.arange(1001, dtype=float)
    mass = lognormal_mass(edges, t["d50"], t["sigma"])
    bins = np.array([np.round(c * mass) for c in t["video_conc"]])
    videos = [f"EVLOT-A_d500_{i:03d}" for i in range(1, 4)]
    return videos, bins


def nanosight_stats() -> dict[str, float]:
    t = TRUTH["ns_base"]
    d50, s = t["d50"], t["sigma"]
    mean = d50 * math.exp(s**2 / 2)
    return {
        "Mean": mean,
        "Mode": d50 * math.exp(-(s**2)),
        "SD": mean * math.sqrt(math.exp(s**2) - 1),
        "D10": d50 * math.exp(-1.2816 * s),
        "D50": d50,
        "D90": d50 * math.exp(1.2816 * s),
    }


def write_nanosight() -> None:
    videos, bins = nanosight_base_bins()
    base = nanosight_text(videos, bins, stats=nanosight_stats())
    (HERE / "nanosight_base-ExperimentSummary.csv").write_bytes(base.encode("latin-1"))

    semi = nanosight_text(
        videos,
        bins,
        sep=";",
        stats=nanosight_stats(),
        all_weightings=False,
        diffusion=False,
    )
    semi = semi.replace("Remarks;;", "Remarks;\x00;")
    data = b"\xef\xbb\xbf" + semi.replace("\n", "\r\n").encode("utf-8")
    (HERE / "nanosight_semicolon-ExperimentSummary.csv").write_bytes(data)

    edges = np.arange(1001, dtype=float)
    mass = lognormal_mass(edges, 110.0, 0.40)
    conc4 = [1.8e8, 2.0e8, 2.2e8, 2.0e8]
    bins4 = np.array([np.round(c * mass) for c in conc4])
    auto = nanosight_text(
        [f"AUTO_{i}" for i in range(1, 5)],
        bins4,
        averages=False,
        warnings=False,
        extra_section=True,
        all_weightings=False,
        diffusion=False,
        ppf=[40.0, 12.0, 44.0, 40.0],
        stats=nanosight_stats(),
    )
    (HERE / "nanosight_autosampler-ExperimentSummary.csv").write_bytes(
        auto.encode("latin-1")
    )

    mini = np.zeros((2, 1000))
    for c, v in ((90.5, 2e6), (100.5, 4e6), (110.5, 3e6), (130.5, 1e6)):
        mini[0, int(c)] = v
        mini[1, int(c)] = 2 * v
    text = nanosight_text(
        ["MINI_001", "MINI_002"],
        mini,
        dilution="10",
        all_weightings=False,
        diffusion=False,
    )
    (HERE / "nanosight_mini-ExperimentSummary.csv").write_bytes(text.encode("latin-1"))

    lines = base.split("\n")
    start = next(i for i, s in enumerate(lines) if s.startswith("Bin centre (nm)"))
    cut = [*lines[: start + 400], lines[start + 400][:12]]
    (HERE / "nanosight_truncated-ExperimentSummary.csv").write_bytes(
        "\n".join(cut).encode("latin-1")
    )

    small = nanosight_text(
        videos, bins, stats=nanosight_stats(), all_weightings=False, diffusion=False
    )
    old = small.replace(
        "Created with NTA 3.3 - Sample Assistant Dev Build 3.3.203",
        "Created with NTA 2.3 - Build 2.3.5.0033",
    )
    (HERE / "nanosight_nta23-ExperimentSummary.csv").write_bytes(old.encode("latin-1"))


# ---------------------------------------------------------------------------
# ZetaView


def _e(x: float, dc: bool = False) -> str:
    mant, exp = f"{x:.3E}".split("E")
    s = f"{mant}E{int(exp):+d}"
    return s.replace(".", ",") if dc else s


def zv_median(centres: np.ndarray, counts: np.ndarray) -> float:
    """ZetaView's median: 50% crossing of the cumulative placed at bin centres."""
    cum = np.cumsum(counts) / counts.sum()
    i = int(np.argmax(cum >= 0.5))
    t = (0.5 - cum[i - 1]) / (cum[i] - cum[i - 1])
    return float(centres[i - 1] + t * (centres[i] - centres[i - 1]))


def zetaview_size_text(
    *,
    d50: float,
    sigma: float,
    traces: int,
    conc_diluted: float,
    dilution: float | None,
    software: str = "ZetaView (version 8.06.01 SP1)\tAnalyze:\t8.06.01 SP1",
    dc: bool = False,
    first_position: float = 0.1,
    counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """Render a ZetaView size export with every irregular header line.

    ``counts`` (linear, log bins) replaces the expected log-normal counts,
    e.g. with the histogram of sampled traces.
    """
    lin_c = 2.5 + 5.0 * np.arange(1200)
    log_c = 4.683 * 10 ** (np.arange(200) / 64.0)
    if counts is not None:
        lin_n, log_n = counts
    else:
        lin_n = np.round(traces * lognormal_mass(np.arange(1201) * 5.0, d50, sigma))
        log_edges = np.concatenate(
            [log_c * 10 ** (-1 / 128), [log_c[-1] * 10 ** (1 / 128)]]
        )
        log_n = np.round(traces * lognormal_mass(log_edges, d50, sigma))
    total = lin_n.sum()
    factor = conc_diluted / total
    # Header medians as ZetaView 8.06 prints them (checked against public
    # 8.06.01 SP1 exports): cumulative fraction through each bin at the bin
    # centre, interpolated linearly between centres.
    med_num = zv_median(lin_c, lin_n)
    med_vol = zv_median(lin_c, lin_n * lin_c**3)
    dil = f"\tDilution::\t{dilution:.6f}" if dilution is not None else ""
    h = [
        f"Original File:\tC:\\ZetaView\\Data\\20240302_0007\\20240302_0007_EVLOT-A_size_488.avi\tSection:\t{first_position:.6f} [0]",
        "Operator:\tQC",
        "Experiment:\t20240302_0007",
        "ZetaView S/N:\t00-000",
        "Cell S/N:\t0000-00",
        f"Software:\t{software}",
        "SOP:\tEV_size_488",
        "Sample:\tEVLOT-A",
        "Electrolyte:\tPBS",
        "pH:\t7.000000\tentered",
        "Conductivity: 15000.000000\tsensed",
        "TempControl:\t0",
        "SetTemperature:\tNaN",
        "Temperature:\t24.93\tsensed",
        "Viscosity:\t0.893000",
        "Date:\t2024-03-02",
        "Time:\t11:20:00",
        "General Remarks:\t",
        "Remarks:\t",
        "Sample Info 1:\tlot A",
        "Sample Info 2:\t",
        "Sample Info 3:",
        "Scattering Intensity:\t31.2",
        "Detected Particles:\t450.0",
        "Particle Drift Checked:\t2024-03-02 11:05:00",
        "Particle Drift Check Result:\ttoo high",
        "Cell Checked:\t2024-03-02 08:30:00",
        "Cell Check Result:\tGood",
        "Type of Measurement:\tSize Distribution",
        "Positions:\t11",
        "Microscope Position:\t350",
        f"Number of Traces:\t{int(total)}\t(at {first_position - 1e-5:.6f})\tAverage Number of Particles:\t450.0{dil}",
        "Concentration Correction Factor:\t1.000000",
        "Image Evaluation:",
        "Minimum Brightness:\t30",
        "Minimum Area:\t10",
        "Maximum Area:\t1000",
        "Maximum Brightness:\t255",
        "Tracking Radius2:\t100",
        "Minimum Tracelength:\t15",
        "Camera:\tFpSec 30 #Cycles 1 FRate 30.000000",
        "Sensitivity:\t80.000000",
        "Gain:\t0.000000",
        "Shutter:\t100",
        "Brightness:\tNaN",
        "Gamma:\tNaN",
        "Auto Exposure:\tNaN",
        "Camera Trigger Duration \u00b5s:\t0",
        "Camera Trigger Delay \u00b5s:\t0",
        "Laser Wavelength nm:\t488.000000",
        "Filter Wavelength nm:\tScatter",
        f"Position:\t{first_position:.6f}",
        f"actual Microscope:\t350\t(Pos\t{first_position:.6f})",
        "actual Laser:\t1100",
        "SL1 (Stationary Layer 1):\t0.207000",
        "SL2 (Stationary Layer 2):\t0.793000",
        "Cell parameter:",
        "Micrometer per Pixel:\t0.703000",
        "Polarity:\tNaN",
        "Microscope Magnification:\tx10",
        "ZP Factor:\t12.83 (Smoluchowski)",
        f"Results (Pos {first_position - 7e-6:.6f}):",
        f"Median Number (D50):\t{med_num:.6f}",
        f"Median Concentration (D50):\t{med_num:.6f}",
        f"Median Volume (D50):\t{med_vol:.6f}",
        "Size Distribution",
        "Size / nm\tNumber\tConcentration / cm-3\tVolume / nm^3\tArea / nm^2",
    ]
    if dc:
        h = [
            s.replace(".", ",") if s.startswith(("Viscosity", "Temperature")) else s
            for s in h
        ]

    def row(c: float, n: float) -> str:
        return "\t".join(
            [
                _e(c, dc),
                _e(n, dc),
                _e(n * factor, dc),
                _e(n * math.pi * c**3 / 6, dc),
                _e(n * math.pi * c**2 / 4, dc),
            ]
        )

    body = [row(c, n) for c, n in zip(lin_c, lin_n, strict=True)]
    body.append("\t".join([_e(-1.0, dc)] * 4 + [_e(0.0, dc)]))
    body += [row(c, n) for c, n in zip(log_c, log_n, strict=True)]
    return "\n".join(h + body) + "\n"


def zetaview_positions_text() -> str:
    """An 11-position summary keeping 10 positions (mean Conc. 1.5E+8)."""
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
    positions = [0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.90]
    conc = [1.5, 1.4, 1.6, 2.3, 1.5, 1.5, 1.4, 1.6, 1.5, 1.5, 1.5]
    x50 = [118.0, 121.0, 119.5, 175.0, 120.5, 122.0, 119.0, 120.0, 121.5, 118.5, 120.0]
    peak = [106.0, 107.5, 105.0, 150.0, 106.5, 108.0, 105.5, 106.0, 107.0, 105.0, 106.5]
    out = ["\t".join(head)]
    for j, p in enumerate(positions):
        removed = j == 3
        out.append(
            "\t".join(
                [
                    "" if removed else "X",
                    f"{p:.2f}",
                    "28.0",
                    "450.0",
                    f"{conc[j]:.1f}E+8",
                    f"{conc[j]:.1f}E+11",
                    "4545" if not removed else "4100",
                    f"{x50[j]:.1f}",
                    f"{peak[j]:.1f}",
                    "1.00",
                    "2.50",
                    "GRUBBS_SIZE" if removed else "",
                ]
            )
        )
    out.append(
        "\t".join(
            [
                "",
                "Mean",
                "28.0",
                "450.0",
                "1.5E+8",
                "1.5E+11",
                "4545.0",
                "120.0",
                "106.3",
                "1.00",
                "2.50",
                "",
            ]
        )
    )
    out.append(
        "\t".join(
            [
                "",
                "St.Dev.",
                "0.0",
                "0.0",
                "6.7E+6",
                "6.7E+9",
                "0.0",
                "1.3",
                "1.0",
                "0.00",
                "0.00",
                "",
            ]
        )
    )
    out.append(
        "\t".join(
            [
                "",
                "Rel.St.Dev.",
                "0.0",
                "0.0",
                "4.5",
                "4.5",
                "0.0",
                "1.1",
                "0.9",
                "0.00",
                "0.00",
                "",
            ]
        )
    )
    return "\n".join(out) + "\n"


#: The sparse run of issue 16: 59 traces over 6 retained positions.
LOWTRACES = {
    "d50": 60.0,
    "sigma": 0.45,
    "traces": [12, 11, 9, 10, 8, 9],
    "removed": {0.10: ("MIN_TRACES", 2), 0.15: ("MIN_TRACES", 3)},
    "seed": 16,
}


def zv_position_stats(counts: np.ndarray) -> tuple[float, float, float]:
    """X50, Peak and Span of one position, as the fixture's instrument reports.

    X50 and the span's D10/D90: ZetaView's cumulative-at-centres
    interpolation. Peak: the centre of the highest bin of the histogram
    smoothed with a [1, 2, 1]/4 kernel (ZetaView's exact peak smoothing is not
    published; this is the fixture's stand-in, within a bin of a raw peak).
    """
    c = 2.5 + 5.0 * np.arange(len(counts))
    cum = np.cumsum(counts) / counts.sum()

    def q(p: float) -> float:
        i = int(np.argmax(cum >= p - 1e-12))
        if i == 0:
            return float(c[0])
        t = (p - cum[i - 1]) / (cum[i] - cum[i - 1])
        return float(c[i - 1] + t * 5.0)

    smooth = np.convolve(counts, [0.25, 0.5, 0.25], mode="same")
    peak = float(c[int(np.argmax(smooth))])
    return q(0.5), peak, (q(0.9) - q(0.1)) / q(0.5)


def _e2(x: float) -> str:
    """Concentration as the 11-position summary writes it: ``2.2E+8``."""
    mant, exp = f"{x:.1E}".split("E")
    return f"{mant}E{int(exp):+d}"


def zetaview_lowtraces() -> tuple[str, str]:
    """A 59-trace ZetaView run (size export and 11-position summary).

    Trace sizes are sampled per position from a known log-normal; the size
    table pools the retained positions, and every statistic the "instrument"
    prints (header D50, per-position X50/Peak/Span, the Mean row) is computed
    here from those traces with numpy, independently of exomir.
    """
    t = LOWTRACES
    rng = np.random.default_rng(t["seed"])
    lin_edges = np.arange(1201) * 5.0
    log_c = 4.683 * 10 ** (np.arange(200) / 64.0)
    log_edges = np.concatenate(
        [log_c * 10 ** (-1 / 128), [log_c[-1] * 10 ** (1 / 128)]]
    )
    positions = [0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.90]
    kept = [p for p in positions if p not in t["removed"]][: len(t["traces"])]
    rows, lin_tot, log_tot = [], np.zeros(1200), np.zeros(200)
    conc_per_trace = 4.2e5
    for p in positions:
        if p in t["removed"]:
            reason, n = t["removed"][p]
        elif p in kept:
            reason, n = "", t["traces"][kept.index(p)]
        else:
            reason, n = "MIN_TRACES", 1
        d = np.exp(rng.normal(math.log(t["d50"]), t["sigma"], n))
        lin = np.histogram(d, lin_edges)[0].astype(float)
        if not reason:
            lin_tot += lin
            log_tot += np.histogram(d, log_edges)[0]
        x50, peak, span = zv_position_stats(lin)
        rows.append((p, reason, n, x50, peak, span))
    total = int(lin_tot.sum())
    size = zetaview_size_text(
        d50=t["d50"],
        sigma=t["sigma"],
        traces=total,
        conc_diluted=total * conc_per_trace / len(kept),
        dilution=1000.0,
        counts=(lin_tot, log_tot),
    )
    head = (
        "Use\tPosition\tMean Int.\tAv. No of Particles\tConc. (p./mL)\t"
        "Orig. Conc. (p./cm^3)\tNo. of Traces\tX50 (nm)\tPeak \u00f8 (nm)\tSpan\t"
        "Drift (\u00b5m/s)\tRemoval"
    )
    out = [head]
    used = []
    for p, reason, n, x50, peak, span in rows:
        conc = n * conc_per_trace
        if not reason:
            used.append((n, x50, peak, span, conc))
        out.append(
            f"{'' if reason else 'X'}\t{p:.2f}\t3.1\t{n * 1.9:.1f}\t{_e2(conc)}\t"
            f"{_e2(conc * 1000)}\t{n}\t{x50:.1f}\t{peak:.1f}\t{span:.1f}\t4.2\t{reason}"
        )
    arr = np.array(used)
    mean = arr.mean(axis=0)
    sd = arr.std(axis=0, ddof=1)
    out.append(
        f"\tMean\t3.1\t{mean[0] * 1.9:.1f}\t{_e2(mean[4])}\t{_e2(mean[4] * 1000)}\t"
        f"{mean[0]:.1f}\t{mean[1]:.1f}\t{mean[2]:.1f}\t{mean[3]:.1f}\t4.2\t"
    )
    out.append(
        f"\tSt.Dev.\t0.0\t0.0\t{_e2(sd[4])}\t{_e2(sd[4] * 1000)}\t"
        f"{sd[0]:.1f}\t{sd[1]:.1f}\t{sd[2]:.1f}\t{sd[3]:.1f}\t0.0\t"
    )
    rel = sd / mean * 100
    out.append(
        f"\tRel.St.Dev.\t0.0\t0.0\t{_e2(rel[4])}\t{_e2(rel[4])}\t"
        f"{rel[0]:.1f}\t{rel[1]:.1f}\t{rel[2]:.1f}\t{rel[3]:.1f}\t0.0\t"
    )
    return size, "\n".join(out) + "\n"


def zetaview_profile_text() -> str:
    """A zeta-potential profile export (CRLF, micro sign + NUL)."""
    lines = [
        "Original File:\tC:\\ZetaView\\Data\\20240302_0008\\20240302_0008_EVLOT-A_prof_488.avi\tProfile Voltage:\t120",
        "Operator:\tQC",
        "Experiment:\t20240302_0008",
        "Software:\tZetaView (version 8.06.01 SP1)\tAnalyze:\t8.06.01 SP1",
        "Sample:\tEVLOT-A",
        "Temperature:\t24.80\tsensed",
        "Type of Measurement:\tProfile",
        "Number of Traces:\t812\tAverage Number of Particles:\t120.0\tDilution::\t100.000000",
        "Profile Data:",
        "ZP Factor:\t12.83 (Smoluchowski)",
        "Average Field (abs) / V/cm:\t11.95",
        "Results:",
        "Mean Velocity / \u00b5\x00m/s:\t-20.1",
        "Mobility /\u00b5\x00m/s/V/cm:\t-1.68",
        "Mobility @ 25degC:\t-1.68",
        "Zeta Potential / mV:\t-21.6",
        "Zeta Potential @ 25\u00b0C / mV:\t-22.4",
        "ZP Parabola Fit Accuracy / mV:\t1.2",
        "ZP Distribution (SL 1/2) FWHM / mV:\t9.8",
        "Parabola: zp = a*x^2 + b*x + c",
        "ZP Profile:",
        "Position\tPositive V\tNegative V\tAverage\tParabola Fit\tZP",
        "1.000E-1\t2.100E+1\t-2.000E+1\t2.050E+1\t2.040E+1\t-2.160E+1",
        "5.000E-1\t-1.000E+0\t1.100E+0\t-1.050E+0\t-1.000E+0\t-2.240E+1",
    ]
    return "\r\n".join(lines) + "\r\n"


def write_zetaview() -> None:
    t = TRUTH["zv_base"]
    kw = {
        "d50": t["d50"],
        "sigma": t["sigma"],
        "traces": t["traces"],
        "conc_diluted": t["conc_diluted"],
    }
    base = zetaview_size_text(dilution=t["dilution"], **kw)
    (HERE / "zv_base_size_488.txt").write_bytes(base.encode("latin-1"))
    (HERE / "zv_base_size_488_11pos.txt").write_bytes(
        zetaview_positions_text().encode("latin-1")
    )

    comma = zetaview_size_text(dilution=TRUTH["zv_comma"]["dilution"], dc=True, **kw)
    data = comma.replace("\n", "\r\n").encode("latin-1")
    data = data.replace(b"Operator:\tQC", b"Operator:\tQC\x00\x00")
    (HERE / "zv_comma_size_488.txt").write_bytes(data)

    nodil = zetaview_size_text(dilution=None, **kw)
    (HERE / "zv_nodilution_size_488.txt").write_bytes(nodil.encode("latin-1"))

    lines = base.split("\n")
    start = lines.index("Size Distribution")
    cut = lines[: start + 2 + 300]
    (HERE / "zv_truncated_size_488.txt").write_bytes(
        ("\n".join(cut) + "\n").encode("latin-1")
    )

    v7 = zetaview_size_text(
        dilution=t["dilution"], software="ZetaView (version 7.1.2 SP0)", **kw
    )
    (HERE / "zv_v7_size_488.txt").write_bytes(v7.encode("latin-1"))

    (HERE / "zv_prof_488.txt").write_bytes(zetaview_profile_text().encode("latin-1"))

    low, low_pos = zetaview_lowtraces()
    (HERE / "zv_lowtraces_size_488.txt").write_bytes(low.encode("latin-1"))
    (HERE / "zv_lowtraces_size_488_11pos.txt").write_bytes(low_pos.encode("latin-1"))

    other = "Sample Name,EVLOT-A\nInstrument,Particle counter XYZ-100\nSoftware,XYZ Analysis 2.0\n\nDiameter (nm),Concentration (1/ml)\n100,1.2e8\n150,0.8e8\n"
    (HERE / "unknown_instrument.csv").write_bytes(other.encode("latin-1"))


if __name__ == "__main__":
    write_nanosight()
    write_zetaview()
