"""Clinical sections: endpoints, biomarker association and ROC, safety, interim."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import POOLED_ARMS, ReportContext, is_true, num
from exomir.report.labels import (
    fmt_ci,
    fmt_num,
    fmt_p,
    humanise,
    param_label,
    ucum,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text

ARM_LEVEL_NOTE = "Results by arm are in the closed DSMB report."
ASSOC_LABELS = {
    "ols_slope": "OLS slope per doubling",
    "spearman": "Spearman rho",
}
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
RATIO_MEASURES = ("ratio", "odds", "gmr", "geometric")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """Return a column, or blanks when the table lacks it."""
    return df[name] if name in df else pd.Series([""] * len(df), index=df.index)


def _endpoint_label(ctx: ReportContext, param: str, label: str) -> str:
    if param in (ctx.config.get("clinical_parameters") or {}):
        return param_label(param, ctx.config)
    return label or param_label(param, ctx.config)


def endpoint_table(ctx: ReportContext, df: pd.DataFrame) -> pd.DataFrame:
    """Endpoint results as a reader reads them: label (unit), estimate (CI), p."""
    labels = df["label"] if "label" in df else pd.Series([""] * len(df), index=df.index)
    out = pd.DataFrame(
        {
            "endpoint": [
                _endpoint_label(ctx, p, lab)
                for p, lab in zip(df["param"], labels, strict=True)
            ],
            "analysis": [humanise(a) for a in df["analysis"]],
            "population": df.get("population", ""),
            "model": df.get("model", ""),
            "effect measure": df.get("effect_measure", ""),
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi) or "not estimable"
                for e, lo, hi in zip(
                    df["estimate"], df["ci_low"], df["ci_high"], strict=True
                )
            ],
            "p": [fmt_p(v) for v in df["p_value"]],
        }
    )
    if out["analysis"].nunique() == 1:
        out = out.drop(columns="analysis")
    if "n_treatment" in df and "n_control" in df:
        out["n (treated / control)"] = [
            f"{t} / {c}"
            for t, c in zip(df["n_treatment"], df["n_control"], strict=True)
        ]
    return out.reset_index(drop=True)


DATASET = "results/clinical/analysis_dataset.tsv"


def _baseline_sd(ctx: ReportContext) -> pd.Series | None:
    """Pooled (all arms) SD of each parameter's baseline value, or None."""
    ds = ctx.table(DATASET)
    if ds is None or not {"param", "bl"} <= set(ds.columns):
        return None
    bl = pd.to_numeric(ds["bl"], errors="coerce")
    return bl.groupby(ds["param"].astype(str)).std(ddof=1)


