"""Clinical sections: endpoints, biomarker association and ROC, safety, interim."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import POOLED_ARMS, ReportContext, is_true, num
from exomir.report.labels import (
    DERIVED_PARAMS,
    better_direction,
    ci_decimals,
    fmt_ci,
    fmt_fixed,
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
    """Label with unit: config parameters, derived ones (MAP) and known codes."""
    derived = (ctx.config.get("clinical") or {}).get("derived") or {}
    if (
        param in (ctx.config.get("clinical_parameters") or {})
        or param in derived
        or param in DERIVED_PARAMS
    ):
        return param_label(param, ctx.config)
    return label or param_label(param, ctx.config)


def _arm_names(ctx: ReportContext) -> tuple[str, str]:
    """(treated, control) arm names: the configured arms, reference first."""
    arms = ctx.arms
    if len(arms) >= 2:
        return arms[-1], arms[0]
    return "treated", "control"


def _is_ratio(measure: object) -> bool:
    return any(k in str(measure).lower() for k in RATIO_MEASURES)


def _mean_sd(m: object, sd: object, decimals: int) -> str:
    """``mean (SD)`` with the row's decimals (blank without a mean)."""
    mv = num(pd.Series([m])).iloc[0]
    if not np.isfinite(mv):
        return ""
    sv = num(pd.Series([sd])).iloc[0]
    if not np.isfinite(sv):
        return fmt_fixed(mv, decimals)
    return f"{fmt_fixed(mv, decimals)} ({fmt_fixed(sv, decimals)})"


def _row_decimals(*values: object) -> int:
    """Decimals shared by the mean changes of one row (both arms)."""
    v = num(pd.Series(list(values))).abs().dropna()
    v = v[v > 0]
    if not len(v):
        return 2
    return ci_decimals(float(v.max()), 0, 0)


def _blinded(frac: object, flag: object) -> str:
    """Share of readings with a blinded assessor, and the detection-bias flag."""
    f = num(pd.Series([frac])).iloc[0]
    text = f"{f * 100:.0f}% blinded" if np.isfinite(f) else ""
    if str(flag or "").strip():
        text = f"{text}; AT RISK of detection bias" if text else "AT RISK"
    return text


def endpoint_table(ctx: ReportContext, df: pd.DataFrame) -> pd.DataFrame:
    """Endpoint results as a reader reads them: label (unit), estimate (CI), p.

    Also the per-arm mean change from baseline (SD) of continuous endpoints
    and, where the TSV has them, the share of readings with a blinded
    assessor and the detection-bias flag.
    """
    labels = df["label"] if "label" in df else pd.Series([""] * len(df), index=df.index)
    out = pd.DataFrame(
        {
            "endpoint": [
                _endpoint_label(ctx, p, lab)
                for p, lab in zip(df["param"], labels, strict=True)
            ],
            "analysis": [humanise(a) for a in df["analysis"]],
            "population": df.get("population", ""),
            "model": [str(m).replace("_", " ") for m in _col(df, "model")],
            "effect measure": df.get("effect_measure", ""),
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi, ratio=_is_ratio(m)) or "not estimable"
                for e, lo, hi, m in zip(
                    df["estimate"],
                    df["ci_low"],
                    df["ci_high"],
                    _col(df, "effect_measure"),
                    strict=True,
                )
            ],
            "p": [fmt_p(v) for v in df["p_value"]],
        }
    )
    if out["analysis"].nunique() == 1:
        out = out.drop(columns="analysis")
    treated, control = _arm_names(ctx)
    if "n_treatment" in df and "n_control" in df:
        out[f"n ({treated} / {control})"] = [
            f"{t} / {c}" if str(t).strip() or str(c).strip() else ""
            for t, c in zip(df["n_treatment"], df["n_control"], strict=True)
        ]
    if "mean_chg_treatment" in df and "mean_chg_control" in df:
        cells = zip(
            df["mean_chg_treatment"],
            _col(df, "sd_chg_treatment"),
            df["mean_chg_control"],
            _col(df, "sd_chg_control"),
            strict=True,
        )
        pairs = []
        for mt, st, mc, sc in cells:
            d = _row_decimals(mt, st, mc, sc)
            pairs.append((_mean_sd(mt, st, d), _mean_sd(mc, sc, d)))
        out[f"mean change (SD), {treated}"] = [a for a, _ in pairs]
        out[f"mean change (SD), {control}"] = [b for _, b in pairs]
    if "assessor_blinded_fraction" in df or "detection_bias" in df:
        col = [
            _blinded(f, b)
            for f, b in zip(
                _col(df, "assessor_blinded_fraction"),
                _col(df, "detection_bias"),
                strict=True,
            )
        ]
        if any(col):
            out["assessor blinding"] = col
    return out.reset_index(drop=True)


