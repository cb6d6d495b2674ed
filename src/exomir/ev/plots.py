"""Figures of the EV product characterisation.

* :func:`plot_size_distributions`: one panel per lot with the number-weighted
  size distribution of each NTA run (stock particles/mL per nm) and the lot's
  mode (solid line) and D10/D50/D90 (dashed lines) marked.
* :func:`plot_lot_metrics`: particle concentration and particles per
  microgram protein per lot, with the purity limit; lots that did not pass are
  drawn in red.

Figures are drawn with Matplotlib's object API on an Agg canvas (no pyplot
state, no display needed) and written atomically as PNG without a timestamp,
so the same data give the same bytes.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exomir.atomic import atomic_path

PASS_COLOUR = "#1f77b4"
FAIL_COLOUR = "#d62728"
GREY = "#7f7f7f"
INSTRUMENT_STYLE = {"NanoSight": "-", "ZetaView": "--"}


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})


def _float(value: object) -> float | None:
    """Return ``value`` as a finite float, or ``None``."""
    try:
        f = float(str(value))
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def plot_size_distributions(
    distributions: pd.DataFrame,
    lot_summary: pd.DataFrame,
    path: str | os.PathLike[str],
    max_nm: float = 1000.0,
) -> None:
    """Draw the size distribution of every lot with its size statistics.

    Parameters
    ----------
    distributions
        ``nta_distributions.tsv`` (long format).
    lot_summary
        ``lot_summary.tsv`` (``mode_nm``, ``d10_nm``, ``d50_nm``, ``d90_nm``,
        ``verdict``).
    path
        PNG file to write.
    max_nm
        Right end of the size axis.
    """
    lots = list(lot_summary["lot_id"].astype(str)) if len(lot_summary) else []
    n = max(len(lots), 1)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(4.2 * ncol, 3.0 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    fig.subplots_adjust(
        left=0.08, right=0.98, bottom=0.1, top=0.92, wspace=0.35, hspace=0.55
    )
    for ax in axes.flat[len(lots) :]:
        ax.set_visible(False)
    if not lots:
        axes[0, 0].set_visible(True)
        axes[0, 0].text(0.5, 0.5, "no EV lots", ha="center", va="center")
        axes[0, 0].set_axis_off()
    summ = lot_summary.set_index(lot_summary["lot_id"].astype(str))
    for ax, lot in zip(axes.flat, lots, strict=False):
        s = summ.loc[lot]
        verdict = str(s.get("verdict", ""))
        colour = PASS_COLOUR if verdict == "pass" else FAIL_COLOUR
        d = distributions[distributions["lot_id"].astype(str) == lot]
        if d.empty:
            reason = str(s.get("verdict_reason", "")) or "no NTA distribution"
            ax.text(
                0.5,
                0.5,
                "no size distribution\n" + _wrap(reason, 40),
                ha="center",
                va="center",
                fontsize=6.5,
                transform=ax.transAxes,
            )
        for (inst, rep), g in d.groupby(
            ["instrument", "replicate"], dropna=False, sort=True
        ):
            r = _float(rep)
            ax.plot(
                g["size_nm"],
                g["density_per_ml_per_nm"],
                INSTRUMENT_STYLE.get(str(inst), "-"),
                color=colour,
                lw=1.0,
                alpha=0.85,
                label=f"{inst}" + (f" r{int(r)}" if r is not None else ""),
            )
        mode = _float(s.get("mode_nm"))
        if mode is not None:
            ax.axvline(mode, color="black", ls="-", lw=0.9, label=f"mode {mode:.0f} nm")
        ds = [_float(s.get(k)) for k in ("d10_nm", "d50_nm", "d90_nm")]
        if all(v is not None for v in ds):
            label = "D10/D50/D90 " + "/".join(f"{v:.0f}" for v in ds if v) + " nm"
            for i, v in enumerate(ds):
                ax.axvline(
                    v or 0.0,
                    color=GREY,
                    ls="--",
                    lw=0.8,
                    label=label if i == 0 else None,
                )
        d90 = ds[2]
        right = max(600.0, 1.5 * d90) if d90 is not None else 600.0
        ax.set_xlim(0, min(max_nm, right))
        ax.set_title(f"{lot} ({verdict or 'n/a'})", fontsize=9, color=colour)
        ax.set_xlabel("diameter (nm)", fontsize=8)
        ax.set_ylabel("particles / mL / nm", fontsize=8)
        ax.tick_params(labelsize=7)
        if not d.empty:
            ax.legend(fontsize=6, frameon=False, loc="upper right")
    _save(fig, path)


def _wrap(text: str, width: int) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width and cur:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "\n".join(lines[:6])


def plot_lot_metrics(
    lot_summary: pd.DataFrame,
    path: str | os.PathLike[str],
    min_particles_per_ug: float | None = None,
) -> None:
    """Draw the particle concentration and particles per microgram per lot.

    Parameters
    ----------
    lot_summary
        ``lot_summary.tsv`` (``conc_per_ml``, ``conc_between_run_cv_pct``,
        ``particles_per_ug``, ``verdict``).
    path
        PNG file to write.
    min_particles_per_ug
        Purity limit drawn as a horizontal line.
    """
    lots = list(lot_summary["lot_id"].astype(str)) if len(lot_summary) else []
    fig = Figure(figsize=(max(5.0, 1.1 * len(lots) + 2.5), 5.6))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.16, top=0.94, hspace=0.3)
    x = np.arange(len(lots))
    colours = [
        PASS_COLOUR if v == "pass" else FAIL_COLOUR
        for v in lot_summary.get("verdict", [])
    ]

    def col(name: str) -> np.ndarray:
        if name not in lot_summary:
            return np.full(len(lots), np.nan)
        return pd.to_numeric(lot_summary[name], errors="coerce").to_numpy(dtype=float)

    conc = col("conc_per_ml")
    cv = col("conc_between_run_cv_pct")
    err = np.where(np.isfinite(cv), conc * cv / 100, 0.0)
    ok = np.isfinite(conc) & (conc > 0)
    cols = np.array(colours) if len(colours) else np.array([PASS_COLOUR] * len(lots))
    for i in np.flatnonzero(ok):
        ax1.errorbar(
            x[i], conc[i], yerr=err[i], fmt="o", color=cols[i], capsize=3, ms=7
        )
    ax1.set_yscale("log")
    ax1.set_ylabel("particles / mL (stock)")
    ax1.set_title("NTA concentration per lot (error bar: between-run SD)", fontsize=9)
    ppu = col("particles_per_ug")
    ok2 = np.isfinite(ppu) & (ppu > 0)
    for i in np.flatnonzero(ok2):
        ax2.plot(x[i], ppu[i], "o", color=cols[i], ms=7)
    ax2.set_yscale("log")
    if min_particles_per_ug:
        ax2.axhline(min_particles_per_ug, color=GREY, ls="--", lw=1)
        ax2.text(
            1.0,
            min_particles_per_ug,
            f" limit {min_particles_per_ug:.0e}",
            va="bottom",
            ha="right",
            fontsize=7,
            color=GREY,
            transform=ax2.get_yaxis_transform(),
        )
    ax2.set_ylabel("particles / µg protein")
    ax2.set_title("Purity (red: lot did not pass)", fontsize=9)
    for i in np.flatnonzero(~ok):
        ax1.text(
            i, 0.02, "n/a", ha="center", fontsize=7, transform=ax1.get_xaxis_transform()
        )
    ax2.set_xticks(x, lots, rotation=30, ha="right", fontsize=8)
    ax2.set_xlim(-0.6, len(lots) - 0.4)
    if not lots:
        ax1.text(
            0.5, 0.5, "no EV lots", ha="center", va="center", transform=ax1.transAxes
        )
    _save(fig, path)