def clinical(ctx: ReportContext, sec: Section) -> Section:
    """§9: forest plot of adjusted differences and per-endpoint tables."""
    path = "results/clinical/endpoints.tsv"
    if not ctx.closed and ctx.is_withheld(path):
        sec.add(Text(f"Clinical endpoints compare arms. {ARM_LEVEL_NOTE}", kind="note"))
        return sec
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("clinical endpoints (clinical stage)", [path]))
        return sec
    for c in ("estimate", "ci_low", "ci_high", "p_value"):
        df[c] = num(df[c])
    prim = df[
        (df["analysis"] == "primary") & (df["population"].isin(["mITT", ""]))
    ].dropna(subset=["estimate", "ci_low", "ci_high"])
    if len(prim):
        baseline_sd = _baseline_sd(ctx)
        for measure, sub in prim.groupby("effect_measure", sort=False):
            sub = sub.copy()
            ratio = any(k in str(measure).lower() for k in RATIO_MEASURES)
            sub["null_value"] = 1.0 if ratio else 0.0
            sub["label_full"] = [
                _endpoint_label(ctx, p, lab)
                for p, lab in zip(sub["param"], sub["label"], strict=True)
            ]
            sub["annotation"] = [
                fmt_ci(e, lo, hi)
                for e, lo, hi in zip(
                    sub["estimate"], sub["ci_low"], sub["ci_high"], strict=True
                )
            ]
            title = f"Forest plot, primary analysis (mITT): {measure}"
            xlabel = f"{measure} (95% CI)" + (", log scale" if ratio else "")
            sources = [path]
            sd = sub["param"].map(baseline_sd) if baseline_sd is not None else None
            if not ratio and sd is not None and sd.gt(0).all():
                # Endpoints on different scales (platelets vs haemoglobin) share
                # one axis only once each difference is divided by that
                # endpoint's pooled baseline SD; the raw estimate stays as text.
                for c in ("estimate", "ci_low", "ci_high"):
                    sub[c] = sub[c] / sd.to_numpy()
                title += " (standardised by the pooled baseline SD)"
                xlabel = "difference / baseline SD (95% CI); text: raw difference"
                sources.append(DATASET)
            sec.add(
                Figure(
                    title,
                    source=sources,
                    alt="forest plot",
                    uri=figures.forest(
                        sub, label="label_full", xlabel=xlabel, log=ratio
                    ),
                    arm_level=True,
                )
            )
    sec.add(
        Table(
            "Endpoint results, primary analysis (exploratory secondaries, 95% CIs)",
            endpoint_table(ctx, df[df["analysis"] == "primary"]),
            source=[path],
            arm_level=True,
            preformatted=True,
        )
    )
    other = df[df["analysis"] != "primary"]
    if len(other):
        sec.add(
            Table(
                "Endpoint sensitivity analyses",
                endpoint_table(ctx, other),
                source=[path],
                collapsed=True,
                arm_level=True,
                preformatted=True,
            )
        )
    shifts = ctx.table("results/clinical/lab_shifts.tsv")
    if shifts is not None:
        cat = shifts[shifts["param"].str.upper().str.startswith(("EDEMA", "PROT"))]
        if len(cat):
            sec.add(
                Table(
                    "Edema and proteinuria shift tables (baseline -> week 1)",
                    _shift_order(
                        ctx,
                        cat.pivot_table(
                            index=["param", "arm", "baseline_class"],
                            columns="week1_class",
                            values="n",
                            aggfunc="first",
                            fill_value="0",
                        ).reset_index(),
                    ),
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
    return sec


def _pooled_overview(ae: pd.DataFrame) -> pd.DataFrame:
    ov = ae[ae["table"] == "overview"].copy()
    pooled = ov[ov["arm"].str.lower().isin(POOLED_ARMS)]
    if len(pooled):
        keep = [
            c
            for c in ["category", "n_participants", "n_events", "n_arm", "percent"]
            if c in pooled
        ]
        return ae_table(pooled[keep])
    ov["n_participants"] = num(ov["n_participants"])
    ov["n_events"] = num(ov["n_events"])
    agg = (
        ov.groupby("category", sort=False)[["n_participants", "n_events"]]
        .sum()
        .reset_index()
    )
    agg = agg.astype({"n_participants": int, "n_events": int}).astype(str)
    return ae_table(agg)


AE_COLUMNS = {
    "participant_id": "participant",
    "category": "category",
    "soc": "SOC",
    "pt": "PT",
    "arm": "arm",
    "n_participants": "participants",
    "n_events": "events",
    "n_arm": "N",
    "percent": "%",
    "risk difference (95% CI)": "risk difference, % (95% CI)",
    "ae_id": "AE",
    "ctcae_grade": "CTCAE grade",
    "related": "related",
    "sae_criterion": "SAE criterion",
    "onset_day": "onset day",
    "outcome": "outcome",
}


def ae_table(sub: pd.DataFrame) -> pd.DataFrame:
    """One adverse-event table with readable categories, % to 1 decimal, RD with CI."""
    df = sub.copy()
    if "category" in df:
        df["category"] = [humanise(c) for c in df["category"]]
    if "percent" in df:
        df["percent"] = [
            f"{v:.1f}" if np.isfinite(v) else "" for v in num(df["percent"])
        ]
    if "risk_difference" in df:
        scale = 100 if num(df["risk_difference"]).abs().max() <= 1 else 1
        df["risk difference (95% CI)"] = [
            fmt_ci(
                num(pd.Series([e])).iloc[0] * scale,
                num(pd.Series([lo])).iloc[0] * scale,
                num(pd.Series([hi])).iloc[0] * scale,
            )
            for e, lo, hi in zip(
                df["risk_difference"],
                _col(df, "rd_ci_low"),
                _col(df, "rd_ci_high"),
                strict=True,
            )
        ]
    keep = [c for c in AE_COLUMNS if c in df and (df[c].astype(str) != "").any()]
    return df[keep].rename(columns=AE_COLUMNS).reset_index(drop=True)


SHIFT_CLASSES = ["low", "normal", "high", "missing"]


def _shift_order(ctx: ReportContext, wide: pd.DataFrame) -> pd.DataFrame:
    """Order shift classes low -> high, label parameters, and name the columns."""
    wide = wide.copy()
    wide.columns = [str(c) for c in wide.columns]
    index = [c for c in ("param", "arm", "baseline_class") if c in wide]
    classes = [c for c in wide.columns if c not in index]
    ordered = [c for c in SHIFT_CLASSES if c in classes] + sorted(
        c for c in classes if c not in SHIFT_CLASSES
    )
    rank = {c: i for i, c in enumerate(SHIFT_CLASSES)}
    wide["_o"] = [rank.get(str(b), 99) for b in wide["baseline_class"]]
    keys = [c for c in ("param", "arm") if c in wide]
    if "arm" in wide:
        arm_rank = {a: i for i, a in enumerate(ctx.arms)}
        wide["_a"] = [arm_rank.get(a, 99) for a in wide["arm"]]
        keys = ["param", "_a"]
    wide = wide.sort_values([*keys, "_o"], kind="stable")
    wide["param"] = [param_label(p, ctx.config) for p in wide["param"]]
    out = wide[[*index, *ordered]].rename(
        columns={"param": "parameter", "baseline_class": "baseline class"}
    )
    return out.reset_index(drop=True)


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
                preformatted=True,
                note="Participants with at least one event and number of events; by-arm tables and listings are in the closed report.",
            )
        )
    else:
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
            if len(sub):
                sec.add(
                    Table(
                        title,
                        ae_table(sub),
                        source=[path],
                        arm_level=True,
                        collapsed=table == "soc_pt",
                        preformatted=True,
                    )
                )
        _ae_listing(ctx, sec)
    shifts = ctx.table(shift_path)
    _lab_ranges(ctx, sec, shifts, shift_path)
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
                "Safety lab shifts, baseline -> week 1 (n; columns: week-1 class)",
                _shift_order(ctx, wide),
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
                "Safety lab shifts, arms pooled (n; columns: week-1 class)",
                _shift_order(ctx, wide),
                source=[shift_path],
                collapsed=True,
            )
        )
    return sec


