"""Report-specific figures, drawn with matplotlib and embedded as data URIs.

Figures are drawn on an Agg canvas with the object interface (no pyplot, no
global backend) and returned as ``data:`` URIs, so the report is one file that
makes no request. SVG output carries no date and fixed element IDs, so a
rebuild from the same tables gives the same report.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

SVG_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "exomir-report",
    "svg.fonttype": "none",
    "font.size": 9,
}


PALETTE = [
    "#1f77b4",
    "#d95f02",
    "#1b9e77",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
]


MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def file_uri(path: str | Path) -> str:
    """Encode a file as a base64 ``data:`` URI (PNG, SVG or JPEG)."""
    p = Path(path)
    mime = MIME.get(p.suffix.lower())
    if mime is None:
        raise ValueError(f"{p}: cannot embed a {p.suffix} file as a figure")
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"


def figure_uri(fig: MplFigure, fmt: str = "svg", dpi: int = 96) -> str:
    """Render a matplotlib figure to a ``data:`` URI (``svg`` or ``png``)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with mpl.rc_context(SVG_RC):
        meta = {"Date": None, "Creator": "exomir"} if fmt == "svg" else {}
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta, bbox_inches="tight")
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def colours(levels: Sequence[str]) -> dict[str, str]:
    """Give each level a fixed colour, in the given order."""
    return {lvl: PALETTE[i % len(PALETTE)] for i, lvl in enumerate(levels)}


#: Read funnel segments: label -> columns of read_funnel.tsv summed.
FUNNEL_SEGMENTS: list[tuple[str, list[str], str]] = [
    ("miRNA", ["mirna", "multimapped_mirna"], "#1b9e77"),
    ("other hairpin", ["hairpin_other"], "#66c2a5"),
    ("tRNA", ["tRNA"], "#e6ab02"),
    ("rRNA", ["rRNA"], "#d95f02"),
    ("sno/snRNA", ["snoRNA_snRNA"], "#a6761d"),
    ("artifact", ["artifact"], "#e7298a"),
    ("unassigned", ["unassigned"], "#bdbdbd"),
    ("UMI duplicate", ["umi_duplicates"], "#9ecae1"),
    ("adapter dimer", ["adapter_dimer"], "#7570b3"),
    ("too short", ["too_short"], "#bcbddc"),
    ("other filtered", ["too_long", "no_adapter", "no_umi"], "#525252"),
]


def read_funnel(funnel: pd.DataFrame) -> str:
    """Stacked horizontal bars: where each library's raw reads went (% of raw).

    Parameters
    ----------
    funnel
        ``results/qc/read_funnel.tsv`` with numeric columns.
    """
    df = funnel.sort_values("sample_id", ascending=False).reset_index(drop=True)
    # annotated reads without the adapter / too-long inserts are in the
    # categories already: only the rest is "other filtered"
    for col, annotated in (
        ("no_adapter", "annotated_no_adapter"),
        ("too_long", "annotated_too_long"),
    ):
        if annotated in df.columns and col in df.columns:
            df[col] = df[col] - df[annotated]
    raw = df["raw_reads"].to_numpy(dtype=float)
    raw[raw == 0] = np.nan
    n = len(df)
    height = max(2.5, 0.16 * n + 1.2)
    fig = MplFigure(figsize=(9, height))
    ax = fig.add_subplot()
    left = np.zeros(n)
    y = np.arange(n)
    for label, cols, colour in FUNNEL_SEGMENTS:
        present = [c for c in cols if c in df.columns]
        if not present:
            continue
        vals = df[present].sum(axis=1).to_numpy(dtype=float) / raw * 100
        vals = np.nan_to_num(vals)
        ax.barh(y, vals, left=left, color=colour, label=label, height=0.85)
        left += vals
    ax.set_yticks(y, [str(s) for s in df["sample_id"]], fontsize=7 if n > 60 else 8)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of raw reads (%)")
    # Long cohorts: the scale on both sides, the legend on top.
    ax.tick_params(axis="x", top=n > 40, labeltop=n > 40)
    ax.legend(
        ncols=6,
        fontsize=7,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.03 if n > 40 else 1.0),
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fmt = "png" if n > 60 else "svg"
    return figure_uri(fig, fmt=fmt, dpi=90)


