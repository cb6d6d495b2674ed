"""Number formats and binned-distribution statistics of the simulated NTA exports.

The formats reproduce how each instrument prints numbers (``EV_FORMATS.md``);
the statistics are those the simulator writes into the exports' headers.
"""

from __future__ import annotations

import math

import numpy as np


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