#: Columns of results/clinical/ae_listing.tsv shown, with reader labels.
AE_LISTING_LABELS = {
    "participant_id": "participant",
    "arm": "arm",
    "ae_id": "AE",
    "soc": "SOC",
    "pt": "PT",
    "onset": "onset",
    "ctcae_grade": "CTCAE grade",
    "serious": "serious",
    "related": "relatedness",
    "action": "action with study product",
    "outcome": "outcome",
}


def _ae_listing(ctx: ReportContext, sec: Section) -> None:
    """List every adverse event of every participant (closed report, ae_listing.tsv)."""
    path = "results/clinical/ae_listing.tsv"
    df = ctx.table(path)
    if df is None:
        if ctx.has("results/clinical/adverse_events.tsv"):
            sec.add(NotRun("adverse-event listing (safety stage)", [path]))
        return
    if df.empty:
        sec.add(
            Text("Adverse-event listing: no adverse event recorded.", arm_level=True)
        )
        return
    out = df.copy()
    out["onset"] = [
        " ".join(
            x
            for x in (
                str(d).strip(),
                f"(day {fmt_num(n)})" if str(n).strip() else "",
            )
            if x
        )
        for d, n in zip(out["onset_date"], out["onset_day"], strict=True)
    ]
    out["serious"] = [
        ("yes" + (f": {c}" if str(c).strip() else "")) if v == "Y" else "no"
        for v, c in zip(out["serious"], out["sae_criterion"], strict=True)
    ]
    out["action"] = [
        {
            "interrupted": "infusion interrupted",
            "withdrawn": "product withdrawn",
            "none": "no change",
        }.get(str(a), humanise(str(a)) if str(a).strip() else "not recorded")
        for a in out["action"]
    ]
    out["outcome"] = [humanise(o) if str(o).strip() else "" for o in out["outcome"]]
    outside = out[~is_true(out["in_safety_population"])]
    note = (
        "Every adverse event, by arm, participant and onset. Relatedness is to "
        "the study product; 'action with study product' is the action taken "
        "with the infusion or injection because of the event."
    )
    if len(outside):
        note += (
            f" {len(outside)} event(s) of participants outside the safety "
            "population (not dosed) are listed but not counted in the tables."
        )
    sec.add(
        Table(
            "Adverse events: participant-level listing",
            out[list(AE_LISTING_LABELS)].rename(columns=AE_LISTING_LABELS),
            source=[path],
            note=note,
            arm_level=True,
            collapsed=len(out) > 15,
            wide=True,
        )
    )


