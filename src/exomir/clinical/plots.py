"""Forest plot of the clinical endpoints (``results/clinical/forest.png``).

One line per endpoint (primary analysis, one population). Continuous
endpoints are drawn on a common standardised scale (adjusted difference on the
model scale divided by the baseline SD on that scale, so that endpoints in
different units share an axis); binary and ordinal endpoints as odds ratios on
a log axis. The native estimate and CI are printed beside each line.
Matplotlib object interface on an Agg canvas; PNG without a date stamp.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exomir.atomic import atomic_open
from exomir.clinical.settings import ClinicalSettings

COLOUR = "#1f4e9c"
NS = "#7f7f7f"


def _fmt(x: float) -> str:
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def forest_plot(
    endpoints: pd.DataFrame,
    dataset: pd.DataFrame,
    settings: ClinicalSettings,
    path: str | os.PathLike[str],
    population: str = "mITT",
) -> None:
    """Draw the forest plot of the primary analyses.

    Parameters
    ----------
    endpoints
        From :func:`exomir.clinical.endpoints.analyse_endpoints`.
    dataset
        Analysis dataset (baseline SDs for the standardised scale).
    settings
        Clinical settings.
    path
        Destination ``.png``.
    population
        Population drawn.
    """
    prim = endpoints[
        (endpoints["analysis"] == "primary") & (endpoints["population"] == population)
    ].reset_index(drop=True)
    n = max(len(prim), 1)
    height = 0.38 * n + 2.0
    fig = Figure(figsize=(11.5, height))
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.0], wspace=0.08)
    ax_c = fig.add_subplot(gs[0, 0])
    ax_b = fig.add_subplot(gs[0, 1], sharey=ax_c)
    y = np.arange(len(prim))[::-1]
    labels = []
    for i, r in prim.iterrows():
        yi = y[i]
        labels.append(f"{r['label']} ({r['param']})")
        text = "not estimable"
        if pd.notna(r["estimate"]) and np.isfinite(r["estimate"]):
            text = (
                f"{r['effect_measure']} {_fmt(r['estimate'])} "
                f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
            )
            additive = r["effect_measure"] == "mean difference"
            null = 0.0 if additive else 1.0
            col = COLOUR if (r["ci_low"] > null or r["ci_high"] < null) else NS
            if r["kind"] == "continuous":
                # Model scale: the difference itself, or the log ratio.
                est = float(r["estimate_model_scale"])
                lo = r["ci_low"] if additive else np.log(r["ci_low"])
                hi = r["ci_high"] if additive else np.log(r["ci_high"])
                sd = _baseline_sd(dataset, r["param"], settings, population)
                if np.isfinite(sd) and sd > 0:
                    ax_c.errorbar(
                        est / sd,
                        yi,
                        xerr=[[(est - lo) / sd], [(hi - est) / sd]],
                        fmt="s",
                        color=col,
                        ms=4,
                        capsize=2,
                    )
            else:
                ax_b.errorbar(
                    r["estimate"],
                    yi,
                    xerr=[
                        [r["estimate"] - r["ci_low"]],
                        [r["ci_high"] - r["estimate"]],
                    ],
                    fmt="o",
                    color=col,
                    ms=4,
                    capsize=2,
                )
        ax_b.annotate(
            text,
            xy=(1.02, yi),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=7,
        )
    ax_c.axvline(0, color="black", lw=0.8)
    ax_b.axvline(1, color="black", lw=0.8)
    ax_b.set_xscale("log")
    ax_c.set_yticks(y)
    ax_c.set_yticklabels(labels, fontsize=7)
    ax_b.tick_params(labelleft=False)
    ax_c.set_ylim(-0.8, len(prim) - 0.2)
    ax_c.set_xlabel(
        f"continuous: adjusted difference / baseline SD\n({settings.arm} - {settings.reference_arm})",
        fontsize=8,
    )
    ax_b.set_xlabel(
        f"binary / ordinal: odds ratio, log scale\n({settings.arm} vs {settings.reference_arm})",
        fontsize=8,
    )
    fig.suptitle(f"Clinical endpoints, primary analysis, {population}", fontsize=10)
    fig.subplots_adjust(left=0.3, right=0.7, bottom=1.0 / height, top=1 - 0.45 / height)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=130, metadata={"Software": "exomir"})


def _baseline_sd(
    dataset: pd.DataFrame, param: str, settings: ClinicalSettings, population: str
) -> float:
    col = {"mITT": "in_mitt", "PP": "in_pp"}[population]
    d = dataset[(dataset["param"] == param) & dataset[col].astype(bool)]
    v = d["bl"].astype(float).dropna()
    spec = settings.params[param]
    if spec.transform == "log":
        v = np.log(v[v > 0])
    return float(v.std(ddof=1)) if len(v) > 1 else float("nan")