def multiplicity_note(df: pd.DataFrame) -> str:
    """Say that the secondary endpoints' p-values are nominal, with the count."""
    p = num(df["p_value"]) if "p_value" in df else pd.Series(dtype=float)
    k = int(p.notna().sum())
    below = int((p < 0.05).sum())
    return (
        f"Multiplicity: the {k} p-values of the secondary endpoints are nominal "
        "(two-sided, not adjusted for the number of endpoints; exploratory). With "
        f"{k} tests at the 0.05 level about {k * 0.05:.1f} would fall below 0.05 by "
        f"chance alone; {below} did. A nominal p < 0.05 is not evidence of an effect."
    )


def detection_bias_text(ctx: ReportContext, df: pd.DataFrame) -> str:
    """List the endpoints flagged at risk of detection bias (assessor unblinded)."""
    if "detection_bias" not in df:
        return ""
    flagged = df[df["detection_bias"].astype(str).str.strip() != ""]
    if not len(flagged):
        return ""
    parts = []
    for param, sub in flagged.groupby("param", sort=False):
        lab = _endpoint_label(ctx, str(param), str(_col(sub, "label").iloc[0]))
        parts.append(f"{lab}: {sub['detection_bias'].iloc[0]}")
    return (
        "Detection bias: the assessor was not blinded to the arm for some readings "
        "of these assessor-graded endpoints, so their results may be biased: "
        + "; ".join(parts)
        + "."
    )


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
                fmt_ci(e, lo, hi, ratio=ratio)
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
            left, right = favours_labels(ctx, list(sub["param"]))
            sec.add(
                Figure(
                    title,
                    source=sources,
                    alt="forest plot",
                    uri=figures.forest(
                        sub,
                        label="label_full",
                        xlabel=xlabel,
                        log=ratio,
                        left=left,
                        right=right,
                    ),
                    note=f"Left of the null line: {left}; right: {right}.",
                    arm_level=True,
                )
            )
    primary_rows = df[df["analysis"] == "primary"]
    bias = detection_bias_text(ctx, primary_rows)
    if bias:
        sec.add(Text(bias, kind="warn", arm_level=True))
    sec.add(
        Table(
            "Endpoint results, primary analysis (exploratory secondaries, 95% CIs)",
            endpoint_table(ctx, primary_rows),
            source=[path],
            note=multiplicity_note(primary_rows)
            + " Mean change: week 1 minus baseline, raw units.",
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


def favours_labels(ctx: ReportContext, params: list[str]) -> tuple[str, str]:
    """Words under the left and right ends of a forest plot's axis.

    Estimates are treated minus (or over) control, so right of the null line
    is higher in the treated arm. When every endpoint of the plot has a known
    better direction (:func:`exomir.report.labels.better_direction`), the
    sides read "favours <arm>"; otherwise "higher in <arm>".
    """
    treated, control = _arm_names(ctx)
    dirs = {better_direction(p, ctx.config) for p in params}
    if dirs == {"lower"}:
        return f"favours {treated}", f"favours {control}"
    if dirs == {"higher"}:
        return f"favours {control}", f"favours {treated}"
    return f"higher in {control}", f"higher in {treated}"


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
        f"{how}. The table gives the boundary of every look in both conventions; "
        "the configured one decides. Futility is non-binding."
    )


ROLE_LABELS = {
    "planned": "planned look",
    "previous": "earlier look (done)",
    "current": "this look (actual)",
    "remaining": "remaining planned look",
    "final": "final analysis",
}


def _f(value: object) -> float:
    """Float of a table cell; NaN for blanks."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _fracs(values: pd.Series) -> str:
    return ", ".join(f"{_f(v):g}" for v in values)


def _current_row(df: pd.DataFrame) -> pd.Series:
    """Return the row of this look.

    ``look_role == current`` or, for older tables, the actual row with an
    observed z (else the first actual row).
    """
    if "look_role" in df and (df["look_role"] == "current").any():
        return df[df["look_role"] == "current"].iloc[0]
    actual = df[df["schedule"] == "actual"] if "schedule" in df else df
    if "observed_z" in actual:
        with_z = actual[actual["observed_z"].astype(str).str.strip() != ""]
        if len(with_z):
            return with_z.iloc[0]
    return (actual if len(actual) else df).iloc[0]


def schedule_text(df: pd.DataFrame, config: dict) -> str:
    """Describe the planned versus actual look in words.

    Which looks the plan has, which look this is and why its information
    fraction differs.
    """
    cfg = config.get("interim") or {}
    n_plan = int(cfg.get("planned_evaluable", 72))
    cur = _current_row(df)
    t_now = _f(cur["information_fraction"])
    n_now = _f(cur.get("n_evaluable", ""))
    planned = (
        df[df["schedule"] == "planned"]
        if "schedule" in df
        else pd.DataFrame(
            {"information_fraction": cfg.get("information_fractions", [])}
        )
    )
    pf = [_f(v) for v in planned["information_fraction"]]
    plan = _fracs(planned["information_fraction"]) or "not stated"
    n_txt = (
        f"{int(n_now)} of the {n_plan} planned evaluable participants have a "
        f"follow-up value of the primary miRNA at this data cut, so t = "
        f"{int(n_now)}/{n_plan} = {t_now:.3f}"
        if np.isfinite(n_now)
        else f"t = {t_now:.3f}"
    )
    text = (
        f"Planned versus actual look. The plan (config interim.information_fractions) "
        f"has looks at t = {plan}. This report is the look at the actual information "
        f"fraction: {n_txt}."
    )
    match = [f for f in pf if abs(f - t_now) < 0.005]
    if match:
        return text + f" This is the planned look at t = {match[0]:g}."
    nxt = [f for f in pf if f > t_now]
    if nxt:
        why = (
            f"earlier than the planned look at t = {nxt[0]:g} (about "
            f"{round(nxt[0] * n_plan)} evaluable): fewer participants had a follow-up "
            "primary value at this data cut than that look needs"
        )
    else:
        why = "later than the last planned interim look"
    text += (
        f" It is {why}. t counts participants whose follow-up primary value is "
        "available, not those randomised. The reason for the timing (a calendar-fixed DSMB meeting, "
        "slower recruitment or an assay backlog) is not in the data; record it in the "
        "minutes. Lan-DeMets spending allows a look at any t: this look's boundary "
        "spends the alpha of the spending function up to the actual t, and the remaining "
        "planned looks keep their fractions with boundaries recomputed so that the "
        "total alpha is unchanged (rows 'actual')."
    )
    if "schedule" in df:
        fin_p = df[df["schedule"] == "planned"]["z_boundary"]
        fin_a = df[df["schedule"] == "actual"]["z_boundary"]
        if len(fin_p) and len(fin_a):
            a, b = _f(fin_p.iloc[-1]), _f(fin_a.iloc[-1])
            text += (
                f" The final boundary moves from |z| = {a:.3f} (planned) to {b:.3f} "
                "(actual schedule)."
                if f"{a:.3f}" != f"{b:.3f}"
                else f" The final boundary stays at |z| = {b:.3f} (the changed "
                "schedule moves it by less than 0.0005)."
            )
    return text


def statistic_text(cur: pd.Series) -> str:
    """Say what the observed statistic is and how it is put on the z scale."""
    t_obs, dfree, p = (
        _f(cur.get("observed_t", "")),
        _f(cur.get("observed_df", "")),
        _f(cur.get("observed_p", "")),
    )
    z = _f(cur.get("observed_z", ""))
    if not np.isfinite(z):
        return (
            "Test statistic: not available at this look (primary ANCOVA not estimable)."
        )
    if not (np.isfinite(t_obs) and np.isfinite(dfree)):
        return (
            f"Test statistic: estimate / SE of the primary ANCOVA, z = {z:.3f}, "
            "compared with the boundaries as a normal z (no degrees of freedom recorded)."
        )
    return (
        f"Test statistic: the primary ANCOVA gives t = estimate / SE on {dfree:g} "
        f"residual degrees of freedom, a t({dfree:g}) statistic, not a normal z: "
        f"t({dfree:g}) = {t_obs:.3f}, two-sided p = {fmt_p(p)}. The boundaries are on "
        "the normal scale, so it is compared through its z-equivalent, the normal "
        f"quantile of the same p: z = sign(t) x Phi^-1(1 - p/2) = {z:.3f}."
    )


def cp_text(df: pd.DataFrame, cur: pd.Series, config: dict) -> str:
    """Conditional power with its assumptions: effect, variance, information left."""
    from scipy import stats

    cfg = config.get("interim") or {}
    alpha = float(cfg.get("alpha", 0.05))
    power = float(cfg.get("power", 0.8))
    direction = str(cfg.get("expected_direction", "increase"))
    n_plan = int(cfg.get("planned_evaluable", 72))
    t = _f(cur["information_fraction"])
    z = _f(cur.get("observed_z", ""))
    za, zb = float(stats.norm.isf(alpha / 2)), float(stats.norm.ppf(power))
    actual = df[df["schedule"] == "actual"] if "schedule" in df else df
    c_fin = _f(actual["z_boundary"].iloc[-1])
    sign = 1.0 if direction == "increase" else -1.0
    trend = (
        f"{sign * z / np.sqrt(t):.3f} (z-equivalent {z:.3f} / sqrt({t:.3f}), in the "
        "expected direction)"
        if np.isfinite(z) and t > 0
        else "not available"
    )
    left = max(0.0, 1.0 - t)
    return (
        "Conditional power: the probability that the final analysis (t = 1, |z| >= "
        f"{c_fin:.3f} from the actual schedule; later interim looks ignored) crosses in "
        f"the expected direction ({direction}), given the z-equivalent at this look. "
        f"Effect assumed for the rest of the trial: current trend, drift theta = "
        f"{trend}; design effect, theta = z(1 - alpha/2) + z(power) = {za:.3f} + "
        f"{zb:.3f} = {za + zb:.3f} (the effect the trial was sized to detect with "
        f"{power:g} power at two-sided alpha {alpha:g}). Variance: the standard error "
        "estimated at this look is taken as known (normal approximation), and "
        "information grows in proportion to the evaluable participants. Remaining "
        f"information: 1 - t = {left:.3f} (about {round(left * n_plan)} of {n_plan} "
        "planned evaluable participants)."
    )


def futility_text(config: dict) -> str:
    """State the non-binding futility rule and its boundary formula."""
    cfg = config.get("interim") or {}
    g = cfg.get("futility_conditional_power", 0.1)
    zf = cfg.get("futility_z", 0.0)
    return (
        "Futility boundary (non-binding; analysis_spec 3.5): futility is flagged when "
        f"conditional power under the current trend is below {fmt_num(g)} or z in the "
        f"expected direction is below {fmt_num(zf)}. On the z scale this is, for each "
        f"look before the last, z_f(t) = max(sqrt(t) x (c_final + sqrt(1 - t) x "
        f"Phi^-1({fmt_num(g)})), {fmt_num(zf)}), capped at the efficacy boundary. The "
        "efficacy boundaries are computed without it, so the DSMB may continue past it "
        "without inflating alpha."
    )


def _interim_table(df: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Boundaries of every look, planned and actual schedule (design only).

    Both alpha conventions are shown for every look as ``|z| (nominal p)``,
    the configured one marked, with the non-binding futility boundary.
    """
    split = str((config.get("interim") or {}).get("alpha_split", "total"))

    def dec(col: str, d: int = 3) -> list[str]:
        return [f"{v:.{d}f}" if np.isfinite(v) else "" for v in num(df[col])]

    def zp(zcol: str, pcol: str) -> list[str]:
        return [
            f"{z:.3f} (p {fmt_num(p)})" if np.isfinite(z) else ""
            for z, p in zip(num(df[zcol]), num(df[pcol]), strict=True)
        ]

    out = pd.DataFrame(index=df.index)
    if "schedule" in df:
        out["schedule"] = df["schedule"]
    if "look_role" in df:
        out["look"] = [ROLE_LABELS.get(str(r), str(r)) for r in df["look_role"]]
    else:
        out["look"] = df["look"]
    out["information fraction t"] = dec("information_fraction")
    if "n_evaluable" in df:
        out["evaluable n"] = df["n_evaluable"]
    out["alpha spent, cumulative (configured)"] = [
        fmt_num(v) for v in df["alpha_spent"]
    ]
    conv = {"total": "total two-sided alpha", "per_side": "alpha/2 per side"}
    if "z_boundary_total" in df and "z_boundary_per_side" in df:
        for key, name in conv.items():
            mark = " [configured]" if key == split else ""
            out[f"efficacy |z| (nominal two-sided p), {name}{mark}"] = zp(
                f"z_boundary_{key}", f"nominal_p_{key}"
            )
    else:
        out["efficacy |z| (nominal two-sided p)"] = zp("z_boundary", "nominal_p")
    if "futility_z_boundary" in df:
        out["futility z (non-binding)"] = dec("futility_z_boundary")
    return out.reset_index(drop=True)


def _result_table(df: pd.DataFrame) -> pd.DataFrame:
    """Tabulate the current look's statistic against its boundaries (closed only).

    The t(df) of the primary ANCOVA with its two-sided p and z-equivalent,
    the configured efficacy boundary, the futility boundary, the decisions and
    both conditional powers.
    """
    cur = _current_row(df)
    rows = cur.to_frame().T
    dfree = _f(cur.get("observed_df", ""))

    def dec(col: str, d: int = 3) -> list[str]:
        if col not in rows:
            return [""] * len(rows)
        return [f"{v:.{d}f}" if np.isfinite(v) else "" for v in num(rows[col])]

    def yes(col: str) -> list[str]:
        return [
            {"true": "yes", "false": "no"}.get(str(v), "")
            for v in (rows[col] if col in rows else [""] * len(rows))
        ]

    out = pd.DataFrame(index=rows.index)
    out["information fraction t"] = dec("information_fraction")
    if "observed_t" in rows and np.isfinite(dfree):
        out[f"observed t({dfree:g})"] = dec("observed_t")
        out["two-sided p of t"] = [fmt_p(v) for v in num(rows["observed_p"])]
        out["z-equivalent of t"] = dec("observed_z")
    else:
        out["observed z"] = dec("observed_z")
    out["efficacy |z| boundary (configured)"] = dec("z_boundary")
    out["efficacy boundary crossed"] = yes("crossed")
    if "futility_z_boundary" in rows:
        out["futility z (non-binding)"] = dec("futility_z_boundary")
    out["futility boundary reached"] = yes("futility_flag")
    for col, name in (
        ("conditional_power", "conditional power (current trend)"),
        ("conditional_power_design", "conditional power (design effect)"),
    ):
        if col in rows:
            out[name] = [_fmt_prob(v) for v in num(rows[col])]
    return out.reset_index(drop=True)


def _fmt_prob(v: float) -> str:
    """Format a probability to 3 decimals; ``> 0.999`` / ``< 0.001`` at the ends."""
    if not np.isfinite(v):
        return ""
    if v > 0.9995:
        return "> 0.999"
    if v < 0.0005:
        return "< 0.001"
    return f"{v:.3f}"


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
        for c in (
            "information_fraction",
            "z_boundary",
            "observed_z",
            "futility_z_boundary",
        ):
            if c in nums:
                nums[c] = num(nums[c])
        first = _current_row(df)
        split = str((ctx.config.get("interim") or {}).get("alpha_split", "total"))
        other = "per_side" if split == "total" else "total"
        items = [
            (
                "Planned looks (t)",
                _fracs(df[df["schedule"] == "planned"]["information_fraction"])
                if "schedule" in df
                else "",
            ),
            (
                "This look: actual information fraction",
                f"{float(first['information_fraction']):.3f}",
            ),
            (
                f"Efficacy boundary |z| this look ({split}, configured)",
                f"{float(first['z_boundary']):.3f}",
            ),
            ("Nominal two-sided p this look", fmt_num(first["nominal_p"])),
        ]
        if f"z_boundary_{other}" in df:
            items.append(
                (
                    f"Same look, other convention ({other})",
                    f"{_f(first[f'z_boundary_{other}']):.3f}",
                )
            )
        if "futility_z_boundary" in df and np.isfinite(
            _f(first["futility_z_boundary"])
        ):
            items.append(
                (
                    "Futility boundary z this look (non-binding)",
                    f"{_f(first['futility_z_boundary']):.3f}",
                )
            )
        sec.add(KeyValues([(k, v) for k, v in items if v], source=[path]))
        sec.add(Text(schedule_text(df, ctx.config)))
        sec.add(Text(alpha_convention(ctx.config)))
        if "futility_z_boundary" in df:
            sec.add(Text(futility_text(ctx.config)))
        direction = str(
            (ctx.config.get("interim") or {}).get("expected_direction", "increase")
        )
        note = (
            "planned: the design's looks; actual: this look at the information "
            "fraction reached, with the remaining looks' boundaries recomputed. "
            "Efficacy boundaries are two-sided |z|; the futility boundary is a z in "
            f"the expected direction ({direction})."
        )
        if ctx.closed:
            cur = _current_row(df)
            dfree = _f(cur.get("observed_df", ""))
            stat = f"t({dfree:g}) and its z-equivalent" if np.isfinite(dfree) else "z"
            sec.add(
                Table(
                    "Interim looks: efficacy boundaries in both alpha conventions and "
                    "the non-binding futility boundary",
                    _interim_table(df, config=ctx.config),
                    source=[path],
                    preformatted=True,
                    note=note,
                )
            )
            sec.add(
                Table(
                    f"This look: observed {stat} against the boundaries, "
                    "conditional power",
                    _result_table(df),
                    source=[path],
                    arm_level=True,
                    preformatted=True,
                )
            )
            sec.add(Text(statistic_text(cur), arm_level=True))
            sec.add(Text(cp_text(df, cur, ctx.config), arm_level=True))
            if "decision_note" in df:
                for dn in [n for n in df["decision_note"] if n.strip()]:
                    sec.add(Text(f"Decision at this look: {dn}", arm_level=True))
            sec.add(
                Figure(
                    "Observed z-equivalent against the efficacy and non-binding "
                    "futility boundaries",
                    source=[path],
                    alt="boundary plot",
                    uri=figures.boundary_plot(nums, observed=True, direction=direction),
                    arm_level=True,
                    width="60%",
                )
            )
        else:
            sec.add(
                Table(
                    "Interim design: information fraction, efficacy and futility "
                    "boundaries",
                    _interim_table(df, config=ctx.config),
                    source=[path],
                    preformatted=True,
                    note=note,
                )
            )
            sec.add(
                Figure(
                    "Efficacy and non-binding futility boundaries by information "
                    "fraction",
                    source=[path],
                    alt="boundary plot",
                    uri=figures.boundary_plot(
                        nums, observed=False, direction=direction
                    ),
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