def length_histograms(lengths: pd.DataFrame, max_len: int = 60) -> str:
    """Read-length distribution of every library, one panel per category.

    Parameters
    ----------
    lengths
        ``results/qc/length_distribution.tsv`` (sample_id, category, length,
        reads) with numeric ``length`` and ``reads``.
    max_len
        Longest length shown.
    """
    shown = lengths[(lengths["length"] >= 1) & (lengths["length"] <= max_len)]
    mass = shown.groupby("category")["reads"].sum()
    # Adapter dimers have length 0 (they are in the read funnel instead).
    cats = [c for c in ["passed", "too_short"] if mass.get(c, 0) > 0]
    cats += sorted(
        c for c in mass.index if c not in cats and c != "adapter_dimer" and mass[c] > 0
    )
    ncol = min(3, max(1, len(cats)))
    nrow = int(np.ceil(len(cats) / ncol)) or 1
    fig = MplFigure(figsize=(9, 2.4 * nrow))
    for i, cat in enumerate(cats):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        sub = lengths[(lengths["category"] == cat) & (lengths["length"] <= max_len)]
        wide = sub.pivot_table(
            index="length", columns="sample_id", values="reads", aggfunc="sum"
        )
        share = wide / wide.sum(axis=0).replace(0, np.nan) * 100
        for col in share.columns:
            ax.plot(share.index, share[col], color="#1f77b4", alpha=0.25, lw=0.7)
        ax.plot(
            share.index, share.median(axis=1), color="black", lw=1.5, label="median"
        )
        ax.set_title(cat.replace("_", " "), fontsize=9)
        ax.set_xlabel("read length (nt)")
        ax.set_ylabel("% of reads")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.tight_layout()
    return figure_uri(fig, fmt="png", dpi=90)


