"""Group-sequential (Lan-DeMets) boundaries, conditional power, futility.

Efficacy boundaries come from a Lan-DeMets alpha-spending function evaluated
at the information fractions of the looks; the two-sided critical values are
found by recursive numerical integration over the continuation region
(Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, chapter 19), so
any number of looks at any (unequally spaced) fractions is supported.

On the score scale ``S_k = Z_k * sqrt(t_k)`` (a Brownian motion with drift
``theta`` in information time, ``E[Z(1)] = theta``) the increments
``S_k - S_{k-1} ~ N(theta * (t_k - t_{k-1}), t_k - t_{k-1})`` are independent.
The sub-density of ``S_k`` on the continuation region is propagated look by
look with Simpson's rule, and the boundary ``c_k`` solves::

    P_0(|Z_j| < c_j for j < k, |Z_k| >= c_k) = alpha(t_k) - alpha(t_{k-1})

Spending functions (two-sided total ``alpha``):

``obf``
    O'Brien-Fleming type, ``alpha(t) = 2 - 2 * Phi(z_{1-alpha/2} / sqrt(t))``
    (Lan & DeMets, Biometrika 1983;70:659).
``pocock``
    Pocock type, ``alpha(t) = alpha * log(1 + (e - 1) * t)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

GRID_POINTS = 1201  # odd: Simpson's rule


def spending(
    t: float | np.ndarray, alpha: float, kind: str = "obf", split: str = "total"
) -> np.ndarray:
    """Cumulative two-sided alpha spent at information fraction ``t``.

    Parameters
    ----------
    t
        Information fraction(s) in [0, 1].
    alpha
        Total two-sided type I error.
    kind
        ``obf`` (O'Brien-Fleming type) or ``pocock`` (Pocock type).
    split
        ``total``: the spending function is applied to the two-sided
        ``alpha`` (Lan & DeMets 1983; analysis_spec §3.5: 2.772 at t = 0.5).
        ``per_side``: it is applied to ``alpha / 2`` for each side and the two
        sides are added (the convention of gsDesign ``test.type = 2`` and
        ldbounds ``sides = 2``: 2.963 at t = 0.5).

    Returns
    -------
    numpy.ndarray
        ``alpha(t)``, with ``alpha(0) = 0`` and ``alpha(1) = alpha``.
    """
    if split == "per_side":
        return 2.0 * spending(t, alpha / 2.0, kind, "total")
    if split != "total":
        raise ValueError(f"unknown alpha split '{split}' (use total or per_side)")
    tt = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if kind == "obf":
        z = stats.norm.isf(alpha / 2.0)
        with np.errstate(divide="ignore"):
            out = np.where(tt > 0, 2.0 * stats.norm.sf(z / np.sqrt(tt)), 0.0)
        return out
    if kind == "pocock":
        return alpha * np.log1p((math.e - 1.0) * tt)
    raise ValueError(f"unknown spending function '{kind}' (use obf or pocock)")


def _simpson_weights(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


@dataclass
class _State:
    """Sub-density of the score on the continuation region of the last look."""

    grid: np.ndarray  # score values
    dens: np.ndarray  # density times Simpson weights
    t: float


def _first_look(c: float, t: float, theta: float) -> tuple[float, float, _State]:
    sd = math.sqrt(t)
    up = float(stats.norm.sf(c - theta * sd))
    lo = float(stats.norm.cdf(-c - theta * sd))
    b = c * sd
    grid = np.linspace(-b, b, GRID_POINTS)
    dens = stats.norm.pdf(grid, loc=theta * t, scale=sd)
    dens = dens * _simpson_weights(GRID_POINTS, grid[1] - grid[0])
    return up, lo, _State(grid, dens, t)


def _exit(prev: _State, c: float, t: float, theta: float) -> tuple[float, float]:
    d = t - prev.t
    sd = math.sqrt(d)
    b = c * math.sqrt(t)
    mean = prev.grid + theta * d
    up = float(np.dot(prev.dens, stats.norm.sf((b - mean) / sd)))
    lo = float(np.dot(prev.dens, stats.norm.cdf((-b - mean) / sd)))
    return up, lo


def _propagate(prev: _State, c: float, t: float, theta: float) -> _State:
    d = t - prev.t
    sd = math.sqrt(d)
    b = c * math.sqrt(t)
    grid = np.linspace(-b, b, GRID_POINTS)
    kern = stats.norm.pdf((grid[:, None] - prev.grid[None, :] - theta * d) / sd) / sd
    dens = kern @ prev.dens
    dens = dens * _simpson_weights(GRID_POINTS, grid[1] - grid[0])
    return _State(grid, dens, t)


def exit_probabilities(
    fractions: Sequence[float], bounds: Sequence[float], theta: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of first crossing the upper and lower boundary at each look.

    Parameters
    ----------
    fractions
        Increasing information fractions of the looks.
    bounds
        Two-sided boundaries ``c_k`` on the Z scale (reject if ``|Z_k| >= c_k``).
    theta
        Drift: expected Z at information fraction 1.

    Returns
    -------
    upper, lower : numpy.ndarray
        ``P(first exit at look k through +c_k)`` and through ``-c_k``.
    """
    ups, los = [], []
    state: _State | None = None
    for t, c in zip(fractions, bounds, strict=True):
        if state is None:
            up, lo, state = _first_look(c, t, theta)
        else:
            up, lo = _exit(state, c, t, theta)
            state = _propagate(state, c, t, theta)
        ups.append(up)
        los.append(lo)
    return np.array(ups), np.array(los)


def boundaries(
    fractions: Sequence[float],
    alpha: float = 0.05,
    kind: str = "obf",
    split: str = "total",
) -> pd.DataFrame:
    """Two-sided efficacy boundaries of a Lan-DeMets spending design.

    Parameters
    ----------
    fractions
        Strictly increasing information fractions in (0, 1] of the looks.
    alpha
        Total two-sided type I error.
    kind
        Spending function (``obf`` or ``pocock``).
    split
        How ``alpha`` enters the spending function (see :func:`spending`).

    Returns
    -------
    pandas.DataFrame
        One row per look: ``look``, ``information_fraction``, ``alpha_spent``
        (cumulative), ``alpha_increment``, ``z_boundary``, ``nominal_p``
        (two-sided ``2 * (1 - Phi(c_k))``).

    Raises
    ------
    ValueError
        If the fractions are not strictly increasing in (0, 1].
    """
    ts = [float(t) for t in fractions]
    if (
        not ts
        or ts[0] <= 0
        or ts[-1] > 1 + 1e-12
        or any(b <= a for a, b in itertools.pairwise(ts))
    ):
        raise ValueError(
            f"information fractions must increase strictly in (0, 1]: {ts}"
        )
    cum = spending(np.array(ts), alpha, kind, split)
    incr = np.diff(np.concatenate([[0.0], cum]))
    cs: list[float] = []
    state: _State | None = None
    for k, t in enumerate(ts):
        target = float(incr[k])
        if state is None:
            c = float(stats.norm.isf(target / 2.0)) if target > 0 else math.inf
            if math.isinf(c):
                c = 40.0
            _, _, state = _first_look(c, t, 0.0)
        else:
            if target < 1e-15:
                c = 40.0
            else:

                def excess(
                    c_: float, st: _State = state, t_: float = t, a_: float = target
                ) -> float:
                    up, lo = _exit(st, c_, t_, 0.0)
                    return up + lo - a_

                c = float(optimize.brentq(excess, 0.01, 40.0, xtol=1e-10))
            state = _propagate(state, c, t, 0.0)
        cs.append(c)
    return pd.DataFrame(
        {
            "look": np.arange(1, len(ts) + 1),
            "information_fraction": ts,
            "alpha_spent": cum,
            "alpha_increment": incr,
            "z_boundary": cs,
            "nominal_p": 2.0 * stats.norm.sf(np.array(cs)),
        }
    )


def conditional_power(z: float, t: float, c_final: float, theta: float) -> float:
    """Probability of ending above the final boundary given the interim Z.

    Parameters
    ----------
    z
        Observed Z at information fraction ``t`` (oriented so that the
        direction of interest is positive).
    t
        Information fraction of the interim (< 1).
    c_final
        Final two-sided boundary.
    theta
        Assumed drift (expected Z at t = 1) for the remaining information.

    Returns
    -------
    float
        ``P(Z(1) >= c_final | Z(t) = z; theta)`` (intermediate looks ignored).
    """
    if t >= 1:
        return float(z >= c_final)
    b = z * math.sqrt(t)
    return float(stats.norm.sf((c_final - b - theta * (1.0 - t)) / math.sqrt(1.0 - t)))


def futility_boundary(
    t: float, c_final: float, cp_threshold: float, z_threshold: float
) -> float:
    """Non-binding futility boundary on the z scale (expected direction).

    Parameters
    ----------
    t
        Information fraction of the look.
    c_final
        Final two-sided efficacy boundary of the same schedule.
    cp_threshold
        Conditional power under the current trend below which futility is
        flagged (``interim.futility_conditional_power``).
    z_threshold
        z below which futility is flagged (``interim.futility_z``).

    Returns
    -------
    float
        ``max(sqrt(t) * (c_final + sqrt(1 - t) * Phi^{-1}(cp_threshold)),
        z_threshold)``: a z (oriented to the expected direction) below this
        flags futility. NaN at the final look (t >= 1), where the efficacy
        boundary alone decides.
    """
    if t >= 1.0 - 1e-12:
        return math.nan
    if cp_threshold <= 0:
        z_cp = -math.inf
    elif cp_threshold >= 1:
        z_cp = math.inf
    else:
        z_cp = math.sqrt(t) * (
            c_final + math.sqrt(1.0 - t) * float(stats.norm.ppf(cp_threshold))
        )
    return float(max(z_cp, z_threshold))


def t_to_z(t_stat: float, df: float | None) -> tuple[float, float]:
    """Convert a t on ``df`` degrees of freedom to the z with the same two-sided p.

    Parameters
    ----------
    t_stat
        Observed t (estimate / SE).
    df
        Residual degrees of freedom; None, NaN or infinite means the statistic
        is already normal (returned as is).

    Returns
    -------
    z, p : float
        ``sign(t) * Phi^{-1}(1 - p / 2)`` and the two-sided p of ``t``.
    """
    if not np.isfinite(t_stat):
        return math.nan, math.nan
    if df is None or not np.isfinite(df):
        return float(t_stat), float(2.0 * stats.norm.sf(abs(t_stat)))
    one = float(stats.t.sf(abs(t_stat), df))
    return float(math.copysign(stats.norm.isf(one), t_stat)), 2.0 * one
