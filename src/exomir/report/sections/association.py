"""Section 9: association of the primary biomarker with clinical endpoints, and ROC."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import POOLED_ARMS, ReportContext, num
from exomir.report.labels import (
    fmt_ci,
    fmt_num,
    fmt_p,
    humanise,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text
from exomir.report.sections.clinical import ARM_LEVEL_NOTE, _col, _endpoint_label

ASSOC_LABELS = {
    "ols_slope": "OLS slope per doubling",
    "spearman": "Spearman rho",
}


def association(ctx: ReportContext, sec: Section) -> Section:
    """§10: change in primary miRNA vs change in endpoints; ROC of baseline miRNA."""
    path = "results/clinical/association.tsv"
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("biomarker-clinical association (clinical stage)", [path]))
    elif ctx.closed:
        _association_tables(ctx, sec, df, path)
    else:
        sec.add(
            Text(
                f"The association models adjust for arm and are reported by arm. {ARM_LEVEL_NOTE}",
                kind="note",
            )
        )
    _roc(ctx, sec)
    return sec


def _association_tables(
    ctx: ReportContext, sec: Section, df: pd.DataFrame, path: str
) -> None:
    """Add the miRNA-endpoint association tables (closed report: by arm)."""
    sec.add(
        Text(
            "Exploratory: slopes per doubling of the primary miRNA (OLS, HC3) and Spearman rho with bootstrap CIs; BH across endpoints. Not a mediation analysis."
        )
    )
    labels = df["label"] if "label" in df else [""] * len(df)
    assoc = pd.DataFrame(
        {
            "endpoint": [
                _endpoint_label(ctx, p, lab)
                for p, lab in zip(df["param"], labels, strict=True)
            ],
            "analysis": [ASSOC_LABELS.get(a, humanise(a)) for a in df["analysis"]],
            "arm": df["arm"],
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi)
                for e, lo, hi in zip(
                    df["estimate"], df["ci_low"], df["ci_high"], strict=True
                )
            ],
            "p": [fmt_p(v) for v in df["p_value"]],
            "BH p": [fmt_p(v) for v in df["p_bh"]] if "p_bh" in df else "",
            "n": df["n"],
        }
    )
    primary_rows = assoc["arm"].str.lower().isin(POOLED_ARMS)
    sec.add(
        Table(
            "Change in primary miRNA vs change in endpoint, arms pooled (adjusted for arm)",
            assoc[primary_rows] if primary_rows.any() else assoc,
            source=[path],
            arm_level=True,
            preformatted=True,
        )
    )
    if primary_rows.any() and (~primary_rows).any():
        sec.add(
            Table(
                "Change in primary miRNA vs change in endpoint, within each arm",
                assoc[~primary_rows],
                source=[path],
                arm_level=True,
                preformatted=True,
                collapsed=True,
            )
        )


ROC_LABELS = {
    "n_positive": "Reference-positive participants",
    "n_negative": "Reference-negative participants",
    "auc": "AUC (DeLong CI)",
    "auc_bootstrap": "AUC (bootstrap CI)",
    "cutoff": "Cut-off (log2 level)",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "youden_j": "Youden J",
    "auc_optimism_corrected": "AUC, optimism-corrected",
    "youden_j_optimism_corrected": "Youden J, optimism-corrected",
    "registry_mean_sens_spec": "Mean of sensitivity and specificity",
}


def _roc(ctx: ReportContext, sec: Section) -> None:
    """Add the ROC of the baseline primary miRNA: metrics, table and curve."""
    roc_path, curve_path = "results/clinical/roc.tsv", "results/clinical/roc_curve.tsv"
    roc = ctx.table(roc_path)
    if roc is None:
        sec.add(
            NotRun(
                "ROC of the baseline primary miRNA (ROC stage; needs an independent ed_reference label)",
                [roc_path],
            )
        )
        return
    metric = roc.set_index("metric")
    vals = {m: num(pd.Series([metric.loc[m, "value"]])).iloc[0] for m in metric.index}
    tiles = []
    for m, lab in [
        ("auc", "AUC"),
        ("sensitivity", "Sensitivity"),
        ("specificity", "Specificity"),
        ("youden_j", "Youden J"),
        ("auc_optimism_corrected", "AUC, optimism-corrected"),
    ]:
        if m in metric.index:
            r = metric.loc[m]
            text = f"{float(vals[m]):.3f}" if np.isfinite(vals[m]) else str(r["value"])
            if r.get("ci_low", ""):
                text += f" ({float(r['ci_low']):.3f} to {float(r['ci_high']):.3f})"
            if r.get("numerator", "") and r.get("denominator", ""):
                text += f" [{r['numerator']}/{r['denominator']}]"
            tiles.append((lab, text))
    sec.add(KeyValues(tiles, source=[roc_path]))
    roc_show = pd.DataFrame(
        {
            "metric": [ROC_LABELS.get(m, humanise(m)) for m in roc["metric"]],
            "value (95% CI)": [
                fmt_ci(v, lo, hi)
                for v, lo, hi in zip(
                    roc["value"], _col(roc, "ci_low"), _col(roc, "ci_high"), strict=True
                )
            ],
            "CI method": _col(roc, "ci_method"),
            "registry value": [fmt_num(v) for v in _col(roc, "registry_value")],
            "count": [
                f"{a}/{b}" if a and b else ""
                for a, b in zip(
                    _col(roc, "numerator"), _col(roc, "denominator"), strict=True
                )
            ],
            "note": _col(roc, "note"),
        }
    )
    sec.add(
        Table(
            "ROC of baseline primary miRNA against the endothelial-dysfunction reference",
            roc_show,
            source=[roc_path],
            preformatted=True,
            note="Registry value: the figure reported in the trial registry, for comparison.",
        )
    )
    curve = ctx.table(curve_path)
    if curve is not None:
        for c in curve.columns:
            curve[c] = num(curve[c])
        point = None
        label = "Youden point"
        if "sensitivity" in vals and "specificity" in vals:
            point = (1 - float(vals["specificity"]), float(vals["sensitivity"]))
            label = f"sens {vals['sensitivity']:.3f}, spec {vals['specificity']:.3f}"
        sec.add(
            Figure(
                "Empirical ROC curve with the Youden point",
                source=[curve_path, roc_path],
                alt="ROC curve",
                uri=figures.roc_plot(curve, point, label),
                width="45%",
            )
        )
    else:
        sec.add(NotRun("ROC curve", [curve_path]))