def pca_scatter(
    pca: pd.DataFrame, by: list[str], orders: dict[str, list[str]] | None = None
) -> str:
    """PC1/PC2 scatter coloured by each column in ``by`` (one panel each).

    ``orders`` fixes the level order (hence colour) of a column, e.g. the
    configured arms, so that an arm has the same colour in every figure.
    """
    fig = MplFigure(figsize=(3.3 * len(by), 3.2))
    for i, col in enumerate(by):
        ax = fig.add_subplot(1, len(by), i + 1)
        present = set(pca[col].astype(str))
        first = [lvl for lvl in (orders or {}).get(col, []) if lvl in present]
        levels = first + sorted(present - set(first))
        cmap = colours(levels)
        for lvl in levels:
            sub = pca[pca[col].astype(str) == lvl]
            ax.scatter(sub["PC1"], sub["PC2"], s=14, color=cmap[lvl], label=lvl)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_title(f"coloured by {col}", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return figure_uri(fig)


#: Status of a library in the haemolysis figure, drawing order and colour.
HEMOLYSIS_STATUS: dict[str, tuple[str, str]] = {
    "passed": ("#1f77b4", "o"),
    "failed QC (other gate)": ("#8c8c8c", "s"),
    "flagged (ratio above warning threshold)": ("#e69f00", "^"),
    "excluded (A414 above gate)": ("#c0392b", "X"),
}


def hemolysis_points(qc: pd.DataFrame, max_a414: float | None) -> pd.DataFrame:
    """One row per library of the haemolysis figure, with its status and label.

    Parameters
    ----------
    qc
        ``results/qc/library_qc.tsv`` (text cells are fine).
    max_a414
        Exclusion gate of the plasma A414 (config ``qc.max_a414``); ``None``:
        not configured (no library is marked excluded by it).

    Returns
    -------
    pandas.DataFrame
        ``sample_id``, ``x`` (position, by sample ID), ``ratio`` (log2
        miR-451a / miR-23a-3p), ``a414``, ``status`` (a key of
        :data:`HEMOLYSIS_STATUS`) and ``label`` (the sample ID for every
        library that is flagged, excluded or failed, else empty).
    """
    df = qc.copy()
    df["ratio"] = pd.to_numeric(df.get("hemolysis_log2ratio"), errors="coerce")
    df["a414"] = pd.to_numeric(
        df["hemolysis_a414"] if "hemolysis_a414" in df else np.nan, errors="coerce"
    )
    df = df[df["ratio"].notna() | df["a414"].notna()]
    df = df.sort_values("sample_id").reset_index(drop=True)
    flag = (
        df["hemolysis_flag"].astype(str).str.strip().str.lower().eq("true")
        if "hemolysis_flag" in df
        else pd.Series(False, index=df.index)
    )
    passed = (
        df["pass"].astype(str).str.strip().str.lower().eq("true")
        if "pass" in df
        else pd.Series(True, index=df.index)
    )
    gate = (df["a414"] > max_a414) if max_a414 is not None else flag & False
    status = np.where(
        gate,
        "excluded (A414 above gate)",
        np.where(
            flag,
            "flagged (ratio above warning threshold)",
            np.where(passed, "passed", "failed QC (other gate)"),
        ),
    )
    out = pd.DataFrame(
        {
            "sample_id": df["sample_id"].astype(str),
            "x": np.arange(len(df)),
            "ratio": df["ratio"],
            "a414": df["a414"],
            "status": status,
        }
    )
    out["label"] = np.where(out["status"] != "passed", out["sample_id"], "")
    return out


def hemolysis_plot(qc: pd.DataFrame, max_a414: float | None = None) -> str:
    """Haemolysis per library: the ratio with its warning threshold, A414 with its gate.

    Top panel: log2 miR-451a / miR-23a-3p with the cohort warning threshold
    (median + k MAD, a flag). Bottom panel (libraries with a plasma A414):
    A414 with the exclusion gate ``qc.max_a414``. Flagged, excluded and
    failed libraries are labelled with their sample ID in both panels.
    """
    pts = hemolysis_points(qc, max_a414)
    has_a414 = pts["a414"].notna().any()
    nrow = 2 if has_a414 else 1
    fig = MplFigure(figsize=(9, 2.7 * nrow + 0.3))
    axes = [fig.add_subplot(nrow, 1, i + 1) for i in range(nrow)]
    thr = pd.to_numeric(qc.get("hemolysis_threshold"), errors="coerce").dropna()
    panels = [("ratio", "log2 miR-451a / miR-23a-3p")]
    if has_a414:
        panels.append(("a414", "plasma A414 (absorbance)"))
    for ax, (col, ylab) in zip(axes, panels, strict=True):
        for st, (colour, marker) in HEMOLYSIS_STATUS.items():
            sub = pts[(pts["status"] == st) & pts[col].notna()]
            if len(sub):
                ax.scatter(
                    sub["x"], sub[col], s=16, color=colour, marker=marker, label=st
                )
        for _, r in pts[(pts["label"] != "") & pts[col].notna()].iterrows():
            ax.annotate(
                r["label"],
                (r["x"], r[col]),
                xytext=(3, 4),
                textcoords="offset points",
                fontsize=6.5,
                color="#333333",
            )
        if col == "ratio" and len(thr):
            ax.axhline(
                float(thr.iloc[0]),
                color="#e69f00",
                ls="--",
                lw=1,
                label=f"warning threshold {float(thr.iloc[0]):.2f} (median + k MAD; flag)",
            )
        if col == "a414" and max_a414 is not None:
            ax.axhline(
                float(max_a414),
                color="#c0392b",
                ls="-",
                lw=1.2,
                label=f"exclusion gate A414 = {max_a414:g} (qc.max_a414)",
            )
        ax.set_ylabel(ylab, fontsize=8)
        ax.set_xticks([])
        ax.legend(fontsize=6.5, frameon=False, ncols=3, loc="upper left")
        ax.margins(y=0.25)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel(f"libraries (n = {len(pts)}, sorted by sample ID)")
    fig.tight_layout()
    return figure_uri(fig)


def volcano_data(
    table: pd.DataFrame, alpha: float = 0.05, highlight: Sequence[str] = ()
) -> pd.DataFrame:
    """Points of the report's volcano plot: the MLE (unshrunken) log2 fold change.

    The shrunken LFC pulls low-information miRNAs towards 0 and is for
    ranking; the volcano shows the estimate the test is about, so a miRNA's
    position matches its effect size in the primary analysis.

    Returns
    -------
    pandas.DataFrame
        ``mirna``, ``lfc`` (column ``log2FoldChange``), ``neglog10p``,
        ``significant`` (padj < alpha) and ``label`` (top 10 significant and
        the highlighted miRNAs).
    """
    lfc = pd.to_numeric(table["log2FoldChange"], errors="coerce")
    p = pd.to_numeric(table["pvalue"], errors="coerce")
    padj = pd.to_numeric(table.get("padj"), errors="coerce")
    out = pd.DataFrame(
        {
            "mirna": table["mirna"].astype(str),
            "lfc": lfc,
            "neglog10p": -np.log10(p.clip(lower=1e-300)),
            "padj": padj,
        }
    ).dropna(subset=["lfc", "neglog10p"])
    out["significant"] = (out["padj"] < alpha).fillna(False)
    top = set(out[out["significant"]].sort_values(["padj", "mirna"])["mirna"].head(10))
    out["label"] = [m in top or m in set(highlight) for m in out["mirna"]]
    return out.reset_index(drop=True)


def volcano(
    table: pd.DataFrame, alpha: float = 0.05, highlight: Sequence[str] = ()
) -> str:
    """Volcano plot (MLE log2 fold change vs -log10 p), see :func:`volcano_data`."""
    d = volcano_data(table, alpha, highlight)
    fig = MplFigure(figsize=(6.2, 4.4))
    ax = fig.add_subplot()
    ns = d[~d["significant"]]
    sg = d[d["significant"]]
    ax.scatter(
        ns["lfc"],
        ns["neglog10p"],
        s=9,
        color="#9e9e9e",
        lw=0,
        label="FDR ≥ " + f"{alpha:g}",
    )
    ax.scatter(
        sg["lfc"],
        sg["neglog10p"],
        s=12,
        color="#c0392b",
        lw=0,
        label=f"FDR < {alpha:g}",
    )
    for m in highlight:
        hit = d[d["mirna"] == m]
        if len(hit):
            ax.scatter(
                hit["lfc"],
                hit["neglog10p"],
                s=46,
                facecolors="none",
                edgecolors="#1f4e9c",
                lw=1.3,
                label=m,
            )
    for _, r in d[d["label"]].iterrows():
        ax.annotate(
            r["mirna"].replace("hsa-", ""),
            (r["lfc"], r["neglog10p"]),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=7,
        )
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("log2 fold change (MLE, unshrunken)")
    ax.set_ylabel("-log10 p")
    ax.legend(fontsize=7, frameon=False, loc="best")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return figure_uri(fig)


def spaghetti(
    values: pd.DataFrame, arms: Sequence[str], timepoints: Sequence[str]
) -> str:
    """Paired log2 primary-miRNA values, baseline to follow-up, one panel per arm."""
    fig = MplFigure(figsize=(3.2 * len(arms), 3.4))
    cmap = colours(arms)
    ax0 = None
    for i, arm in enumerate(arms):
        ax = fig.add_subplot(1, len(arms), i + 1, sharey=ax0)
        ax0 = ax0 or ax
        sub = values[values["arm"] == arm]
        paired = sub.dropna(subset=["y_baseline", "y_followup"])
        for _, row in paired.iterrows():
            ax.plot(
                [0, 1],
                [row["y_baseline"], row["y_followup"]],
                color=cmap[arm],
                alpha=0.45,
                lw=0.9,
                marker="o",
                ms=2.5,
            )
        if len(paired):
            ax.plot(
                [0, 1],
                [paired["y_baseline"].mean(), paired["y_followup"].mean()],
                color="black",
                lw=2.2,
                marker="o",
                label="mean",
            )
        ax.set_xticks([0, 1], list(timepoints[:2]))
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(f"{arm} (n = {len(paired)} paired)", fontsize=9)
        if i == 0:
            ax.set_ylabel("log2 normalised level")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.tight_layout()
    return figure_uri(fig)


def heatmap(z: pd.DataFrame, groups: pd.Series) -> str:
    """Row-scaled heatmap (miRNAs x libraries) with a group bar above.

    Parameters
    ----------
    z
        Row z-scores, index miRNA names, columns sample IDs (already ordered).
    groups
        Group label of every column (e.g. ``arm | timepoint``).
    """
    nrow, ncol = z.shape
    fig = MplFigure(figsize=(9, 0.18 * nrow + 1.8))
    gs = fig.add_gridspec(
        2,
        2,
        height_ratios=[0.4, max(nrow, 1) * 0.18 * 2.5],
        width_ratios=[40, 1],
        hspace=0.02,
        wspace=0.02,
    )
    axg = fig.add_subplot(gs[0, 0])
    ax = fig.add_subplot(gs[1, 0])
    cax = fig.add_subplot(gs[1, 1])
    levels = list(dict.fromkeys(groups))
    cmap = colours(levels)
    for j, g in enumerate(groups):
        axg.add_patch(mpl.patches.Rectangle((j, 0), 1, 1, color=cmap[g]))
    axg.set_xlim(0, ncol)
    axg.set_ylim(0, 1)
    axg.axis("off")
    handles = [mpl.patches.Patch(color=cmap[g], label=g) for g in levels]
    axg.legend(
        handles=handles,
        ncols=len(levels),
        fontsize=7,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    im = ax.imshow(
        z.to_numpy(dtype=float),
        aspect="auto",
        cmap="RdBu_r",
        vmin=-2.5,
        vmax=2.5,
        interpolation="nearest",
    )
    ax.set_yticks(np.arange(nrow), [str(i) for i in z.index], fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel(f"libraries (n = {ncol})")
    fig.colorbar(im, cax=cax, label="z-score")
    return figure_uri(fig, fmt="png", dpi=90)


def forest(
    rows: pd.DataFrame,
    label: str = "label",
    xlabel: str = "adjusted difference (95% CI)",
    log: bool = False,
    left: str = "",
    right: str = "",
) -> str:
    """Forest plot of estimates with CIs (one row per endpoint), ordered as given.

    ``log`` draws the x axis on a log scale (ratios: odds ratios, ratios of
    geometric means), so that 0.5 and 2 are equally far from 1. ``left`` and
    ``right`` are written under the axis on each side of the null line
    ("favours placebo" / "favours exosome"), with arrows pointing away from it.
    """
    n = len(rows)
    fig = MplFigure(figsize=(9.5 if "annotation" in rows else 7.5, 0.32 * n + 1.2))
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    est = rows["estimate"].to_numpy(dtype=float)
    lo = rows["ci_low"].to_numpy(dtype=float)
    hi = rows["ci_high"].to_numpy(dtype=float)
    ax.hlines(y, lo, hi, color="#1f77b4", lw=1.4)
    ax.scatter(est, y, color="#1f77b4", s=22, zorder=3)
    null = (
        rows["null_value"].to_numpy(dtype=float)
        if "null_value" in rows
        else np.zeros(n)
    )
    for v in sorted(set(null[np.isfinite(null)])):
        ax.axvline(v, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y, [str(s) for s in rows[label]], fontsize=9)
    if "annotation" in rows:
        # The estimate as text at the right edge (raw units when the axis is scaled).
        for yi, text in zip(y, rows["annotation"], strict=True):
            ax.annotate(
                str(text),
                (1.0, yi),
                xycoords=("axes fraction", "data"),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#333333",
            )
    if log:
        ax.set_xscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        span = np.nanmax(hi[hi > 0]) / np.nanmin(lo[lo > 0]) if (lo > 0).any() else 1
        # label minor ticks only when fewer than ~1.5 decades are shown
        ax.xaxis.set_minor_formatter(
            plain if span < 30 else FuncFormatter(lambda v, _: "")
        )
    ax.set_xlabel(xlabel)
    if left or right:
        nv = float(null[np.isfinite(null)][0]) if np.isfinite(null).any() else 0.0
        lo_x, hi_x = ax.get_xlim()
        # keep the null line inside the axis so both sides have room
        if log and (nv <= lo_x or nv >= hi_x):
            ax.set_xlim(min(lo_x, nv / 1.25), max(hi_x, nv * 1.25))
        elif nv <= lo_x or nv >= hi_x:
            span = hi_x - lo_x
            ax.set_xlim(min(lo_x, nv - 0.1 * span), max(hi_x, nv + 0.1 * span))
        ax.xaxis.labelpad = 18
        trans = ax.get_xaxis_transform()
        for text, ha in ((left, "right"), (right, "left")):
            if text:
                arrow = f"\u2190 {text}" if ha == "right" else f"{text} \u2192"
                ax.annotate(
                    arrow,
                    (nv, 0),
                    xycoords=trans,
                    xytext=(-8 if ha == "right" else 8, -17),
                    textcoords="offset points",
                    ha=ha,
                    va="top",
                    fontsize=8,
                    fontweight="bold",
                    color="#333333",
                    annotation_clip=False,
                )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return figure_uri(fig)


def roc_plot(curve: pd.DataFrame, point: tuple[float, float] | None, label: str) -> str:
    """Empirical ROC curve with the Youden point and its label."""
    fig = MplFigure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    ax.plot(curve["fpr"], curve["tpr"], drawstyle="steps-post", color="#1f77b4", lw=1.6)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    if point is not None:
        ax.scatter([point[0]], [point[1]], color="#c0392b", zorder=3, s=30)
        ax.annotate(
            label, point, xytext=(8, -18), textcoords="offset points", fontsize=8
        )
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    fig.tight_layout()
    return figure_uri(fig)


def boundary_plot(
    interim: pd.DataFrame, observed: bool, direction: str = "increase"
) -> str:
    """Plot the interim boundaries for the report.

    Efficacy boundaries (planned and actual schedule), the non-binding futility
    boundary (actual schedule, drawn on the side of the expected direction)
    and, if allowed, the observed z-equivalent at this look.
    """
    df = interim.sort_values("information_fraction")
    has_sched = "schedule" in df
    act = df[df["schedule"] == "actual"] if has_sched else df
    fig = MplFigure(figsize=(6.2, 3.8))
    ax = fig.add_subplot()
    if has_sched:
        pl = df[df["schedule"] == "planned"]
        tp = pl["information_fraction"].to_numpy(dtype=float)
        zp = pl["z_boundary"].to_numpy(dtype=float)
        ax.plot(
            tp, zp, marker="o", color="0.65", lw=3, alpha=0.6, label="planned looks"
        )
        ax.plot(tp, -zp, color="0.65", lw=3, alpha=0.6)
    t = act["information_fraction"].to_numpy(dtype=float)
    zb = act["z_boundary"].to_numpy(dtype=float)
    ax.plot(t, zb, marker="s", color="#c0392b", label="efficacy boundary (actual)")
    ax.plot(t, -zb, marker="s", color="#c0392b", ls=":")
    for ti, zi in zip(t, zb, strict=True):
        if np.isfinite(zi):
            ax.annotate(
                f"{zi:.3f}",
                (ti, zi),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=8,
            )
    if "futility_z_boundary" in act:
        sign = 1.0 if direction == "increase" else -1.0
        fz = act["futility_z_boundary"].to_numpy(dtype=float)
        ok = np.isfinite(fz)
        if ok.any():
            ax.plot(
                t[ok],
                sign * fz[ok],
                marker="v",
                ls="--",
                color="#2471a3",
                label="futility boundary (non-binding)",
            )
            for ti, zi in zip(t[ok], sign * fz[ok], strict=True):
                ax.annotate(
                    f"{zi:.2f}",
                    (ti, zi),
                    xytext=(4, -10),
                    textcoords="offset points",
                    fontsize=7,
                    color="#2471a3",
                )
    if "look_role" in act:
        cur = act[act["look_role"] == "current"]["information_fraction"]
        for tc in cur.to_numpy(dtype=float):
            ax.axvline(tc, color="0.5", lw=0.6, ls="-.")
            ax.annotate(
                "this look",
                (tc, ax.get_ylim()[0]),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
                color="0.35",
            )
    if observed and "observed_z" in act:
        oz = act["observed_z"].to_numpy(dtype=float)
        ok = np.isfinite(oz)
        ax.scatter(
            t[ok],
            oz[ok],
            color="black",
            marker="*",
            s=80,
            zorder=3,
            label="observed z-equivalent",
        )
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("information fraction t")
    ax.set_ylabel("z")
    ax.legend(fontsize=7, frameon=False, loc="center right")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return figure_uri(fig)


def score_boxes(
    scores: pd.DataFrame,
    arms: Sequence[str],
    timepoints: Sequence[str],
    paths: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
) -> str:
    """Pathway score distributions, one panel per pathway.

    x is the timepoint; each arm has its own box colour (one legend for the
    figure), so tick labels stay short. Panels wrap at three per row.
    """
    paths = list(paths) if paths is not None else sorted(set(scores["pathway"]))
    titles = list(titles) if titles is not None else [str(p) for p in paths]
    ncol = min(3, max(1, len(paths)))
    nrow = int(np.ceil(len(paths) / ncol)) or 1
    fig = MplFigure(figsize=(11, 3.3 * nrow + 0.5))
    cmap = colours(arms)
    width = 0.8 / max(1, len(arms))
    for i, (pw, title) in enumerate(zip(paths, titles, strict=True)):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        for k, arm in enumerate(arms):
            data = [
                scores[
                    (scores["pathway"] == pw)
                    & (scores["arm"] == arm)
                    & (scores["timepoint"] == t)
                ]["score"]
                .dropna()
                .to_numpy(dtype=float)
                for t in timepoints
            ]
            pos = np.arange(len(timepoints)) + (k - (len(arms) - 1) / 2) * width
            bp = ax.boxplot(
                data,
                positions=pos,
                widths=width * 0.85,
                patch_artist=True,
                manage_ticks=False,
                flierprops={"markersize": 3},
            )
            for box in bp["boxes"]:
                box.set_facecolor(cmap[arm])
                box.set_alpha(0.55)
            for med in bp["medians"]:
                med.set_color("black")
        ax.set_xticks(np.arange(len(timepoints)), [str(t) for t in timepoints])
        ax.set_title(textwrap.fill(str(title), 34), fontsize=10)
        ax.axhline(0, color="grey", lw=0.6, ls=":")
        ax.tick_params(labelsize=9)
        if i % ncol == 0:
            ax.set_ylabel("score", fontsize=9)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles = [mpl.patches.Patch(facecolor=cmap[a], alpha=0.55, label=a) for a in arms]
    fig.legend(
        handles=handles,
        loc="upper center",
        ncols=len(arms),
        fontsize=10,
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95 if nrow == 1 else 0.97))
    return figure_uri(fig)