def _lab_ranges(
    ctx: ReportContext, sec: Section, shifts: pd.DataFrame | None, shift_path: str
) -> None:
    """Show the normal ranges the shift tables use and which are assumptions.

    The ranges come from the shift table (what was applied) or, when that is
    withheld or absent, from config ``lab_reference_ranges``; neither holds
    arm information, so both reports show them.
    """
    cols = ["param", "low_limit", "high_limit", "unit", "range_source"]
    if shifts is not None and set(cols) <= set(shifts.columns):
        r = shifts[cols].drop_duplicates("param")
        src = [shift_path]
    else:
        ranges = ctx.config.get("lab_reference_ranges") or {}
        if not ranges:
            return
        r = pd.DataFrame(
            [
                (p, v.get("low"), v.get("high"), v.get("unit", ""), v.get("source", ""))
                for p, v in sorted(ranges.items())
            ],
            columns=cols,
        )
        src = ["config/config.yaml"]
    assumed = [
        "yes" if str(s).strip().lower().startswith("assumption") else "no"
        for s in r["range_source"]
    ]
    out = pd.DataFrame(
        {
            "parameter": [param_label(p, ctx.config, unit=False) for p in r["param"]],
            "normal range": [
                f"{fmt_num(lo)}-{fmt_num(hi)} {ucum(str(u))}".strip()
                for lo, hi, u in zip(
                    r["low_limit"], r["high_limit"], r["unit"], strict=True
                )
            ],
            "assumed (not the site's postpartum range)": assumed,
            "source": list(r["range_source"]),
        }
    )
    n_assumed = assumed.count("yes")
    note = (
        "Low / normal / high in the shift tables are against these ranges "
        "(config lab_reference_ranges). "
        + (
            f"{n_assumed} of {len(out)} are assumptions (adult or adult-female "
            "ranges adjusted for the first postpartum week), not ranges "
            "validated for postpartum women: shifts near a limit may reflect "
            "the range rather than the product. Replace them with the site "
            "laboratory's ranges."
            if n_assumed
            else "All ranges are given by their source."
        )
    )
    sec.add(
        Table(
            "Safety lab normal ranges used",
            out,
            source=src,
            note=note,
            preformatted=True,
        )
    )


def alpha_convention(config: dict) -> str:
    """Describe the spending convention of the boundaries, from config ``interim``."""
    cfg = config.get("interim") or {}
    split = str(cfg.get("alpha_split", "total"))
    alpha = fmt_num(cfg.get("alpha", 0.05))
    spend = {"obf": "O'Brien-Fleming-type", "pocock": "Pocock-type"}.get(
        str(cfg.get("spending", "obf")), str(cfg.get("spending", ""))
    )
    if split == "per_side":
        how = (
            f"the spending function is applied to alpha/2 = {fmt_num(float(alpha) / 2)} per "
            "side, as in gsDesign and ldbounds (|z| = 2.963 at t = 0.5 for O'Brien-Fleming)"
        )
    else:
        how = (
            f"the spending function is applied to the total two-sided alpha = {alpha} "
            "(|z| = 2.772 at t = 0.5 for O'Brien-Fleming; gsDesign's per-side convention "
            "would give 2.963)"
        )
    return (
        f"Boundaries: Lan-DeMets {spend} alpha spending, recomputed at the actual "
        f"information fraction; alpha convention (config interim.alpha_split = {split}): "
        f"{how}. Futility is non-binding."
    )


