"""Volcano, MA and PCA plots of the differential-expression stage.

The plots are drawn with matplotlib's object interface on an Agg canvas (no
pyplot, no global backend change) and written as SVG. They are reproducible
byte for byte: SVG element IDs come from a fixed ``svg.hashsalt``, the file
carries no date, and the colours and draw order are fixed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from exomir.atomic import atomic_open

#: Fixed SVG id salt so that repeated runs write identical files.
SVG_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "exomir-de",
    "svg.fonttype": "none",
    "font.size": 9,
}
#: SVG metadata without a date.
SVG_METADATA = {"Date": None, "Creator": "exomir"}
SIG_COLOUR = "#c0392b"
NS_COLOUR = "#9e9e9e"
HIGHLIGHT_COLOUR = "#1f4e9c"
PALETTE = [
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
]


def save_svg(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write a figure as a reproducible SVG, atomically.

    Parameters
    ----------
    fig
        The figure.
    path
        Destination ``.svg``.
    """
    FigureCanvasAgg(fig)
    with mpl.rc_context(SVG_RC), atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="svg", metadata=SVG_METADATA)


def _short(name: str) -> str:
    """Label of a miRNA: species prefix dropped, groups as 'first/+N'."""
    parts = [re.sub(r"^[a-z]{3,4}-", "", p) for p in name.split("/")]
    return parts[0] if len(parts) == 1 else f"{parts[0]}/+{len(parts) - 1}"


def _lfc_column(table: pd.DataFrame) -> str:
    col = "log2FoldChange_shrunk"
    if col in table and table[col].notna().any():
        return col
    return "log2FoldChange"


def volcano(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    alpha: float = 0.05,
    title: str = "",
    highlight: Sequence[str] = (),
    label_top: int = 10,
) -> None:
    """Volcano plot: MLE (unshrunken) log2 fold change vs -log10 p-value.

    The x axis is the estimate the Wald test is about (``log2FoldChange``);
    the shrunken LFC pulls low-information miRNAs to 0 and belongs to the MA
    plot and the ranking, not next to the test's p-value.

    Parameters
    ----------
    table
        Results of :func:`exomir.de.fit_contrast` (``mirna``, ``pvalue``,
        ``padj``, ``log2FoldChange`` and, if present, ``log2FoldChange_shrunk``).
    path
        Destination SVG.
    alpha
        FDR level: miRNAs with ``padj < alpha`` are coloured.
    title
        Plot title.
    highlight
        miRNAs always marked and labelled (e.g. the primary miRNA).
    label_top
        Number of most significant miRNAs labelled.
    """
    with mpl.rc_context(SVG_RC):
        fig = Figure(figsize=(5.5, 4.5))
        ax = fig.add_subplot()
        lfc = "log2FoldChange"
        t = table[table["pvalue"].notna() & table[lfc].notna()]
        y = -np.log10(t["pvalue"].clip(lower=1e-300))
        sig = (t["padj"] < alpha).fillna(False).to_numpy()
        ax.scatter(
            t.loc[~sig, lfc], y[~sig], s=8, c=NS_COLOUR, lw=0, label="not significant"
        )
        ax.scatter(
            t.loc[sig, lfc], y[sig], s=10, c=SIG_COLOUR, lw=0, label=f"padj < {alpha:g}"
        )
        labelled = list(t.loc[sig].sort_values(["padj", "mirna"])["mirna"][:label_top])
        for m in highlight:
            if m in set(t["mirna"]):
                row = t[t["mirna"] == m].iloc[0]
                ax.scatter(
                    [row[lfc]],
                    [-np.log10(max(row["pvalue"], 1e-300))],
                    s=40,
                    facecolors="none",
                    edgecolors=HIGHLIGHT_COLOUR,
                    lw=1.2,
                )
                if m not in labelled:
                    labelled.append(m)
        for m in labelled:
            row = t[t["mirna"] == m].iloc[0]
            ax.annotate(
                _short(m),
                (row[lfc], -np.log10(max(row["pvalue"], 1e-300))),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=6,
            )
        ax.axvline(0, color="black", lw=0.5)
        ax.set_xlabel("log2 fold change (MLE, unshrunken)")
        ax.set_ylabel("-log10 p-value")
        ax.set_title(title, fontsize=9)
        ax.legend(loc="best", frameon=False, fontsize=7)
        fig.tight_layout()
        save_svg(fig, path)


