"""Standard-curve figure of one plate and analyte.

Standards (blank-subtracted response against nominal concentration, log
axis), the fitted curve, LLOQ and ULOQ, QCs, and the samples placed at their
back-calculated in-well concentration; the title gives the verdict. Drawn on
an Agg canvas and written without a timestamp (same data, same bytes).
"""

from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from exomir.atomic import atomic_path
from exomir.proteins.curves import CurveFit
from exomir.proteins.quant import PlateResult

PASS_COLOUR = "#1f77b4"
FAIL_COLOUR = "#d62728"
GREY = "#7f7f7f"


def plot_standard_curve(
    res: PlateResult,
    analyte: str,
    fit: CurveFit | None,
    unit: str,
    path: str | os.PathLike[str],
) -> None:
    """Draw and write the standard curve of ``analyte`` on one plate (module docstring)."""
    wells = res.wells[res.wells["analyte"] == analyte]
    qc = res.plate_qc[res.plate_qc["analyte"] == analyte].iloc[0]
    cur = res.curves[res.curves["analyte"] == analyte].iloc[0]
    ok = qc["verdict"] == "pass"
    fig = Figure(figsize=(5.5, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    std = wells[(wells["role"] == "standard") & (wells["nominal"] > 0)]
    ax.scatter(
        std["nominal"],
        std["signal_blanked"],
        s=18,
        color="black",
        zorder=3,
        label="standards",
    )
    qcs = wells[wells["role"] == "qc"]
    if len(qcs):
        ax.scatter(
            qcs["nominal"],
            qcs["signal_blanked"],
            s=24,
            marker="D",
            facecolor="none",
            edgecolor="#2ca02c",
            label="QCs (nominal)",
        )
    lo, hi = float(std["nominal"].min()), float(std["nominal"].max())
    if fit is not None:
        grid = np.geomspace(lo / 3, hi * 3, 200)
        ax.plot(
            grid,
            fit.predict(grid),
            color=PASS_COLOUR if ok else FAIL_COLOUR,
            lw=1.5,
            label=fit.model.upper(),
        )
        smp = wells[wells["role"] == "sample"]
        x = smp["concentration"] / smp["dilution"]
        keep = np.isfinite(x) & (x > 0)
        ax.scatter(
            x[keep],
            smp.loc[keep, "signal_blanked"],
            s=8,
            color=GREY,
            alpha=0.6,
            label="sample wells",
        )
    for name in ("lloq", "uloq"):
        v = float(cur[name])
        if math.isfinite(v):
            ax.axvline(v, color=GREY, ls="--", lw=0.8)
            ax.text(
                v,
                0.97,
                f" {name.upper()}",
                fontsize=7,
                va="top",
                color=GREY,
                transform=ax.get_xaxis_transform(),
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{analyte} ({unit}, in well)" if unit else f"{analyte} (in well)")
    ax.set_ylabel("response - blank")
    r2 = f", R2 {cur['r2']:.4f}" if math.isfinite(float(cur["r2"])) else ""
    ax.set_title(
        f"{qc['plate_id']} {analyte}: {qc['verdict']}{r2}",
        fontsize=9,
        color="black" if ok else FAIL_COLOUR,
    )
    ax.legend(fontsize=7, loc="center right", frameon=False)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.91)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
