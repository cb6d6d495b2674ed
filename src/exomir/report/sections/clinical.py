"""Clinical sections: endpoints, biomarker association and ROC, safety, interim."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import POOLED_ARMS, ReportContext, is_true, num
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text

ARM_LEVEL_NOTE = "Results by arm are in the closed DSMB report."
RATIO_MEASURES = ("ratio", "odds", "gmr", "geometric")


def clinical(ctx: ReportContext, sec: Section) -> Section:
    """§9: forest plot of adjusted differences and per-endpoint tables."""
    path = "results/clinical/endpoints.tsv"
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("clinical endpoints (clinical stage)", [path]))
        return sec
    if not ctx.closed:
        sec.add(Text(f"Clinical endpoints compare arms. {ARM_LEVEL_NOTE}", kind="note"))
        return sec
    for c in ("estimate", "ci_low", "ci_high", "p_value"):
        df[c] = num(df[c])
    prim = df[
        (df["analysis"] == "primary") & (df["population"].isin(["mITT", ""]))
    ].dropna(subset=["estimate", "ci_low", "ci_high"])
    if len(prim):
        for measure, sub in prim.groupby("effect_measure", sort=False):
            sub = sub.copy()
            ratio = any(k in str(measure).lower() for k in RATIO_MEASURES)
            sub["null_value"] = 1.0 if ratio else 0.0
            sub["label_full"] = sub["label"].where(sub["label"] != "", sub["param"])
            sec.add(
                Figure(
                    f"Forest plot, primary analysis (mITT): {measure}",
                    source=[path],
                    alt="forest plot",
                    uri=figures.forest(
                        sub, label="label_full", xlabel=f"{measure} (95% CI)"
                    ),
                    arm_level=True,
                )
            )
    cols = [
        c
        for c in [
            "param",
            "label",
            "domain",
            "kind",
            "model",
            "analysis",
            "population",
            "effect_measure",
            "estimate",
            "ci_low",
            "ci_high",
            "p_value",
            "n_treatment",
            "n_control",
        ]
        if c in df
    ]
    sec.add(
        Table(
            "Endpoint results, primary analysis (exploratory secondaries, 95% CIs)",
            df[df["analysis"] == "primary"][cols],
            source=[path],
            arm_level=True,
        )
    )
    other = df[df["analysis"] != "primary"]
    if len(other):
        sec.add(
            Table(
                "Endpoint sensitivity analyses",
                other[cols],
                source=[path],
                collapsed=True,
                arm_level=True,
            )
        )
    shifts = ctx.table("results/clinical/lab_shifts.tsv")
    if shifts is not None:
        cat = shifts[shifts["param"].str.upper().str.startswith(("EDEMA", "PROT"))]
        if len(cat):
            sec.add(
                Table(
                    "Edema and proteinuria shift tables (baseline -> week 1)",
                    cat,
                    source=["results/clinical/lab_shifts.tsv"],
                    collapsed=True,
                    arm_level=True,
                )
            )
    return sec


def association(ctx: ReportContext, sec: Section) -> Section:
    """§10: change in primary miRNA vs change in endpoints; ROC of baseline miRNA."""
    path = "results/clinical/association.tsv"
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("biomarker-clinical association (clinical stage)", [path]))
    elif ctx.closed:
        sec.add(
            Text(
                "Exploratory: slopes per doubling of the primary miRNA (OLS, HC3) and Spearman rho with bootstrap CIs; BH across endpoints. Not a mediation analysis."
            )
        )
        sec.add(
            Table(
                "Change in primary miRNA vs change in endpoint",
                df,
                source=[path],
                arm_level=True,
            )
        )
    else:
        sec.add(
            Text(
                f"The association models adjust for arm and are reported by arm. {ARM_LEVEL_NOTE}",
                kind="note",
            )
        )
    roc_path, curve_path = "results/clinical/roc.tsv", "results/clinical/roc_curve.tsv"
    roc = ctx.table(roc_path)
    if roc is None:
        sec.add(
            NotRun(
                "ROC of the baseline primary miRNA (ROC stage; needs an independent ed_reference label)",
                [roc_path],
            )
        )
        return sec
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
    sec.add(
        Table(
            "ROC of baseline primary miRNA against the endothelial-dysfunction reference",
            roc,
            source=[roc_path],
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
    return sec


def _pooled_overview(ae: pd.DataFrame) -> pd.DataFrame:
    ov = ae[ae["table"] == "overview"].copy()
    pooled = ov[ov["arm"].str.lower().isin(POOLED_ARMS)]
    if len(pooled):
        return pooled[["category", "n_participants", "n_events", "percent"]]
    ov["n_participants"] = num(ov["n_participants"])
    ov["n_events"] = num(ov["n_events"])
    agg = (
        ov.groupby("category", sort=False)[["n_participants", "n_events"]]
        .sum()
        .reset_index()
    )
    return agg.astype({"n_participants": int, "n_events": int})


def safety(ctx: ReportContext, sec: Section) -> Section:
    """§11: AE overview, SOC/PT, SAE listing, AESIs, lab shifts."""
    path, shift_path = (
        "results/clinical/adverse_events.tsv",
        "results/clinical/lab_shifts.tsv",
    )
    ae = ctx.table(path)
    if ae is None:
        sec.add(NotRun("adverse-event tables (safety stage)", [path]))
    elif not ctx.closed:
        sec.add(
            Table(
                "Adverse-event overview, arms pooled",
                _pooled_overview(ae),
                source=[path],
                note="Participants with at least one event and number of events; by-arm tables and listings are in the closed report.",
            )
        )
    else:
        cols = [c for c in ae.columns if c != "table"]
        for table, title in [
            (
                "overview",
                "Adverse-event overview by arm (risk difference with Newcombe 95% CI)",
            ),
            ("aesi", "Adverse events of special interest"),
            ("soc_pt", "Adverse events by MedDRA SOC / PT"),
            ("sae_listing", "Serious adverse events: listing"),
        ]:
            sub = ae[ae["table"] == table]
            keep = [c for c in cols if (sub[c] != "").any()] if len(sub) else cols
            if len(sub):
                sec.add(
                    Table(
                        title,
                        sub[keep],
                        source=[path],
                        arm_level=True,
                        collapsed=table == "soc_pt",
                    )
                )
    shifts = ctx.table(shift_path)
    if shifts is None:
        sec.add(NotRun("safety lab shift tables (safety stage)", [shift_path]))
    elif ctx.closed:
        wide = shifts.pivot_table(
            index=["param", "arm", "baseline_class"],
            columns="week1_class",
            values="n",
            aggfunc="first",
            fill_value="0",
        ).reset_index()
        sec.add(
            Table(
                "Safety lab shifts, baseline -> week 1 (n)",
                wide,
                source=[shift_path],
                arm_level=True,
                collapsed=True,
            )
        )
    else:
        s = shifts.copy()
        s["n"] = num(s["n"])
        pooled = (
            s.groupby(["param", "baseline_class", "week1_class"])["n"]
            .sum()
            .reset_index()
        )
        wide = pooled.pivot_table(
            index=["param", "baseline_class"],
            columns="week1_class",
            values="n",
            aggfunc="sum",
            fill_value=0,
        ).reset_index()
        sec.add(
            Table(
                "Safety lab shifts, arms pooled (n)",
                wide,
                source=[shift_path],
                collapsed=True,
            )
        )
    return sec


def interim(ctx: ReportContext, sec: Section) -> Section:
    """§12: information fraction, boundaries, observed z, conditional power, triggers."""
    path, trig_path = (
        "results/clinical/interim.tsv",
        "results/clinical/safety_triggers.tsv",
    )
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("interim analysis (interim stage)", [path]))
    else:
        nums = df.copy()
        for c in ("information_fraction", "z_boundary", "observed_z"):
            if c in nums:
                nums[c] = num(nums[c])
        design = [
            c
            for c in [
                "look",
                "information_fraction",
                "alpha_spent",
                "nominal_p",
                "z_boundary",
            ]
            if c in df
        ]
        first = df.iloc[0]
        sec.add(
            KeyValues(
                [
                    (
                        "Information fraction (first look)",
                        str(first.get("information_fraction", "")),
                    ),
                    ("Efficacy boundary |z|", str(first.get("z_boundary", ""))),
                    ("Nominal two-sided p", str(first.get("nominal_p", ""))),
                ],
                source=[path],
            )
        )
        sec.add(
            Text(
                "Lan-DeMets O'Brien-Fleming-type alpha spending, recomputed at the actual information fraction. Futility is non-binding."
            )
        )
        if ctx.closed:
            sec.add(
                Table(
                    "Interim looks: boundaries, observed z, conditional power",
                    df,
                    source=[path],
                    arm_level=True,
                )
            )
            sec.add(
                Figure(
                    "Observed z against the efficacy boundary",
                    source=[path],
                    alt="boundary plot",
                    uri=figures.boundary_plot(nums, observed=True),
                    arm_level=True,
                    width="60%",
                )
            )
        else:
            sec.add(
                Table(
                    "Interim design: information fraction and boundaries",
                    df[design],
                    source=[path],
                )
            )
            sec.add(
                Figure(
                    "Efficacy boundary by information fraction",
                    source=[path],
                    alt="boundary plot",
                    uri=figures.boundary_plot(nums, observed=False),
                    width="60%",
                )
            )
    trig = ctx.table(trig_path)
    if trig is None:
        sec.add(NotRun("safety stopping triggers (safety stage)", [trig_path]))
    elif ctx.closed:
        fired = is_true(trig["triggered"])
        sec.add(
            Text(
                f"{int(fired.sum())} of {len(trig)} safety triggers met.",
                kind="warn" if fired.any() else "p",
                arm_level=True,
            )
        )
        sec.add(
            Table("Safety stopping triggers", trig, source=[trig_path], arm_level=True)
        )
    else:
        sec.add(
            Text(
                "Safety trigger evaluation is by arm and is in the closed report.",
                kind="note",
            )
        )
    return sec