def _interim_table(df: pd.DataFrame, observed: bool) -> pd.DataFrame:
    """Readable interim table: fractions and z to 3 decimals, p to 3 digits."""

    def dec(col: str, d: int = 3) -> list[str]:
        return [f"{v:.{d}f}" if np.isfinite(v) else "" for v in num(df[col])]

    out = pd.DataFrame(index=df.index)
    if "schedule" in df:
        out["schedule"] = df["schedule"]
    out["look"] = df["look"]
    out["information fraction"] = dec("information_fraction")
    if "n_evaluable" in df:
        out["evaluable n"] = df["n_evaluable"]
    out["alpha spent (cumulative)"] = [fmt_num(v) for v in df["alpha_spent"]]
    out["nominal two-sided p"] = [fmt_num(v) for v in df["nominal_p"]]
    out["boundary |z|"] = dec("z_boundary")
    if observed:
        for col, name in [
            ("observed_z", "observed z"),
            ("crossed", "crossed"),
            ("conditional_power", "conditional power (current trend)"),
            ("conditional_power_design", "conditional power (design effect)"),
            ("futility_flag", "futility flag"),
        ]:
            if col in df:
                out[name] = (
                    dec(col)
                    if col == "observed_z"
                    else [fmt_num(v) for v in df[col]]
                    if col.startswith("conditional")
                    else df[col]
                )
    return out.reset_index(drop=True)


def interim(ctx: ReportContext, sec: Section) -> Section:
    """§12: information fraction, boundaries, observed z, conditional power, triggers."""
    path, open_path, trig_path = (
        "results/clinical/interim.tsv",
        "results/clinical/interim_open.tsv",
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
        actual = df[df["schedule"] == "actual"] if "schedule" in df else df
        current = (
            actual[actual["observed_z"].str.strip() != ""]
            if ("observed_z" in actual)
            else actual
        )
        first = (current if len(current) else df).iloc[0]
        sec.add(
            KeyValues(
                [
                    (
                        "Information fraction (this look)",
                        f"{float(first['information_fraction']):.3f}",
                    ),
                    (
                        "Efficacy boundary |z| (this look)",
                        f"{float(first['z_boundary']):.3f}",
                    ),
                    ("Nominal two-sided p (this look)", fmt_num(first["nominal_p"])),
                ],
                source=[path],
            )
        )
        sec.add(Text(alpha_convention(ctx.config)))
        plot = nums[nums["schedule"] == "actual"] if "schedule" in nums else nums
        if ctx.closed:
            sec.add(
                Table(
                    "Interim looks: boundaries, observed z, conditional power",
                    _interim_table(df, observed=True),
                    source=[path],
                    arm_level=True,
                    preformatted=True,
                    note="planned: the design's looks; actual: boundaries recomputed at the information fraction reached.",
                )
            )
            if "decision_note" in df:
                for note in [n for n in df["decision_note"] if n.strip()]:
                    sec.add(Text(f"Decision at this look: {note}", arm_level=True))
            sec.add(
                Figure(
                    "Observed z against the efficacy boundary (actual schedule)",
                    source=[path],
                    alt="boundary plot",
                    uri=figures.boundary_plot(plot, observed=True),
                    arm_level=True,
                    width="60%",
                )
            )
        else:
            sec.add(
                Table(
                    "Interim design: information fraction and boundaries",
                    _interim_table(df, observed=False),
                    source=[path],
                    preformatted=True,
                )
            )
            sec.add(
                Figure(
                    "Efficacy boundary by information fraction (actual schedule)",
                    source=[path],
                    alt="boundary plot",
                    uri=figures.boundary_plot(plot, observed=False),
                    width="60%",
                )
            )
    if not ctx.closed:
        op = ctx.table(open_path)
        if op is not None:
            op = op.rename(columns={"section": "area"})
            if "area" in op:
                op["area"] = [a[:1].upper() + a[1:] for a in op["area"]]
            op["value"] = [fmt_num(v) if v else v for v in op["value"]]
            sec.add(
                Table(
                    "Interim status, arms pooled: recruitment, completeness, QC, adverse events",
                    op,
                    source=[open_path],
                    preformatted=True,
                )
            )
        else:
            sec.add(NotRun("pooled interim status (safety stage)", [open_path]))
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
        keep = [
            c
            for c in [
                "description",
                "rule",
                "arms",
                "count",
                "threshold",
                "observed",
                "triggered",
            ]
            if c in trig
        ]
        if "description" in keep and "rule" in keep:
            keep.remove("rule")
        sec.add(
            Table(
                "Safety stopping triggers",
                trig[keep],
                source=[trig_path],
                arm_level=True,
            )
        )
    else:
        sec.add(
            Text(
                "Safety trigger evaluation is by arm and is in the closed report.",
                kind="note",
            )
        )
    return sec