def ma_plot(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    alpha: float = 0.05,
    title: str = "",
    highlight: Sequence[str] = (),
) -> None:
    """MA plot: log10 mean normalised count vs shrunken log2 fold change.

    Parameters
    ----------
    table
        Results (``baseMean``, ``padj``, log2 fold changes).
    path
        Destination SVG.
    alpha
        FDR level for colouring.
    title
        Plot title.
    highlight
        miRNAs marked and labelled.
    """
    with mpl.rc_context(SVG_RC):
        fig = Figure(figsize=(5.5, 4.0))
        ax = fig.add_subplot()
        lfc = _lfc_column(table)
        t = table[(table["baseMean"] > 0) & table[lfc].notna()]
        x = np.log10(t["baseMean"])
        sig = (t["padj"] < alpha).fillna(False).to_numpy()
        ax.scatter(
            x[~sig], t.loc[~sig, lfc], s=8, c=NS_COLOUR, lw=0, label="not significant"
        )
        ax.scatter(
            x[sig], t.loc[sig, lfc], s=10, c=SIG_COLOUR, lw=0, label=f"padj < {alpha:g}"
        )
        for m in highlight:
            if m in set(t["mirna"]):
                row = t[t["mirna"] == m].iloc[0]
                xy = (np.log10(row["baseMean"]), row[lfc])
                ax.scatter(
                    [xy[0]],
                    [xy[1]],
                    s=40,
                    facecolors="none",
                    edgecolors=HIGHLIGHT_COLOUR,
                )
                ax.annotate(
                    _short(m),
                    xy,
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=6,
                )
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xlabel("log10 mean normalised count")
        ax.set_ylabel(
            "log2 fold change" + (" (shrunken)" if lfc.endswith("shrunk") else "")
        )
        ax.set_title(title, fontsize=9)
        ax.legend(loc="best", frameon=False, fontsize=7)
        fig.tight_layout()
        save_svg(fig, path)


def pca_plot(
    pcs: pd.DataFrame,
    variance_ratio: Sequence[float],
    path: str | os.PathLike[str],
    colour_by: Sequence[str] = ("arm", "timepoint", "library_batch"),
) -> None:
    """PC1 vs PC2 of the VST values, one panel per colouring column.

    Parameters
    ----------
    pcs
        One row per library with ``PC1``, ``PC2`` and the colouring columns.
    variance_ratio
        Share of variance of each component.
    path
        Destination SVG.
    colour_by
        Columns to colour by (one panel each).
    """
    cols = [c for c in colour_by if c in pcs.columns] or ["sample_id"]
    with mpl.rc_context(SVG_RC):
        fig = Figure(figsize=(4.0 * len(cols), 3.8))
        for i, col in enumerate(cols):
            ax = fig.add_subplot(1, len(cols), i + 1)
            values = (
                pcs[col]
                .astype(object)
                .map(lambda v: "" if v is None or v != v else str(v))
            )
            levels = sorted(values.unique())
            for j, lvl in enumerate(levels):
                sel = (values == lvl).to_numpy()
                ax.scatter(
                    pcs.loc[sel, "PC1"],
                    pcs.loc[sel, "PC2"],
                    s=14,
                    c=PALETTE[j % len(PALETTE)],
                    lw=0,
                    label=lvl or "(missing)",
                )
            vr = [*list(variance_ratio), 0.0, 0.0]
            ax.set_xlabel(f"PC1 ({100 * vr[0]:.1f}%)")
            ax.set_ylabel(f"PC2 ({100 * vr[1]:.1f}%)")
            ax.set_title(f"coloured by {col}", fontsize=9)
            if len(levels) <= 12:
                ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        save_svg(fig, path)


def message_plot(text: str, path: str | os.PathLike[str]) -> None:
    """Write an SVG holding only a message (e.g. a contrast that is not estimable).

    Parameters
    ----------
    text
        The message (may span lines).
    path
        Destination SVG.
    """
    with mpl.rc_context(SVG_RC):
        fig = Figure(figsize=(5.5, 2.0))
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8)
        save_svg(fig, path)
